//! `cargo xtask bench pulp [--runs N] [--tags N]`: `osbs-registry-sync sync` (release build,
//! default `--jobs`) against Debian's `skopeo sync`, both syncing a repository of `--tags`
//! distinct images from the push registry into the Pulp 3 registry of
//! `services up --pulp` (token auth), interleaved.
//!
//! Scenarios (median over `--runs` interleaved pairs; the order alternates within pairs):
//! - `fresh`: each run syncs into a repository of its own, so every manifest and blob moves.
//!   skopeo's blob-info cache is removed before each of its runs, as in `bench sync`.
//! - `resync`: each tool syncs again into the repository its first run filled: nothing
//!   changed, so it is the cost of finding that out.
//!
//! Both tools reach Pulp through a small TCP proxy that closes any connection opening with a
//! TLS handshake: skopeo tries HTTPS first, and Pulp's API server would hold that attempt for
//! about 10 s before skopeo falls back to HTTP. The proxy costs both the same few
//! microseconds.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use osbs_testkit as kit;

use crate::cmd::{Cmd, on_path};
use crate::measure::{Sample, build_release, interleave, measure, median, number_options, seconds};
use crate::services;

/// Accept header that makes the registry answer for schema 2 and OCI manifests.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json";

/// Entry point of `cargo xtask bench pulp`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut values = [("--runs", 5), ("--tags", 20)];
    number_options(args, &mut values)?;
    let [(_, runs), (_, tags)] = values;
    if runs == 0 || tags == 0 || tags > 1000 {
        bail!("--runs must be at least 1 and --tags between 1 and 1000");
    }
    services::up_with_pulp(root)?;
    if !on_path("skopeo") {
        bail!("skopeo is not installed (apt-get install skopeo)");
    }
    build_release(
        root,
        &["-p", "osbs-registry-sync", "--bin", "osbs-registry-sync"],
    )?;
    let ours = root.join("target/release/osbs-registry-sync");
    let skopeo = PathBuf::from("skopeo");

    let push = kit::push_registry();
    let source = ensure_source(root, &push, tags)?;
    let proxy = start_tls_refusing_proxy(&kit::pulp_registry())?;
    let scratch = root.join("target").join("bench-pulp");
    std::fs::create_dir_all(&scratch)?;
    let authfile = scratch.join("auth.json");
    std::fs::write(&authfile, kit::pulp_docker_config_for(&proxy))?;
    let authfile = authfile.display().to_string();
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Both append the source's last path component to the destination prefix.
    let ours_args = |prefix: &str| -> Vec<String> {
        vec![
            "--quiet".into(),
            "--authfile".into(),
            authfile.clone(),
            "sync".into(),
            "--src".into(),
            "docker".into(),
            "--dest".into(),
            "docker".into(),
            source.clone(),
            format!("{proxy}/{prefix}"),
        ]
    };
    let skopeo_args = |prefix: &str| -> Vec<String> {
        [
            "sync",
            "--src",
            "docker",
            "--dest",
            "docker",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--dest-authfile",
            &authfile,
            &source,
            &format!("{proxy}/{prefix}"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };

    eprintln!("fresh sync of {source} ({tags} tags) into Pulp ({runs} pairs)");
    let runs = usize::try_from(runs)?;
    let (fresh_ours, fresh_skopeo) = interleave(
        runs,
        |i| measure(&ours, &ours_args(&format!("bench-{run_id}-ours-{i}"))),
        |i| {
            remove_skopeo_cache()?;
            measure(&skopeo, &skopeo_args(&format!("bench-{run_id}-skopeo-{i}")))
        },
    )?;
    eprintln!("re-sync of the same {tags} unchanged tags ({runs} pairs)");
    let (resync_ours, resync_skopeo) = interleave(
        runs,
        |_| measure(&ours, &ours_args(&format!("bench-{run_id}-ours-0"))),
        |_| measure(&skopeo, &skopeo_args(&format!("bench-{run_id}-skopeo-0"))),
    )?;

    let rows = [
        (
            format!("fresh sync of {tags} tags into Pulp"),
            fresh_ours,
            fresh_skopeo,
        ),
        (
            format!("re-sync of {tags} unchanged tags in Pulp"),
            resync_ours,
            resync_skopeo,
        ),
    ];
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>8}",
        "scenario", "ours", "skopeo", "ratio"
    );
    for (label, a, b) in &rows {
        let (a, b) = (median(&seconds(a)), median(&seconds(b)));
        println!("{label:<44} {a:>8.3} s {b:>8.3} s {:>8.3}", a / b);
    }
    println!();
    println!(
        "all {} runs of each tool succeeded (ours with the default --jobs 16)",
        runs * 2
    );
    println!("samples (ours | skopeo, s):");
    for (label, a, b) in &rows {
        let list = |v: &[Sample]| {
            seconds(v)
                .iter()
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("  {label}: {} | {}", list(a), list(b));
    }
    Ok(())
}

/// `bench/pulp-N`: `tags` distinct images (the base with a label `bench.n=N`), tags
/// `t000`.., pushed once and reused while the push registry holds them.
fn ensure_source(root: &Path, push: &str, tags: u64) -> Result<String> {
    let repository = format!("bench/pulp-{tags}");
    let image = format!("{push}/{repository}");
    let last = format!("/v2/{repository}/manifests/t{:03}", tags - 1);
    if kit::http_get_status(push, &last, MANIFEST_ACCEPT) == Some(200) {
        return Ok(image);
    }
    let dir = root.join("target").join("bench-pulp").join("source");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {}\n", kit::base_image()),
    )?;
    let dir_arg = dir.display().to_string();
    eprintln!("making {image} ({tags} tags)");
    for n in 0..tags {
        let tag = format!("{image}:t{n:03}");
        let label = format!("bench.n={n}");
        quiet_run(
            root,
            "docker",
            &["build", "-q", "--label", &label, "-t", &tag, &dir_arg],
        )?;
    }
    quiet_run(root, "docker", &["push", "--all-tags", &image])?;
    Ok(image)
}

fn quiet_run(root: &Path, program: &str, args: &[&str]) -> Result<()> {
    let mut cmd = Cmd::new(root, program, args);
    let display = cmd.display().to_owned();
    let out = cmd
        .inner()
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{display}`"))?;
    if !out.status.success() {
        bail!(
            "`{display}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// skopeo's blob-info cache, as root and as a user (see `bench sync`).
fn remove_skopeo_cache() -> Result<()> {
    let mut files = vec![PathBuf::from(
        "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
    )];
    if let Some(home) = std::env::var_os("HOME") {
        files.push(
            PathBuf::from(home).join(".local/share/containers/cache/blob-info-cache-v1.boltdb"),
        );
    }
    for file in files.iter().filter(|f| f.exists()) {
        std::fs::remove_file(file).with_context(|| format!("cannot remove {}", file.display()))?;
    }
    Ok(())
}

/// A loopback TCP proxy to `upstream` that closes every connection whose first byte opens a
/// TLS handshake (0x16), for the rest of the bench. Returns its `127.0.0.1:PORT`.
fn start_tls_refusing_proxy(upstream: &str) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || proxy_connection(client, &upstream));
        }
    });
    Ok(addr)
}

fn proxy_connection(client: TcpStream, upstream: &str) {
    let mut first = [0u8; 1];
    if client.peek(&mut first).map_or(true, |n| n == 0) || first[0] == 0x16 {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(client_read), Ok(server_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pipe(client_read, server_write));
    pipe(server, client);
    let _ = up.join();
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
