//! Measuring commands for the `cargo xtask bench` tasks: wall time and peak RSS of one run
//! (VmHWM sampled from `/proc` every 20 ms on a second thread), and medians.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One timed run of a program: wall time and peak RSS.
pub struct Sample {
    /// Wall-clock time from spawn to exit.
    pub wall: Duration,
    /// Peak resident set size in KiB.
    pub peak_rss_kib: u64,
}

/// Runs `program args` and fails unless it exits 0. The wall time is taken when `wait`
/// returns; a second thread samples the child's VmHWM every 20 ms meanwhile.
pub fn measure(program: &Path, args: &[String]) -> Result<Sample> {
    let display = format!("{} {}", program.display(), args.join(" "));
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{display}`"))?;
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                if let Some(kib) = vm_hwm_kib(pid) {
                    peak = peak.max(kib);
                }
                sleep(Duration::from_millis(if peak == 0 { 1 } else { 20 }));
            }
            peak
        })
    };
    let output = child.wait_with_output();
    let wall = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak_rss_kib = sampler.join().unwrap_or(0);
    let output = output.with_context(|| format!("cannot wait for `{display}`"))?;
    if !output.status.success() {
        bail!(
            "`{display}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(Sample { wall, peak_rss_kib })
}

/// Peak resident set size (VmHWM) of a running process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Reads `--NAME N` options of a bench command into `values` (pairs of option name and its
/// default, in the order of the usage text).
pub fn number_options(args: &[&str], values: &mut [(&str, u64)]) -> Result<()> {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(slot) = values.iter_mut().find(|(name, _)| name == arg) else {
            let known: Vec<String> = values.iter().map(|(name, _)| format!("{name} N")).collect();
            bail!("unknown option {arg}; use {}", known.join(", "));
        };
        slot.1 = rest
            .next()
            .with_context(|| format!("{arg} needs a number"))?
            .parse()
            .with_context(|| format!("{arg} needs a number"))?;
    }
    Ok(())
}

/// `cargo build --release --quiet` of `targets` (`-p`, `--bin`, `--example` arguments): the
/// release programs a bench measures.
pub fn build_release(root: &Path, targets: &[&str]) -> Result<()> {
    let cargo = crate::cargo();
    let mut args = vec!["build", "--release", "--quiet"];
    args.extend(targets);
    crate::cmd::Cmd::new(root, &cargo, args).run()
}

/// What [`seeded_state`] made: the release build directory, the bench's fresh work dir under
/// `target/`, and the seeded state directory in it.
pub struct Seeded {
    /// `target/release`.
    pub release: std::path::PathBuf,
    /// `target/NAME`, emptied first.
    pub work: std::path::PathBuf,
    /// `target/NAME/state`, seeded by osbs-client's `seed_state` example.
    pub state: std::path::PathBuf,
}

/// Builds the release `osbs`, the `seed_state` example and `examples` of osbs-client, empties
/// `target/NAME` and seeds `state` in it with `builds` builds over `configs` BuildConfigs: the
/// set-up the `bench cli` and `bench engine` commands share.
pub fn seeded_state(
    root: &Path,
    name: &str,
    builds: u64,
    configs: u64,
    examples: &[&str],
) -> Result<Seeded> {
    let mut targets = vec![
        "-p",
        "osbs-client",
        "--bin",
        "osbs",
        "--example",
        "seed_state",
    ];
    for example in examples {
        targets.extend(["--example", example]);
    }
    build_release(root, &targets)?;
    let release = root.join("target/release");
    let work = root.join("target").join(name);
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let state = work.join("state");
    let seed = release.join("examples/seed_state");
    crate::cmd::Cmd::new(
        root,
        seed.to_str().context("path is not UTF-8")?,
        [
            state.display().to_string(),
            builds.to_string(),
            configs.to_string(),
        ],
    )
    .run()?;
    Ok(Seeded {
        release,
        work,
        state,
    })
}

/// Runs `pairs` interleaved pairs of `ours` and `skopeo` (alternating who goes first, so
/// neither always finds warm caches), printing each pair's wall times.
pub fn interleave(
    pairs: usize,
    mut ours: impl FnMut(usize) -> Result<Sample>,
    mut skopeo: impl FnMut(usize) -> Result<Sample>,
) -> Result<(Vec<Sample>, Vec<Sample>)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..pairs {
        if i % 2 == 0 {
            a.push(ours(i)?);
            b.push(skopeo(i)?);
        } else {
            b.push(skopeo(i)?);
            a.push(ours(i)?);
        }
        eprintln!(
            "  pair {}: ours {:.3} s, skopeo {:.3} s",
            i + 1,
            a[i].wall.as_secs_f64(),
            b[i].wall.as_secs_f64()
        );
    }
    Ok((a, b))
}

/// The wall times of `samples`, in seconds.
pub fn seconds(samples: &[Sample]) -> Vec<f64> {
    samples.iter().map(|s| s.wall.as_secs_f64()).collect()
}
