//! The `osbs` command as a user runs it: the real binary, real git repositories made from
//! `fixtures/cli/`, the local backend against the real Docker Engine and registries. Help,
//! text and JSON output are pinned with insta snapshots (temp paths, digests, commits, times
//! and the run's unique image prefix filtered); exit codes are asserted.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use osbs_core::naming::build_config_name;

/// The `osbs` binary under test.
fn osbs_exe() -> &'static str {
    env!("CARGO_BIN_EXE_osbs")
}

/// A 10-character name unique to this run, for image names in the shared registry.
fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = nanos ^ (u128::from(std::process::id()) << 64);
    format!("c{:09x}", mixed % 0x10_0000_0000)
}

/// One user's machine: a home, a data dir for the local state, git repositories. Shared with
/// the other CLI test modules (`exit_codes`, `terminal`, `state`).
pub(crate) struct Home {
    tmp: tempfile::TempDir,
    prefix: String,
    filters: Vec<(String, String)>,
}

/// What one `osbs` run did.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Home {
    pub(crate) fn new() -> Home {
        osbs_testkit::require_services();
        let tmp = tempfile::tempdir().unwrap();
        let prefix = unique_prefix();
        let mut home = Home {
            filters: Vec::new(),
            tmp,
            prefix,
        };
        let tmp_path = home.tmp.path().display().to_string();
        home.filter(&tmp_path, "[TMP]");
        let prefix = home.prefix.clone();
        home.filter(&prefix, "[PREFIX]");
        home
    }

    pub(crate) fn filter(&mut self, text: &str, replacement: &str) {
        self.filters
            .push((regex_escape(text), replacement.to_owned()));
    }

    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Makes a git repository (branch `main`) from `fixtures/cli/NAME` and returns its URL.
    pub(crate) fn repo(&mut self, name: &str) -> String {
        let src = osbs_testkit::fixture::fixtures_dir().join("cli").join(name);
        self.repo_from(&src, name)
    }

    /// Makes a git repository named `name` (branch `main`) holding `files` (`@PREFIX@`
    /// replaced as in fixtures) and returns its URL: for content a fixture file should not
    /// hold, such as control characters.
    pub(crate) fn repo_with(&mut self, name: &str, files: &[(&str, &[u8])]) -> String {
        let src = self.path().join("sources").join(name);
        for (file, content) in files {
            let path = src.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        self.repo_from(&src, name)
    }

    fn repo_from(&mut self, src: &Path, name: &str) -> String {
        let dir = self.path().join("repos").join(name);
        let commit =
            osbs_testkit::fixture::git_repo_from_fixture(src, &dir, &[("@PREFIX@", &self.prefix)]);
        let url = format!("file://{}", dir.display());
        self.filter(&commit, "[COMMIT]");
        self.filter(&commit[..12], "[COMMIT12]");
        let bc = build_config_name(&url, "main");
        self.filter(&bc, &format!("[BC:{name}]"));
        url
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(osbs_exe());
        at_home(cmd.args(args), self.path()).current_dir(self.path());
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        run_command(&mut self.command(args))
    }

    /// Runs and requires exit code `code`.
    pub(crate) fn expect(&self, code: i32, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.code, code,
            "osbs {args:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        run
    }

    /// insta settings with this home's filters plus the generic ones.
    pub(crate) fn settings(&self) -> insta::Settings {
        let mut settings = snapshot_settings();
        for (pattern, replacement) in &self.filters {
            settings.add_filter(pattern, replacement.as_str());
        }
        settings.add_filter(r"sha256:[0-9a-f]{64}", "[DIGEST]");
        settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]");
        settings.add_filter(r"-\d{14}\b", "-[STAMP]");
        settings.add_filter(r#"("[a-z_]+": )\d+\.\d+(e-?\d+)?(,?)\n"#, "$1[SECONDS]$3\n");
        settings.add_filter(r"osbs \d+\.\d+\.\d+", "osbs [VERSION]");
        // get-build's relative times and plugin timeline (the real durations of this run).
        settings.add_filter(r"(?m)^(age:\s+)\S+ ago$", "$1[AGE] ago");
        settings.add_filter(r"(?m)^(duration:\s+)\S+$", "$1[DURATION]");
        settings.add_filter(r"\|[# ]+\|  \d+\.\d{2}s", "|[BAR]|  [SECONDS]");
        settings
    }
}

