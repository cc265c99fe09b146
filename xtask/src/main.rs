//! `cargo xtask`: the workspace's developer tasks (services, tests, CI), written in Rust so they
//! run wherever cargo does. See `cargo xtask help`.

mod bench_build;
mod bench_cli;
mod bench_controller;
mod bench_dockerignore;
mod bench_engine;
mod bench_pulp;
mod bench_sync;
mod cmd;
mod demo;
mod e2e;
mod measure;
mod pulp;
mod services;
mod tidy;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cmd::Cmd;

const HELP: &str = "\
cargo xtask <command>

Commands:
  services up [--pulp]
                    start dockerd (if none answers), the push and sync registries, and push
                    the busybox base image; installs missing Debian packages when root;
                    --pulp also a Pulp 3 registry with token auth on 127.0.0.1:24817
                    (venv under target/, PostgreSQL from Debian)
  services down     stop what `services up` started
  services status   show what answers
  demo              services up, then build a base image and an app FROM it with `osbs build`,
                    rebuild the base and show the app's autorebuild and the pushed image
  test [ARGS]       services up --pulp, cargo fmt --check, clippy -D warnings,
                    cargo test --workspace
  ci                what CI runs (same as test)
  bench build [--pairs N] [--only small|random|base64|rss|faults] [--size-mb N]
              [--rss-mb N] [--mode osbs|reactor] [--push-method reactor|engine]
              [--gzip-level 0-9]
                    osbs build vs docker build + docker push, interleaved pairs; the
                    reactor's RSS for a 1 GB layer; 10 builds behind a 20 % fault proxy
  bench cli [--runs N] [--builds N] [--configs N]
                    osbs --version, list-builds and rebuild-plan over a seeded 10,000-build state
  bench sync [--pairs N] [--only fresh|promote|resync|rss]
                    osbs-registry-sync vs skopeo copy/sync, interleaved pairs
  bench pulp [--runs N] [--tags N]
                    osbs-registry-sync vs skopeo sync of a repository into Pulp (fresh)
  bench controller  controller scale: fan-out to 1,000 BuildConfigs (CPU), RSS with 10,000
                    cached BuildConfigs (wiremock-fed reflector)
  bench engine [--passes N] [--tags N]
                    one supervision pass over 10,000 builds, a scheduled-import round over
                    1,000 tags, osbs serve's RSS (local store, release build)
  bench dockerignore [--runs N]
                    the .dockerignore matcher on 1 KB patterns of stars against 4 KB paths
                    (median per call, limit 1 ms; release build)
  e2e [--plan] [--keep]
                    the kubernetes backend on a kind cluster (docker, kind, kubectl needed);
                    --plan prints the steps without running them
  help              this text
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["services", "up"] => services::up(&root),
        ["services", "up", "--pulp"] => services::up_with_pulp(&root),
        ["services", "down"] => services::down(&root),
        ["services", "status"] => services::status(&root),
        ["test", rest @ ..] => test(&root, rest),
        ["bench", "build", rest @ ..] => bench_build::run(&root, rest),
        ["bench", "cli", rest @ ..] => bench_cli::run(&root, rest),
        ["bench", "sync", rest @ ..] => bench_sync::run(&root, rest),
        ["bench", "pulp", rest @ ..] => bench_pulp::run(&root, rest),
        ["bench", "controller", rest @ ..] => bench_controller::run(&root, rest),
        ["bench", "engine", rest @ ..] => bench_engine::run(&root, rest),
        ["bench", "dockerignore", rest @ ..] => bench_dockerignore::run(&root, rest),
        ["e2e", rest @ ..] => e2e::run(&root, rest),
        ["ci"] => test(&root, &[]),
        ["demo"] => demo::run(&root),
        [] | ["help" | "--help" | "-h"] => {
            print!("{HELP}");
            Ok(())
        }
        _ => bail!("unknown command `{}`\n\n{HELP}", args.join(" ")),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cargo that runs xtask (`$CARGO`), so the same toolchain builds everything.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn test(root: &Path, extra: &[&str]) -> Result<()> {
    services::up_with_pulp(root)?;
    let cargo = cargo();
    Cmd::new(root, &cargo, ["fmt", "--all", "--", "--check"]).run()?;
    Cmd::new(
        root,
        &cargo,
        [
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )
    .run()?;
    let mut args = vec!["test", "--workspace"];
    args.extend(extra);
    Cmd::new(root, &cargo, args).run()
}
