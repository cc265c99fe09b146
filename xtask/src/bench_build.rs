//! `cargo xtask bench build`: building and pushing an image with OSBS against `docker build
//! --no-cache && docker push` of the same content, on the same daemon and registry,
//! interleaved; plus the reactor's peak RSS for a large layer and a run behind a flaky proxy.
//!
//! Modes (`--mode`):
//! - `osbs` (the default): the whole `osbs build -g URL -b main` on the embedded local backend
//!   (release build, fresh state directory), waiting for the build as a user does: submission,
//!   the runner process, clone, build, push of four tags, import, clean-up;
//! - `reactor`: the `osbs-reactor build --request` binary alone (its peak RSS is sampled from
//!   `/proc/PID/status` every 20 ms).
//!
//! `--layer-source auto|store|export` sets the reactor's `OSBS_REACTOR_LAYER_SOURCE`: where its
//! push path takes the built layers from (the Engine's layer store read in place, or its image
//! export, which writes the whole image to a temporary directory before its first byte).
//!
//! Cases (`--only`): `small` (a COPY and a RUN), `random` (a `--size-mb` layer of
//! `/dev/urandom`), `base64` (the same size of base64 text, compressible), `rss` (the reactor's
//! peak RSS while pushing a `--rss-mb` random layer, reactor mode), `faults` (10 small builds
//! with `osbs build` through `osbs_testkit::fault_proxy` failing 20 % of the push registry's
//! requests with 500/503/429/resets; counts the builds that end `Complete`).
//!
//! What makes the comparison fair:
//! - every pair builds a new commit (a nonce file copied before the RUN), so neither side has a
//!   layer cache to reuse and both really upload new layers; docker also gets `--no-cache`;
//! - both sides add the same six labels in one extra `LABEL` step;
//! - both sides push the same four tags (`version-release`, `version`, `latest`, a unique
//!   tag) and remove the image from the daemon at the end;
//! - runs are interleaved and the order alternates within each pair, so drift (page cache,
//!   registry storage growth) hits both sides alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use osbs_testkit::fault_proxy::{Fault, FaultProxy};

use crate::measure::{build_release, measure, median, vm_hwm_kib};

/// One image to benchmark.
struct Case {
    name: &'static str,
    dockerfile_body: String,
    target_ratio: f64,
}

fn case(name: &str, size_mb: u64) -> Result<Case> {
    let bytes = size_mb * 1024 * 1024;
    Ok(match name {
        "small" => Case {
            name: "small",
            dockerfile_body: "COPY hello.txt /hello.txt\nRUN date +%s%N > /stamp\n".to_owned(),
            target_ratio: 1.05,
        },
        "random" => Case {
            name: "random",
            dockerfile_body: format!("RUN head -c {bytes} /dev/urandom > /big.bin\n"),
            target_ratio: 0.55,
        },
        "base64" => Case {
            name: "base64",
            // base64 grows 3 bytes to 4: this makes `size_mb` of text.
            dockerfile_body: format!(
                "RUN head -c {} /dev/urandom | base64 > /big.txt\n",
                bytes / 4 * 3
            ),
            target_ratio: 0.55,
        },
        other => bail!("unknown case `{other}` (small, random, base64, rss, faults)"),
    })
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

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let mut full = vec![
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
    ];
    full.extend_from_slice(args);
    quiet("git", &full, dir)
}

/// Writes the context of `case` as a git repository (first call) and commits a new nonce;
/// returns the commit.
fn new_commit(dir: &Path, case: &Case, base: &str, nonce: &str) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {base}\nLABEL name=\"bench/{}\" version=\"1\"\nCOPY nonce.txt /nonce.txt\n{}",
            case.name, case.dockerfile_body
        ),
    )?;
    std::fs::write(dir.join("hello.txt"), "hello\n")?;
    std::fs::write(dir.join("nonce.txt"), format!("{nonce}\n"))?;
    // The reactor never sends .git; neither does docker here.
    std::fs::write(dir.join(".dockerignore"), ".git\n")?;
    if !dir.join(".git").exists() {
        git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    }
    git(dir, &["add", "--all"])?;
    git(dir, &["commit", "--quiet", "-m", nonce])?;
    git(dir, &["rev-parse", "HEAD"])
}

