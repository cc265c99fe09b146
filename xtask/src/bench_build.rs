//! `cargo xtask bench build`: the reactor building and pushing a fixture against `docker build`
//! + `docker push` of the same context, on the same daemon and registry, interleaved.
//!
//! What makes the comparison fair:
//! - both sides build the same context with no layer cache (`--no-cache` / `no_cache`), so
//!   every run produces a new layer (the large image's layer is 300 MB of `/dev/urandom`, the
//!   small image's is a time stamp) and really uploads it;
//! - both sides add the same six labels in one extra `LABEL` step (the reactor appends it to
//!   the Dockerfile, `docker build --label` makes the classic builder do the same);
//! - both sides push the same four tags (`version-release`, `version`, `latest`, a unique
//!   tag) into a fresh repository, and remove the image from the daemon at the end;
//! - runs are interleaved and the order alternates within each pair, so drift (page cache,
//!   registry storage growth) hits both sides alike.
//!
//! The reactor also clones the git repository, lists the target's tags, checks the base
//! image's digest and verifies every pushed digest with a manifest HEAD: that is its real
//! overhead and it is counted. Its peak RSS is sampled from `/proc/PID/status` (VmHWM) every
//! 20 ms.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};

use crate::cmd::Cmd;
use crate::measure::{median, vm_hwm_kib};

/// One image to benchmark.
struct Case {
    name: &'static str,
    dockerfile_body: String,
    target_ratio: f64,
}

fn cases(size_mb: u64) -> Vec<Case> {
    vec![
        Case {
            name: "small",
            dockerfile_body: "COPY hello.txt /hello.txt\nRUN date +%s%N > /stamp\n".to_owned(),
            target_ratio: 1.10,
        },
        Case {
            name: "large",
            dockerfile_body: format!(
                "RUN head -c {} /dev/urandom > /big.bin\n",
                size_mb * 1024 * 1024
            ),
            target_ratio: 1.03,
        },
    ]
}

/// Labels the docker side adds, the same keys the reactor's `add_labels` writes.
fn docker_labels(commit: &str) -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    vec![
        format!("build-date={now}"),
        "vcs-type=git".to_owned(),
        "vcs-url=file:///bench".to_owned(),
        format!("vcs-ref={commit}"),
        format!("architecture={}", std::env::consts::ARCH),
        "release=1".to_owned(),
    ]
}

fn quiet(program: &str, args: &[&str], dir: &Path) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Writes the context of `case` as a git repository; returns its commit.
fn make_context(dir: &Path, case: &Case, base: &str) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\nLABEL name=\"bench/{}\" version=\"1\"\n{}",
            case.name, case.dockerfile_body
        ),
    )?;
    std::fs::write(dir.join("hello.txt"), "hello\n")?;
    // The reactor never sends .git; neither does docker here.
    std::fs::write(dir.join(".dockerignore"), ".git\n")?;
    let git = |args: &[&str]| -> Result<String> {
        let mut full = vec![
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ];
        full.extend_from_slice(args);
        quiet("git", &full, dir)
    };
    if !dir.join(".git").exists() {
        git(&["init", "--quiet", "--initial-branch=main"])?;
        git(&["add", "--all"])?;
        git(&["commit", "--quiet", "-m", "bench"])?;
    }
    git(&["rev-parse", "HEAD"])
}

/// One reactor run: wall time and peak RSS in KiB.
fn run_reactor(
    reactor: &Path,
    work: &Path,
    url: &str,
    registry: &str,
    repo: &str,
) -> Result<(Duration, u64)> {
    let request = format!(
        r#"{{"build_name":"{name}-1","build_config":"{name}","git_url":"{url}","git_branch":"main",
            "registry_uri":"{registry}","image_name":"{repo}","no_cache":true}}"#,
        name = repo.replace('/', "-"),
    );
    let request_path = work.join("request.json");
    std::fs::write(&request_path, request)?;
    let results_path = work.join("results.json");
    let started = Instant::now();
    let mut child = Command::new(reactor)
        .args(["build", "--request"])
        .arg(&request_path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&results_path)?)
        .stderr(std::fs::File::create(work.join("reactor.log"))?)
        .spawn()
        .context("cannot start osbs-reactor")?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let results = std::fs::read_to_string(&results_path)?;
    ensure!(
        status.success() && results.contains("\"phase\": \"Complete\""),
        "the reactor build failed ({status}); see {}",
        work.join("reactor.log").display()
    );
    Ok((took, peak))
}

