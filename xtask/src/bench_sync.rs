//! `cargo xtask bench sync`: `osbs-registry-sync` (release build) against Debian's
//! `skopeo copy` / `skopeo sync`, on the two local registries, interleaved.
//!
//! Scenarios (median over `--pairs` interleaved pairs; the order alternates within pairs):
//! - `fresh`: copy a 5 × 60 MB image (on the busybox base) from the push registry to a new
//!   repository of the sync registry. Every run writes to a repository of its own, and
//!   skopeo's blob-info cache is removed before each skopeo run: otherwise skopeo remembers
//!   where it wrote the blobs last time and mounts them, and the run is no longer a copy.
//! - `promote`: copy the same image to a new repository of the same registry. We mount.
//!   Skopeo only mounts blobs its blob-info cache has already seen in that registry: with the
//!   cache removed (an image fresh from a build is new to it) it copies the bytes; with a warm
//!   cache it mounts too. Both rows are reported.
//! - `resync`: sync a repository of 100 distinct, unchanged tags to the sync registry, where
//!   they are already present (both tools target the same, already synced repository).
//! - `rss`: peak RSS of copying a 1 GB single-layer image to a fresh repository, sampled from
//!   `/proc/PID/status` (VmHWM) every 20 ms; skopeo is measured the same way for reference.
//!
//! The `floor` column is what the registries themselves need for the fewest requests the job
//! takes, sent over connections opened beforehand from a running process (the
//! `registry_floor` example of osbs-registry-sync): no client can beat it on these registries.
//!
//! The fixture images are made once with `docker build`/`docker import` and `docker push`
//! and reused while they are in the push registry.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use osbs_testkit as kit;

use crate::cmd::{Cmd, on_path};
use crate::measure::{Sample, build_release, interleave, measure, median, seconds};
use crate::services;

/// Accept header that makes the registry answer for schema 2 and OCI manifests.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json";

/// Where skopeo (containers/image) keeps its blob-info cache, as root and as a user.
fn skopeo_cache_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(
        "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
    )];
    if let Some(home) = std::env::var_os("HOME") {
        files.push(
            PathBuf::from(home).join(".local/share/containers/cache/blob-info-cache-v1.boltdb"),
        );
    }
    files
}

struct Options {
    pairs: usize,
    only: Option<String>,
}

fn parse_args(args: &[&str]) -> Result<Options> {
    let mut options = Options {
        pairs: 5,
        only: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--pairs" => {
                options.pairs = it
                    .next()
                    .context("--pairs needs a number")?
                    .parse()
                    .context("--pairs needs a number")?;
            }
            "--only" => {
                let name = it.next().context("--only needs a scenario")?;
                if !["fresh", "promote", "resync", "rss"].contains(name) {
                    bail!("unknown scenario `{name}` (fresh, promote, resync, rss)");
                }
                options.only = Some((*name).to_owned());
            }
            other => bail!("unknown argument `{other}` (--pairs N, --only SCENARIO)"),
        }
    }
    if options.pairs == 0 {
        bail!("--pairs must be at least 1");
    }
    Ok(options)
}

fn manifest_present(registry: &str, repository: &str, tag: &str) -> bool {
    let path = format!("/v2/{repository}/manifests/{tag}");
    kit::http_get_status(registry, &path, MANIFEST_ACCEPT) == Some(200)
}