/// One reactor run: wall time and peak RSS in KiB.
fn run_reactor(
    reactor: &Path,
    env: &[String],
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
        .envs(env.iter().filter_map(|kv| kv.split_once('=')))
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

/// Writes an osbs.conf for a fresh local state under `dir`, pushing to `registry`.
fn osbs_config(dir: &Path, registry: &str, push_method: &str) -> Result<PathBuf> {
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(dir)?;
    let config = dir.join("osbs.conf");
    std::fs::write(
        &config,
        format!(
            "[default]\nstate_dir = {}\nregistry_uri = {registry}\npush_method = {push_method}\n",
            state.display()
        ),
    )?;
    Ok(config)
}

/// One whole `osbs build` (waits for the build; exit 0 only when it is Complete), through
/// `env` to set `env` (the runner inherits it).
fn run_osbs(osbs: &Path, env: &[String], config: &Path, url: &str) -> Result<Duration> {
    let mut args = env.to_vec();
    args.push(osbs.display().to_string());
    args.extend([
        "--config".to_owned(),
        config.display().to_string(),
        "build".to_owned(),
        "-g".to_owned(),
        url.to_owned(),
        "-b".to_owned(),
        "main".to_owned(),
    ]);
    Ok(measure(Path::new("env"), &args)?.wall)
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

/// The options of `cargo xtask bench build`.
struct Options {
    pairs: usize,
    only: Vec<String>,
    size_mb: u64,
    rss_mb: u64,
    mode: String,
    push_method: String,
    gzip_level: Option<u32>,
    layer_source: Option<String>,
}

fn options(args: &[&str]) -> Result<Options> {
    let mut o = Options {
        pairs: 5,
        only: Vec::new(),
        size_mb: 300,
        rss_mb: 1024,
        mode: "osbs".to_owned(),
        push_method: "reactor".to_owned(),
        gzip_level: None,
        layer_source: None,
    };
    let usage = "--pairs N, --only small|random|base64|rss|faults (repeatable), --size-mb N, \
                 --rss-mb N, --mode osbs|reactor, --push-method reactor|engine, --gzip-level 0-9, \
                 --layer-source auto|store|export";
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().map(|v| v.to_string()).context(usage);
        match *arg {
            "--pairs" => o.pairs = value()?.parse()?,
            "--only" => o.only.push(value()?),
            "--size-mb" => o.size_mb = value()?.parse()?,
            "--rss-mb" => o.rss_mb = value()?.parse()?,
            "--mode" => o.mode = value()?,
            "--push-method" => o.push_method = value()?,
            "--gzip-level" => o.gzip_level = Some(value()?.parse()?),
            "--layer-source" => o.layer_source = Some(value()?),
            other => bail!("unknown argument `{other}` ({usage})"),
        }
    }
    ensure!(o.pairs >= 1, "--pairs must be at least 1");
    ensure!(
        matches!(o.mode.as_str(), "osbs" | "reactor"),
        "--mode osbs|reactor"
    );
    ensure!(
        o.layer_source
            .as_deref()
            .is_none_or(|s| matches!(s, "auto" | "store" | "export")),
        "--layer-source auto|store|export"
    );
    if o.only.is_empty() {
        o.only = ["small", "random", "base64", "rss", "faults"]
            .map(str::to_owned)
            .to_vec();
    }
    Ok(o)
}

/// `cargo xtask bench build [options]`; see the module documentation.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let o = options(args)?;
    ensure!(
        osbs_testkit::docker_answers()
            && osbs_testkit::registry_answers(&osbs_testkit::push_registry()),
        "services not answering; run `cargo xtask services up` first"
    );
    build_release(
        root,
        &[
            "-p",
            "osbs-reactor",
            "-p",
            "osbs-client",
            "--bin",
            "osbs-reactor",
            "--bin",
            "osbs",
        ],
    )?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let release = target_dir.join("release");
    let work = target_dir.join("bench-build");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let bench = Bench {
        reactor: release.join("osbs-reactor"),
        env: o
            .gzip_level
            .map(|level| format!("OSBS_REACTOR_GZIP_LEVEL={level}"))
            .into_iter()
            .chain(
                o.layer_source
                    .as_ref()
                    .map(|source| format!("OSBS_REACTOR_LAYER_SOURCE={source}")),
            )
            .collect(),
        osbs: release.join("osbs"),
        work,
        registry: osbs_testkit::push_registry(),
        base: osbs_testkit::base_image(),
        stamp: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let mut report = Vec::new();
    for name in &o.only {
        match name.as_str() {
            "rss" => report.push(bench.rss(o.rss_mb)?),
            "faults" => report.push(bench.faults(&o.push_method)?),
            other => report.push(bench.pairs(&case(other, o.size_mb)?, &o)?),
        }
    }
    println!(
        "\nbench build (mode {}, push_method {}, layer source {}, gzip level {}, {} pairs, large \
         layers {} MB):",
        o.mode,
        o.push_method,
        o.layer_source.as_deref().unwrap_or("auto"),
        o.gzip_level
            .map_or_else(|| "default".to_owned(), |l| l.to_string()),
        o.pairs,
        o.size_mb
    );
    for line in report {
        println!("  {line}");
    }
    Ok(())
}

struct Bench {
    reactor: PathBuf,
    /// `KEY=VALUE`s for the reactor's environment (`--gzip-level`).
    env: Vec<String>,
    osbs: PathBuf,
    work: PathBuf,
    registry: String,
    base: String,
    stamp: u64,
}

impl Bench {
    /// Interleaved pairs of OSBS and docker runs of `case`; the report line.
    fn pairs(&self, case: &Case, o: &Options) -> Result<String> {
        let dir = self.work.join(case.name);
        let ctx = dir.join("context");
        let url = format!("file://{}", ctx.display());
        let config = osbs_config(&dir, &self.registry, &o.push_method)?;
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        eprintln!(
            "bench build {} ({} mode): {} interleaved pairs",
            case.name, o.mode, o.pairs
        );
        for i in 0..o.pairs {
            let nonce = format!("{}-{i}", self.stamp);
            let commit = new_commit(&ctx, case, &self.base, &nonce)?;
            let docker_repo = format!("bench/{}-docker-{}-{i}", case.name, self.stamp);
            let ours_first = i % 2 == 0;
            let mut took_docker = None;
            if !ours_first {
                took_docker = Some(run_docker(&ctx, &commit, &self.registry, &docker_repo)?);
            }
            let took = if o.mode == "osbs" {
                run_osbs(&self.osbs, &self.env, &config, &url)?
            } else {
                let run_dir = dir.join(format!("run-{i}"));
                std::fs::create_dir_all(&run_dir)?;
                let repo = format!("bench/{}-reactor-{}-{i}", case.name, self.stamp);
                run_reactor(
                    &self.reactor,
                    &self.env,
                    &run_dir,
                    &url,
                    &self.registry,
                    &repo,
                )?
                .0
            };
            if ours_first {
                took_docker = Some(run_docker(&ctx, &commit, &self.registry, &docker_repo)?);
            }
            let took_docker = took_docker.context("docker run missing")?;
            ours.push(took.as_secs_f64());
            theirs.push(took_docker.as_secs_f64());
            eprintln!(
                "  pair {i} ({} first): osbs {:.2} s, docker {:.2} s, ratio {:.3}",
                if ours_first { "osbs" } else { "docker" },
                took.as_secs_f64(),
                took_docker.as_secs_f64(),
                took.as_secs_f64() / took_docker.as_secs_f64()
            );
        }
        let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(r, d)| r / d).collect();
        let ratio = median(&ratios);
        Ok(format!(
            "{:<7} osbs median {:>6.2} s | docker build+push median {:>6.2} s | median ratio \
             {ratio:.3} (target <= {:.2}: {})",
            case.name,
            median(&ours),
            median(&theirs),
            case.target_ratio,
            if ratio <= case.target_ratio {
                "met"
            } else {
                "MISSED"
            },
        ))
    }

    /// The reactor's peak RSS while it builds and pushes a `size_mb` random layer.
    fn rss(&self, size_mb: u64) -> Result<String> {
        let case = case("random", size_mb)?;
        let dir = self.work.join("rss");
        let ctx = dir.join("context");
        let commit_nonce = format!("{}-rss", self.stamp);
        new_commit(&ctx, &case, &self.base, &commit_nonce)?;
        let url = format!("file://{}", ctx.display());
        let repo = format!("bench/rss-{}", self.stamp);
        eprintln!("bench build rss: one reactor build of a {size_mb} MB random layer");
        let (took, peak) =
            run_reactor(&self.reactor, &self.env, &dir, &url, &self.registry, &repo)?;
        let mib = peak as f64 / 1024.0;
        Ok(format!(
            "rss     reactor peak RSS {mib:.1} MiB for a {size_mb} MB layer in {:.1} s \
             (target <= 64 MiB: {})",
            took.as_secs_f64(),
            if mib <= 64.0 { "met" } else { "MISSED" }
        ))
    }

    /// Ten small `osbs build`s through a proxy failing 20 % of the push registry's requests.
    fn faults(&self, push_method: &str) -> Result<String> {
        let case = case("small", 0)?;
        let proxy = FaultProxy::start(&self.registry, 0.2, self.stamp);
        let dir = self.work.join("faults");
        let ctx = dir.join("context");
        let url = format!("file://{}", ctx.display());
        let config = osbs_config(&dir, proxy.addr(), push_method)?;
        eprintln!("bench build faults: 10 builds behind a proxy failing 20 % of the requests");
        let mut complete = 0;
        let started = Instant::now();
        for i in 0..10 {
            new_commit(
                &ctx,
                &case,
                &self.base,
                &format!("{}-fault-{i}", self.stamp),
            )?;
            match run_osbs(&self.osbs, &self.env, &config, &url) {
                Ok(took) => {
                    complete += 1;
                    eprintln!("  build {i}: Complete in {:.2} s", took.as_secs_f64());
                }
                Err(err) => eprintln!("  build {i}: not Complete: {err:#}"),
            }
        }
        let counts = proxy.fault_counts();
        let injected: usize = counts
            .iter()
            .filter(|(f, _)| **f != Fault::None)
            .map(|(_, n)| n)
            .sum();
        let total: usize = counts.values().sum();
        Ok(format!(
            "faults  {complete}/10 builds Complete in {:.1} s; {injected} of {total} requests \
             failed by the proxy ({counts:?})",
            started.elapsed().as_secs_f64()
        ))
    }
}
