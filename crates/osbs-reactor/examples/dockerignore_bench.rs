//! The `.dockerignore` matcher on pathological input (`cargo xtask bench dockerignore` runs it
//! in release): 1 KB patterns made of `*` (and `*a*a…`, `**/` repeated, classes) against 4 KB
//! paths, the shapes on which a backtracking matcher takes exponential time. Prints the median
//! time of one `excludes` call per case (the rules are parsed once, as a build parses its
//! `.dockerignore` once) and the median of parse plus match; exits 1 when a match median is
//! over the limit (1 ms).
//!
//! Usage: `dockerignore_bench [RUNS]` (default 1001 timed calls per case).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use osbs_reactor::dockerignore::DockerIgnore;

/// The limit on one match (issue 10, deliverable 9).
const LIMIT: Duration = Duration::from_millis(1);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() -> ExitCode {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1001)
        .max(1);
    let one_component = "a".repeat(4096);
    let components_2048 = vec!["a"; 2048].join("/");
    let b_components = vec!["ab"; 1366].join("/");
    let cases: Vec<(&str, String, &str)> = vec![
        ("`*` x 1024", "*".repeat(1024), &one_component),
        (
            "`*a` x 511 + `*b`",
            format!("{}*b", "*a".repeat(511)),
            &one_component,
        ),
        (
            "`a*` x 511 + `*b`",
            format!("{}*b", "a*".repeat(511)),
            &one_component,
        ),
        ("`[a-z]*` x 170", "[a-z]*".repeat(170), &one_component),
        ("`?*` x 512", "?*".repeat(512), &one_component),
        ("`*/` x 512", "*/".repeat(512), &components_2048),
        (
            "`**/` x 341 + `x`",
            format!("{}x", "**/".repeat(341)),
            &components_2048,
        ),
        ("`**/*a*` x 170", "**/*a*".repeat(170), &b_components),
        ("`*a*/**/` x 146", "*a*/**/".repeat(146), &b_components),
    ];
    println!(
        "{:<22} {:>7} {:>7} {:>9} {:>12} {:>12}  verdict",
        "pattern (~1 KB)", "pattern", "path", "excluded", "match", "parse+match"
    );
    let mut missed = 0;
    for (name, pattern, path) in &cases {
        let components: Vec<&str> = path.split('/').collect();
        let ignore = DockerIgnore::parse(pattern);
        let excluded = ignore.excludes(&components);
        let mut matches = Vec::with_capacity(runs);
        let mut both = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            black_box(black_box(&ignore).excludes(black_box(&components)));
            matches.push(start.elapsed());
            let start = Instant::now();
            black_box(DockerIgnore::parse(black_box(pattern)).excludes(black_box(&components)));
            both.push(start.elapsed());
        }
        let (matched, parsed) = (median(matches), median(both));
        let verdict = if matched <= LIMIT {
            "met"
        } else {
            missed += 1;
            "MISSED"
        };
        println!(
            "{name:<22} {:>6}B {:>6}B {excluded:>9} {:>9.1} µs {:>9.1} µs  {verdict} (<= 1 ms)",
            pattern.len(),
            path.len(),
            matched.as_secs_f64() * 1e6,
            parsed.as_secs_f64() * 1e6,
        );
    }
    println!("medians of {runs} calls per case, release build");
    if missed > 0 {
        eprintln!("{missed} case(s) over 1 ms");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