fn quiet_run(root: &Path, program: &str, args: &[&str]) -> Result<()> {
    let mut cmd = Cmd::new(root, program, args);
    let display = cmd.display().to_owned();
    eprintln!("$ {display}");
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

/// A scratch directory for building fixtures.
fn scratch(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = root.join("target").join("bench-sync").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `bench/big:latest`: the busybox base plus five layers of 60 MB from /dev/urandom.
fn ensure_big(root: &Path, push: &str) -> Result<String> {
    let image = format!("{push}/bench/big:latest");
    if manifest_present(push, "bench/big", "latest") {
        return Ok(image);
    }
    let dir = scratch(root, "big")?;
    let mut dockerfile = format!("FROM {}\n", kit::base_image());
    for layer in 1..=5 {
        dockerfile.push_str(&format!(
            "RUN dd if=/dev/urandom of=/layer{layer} bs=1M count=60 2>/dev/null\n"
        ));
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile)?;
    let dir_arg = dir.display().to_string();
    quiet_run(root, "docker", &["build", "-q", "-t", &image, &dir_arg])?;
    quiet_run(root, "docker", &["push", &image])?;
    Ok(image)
}

/// `bench/huge:latest`: one layer holding 1 GiB from /dev/urandom (`docker import`).
fn ensure_huge(root: &Path, push: &str) -> Result<String> {
    let image = format!("{push}/bench/huge:latest");
    if manifest_present(push, "bench/huge", "latest") {
        return Ok(image);
    }
    let dir = scratch(root, "huge")?;
    let content = dir.join("content");
    std::fs::create_dir_all(&content)?;
    let of = format!("of={}", content.join("blob").display());
    quiet_run(root, "dd", &["if=/dev/urandom", &of, "bs=1M", "count=1024"])?;
    let tar = dir.join("huge.tar").display().to_string();
    let content_arg = content.display().to_string();
    quiet_run(root, "tar", &["-C", &content_arg, "-cf", &tar, "blob"])?;
    quiet_run(root, "docker", &["import", &tar, &image])?;
    quiet_run(root, "docker", &["push", &image])?;
    std::fs::remove_dir_all(&dir)?;
    Ok(image)
}

/// `bench/many`: 100 distinct images (the base with a label `bench.n=N`), tags `t000`..`t099`.
fn ensure_many(root: &Path, push: &str) -> Result<String> {
    let repo = format!("{push}/bench/many");
    if manifest_present(push, "bench/many", "t099") {
        return Ok(repo);
    }
    let dir = scratch(root, "many")?;
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {}\n", kit::base_image()),
    )?;
    let dir_arg = dir.display().to_string();
    for n in 0..100 {
        let tag = format!("{repo}:t{n:03}");
        let label = format!("bench.n={n}");
        quiet_run(
            root,
            "docker",
            &["build", "-q", "--label", &label, "-t", &tag, &dir_arg],
        )?;
    }
    quiet_run(root, "docker", &["push", "--all-tags", &repo])?;
    Ok(repo)
}

fn remove_skopeo_cache() -> Result<()> {
    for file in skopeo_cache_files() {
        if file.exists() {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove {}", file.display()))?;
        }
    }
    Ok(())
}

fn skopeo_copy_args(src: &str, dst: &str) -> Vec<String> {
    [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!("docker://{src}"), format!("docker://{dst}")])
    .collect()
}

fn ours_copy_args(src: &str, dst: &str) -> Vec<String> {
    vec![
        "--quiet".into(),
        "copy".into(),
        src.to_owned(),
        dst.to_owned(),
    ]
}

/// The results of one scenario.
struct Row {
    name: String,
    ours: Vec<f64>,
    skopeo: Vec<f64>,
    unit: &'static str,
    target: String,
    /// Whether the target is met, given the medians.
    ok: bool,
    /// The registries' floor for the job, in seconds (see the module docs).
    floor: Vec<f64>,
}