/// One `docker build` + `docker push` run of the same work: four tags, image removed.
fn run_docker(ctx: &Path, commit: &str, registry: &str, repo: &str) -> Result<Duration> {
    let image = format!("{registry}/{repo}");
    let primary = format!("{image}:1-1");
    let started = Instant::now();
    let mut args: Vec<String> = vec!["build".into(), "--no-cache".into(), "-q".into()];
    for label in docker_labels(commit) {
        args.push("--label".into());
        args.push(label);
    }
    args.extend(["-t".into(), primary.clone(), ".".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = quiet("docker", &args, ctx)?;
    for tag in ["1", "latest", "unique-tag"] {
        quiet("docker", &["tag", &id, &format!("{image}:{tag}")], ctx)?;
    }
    quiet("docker", &["push", "--all-tags", "-q", &image], ctx)?;
    quiet("docker", &["rmi", "-f", &id], ctx)?;
    Ok(started.elapsed())
}

/// `cargo xtask bench build [--pairs N] [--only small|large] [--size-mb N]`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut pairs = 5usize;
    let mut only: Option<String> = None;
    let mut size_mb = 300u64;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--pairs" => pairs = it.next().context("--pairs N")?.parse()?,
            "--only" => only = Some(it.next().context("--only small|large")?.to_string()),
            "--size-mb" => size_mb = it.next().context("--size-mb N")?.parse()?,
            other => {
                bail!("unknown argument `{other}` (--pairs N, --only small|large, --size-mb N)")
            }
        }
    }
    ensure!(pairs >= 1, "--pairs must be at least 1");
    ensure!(
        osbs_testkit::docker_answers()
            && osbs_testkit::registry_answers(&osbs_testkit::push_registry()),
        "services not answering; run `cargo xtask services up` first"
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Cmd::new(root, &cargo, ["build", "--release", "-p", "osbs-reactor"]).run()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let reactor = target_dir.join("release/osbs-reactor");
    let work = target_dir.join("bench-build");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let registry = osbs_testkit::push_registry();
    let base = osbs_testkit::base_image();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let mut report = Vec::new();
    for case in cases(size_mb) {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        let ctx = work.join(case.name).join("context");
        let commit = make_context(&ctx, &case, &base)?;
        let url = format!("file://{}", ctx.display());
        let mut reactor_secs = Vec::new();
        let mut docker_secs = Vec::new();
        let mut peak_kib = 0;
        eprintln!("bench build {}: {pairs} interleaved pairs", case.name);
        for i in 0..pairs {
            let reactor_repo = format!("bench/{}-reactor-{stamp}-{i}", case.name);
            let docker_repo = format!("bench/{}-docker-{stamp}-{i}", case.name);
            let run_dir = work.join(case.name).join(format!("run-{i}"));
            std::fs::create_dir_all(&run_dir)?;
            let reactor_first = i % 2 == 0;
            let mut took_docker = None;
            if !reactor_first {
                took_docker = Some(run_docker(&ctx, &commit, &registry, &docker_repo)?);
            }
            let (took, peak) = run_reactor(&reactor, &run_dir, &url, &registry, &reactor_repo)?;
            if reactor_first {
                took_docker = Some(run_docker(&ctx, &commit, &registry, &docker_repo)?);
            }
            let took_docker = took_docker.context("docker run missing")?;
            reactor_secs.push(took.as_secs_f64());
            docker_secs.push(took_docker.as_secs_f64());
            peak_kib = peak_kib.max(peak);
            eprintln!(
                "  pair {i} ({} first): reactor {:.2} s (peak RSS {:.1} MiB), docker {:.2} s, ratio {:.3}",
                if reactor_first { "reactor" } else { "docker" },
                took.as_secs_f64(),
                peak as f64 / 1024.0,
                took_docker.as_secs_f64(),
                took.as_secs_f64() / took_docker.as_secs_f64()
            );
        }
        let ratios: Vec<f64> = reactor_secs
            .iter()
            .zip(&docker_secs)
            .map(|(r, d)| r / d)
            .collect();
        let ratio = median(&ratios);
        let reactor_median = median(&reactor_secs);
        let docker_median = median(&docker_secs);
        report.push(format!(
            "{:<6} reactor median {reactor_median:>7.2} s | docker build+push median {docker_median:>7.2} s | median ratio {ratio:.3} (target <= {:.2}: {}) | reactor peak RSS {:.1} MiB{}",
            case.name,
            case.target_ratio,
            if ratio <= case.target_ratio { "met" } else { "MISSED" },
            peak_kib as f64 / 1024.0,
            if case.name == "large" {
                if peak_kib <= 64 * 1024 { " (target <= 64 MiB: met)" } else { " (target <= 64 MiB: MISSED)" }
            } else {
                ""
            }
        ));
    }
    println!("\nbench build ({pairs} pairs, large layer {size_mb} MB):");
    for line in report {
        println!("  {line}");
    }
    Ok(())
}
