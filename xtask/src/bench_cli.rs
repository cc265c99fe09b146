//! `cargo xtask bench cli`: how fast the `osbs` command answers on the embedded local backend
//! (issue figures: `osbs --version` ≤ 20 ms; `osbs list-builds` with 10,000 builds in the
//! store ≤ 100 ms; `rebuild-plan` over 10,000 BuildConfigs ≤ 50 ms), and without targets the
//! other output habits over the same state: `-o json`, `-o wide`, a filter with `--columns`,
//! and `rebuild-plan` from an image reference drawn as Graphviz.
//!
//! A state directory under `target/bench-cli/` is seeded by the `seed_state` example of
//! osbs-client (10,000 finished builds over 10,000 BuildConfigs whose triggers form a 4-ary
//! tree under `osbs-seed-base:latest`). Each command then runs `--runs N` times with its output
//! sent to /dev/null (the command is measured, not the terminal); the median wall time and
//! peak RSS are reported. Release build, as users install it.

use std::fs;
use std::path::Path;

use anyhow::Result;

use crate::measure::{measure, median};

/// `cargo xtask bench cli [--runs N] [--builds N] [--configs N]`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut options = [("--runs", 21), ("--builds", 10_000), ("--configs", 10_000)];
    crate::measure::number_options(args, &mut options)?;
    let [(_, runs), (_, builds), (_, configs)] = options;
    let runs = usize::try_from(runs)?;
    let crate::measure::Seeded {
        release,
        work,
        state,
    } = crate::measure::seeded_state(root, "bench-cli", builds, configs, &[])?;
    let osbs = release.join("osbs");
    let config = work.join("osbs.conf");
    fs::write(
        &config,
        format!("[default]\nstate_dir = {}\n", state.display()),
    )?;

    let config_arg = config.display().to_string();
    let cases: Vec<(&str, Vec<String>, f64)> = vec![
        ("osbs --version", vec!["--version".into()], 20.0),
        (
            "osbs list-builds",
            vec!["--config".into(), config_arg.clone(), "list-builds".into()],
            100.0,
        ),
        (
            "osbs list-builds --output json",
            vec![
                "--config".into(),
                config_arg.clone(),
                "list-builds".into(),
                "--output".into(),
                "json".into(),
            ],
            f64::NAN,
        ),
        (
            "osbs list-builds -o wide",
            vec![
                "--config".into(),
                config_arg.clone(),
                "list-builds".into(),
                "-o".into(),
                "wide".into(),
            ],
            f64::NAN,
        ),
        (
            "osbs list-builds FILTER --columns",
            vec![
                "--config".into(),
                config_arg.clone(),
                "list-builds".into(),
                "app-99".into(),
                "--columns".into(),
                "name,phase,age,duration".into(),
            ],
            f64::NAN,
        ),
        (
            "osbs rebuild-plan osbs-seed-base",
            vec![
                "--config".into(),
                config_arg.clone(),
                "rebuild-plan".into(),
                "osbs-seed-base".into(),
            ],
            50.0,
        ),
        (
            "osbs rebuild-plan osbs/seed-base -o dot",
            vec![
                "--config".into(),
                config_arg,
                "rebuild-plan".into(),
                "osbs/seed-base".into(),
                "-o".into(),
                "dot".into(),
            ],
            f64::NAN,
        ),
    ];
    println!("\n{builds} builds, {configs} build configs, {runs} runs each (release build)\n");
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>9}  target",
        "command", "median", "min", "max", "peak RSS"
    );
    let mut missed = Vec::new();
    for (name, args, target_ms) in cases {
        // One warm-up run: the page cache, not the first run's disk reads, is what users see.
        measure(&osbs, &args)?;
        let mut millis = Vec::with_capacity(runs);
        let mut peak = 0;
        for _ in 0..runs {
            let sample = measure(&osbs, &args)?;
            millis.push(sample.wall.as_secs_f64() * 1000.0);
            peak = peak.max(sample.peak_rss_kib);
        }
        let med = median(&millis);
        let min = millis.iter().copied().fold(f64::INFINITY, f64::min);
        let max = millis.iter().copied().fold(0.0, f64::max);
        let verdict = if target_ms.is_nan() {
            "(no target)".to_owned()
        } else if med <= target_ms {
            format!("<= {target_ms} ms: met")
        } else {
            missed.push(name);
            format!("<= {target_ms} ms: MISSED")
        };
        println!(
            "{name:<40} {med:>7.1} ms {min:>7.1} ms {max:>7.1} ms {:>6.1} MiB  {verdict}",
            peak as f64 / 1024.0
        );
    }
    if !missed.is_empty() {
        println!("\nmissed: {}", missed.join(", "));
    }
    Ok(())
}