/// Entry point of `cargo xtask bench sync [--pairs N] [--only SCENARIO]`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let options = parse_args(args)?;
    let wanted = |name: &str| options.only.as_deref().is_none_or(|only| only == name);
    services::up(root)?;
    if !on_path("skopeo") {
        bail!("skopeo is not installed (apt-get install skopeo)");
    }
    build_release(
        root,
        &[
            "-p",
            "osbs-registry-sync",
            "--bin",
            "osbs-registry-sync",
            "--example",
            "registry_floor",
        ],
    )?;
    let ours = root.join("target/release/osbs-registry-sync");
    let floor_program = root.join("target/release/examples/registry_floor");
    let floor = |args: &[&str]| -> Result<Vec<f64>> {
        let out = Cmd::new(
            root,
            floor_program.to_string_lossy().as_ref(),
            args.iter().copied(),
        )
        .read()?;
        out.lines()
            .map(|l| {
                l.trim()
                    .parse::<f64>()
                    .context("registry_floor printed a non-number")
            })
            .collect()
    };
    let skopeo = PathBuf::from("skopeo");
    let push = kit::push_registry();
    let sync = kit::sync_registry();
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let pairs = options.pairs;
    let mut rows = Vec::new();

    if wanted("fresh") || wanted("promote") {
        let big = ensure_big(root, &push)?;
        if wanted("fresh") {
            eprintln!("fresh copy of {big} to {sync} ({pairs} pairs)");
            let (a, b) = interleave(
                pairs,
                |i| {
                    let dst = format!("{sync}/bench/fresh-{run_id}-ours-{i}:latest");
                    measure(&ours, &ours_copy_args(&big, &dst))
                },
                |i| {
                    remove_skopeo_cache()?;
                    let dst = format!("{sync}/bench/fresh-{run_id}-skopeo-{i}:latest");
                    measure(&skopeo, &skopeo_copy_args(&big, &dst))
                },
            )?;
            rows.push(row(
                "fresh copy, 5 × 60 MB, to the other registry",
                &a,
                &b,
                1.0,
            ));
        }
        if wanted("promote") {
            // Skopeo mounts only blobs its blob-info cache has seen in that registry. An image
            // just pushed by a build is new to it, so it copies the bytes: that is the cold
            // row. The warm row lets it learn the image first, so it mounts as we do.
            for (warm, label) in [
                (
                    false,
                    "promotion, same registry (skopeo cache cold: it copies)",
                ),
                (
                    true,
                    "promotion, same registry (skopeo cache warm: it mounts)",
                ),
            ] {
                let kind = if warm { "warm" } else { "cold" };
                eprintln!("{label}: {big} within {push} ({pairs} pairs)");
                if warm {
                    remove_skopeo_cache()?;
                    let warmup = format!("{push}/bench/promote-{run_id}-warmup:latest");
                    measure(&skopeo, &skopeo_copy_args(&big, &warmup))?;
                }
                let (a, b) = interleave(
                    pairs,
                    |i| {
                        let dst = format!("{push}/bench/promote-{run_id}-{kind}-ours-{i}:latest");
                        measure(&ours, &ours_copy_args(&big, &dst))
                    },
                    |i| {
                        if !warm {
                            remove_skopeo_cache()?;
                        }
                        let dst = format!("{push}/bench/promote-{run_id}-{kind}-skopeo-{i}:latest");
                        measure(&skopeo, &skopeo_copy_args(&big, &dst))
                    },
                )?;
                let (repository, tag) = big
                    .strip_prefix(&format!("{push}/"))
                    .and_then(|r| r.rsplit_once(':'))
                    .context("the promotion image is in the push registry")?;
                let mut row = row(label, &a, &b, 0.1);
                row.floor = floor(&["promote", &push, repository, tag, &pairs.to_string()])?;
                rows.push(row);
            }
        }
    }

    if wanted("resync") {
        let many = ensure_many(root, &push)?;
        let dest = format!("{sync}/bench/many");
        let ours_args = vec![
            "--quiet".to_owned(),
            "sync".to_owned(),
            "--src".to_owned(),
            "docker".to_owned(),
            "--dest".to_owned(),
            "docker".to_owned(),
            many.clone(),
            format!("{sync}/bench"),
        ];
        let skopeo_args: Vec<String> = [
            "sync",
            "--src",
            "docker",
            "--dest",
            "docker",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &many,
            &format!("{sync}/bench"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        eprintln!("initial sync of {many} to {dest}");
        measure(&ours, &ours_args)?;
        eprintln!("re-sync of 100 unchanged tags ({pairs} pairs)");
        let (a, b) = interleave(
            pairs,
            |_| measure(&ours, &ours_args),
            |_| measure(&skopeo, &skopeo_args),
        )?;
        let repository = many
            .strip_prefix(&format!("{push}/"))
            .context("the re-sync repository is in the push registry")?;
        let mut row = row("re-sync of 100 unchanged tags", &a, &b, 0.2);
        row.floor = floor(&["resync", &push, &sync, repository, "16", &pairs.to_string()])?;
        rows.push(row);
    }

    if wanted("rss") {
        let huge = ensure_huge(root, &push)?;
        let runs = pairs.min(3);
        eprintln!("peak RSS copying {huge} to {sync} ({runs} pairs)");
        let (a, b) = interleave(
            runs,
            |i| {
                let dst = format!("{sync}/bench/rss-{run_id}-ours-{i}:latest");
                measure(&ours, &ours_copy_args(&huge, &dst))
            },
            |i| {
                remove_skopeo_cache()?;
                let dst = format!("{sync}/bench/rss-{run_id}-skopeo-{i}:latest");
                measure(&skopeo, &skopeo_copy_args(&huge, &dst))
            },
        )?;
        let mib = |s: &[Sample]| {
            s.iter()
                .map(|s| s.peak_rss_kib as f64 / 1024.0)
                .collect::<Vec<_>>()
        };
        let (ours_mib, skopeo_mib) = (mib(&a), mib(&b));
        let peak = ours_mib.iter().copied().fold(0.0, f64::max);
        rows.push(Row {
            name: "peak RSS copying a 1 GB single-layer image".to_owned(),
            ok: peak <= 64.0,
            ours: ours_mib,
            skopeo: skopeo_mib,
            unit: "MiB",
            target: "ours ≤ 64 MiB".to_owned(),
            floor: Vec::new(),
        });
        rows.push(row("  (wall time of those copies)", &a, &b, 1.0));
    }

    print_table(&rows);
    if rows.iter().any(|r| !r.ok) {
        eprintln!("bench sync: some targets missed (see the table)");
    }
    Ok(())
}

fn row(name: &str, ours: &[Sample], skopeo: &[Sample], target: f64) -> Row {
    let (a, b) = (seconds(ours), seconds(skopeo));
    let ratio = median(&a) / median(&b);
    Row {
        name: name.to_owned(),
        ok: ratio <= target,
        ours: a,
        skopeo: b,
        unit: "s",
        target: format!("ratio ≤ {target}"),
        floor: Vec::new(),
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<60} {:>12} {:>12} {:>8}  {:<16} {:<4} {:>12} {:>12}",
        "scenario", "ours", "skopeo", "ratio", "target", "met", "floor", "floor ratio"
    );
    for row in rows {
        let (a, b) = (median(&row.ours), median(&row.skopeo));
        let fmt = |v: f64| match row.unit {
            "s" if v < 1.0 => format!("{:.1} ms", v * 1000.0),
            "s" => format!("{v:.3} s"),
            unit => format!("{v:.1} {unit}"),
        };
        let (floor, floor_ratio) = if row.floor.is_empty() {
            (String::new(), String::new())
        } else {
            let f = median(&row.floor);
            (fmt(f), format!("{:.3}", f / b))
        };
        println!(
            "{:<60} {:>12} {:>12} {:>8.3}  {:<16} {:<4} {:>12} {:>12}",
            row.name,
            fmt(a),
            fmt(b),
            a / b,
            row.target,
            if row.ok { "yes" } else { "NO" },
            floor,
            floor_ratio
        );
    }
    println!();
    println!(
        "floor: the registries alone, fewest requests, connections already open (no client can beat it);"
    );
    println!("floor ratio: floor / skopeo, the best ratio any client could reach here.");
    println!();
    println!("samples (ours | skopeo [| floor]):");
    for row in rows {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.4}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let floor = if row.floor.is_empty() {
            String::new()
        } else {
            format!(" | {}", list(&row.floor))
        };
        println!(
            "  {}: {} | {}{} ({})",
            row.name.trim(),
            list(&row.ours),
            list(&row.skopeo),
            floor,
            row.unit
        );
    }
}
