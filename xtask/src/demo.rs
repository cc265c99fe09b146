//! `cargo xtask demo`: the main job on the embedded default, end to end. Brings the services
//! up, makes two git repositories from `fixtures/cli/` (a base image and an app FROM it),
//! builds both with `osbs build`, rebuilds the base, and shows the app's autorebuild and the
//! pushed image; then an app FROM a vendor base in the second registry, autorebuilt by
//! `osbs serve` when the vendor pushes a new base with plain `docker push`.
//!
//! Everything lives in `target/osbs-demo/` (its own `osbs.conf` and state), so the demo never
//! touches a user's own `osbs` state; the commands it prints can be re-run to look around.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::Cmd;
use crate::services;

/// The image-name prefix the demo's fixtures get (`osbs/demo-base`, `osbs/demo-app`).
const PREFIX: &str = "demo";

/// Runs the demo.
pub fn run(root: &Path) -> Result<()> {
    services::up(root)?;
    let cargo = crate::cargo();
    Cmd::new(
        root,
        &cargo,
        ["build", "--quiet", "-p", "osbs-client", "--bin", "osbs"],
    )
    .run()?;
    let osbs = root.join("target/debug/osbs");

    let demo = root.join("target/osbs-demo");
    if demo.exists() {
        fs::remove_dir_all(&demo).with_context(|| format!("cannot clear {}", demo.display()))?;
    }
    fs::create_dir_all(&demo)?;
    let config = demo.join("osbs.conf");
    fs::write(
        &config,
        format!(
            "# Written by `cargo xtask demo`.\n[default]\nbackend = local\nstate_dir = {}\n\
             registry_uri = {}\nimport_interval = 2s\n",
            demo.join("state").display(),
            osbs_testkit::push_registry()
        ),
    )?;
    let base = make_repo(root, &demo, "base")?;
    let app = make_repo(root, &demo, "app")?;
    let config_arg = config.display().to_string();
    let osbs_cmd = |args: &[&str]| {
        let mut all = vec!["--config", config_arg.as_str()];
        all.extend_from_slice(args);
        Cmd::new(&demo, osbs.to_str().unwrap_or("osbs"), all)
    };

    step("1. build the base image (the log streams to stderr)");
    osbs_cmd(&["build", "-g", &base, "-b", "main"]).run()?;
    step(
        "2. build the app FROM the base: its BuildConfig is now triggered on the base's ImageStream",
    );
    osbs_cmd(&["build", "-g", &app, "-b", "main", "--no-logs"]).run()?;
    osbs_cmd(&["list-build-configs"]).run()?;
    step("3. what a base rebuild would autorebuild");
    let base_stream = format!("osbs-{PREFIX}-base");
    osbs_cmd(&["rebuild-plan", &base_stream]).run()?;
    step("4. rebuild the base: its import fires the app's trigger");
    osbs_cmd(&["build", "-g", &base, "-b", "main", "--no-logs"]).run()?;
    let app_builds = osbs_cmd(&["list-builds", "--output", "json"]).read()?;
    let autorebuild = newest_autorebuild(&app_builds)
        .context("the base rebuild triggered no autorebuild of the app")?;
    osbs_cmd(&["watch-build", &autorebuild]).run()?;
    step("5. the builds: the app's second build is an autorebuild of the same commit");
    osbs_cmd(&["list-builds"]).run()?;
    osbs_cmd(&["get-build", &autorebuild]).run()?;
    step("6. the pushed image, pulled back from the registry and run");
    let out = app_txt(&demo, "app")?;
    if out != "base" {
        bail!("the app image does not carry the base's file");
    }
    vendor_base_under_serve(&demo, &osbs, &config)?;
    step("done");
    println!(
        "look around with: {} --config {} list-builds (or get-build, build-logs, list-image-streams, ...)",
        osbs.display(),
        config.display()
    );
    Ok(())
}