/// `cmd` as run by a user whose home is `home`: no `$OSBS_CONFIG`, the config and data
/// directories under `home`.
pub(crate) fn at_home<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env_remove("OSBS_CONFIG")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
}

/// insta settings for this crate's snapshots (`snapshots/NAME.snap`).
pub(crate) fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

/// Runs `cmd` to the end and collects what it did.
pub(crate) fn run_command(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `text` as a regex matching it literally (for insta filters).
pub(crate) fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Every command's `--help`, so a change in what users read is a reviewed change.
#[test]
fn help_texts() {
    let commands = [
        "",
        "build",
        "list-builds",
        "get-build",
        "watch-build",
        "build-logs",
        "cancel-build",
        "list-build-configs",
        "get-build-config",
        "list-image-streams",
        "get-image-stream",
        "import-image",
        "rebuild-plan",
        "check-repo-config",
        "completions",
        "start-build",
        "prune",
        "watch-builds",
        "delete-build",
        "delete-build-config",
        "serve",
        "schema",
    ];
    let settings = snapshot_settings();
    settings.bind(|| {
        for command in commands {
            let mut args: Vec<&str> = command.split_whitespace().collect();
            args.push("--help");
            let out = Command::new(osbs_exe()).args(&args).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "osbs {args:?}");
            let name = if command.is_empty() { "osbs" } else { command };
            insta::assert_snapshot!(format!("help-{name}"), String::from_utf8_lossy(&out.stdout));
        }
    });
    let out = Command::new(osbs_exe()).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("osbs {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Usage and configuration errors: exit code 2 with the file, line or value named.
#[test]
fn usage_and_configuration_errors() {
    let mut home = Home::new();
    let cases: Vec<(&str, Vec<String>, i32)> = {
        let conf = home.path().join("v1.conf");
        std::fs::write(&conf, "[default]\nregistry_uri = registry.example.com/v1\n").unwrap();
        let bool_conf = home.path().join("bool.conf");
        std::fs::write(&bool_conf, "[default]\n\nverify_ssl = maybe\n").unwrap();
        let s = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        vec![
            ("unknown-build", s(&["get-build", "no-such-build"]), 2),
            ("unknown-instance", s(&["-i", "prod", "list-builds"]), 2),
            (
                "v1-registry",
                s(&["--config", &conf.display().to_string(), "list-builds"]),
                2,
            ),
            (
                "bad-boolean",
                s(&["--config", &bool_conf.display().to_string(), "list-builds"]),
                2,
            ),
            (
                "missing-config",
                s(&["--config", "/nonexistent/osbs.conf", "list-builds"]),
                2,
            ),
            ("no-git-url", s(&["build", "-b", "main"]), 2),
            ("bad-stream-tag", s(&["rebuild-plan", "Bad Stream"]), 2),
        ]
    };
    let bad_repo = home.repo("bad-repo-config");
    let app = home.repo("app");
    let mut all = cases;
    all.push((
        "malformed-repo-config",
        vec![
            "build".into(),
            "-g".into(),
            bad_repo,
            "-b".into(),
            "main".into(),
        ],
        2,
    ));
    all.push((
        "unknown-branch",
        vec![
            "build".into(),
            "-g".into(),
            app,
            "-b".into(),
            "no-such-branch".into(),
        ],
        2,
    ));
    all.push((
        "unknown-repository",
        vec![
            "build".into(),
            "-g".into(),
            format!("file://{}/nowhere", home.path().display()),
            "-b".into(),
            "main".into(),
        ],
        2,
    ));
    let settings = home.settings();
    settings.bind(|| {
        for (name, args, code) in all {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = home.expect(code, &args);
            assert!(
                run.stdout.is_empty(),
                "{name}: nothing on stdout, got {}",
                run.stdout
            );
            insta::assert_snapshot!(format!("error-{name}"), run.stderr);
        }
    });
}

/// A push registry that does not answer: exit code 3, naming the registry.
#[test]
fn unreachable_registry_exits_3() {
    let mut home = Home::new();
    let app = home.repo("base");
    let conf = home.path().join("unreachable.conf");
    std::fs::write(&conf, "[default]\nregistry_uri = 127.0.0.1:9\n").unwrap();
    let conf = conf.display().to_string();
    let run = home.expect(3, &["--config", &conf, "build", "-g", &app, "-b", "main"]);
    assert!(run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
}

/// `check-repo-config` on a good file, a directory without one, and a malformed file.
#[test]
fn check_repo_config() {
    let mut home = Home::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let fixtures = fixtures.canonicalize().unwrap();
    home.filter(&fixtures.display().to_string(), "[FIXTURES]");
    let good = fixtures.join("cli/app/.osbs-repo-config");
    let bad = fixtures.join("cli/bad-repo-config/.osbs-repo-config");
    let empty_dir = home.path().join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let settings = home.settings();
    settings.bind(|| {
        let run = home.expect(0, &["check-repo-config", &good.display().to_string()]);
        insta::assert_snapshot!("check-repo-config-good", run.stdout);
        let run = home.expect(
            0,
            &[
                "check-repo-config",
                &good.display().to_string(),
                "--output",
                "json",
            ],
        );
        insta::assert_snapshot!("check-repo-config-good-json", run.stdout);
        let run = home.expect(0, &["check-repo-config", &empty_dir.display().to_string()]);
        insta::assert_snapshot!("check-repo-config-absent", run.stdout);
        let run = home.expect(2, &["check-repo-config", &bad.display().to_string()]);
        insta::assert_snapshot!("check-repo-config-bad", run.stderr);
    });
}

/// The main path, as a user walks it: build a base and an app FROM it, read everything back
/// in text and JSON, rebuild the base and see the app autorebuilt.
#[test]
fn build_read_and_autorebuild() {
    let mut home = Home::new();
    let base = home.repo("base");
    let app = home.repo("app");
    let base_bc = build_config_name(&base, "main");
    let app_bc = build_config_name(&app, "main");
    let base_stream = format!("osbs-{}-base", home.prefix);
    let settings = home.settings();
    settings.bind(|| {
        // User builds: text summary, then JSON of the finished build.
        let run = home.expect(0, &["build", "-g", &base, "-b", "main"]);
        insta::assert_snapshot!("build-base-text", run.stdout);
        assert!(
            run.stderr.contains("running plugin docker_api"),
            "log streamed: {}",
            run.stderr
        );
        let run = home.expect(
            0,
            &[
                "build",
                "-g",
                &app,
                "-b",
                "main",
                "--no-logs",
                "--output",
                "json",
            ],
        );
        // `osbs build` returns the Build as stored when it ended, which is before the
        // reactor's clean-up: whether the clean-up's timings (and the store's own duration)
        // were added by then depends on timing.
        let mut racy = insta::Settings::clone_current();
        racy.add_filter(
            r#"(?m)^ *"(remove_built_image": .*|store_metadata": \[SECONDS\],)\n"#,
            "",
        );
        racy.bind(|| insta::assert_snapshot!("build-app-json", run.stdout));
        let app_build: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(app_build["phase"], "Complete");
        let app1 = format!("{app_bc}-1");
        // The run ends after its clean-up, which stores its timings: read the build after that.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let run = home.expect(0, &["get-build", &app1, "--output", "json"]);
            let build: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            if build["plugins_metadata"]["durations"]["remove_built_image"].is_number() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the clean-up of {app1} never stored its timings: {}",
                run.stdout
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }

        for (name, args) in [
            ("get-build-text", vec!["get-build", app1.as_str()]),
            (
                "get-build-json",
                vec!["get-build", app1.as_str(), "--output", "json"],
            ),
            ("list-build-configs-text", vec!["list-build-configs"]),
            (
                "list-build-configs-json",
                vec!["list-build-configs", "--output", "json"],
            ),
            (
                "get-build-config-text",
                vec!["get-build-config", app_bc.as_str()],
            ),
            (
                "get-build-config-json",
                vec!["get-build-config", app_bc.as_str(), "--output", "json"],
            ),
            (
                "rebuild-plan-text",
                vec!["rebuild-plan", base_stream.as_str()],
            ),
            (
                "rebuild-plan-json",
                vec!["rebuild-plan", base_stream.as_str(), "--output", "json"],
            ),
            (
                "get-image-stream-text",
                vec!["get-image-stream", base_stream.as_str()],
            ),
        ] {
            let run = home.expect(0, &args);
            insta::assert_snapshot!(name, run.stdout);
        }
        for (name, args) in [
            (
                "watch-finished-build-text",
                vec!["watch-build", app1.as_str()],
            ),
            (
                "list-image-streams-json",
                vec!["list-image-streams", "--output", "json"],
            ),
            (
                "get-image-stream-json",
                vec!["get-image-stream", base_stream.as_str(), "--output", "json"],
            ),
            (
                "import-image-text",
                vec!["import-image", base_stream.as_str(), "--tag", "latest"],
            ),
            (
                "cancel-finished-build-json",
                vec!["cancel-build", app1.as_str(), "--output", "json"],
            ),
        ] {
            let run = home.expect(0, &args);
            insta::assert_snapshot!(name, run.stdout);
        }
        let logs = home.expect(0, &["build-logs", app1.as_str()]);
        assert!(
            logs.stdout.contains("running plugin tag_and_push"),
            "{}",
            logs.stdout
        );
        // Every line the runner wrote has its time, in order.
        let timed = home.expect(0, &["build-logs", app1.as_str(), "--timestamps"]);
        let times: Vec<&str> = timed
            .stdout
            .lines()
            .map(|l| l.split_once(' ').map_or(l, |(t, _)| t))
            .collect();
        assert_eq!(times.len(), logs.stdout.lines().count());
        assert!(
            times.iter().all(|t| t.len() == 24 && t.ends_with('Z')),
            "{}",
            timed.stdout
        );
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{}", timed.stdout);
        let run = home.expect(0, &["cancel-build", app1.as_str()]);
        insta::assert_snapshot!("cancel-finished-build", run.stdout);

        // Rebuild the base: its import fires the app's trigger.
        let run = home.expect(0, &["build", "-g", &base, "-b", "main", "--no-logs"]);
        let app2 = format!("{app_bc}-2");
        assert!(
            run.stderr.contains(&format!("triggered {app2}")),
            "the base build reports what it triggered: {}",
            run.stderr
        );
        let run = home.expect(0, &["watch-build", app2.as_str()]);
        assert!(
            run.stdout.trim_end().ends_with("Complete"),
            "{}",
            run.stdout
        );
        // AGE and DURATION depend on this run's timing: output::tests pins them.
        let run = home.expect(
            0,
            &[
                "list-builds",
                "--columns",
                "name,phase,autorebuild,release,commit,cause",
            ],
        );
        insta::assert_snapshot!("list-builds-text", run.stdout);
        let run = home.expect(
            0,
            &[
                "list-builds",
                "--build-config",
                app_bc.as_str(),
                "--output",
                "json",
            ],
        );
        insta::assert_snapshot!("list-builds-json", run.stdout);
        let builds: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(builds.len(), 2);
        assert_eq!(builds[0]["name"], app2.as_str());
        assert_eq!(builds[0]["is_autorebuild"], true);
        assert_eq!(builds[0]["release"], "2");
        assert_eq!(builds[0]["commit"], builds[1]["commit"]);
        assert_eq!(builds[0]["cause"]["type"], "ImageChange");
        assert!(
            builds[0].get("dockerfile").is_none() && builds[0].get("plugins_metadata").is_none(),
            "list-builds leaves the large fields to get-build"
        );
        let run = home.expect(0, &["list-builds", "--running"]);
        assert_eq!(run.stdout, "no builds\n");
        let run = home.expect(0, &["list-image-streams"]);
        insta::assert_snapshot!("list-image-streams-text", run.stdout);
        // Nothing changed in the registry since: the import fires nothing.
        let run = home.expect(
            0,
            &["import-image", base_stream.as_str(), "--output", "json"],
        );
        let imported: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(imported["triggered"], serde_json::json!([]));
        let _ = base_bc;
    });
}

/// The service commands as a user runs them: `watch-builds` over a cascade, `start-build`
/// (newest commit and `--from-build` of an autorebuild), `delete-build` and
/// `delete-build-config` refusals and `--force`, `prune`.
#[test]
fn service_commands() {
    let mut home = Home::new();
    let base = home.repo("base");
    let app = home.repo("app");
    let base_bc = build_config_name(&base, "main");
    let app_bc = build_config_name(&app, "main");
    let settings = home.settings();
    settings.bind(|| {
        home.expect(0, &["build", "-g", &base, "-b", "main", "--no-logs"]);
        home.expect(0, &["build", "-g", &app, "-b", "main", "--no-logs"]);
        let watch = home
            .command(&["watch-builds", "--timeout", "2m"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));

        // start-build: the base again at its newest commit; its import triggers the app.
        let run = home.expect(0, &["start-build", base_bc.as_str()]);
        insta::assert_snapshot!("start-build-text", run.stdout);
        let base2 = format!("{base_bc}-2");
        assert_eq!(run.stdout.trim(), base2);
        home.expect(0, &["watch-build", base2.as_str()]);
        let app2 = format!("{app_bc}-2");
        let run = home.expect(0, &["watch-build", app2.as_str()]);
        assert!(
            run.stdout.trim_end().ends_with("Complete"),
            "{}",
            run.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(700));
        let _ = Command::new("kill")
            .args(["-INT", &watch.id().to_string()])
            .status();
        let out = watch.wait_with_output().unwrap();
        let watched = String::from_utf8_lossy(&out.stdout).into_owned();
        // Polled: a phase shorter than the poll (New, Pending) may be passed over.
        for line in [
            format!("{base2}  Complete  user"),
            format!("{app2}  Complete  image change of"),
        ] {
            assert!(watched.contains(&line), "{line:?} not in:\n{watched}");
        }
        // One line per change: no build is reported twice in the same phase.
        let mut pairs: Vec<(&str, &str)> = watched
            .lines()
            .filter_map(|l| {
                let mut f = l.split("  ");
                Some((f.nth(1)?, f.next()?))
            })
            .collect();
        let before = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), before, "{watched}");

        // --from-build re-runs an autorebuild as an autorebuild of the same commit.
        let run = home.expect(
            0,
            &[
                "start-build",
                app_bc.as_str(),
                "--from-build",
                app2.as_str(),
                "--output",
                "json",
            ],
        );
        let app3: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(app3["is_autorebuild"], true);
        assert_eq!(app3["cause"]["type"], "ImageChange");
        let app3 = app3["name"].as_str().unwrap().to_owned();
        // Queued or running: refused, then --force cancels and deletes.
        let run = home.run(&["delete-build", app3.as_str()]);
        if run.code == 2 {
            assert!(run.stderr.contains("cancel it first"), "{}", run.stderr);
            let run = home.expect(0, &["delete-build", app3.as_str(), "--force"]);
            insta::assert_snapshot!("delete-build-force", run.stdout);
        } else {
            // It already ended (a fast machine): a plain delete works.
            assert_eq!(run.code, 0, "{}", run.stderr);
        }
        let run = home.expect(2, &["get-build", app3.as_str()]);
        assert!(run.stderr.contains("not found"), "{}", run.stderr);
        let run = home.expect(2, &["start-build", "bc/no-such-config"]);
        insta::assert_snapshot!("start-build-unknown", run.stderr);
        let run = home.expect(
            2,
            &[
                "start-build",
                app_bc.as_str(),
                "--from-build",
                base2.as_str(),
            ],
        );
        insta::assert_snapshot!("start-build-other-config", run.stderr);

        // prune --keep 0: every ended build but each BuildConfig's newest Complete one.
        let run = home.expect(0, &["prune", "--keep", "0", "--output", "json"]);
        insta::assert_snapshot!("prune-json", run.stdout);
        let run = home.expect(0, &["list-builds", "--output", "json"]);
        let left: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
        let mut left: Vec<&str> = left.iter().map(|b| b["name"].as_str().unwrap()).collect();
        left.sort_unstable();
        assert_eq!(left, [app2.as_str(), base2.as_str()]);

        // delete-build-config removes the BuildConfig and its builds.
        let run = home.expect(0, &["delete-build-config", app_bc.as_str()]);
        insta::assert_snapshot!("delete-build-config", run.stdout);
        home.expect(2, &["get-build-config", app_bc.as_str()]);
    });
}

/// `completions` prints a script for each shell.
#[test]
fn completions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(osbs_exe())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("list-builds") && script.contains("rebuild-plan"),
            "{shell}: {script}"
        );
    }
}
