//! `cargo xtask bench engine`: the engine's figures on the local store (issue figures: one
//! supervision pass over 10,000 BuildConfigs and 10,000 builds ≤ 50 ms; a scheduled-import
//! round over 1,000 external stream tags ≤ 2 s against a local registry, one `HEAD` each;
//! `osbs serve` RSS ≤ 64 MiB with 10,000 builds).
//!
//! A state directory under `target/bench-engine/` is seeded by osbs-client's `seed_state`
//! example (10,000 finished builds over 10,000 BuildConfigs); its `bench_engine` example adds
//! 500 running builds with 500 queued behind them and an external ImageStream of 1,000 tags
//! in the push registry, then times `LocalBackend::supervise` and
//! `LocalBackend::scheduled_import_round`. Last, the release `osbs serve` runs over that
//! state for a few seconds (its first scheduled import included) while its VmHWM is sampled.
//! Release build, as users install it.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::measure::vm_hwm_kib;

/// `cargo xtask bench engine [--passes N] [--tags N]`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut options = [("--passes", 21), ("--tags", 1_000)];
    crate::measure::number_options(args, &mut options)?;
    let [(_, passes), (_, tags)] = options;
    osbs_testkit::require_services();
    let crate::measure::Seeded {
        release,
        work,
        state,
    } = crate::measure::seeded_state(root, "bench-engine", 10_000, 10_000, &["bench_engine"])?;
    let registry = osbs_testkit::push_registry();
    let bench = release.join("examples/bench_engine");
    let output = Command::new(&bench)
        .args([
            state.display().to_string(),
            registry.clone(),
            passes.to_string(),
            tags.to_string(),
        ])
        .output()
        .context("cannot run the bench_engine example")?;
    if !output.status.success() {
        bail!(
            "bench_engine failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let figures = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    println!("\nengine figures (release build): {figures}");

    // osbs serve over the same state: RSS while it supervises and imports.
    let config = work.join("osbs.conf");
    fs::write(
        &config,
        format!(
            "[default]\nstate_dir = {}\nregistry_uri = {registry}\nmax_concurrent_builds = 10000\n",
            state.display()
        ),
    )?;
    let mut serve = Command::new(release.join("osbs"))
        .args([
            "--config",
            config.to_str().context("path is not UTF-8")?,
            "serve",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start osbs serve")?;
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(8) {
        if let Some(kib) = vm_hwm_kib(serve.id()) {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let status = serve.wait()?;
    let rss_mib = peak as f64 / 1024.0;
    let verdict = if rss_mib <= 64.0 { "met" } else { "MISSED" };
    println!(
        "osbs serve over 11,000 builds, 10,000 build configs, {tags} external tags: peak RSS \
         {rss_mib:.1} MiB (target <= 64 MiB: {verdict}); exit {status}"
    );
    Ok(())
}