/// Steps 7–9: an app FROM a vendor base in the second registry (not built here); `osbs serve`
/// re-reads that base every `import_interval` and autorebuilds the app when a plain
/// `docker push` changes it.
fn vendor_base_under_serve(demo: &Path, osbs: &Path, config: &Path) -> Result<()> {
    let config_arg = config.display().to_string();
    let osbs_cmd = |args: &[&str]| {
        let mut all = vec!["--config", config_arg.as_str()];
        all.extend_from_slice(args);
        Cmd::new(demo, osbs.to_str().unwrap_or("osbs"), all)
    };
    let vendor = format!(
        "{}/vendor/{PREFIX}-runtime:latest",
        osbs_testkit::sync_registry()
    );
    let push_vendor = |generation: u32| -> Result<()> {
        let dir = demo.join("vendor");
        fs::create_dir_all(&dir)?;
        fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM {}\nRUN echo vendor-{generation} > /vendor.txt\n",
                osbs_testkit::base_image()
            ),
        )?;
        let dir_arg = dir.display().to_string();
        Cmd::new(
            demo,
            "docker",
            ["build", "-q", "-t", vendor.as_str(), dir_arg.as_str()],
        )
        .read()?;
        Cmd::new(demo, "docker", ["push", "-q", vendor.as_str()]).run()
    };
    step("7. a vendor base in the second registry (not built here), and an app FROM it");
    push_vendor(1)?;
    let app = make_repo_with(
        demo,
        "vendor-app",
        &format!(
            "FROM {vendor}\nLABEL name=\"osbs/{PREFIX}-vendor-app\" version=\"1\"\n\
             RUN cat /vendor.txt > /app.txt\n"
        ),
    )?;
    osbs_cmd(&["build", "-g", &app, "-b", "main", "--no-logs"]).run()?;

    step("8. osbs serve (import_interval = 2s); the vendor pushes a new base with plain docker");
    let log_path = demo.join("serve.log");
    let log = fs::File::create(&log_path)?;
    let mut serve = Cmd::new(
        demo,
        osbs.to_str().unwrap_or("osbs"),
        ["--config", config_arg.as_str(), "serve"],
    );
    let mut serve = serve
        .inner()
        .stderr(log)
        .spawn()
        .context("cannot start osbs serve")?;
    // The first scheduled read is the baseline; then the vendor's new image arrives.
    std::thread::sleep(std::time::Duration::from_secs(4));
    push_vendor(2)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let autorebuild = loop {
        let builds = osbs_cmd(&["list-builds", "--output", "json"]).read()?;
        if let Some(name) = newest_autorebuild(&builds).filter(|n| n.starts_with("vendor-app-")) {
            break name;
        }
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            bail!(
                "osbs serve did not autorebuild the app: {}",
                fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    osbs_cmd(&["watch-build", &autorebuild]).run()?;
    let _ = Cmd::new(demo, "kill", ["-TERM", &serve.id().to_string()]).run();
    let _ = serve.wait();
    println!("--- osbs serve said ---");
    print!("{}", fs::read_to_string(&log_path).unwrap_or_default());

    step("9. the autorebuilt app carries the vendor's new base");
    osbs_cmd(&["get-build", &autorebuild]).run()?;
    let out = app_txt(demo, "vendor-app")?;
    if out != "vendor-2" {
        bail!("the autorebuilt app does not carry the vendor's new base");
    }
    Ok(())
}

/// Pulls `osbs/demo-NAME:latest` back from the push registry, runs it and returns its
/// `/app.txt`.
fn app_txt(demo: &Path, name: &str) -> Result<String> {
    let image = format!(
        "{}/osbs/{PREFIX}-{name}:latest",
        osbs_testkit::push_registry()
    );
    Cmd::new(demo, "docker", ["pull", "-q", &image]).run()?;
    let out = Cmd::new(
        demo,
        "docker",
        [
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "cat",
            "/app.txt",
        ],
    )
    .read()?;
    println!("{image}: /app.txt says {out:?}");
    Ok(out)
}

fn step(what: &str) {
    println!("\n==> {what}");
}

/// Copies `fixtures/cli/NAME` into a fresh git repository (branch `main`); returns its URL.
fn make_repo(root: &Path, demo: &Path, name: &str) -> Result<String> {
    let src = root.join("fixtures/cli").join(name);
    let dir: PathBuf = demo.join("repos").join(name);
    fs::create_dir_all(&dir)?;
    for entry in fs::read_dir(&src).with_context(|| format!("cannot read {}", src.display()))? {
        let entry = entry?;
        let text = fs::read_to_string(entry.path())?;
        fs::write(
            dir.join(entry.file_name()),
            text.replace("@PREFIX@", PREFIX),
        )?;
    }
    commit_repo(&dir)
}

/// A fresh git repository `NAME` holding one `Dockerfile`; returns its URL.
fn make_repo_with(demo: &Path, name: &str, dockerfile: &str) -> Result<String> {
    let dir: PathBuf = demo.join("repos").join(name);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("Dockerfile"), dockerfile)?;
    commit_repo(&dir)
}

/// Commits everything in `dir` as the first commit of branch `main`; returns its URL.
fn commit_repo(dir: &Path) -> Result<String> {
    let git = |args: &[&str]| {
        Cmd::new(dir, "git", args)
            .env("GIT_AUTHOR_NAME", "OSBS demo")
            .env("GIT_AUTHOR_EMAIL", "demo@osbs.invalid")
            .env("GIT_COMMITTER_NAME", "OSBS demo")
            .env("GIT_COMMITTER_EMAIL", "demo@osbs.invalid")
            .read()
    };
    git(&["init", "-q", "-b", "main"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "demo"])?;
    Ok(format!("file://{}", dir.display()))
}

/// The name of the newest build in a `list-builds --output json` array whose
/// `"is_autorebuild": true` (the array is newest first).
fn newest_autorebuild(json: &str) -> Option<String> {
    // xtask keeps to std: the array's objects are flat enough to scan field by field.
    let mut name = None;
    for line in json.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("\"name\": \"") {
            name = rest.strip_suffix("\",").map(str::to_owned);
        } else if line == "\"is_autorebuild\": true," {
            return name;
        }
    }
    None
}
