//! `osbs` output habits over a seeded local state, without Docker or registries: every output
//! format (text, json, yaml, name, wide, dot, mermaid) of the read commands, relative times,
//! `list-builds FILTER --columns`, BuildConfig names for builds, `rebuild-plan` from an image
//! reference with autorebuild-disabled marks and `--depth`, `osbs schema` against
//! docs/json-output.md, and README's sample osbs.conf.
//!
//! The state is written with `osbs_client::local::bulk_load` at times relative to now, so
//! relative columns (`AGE`, `DURATION`) are stable: every seeded age is a whole unit plus a
//! margin far from the next unit.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use osbs_core::build::{
    BuildOutcome, BuildPhase, BuildResults, PluginsMetadata, PushedDigest, Repositories,
};
use osbs_core::model::{
    Build, BuildCause, BuildConfig, ImageStream, ImageStreamTag, StreamTag, TagEvent,
    UserSubmission,
};
use osbs_core::time::Timestamp;

use crate::cli::{Run, at_home, regex_escape, run_command, snapshot_settings};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A seeded state directory with an osbs.conf pointing at it.
struct Seeded {
    tmp: tempfile::TempDir,
    config: PathBuf,
}

/// A BuildConfig of `repo` FROM `from`, pushing `osbs/<repo>`.
fn config(repo: &str, from: &str) -> BuildConfig {
    let mut config = BuildConfig::new(&format!("https://git.example.com/osbs/{repo}.git"), "main");
    config.record_user_build(UserSubmission {
        commit: format!("{:0<40}", repo.len()),
        trigger: Some(ImageStreamTag::parse(from).unwrap()),
        repo_config_name: ".osbs-repo-config".into(),
        image_name: Some(format!("osbs/{repo}")),
    });
    config
}

/// A build of `config` queued `ago` before `now`, started 2 s later, ended after `ran` ms in
/// `phase`.
fn finished(
    config: &mut BuildConfig,
    cause: BuildCause,
    now: Timestamp,
    ago: i64,
    ran: i64,
    phase: BuildPhase,
) -> Build {
    let created = now.plus_millis(-ago);
    let started = created.plus_millis(2_000);
    let commit = config.last_user_commit.clone();
    let mut build = Build::queued(config, cause, commit, created);
    build.phase = BuildPhase::Pending;
    assert!(build.mark_running(started));
    let image = config.image_name.clone().unwrap();
    let digest = format!("sha256:{:064x}", build.number);
    let release = build.number.to_string();
    let tags = [
        format!("1.0-{release}"),
        "1.0".to_owned(),
        "latest".to_owned(),
    ];
    let pushed = |registry: &str| -> Vec<PushedDigest> {
        tags.iter()
            .map(|t| PushedDigest {
                registry: registry.to_owned(),
                repository: image.clone(),
                tag: t.clone(),
                digest: digest.clone(),
            })
            .collect()
    };
    let complete = phase == BuildPhase::Complete;
    let second = |s: i64| started.plus_millis(s);
    // A failed build's plugins stop at docker_api.
    let ran_plugins = if complete { 4 } else { 2 };
    let results = BuildResults {
        repositories: Repositories {
            primary: tags
                .iter()
                .map(|t| format!("127.0.0.1:5000/{image}:{t}"))
                .collect(),
            unique: vec![format!(
                "127.0.0.1:5000/{image}:{}-20261130120000",
                build.name
            )],
        },
        digests: if complete {
            pushed("127.0.0.1:5000")
        } else {
            Vec::new()
        },
        sync: if complete {
            pushed("127.0.0.1:5001")
        } else {
            Vec::new()
        },
        image_id: complete.then(|| format!("sha256:{:064x}", build.number + 100)),
        base_image_name: Some("127.0.0.1:5000/osbs/base:latest".into()),
        release: Some(release),
        plugins_metadata: PluginsMetadata {
            errors: if phase == BuildPhase::Failed {
                [("docker_api".to_owned(), "RUN false: exit 1".to_owned())].into()
            } else {
                Default::default()
            },
            durations: [
                ("fetch_source".to_owned(), 0.4),
                ("docker_api".to_owned(), 40.0),
                ("tag_and_push".to_owned(), 12.5),
                ("registry_sync".to_owned(), 7.1),
            ]
            .into_iter()
            .take(ran_plugins)
            .collect(),
            timestamps: [
                ("fetch_source".to_owned(), second(0)),
                ("docker_api".to_owned(), second(400)),
                ("tag_and_push".to_owned(), second(40_400)),
                ("registry_sync".to_owned(), second(52_900)),
            ]
            .into_iter()
            .take(ran_plugins)
            .collect(),
        },
        ..BuildResults::default()
    };
    let outcome = BuildOutcome {
        phase,
        error: (phase == BuildPhase::Failed)
            .then(|| "Error in plugin docker_api: RUN false: exit 1".to_owned()),
        reason: (phase == BuildPhase::Cancelled)
            .then(|| osbs_core::trigger::AUTOREBUILD_DISABLED.to_owned()),
        results,
    };
    build.record_outcome(&outcome, started.plus_millis(ran));
    build
}

fn image_change(stream: &str) -> BuildCause {
    BuildCause::ImageChange {
        stream: stream.into(),
        tag: "latest".into(),
        digest: format!("sha256:{:064x}", 7),
        chain: Vec::new(),
    }
}

impl Seeded {
    /// `osbs-base` ← app ← web, and tools (whose repository disabled autorebuilds) on
    /// `osbs-base`; five finished builds from three days to 42 minutes old.
    fn new() -> Seeded {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let mut app = config("app", "osbs-base:latest");
        let mut web = config("web", "osbs-app:latest");
        let mut tools = config("tools", "osbs-base:latest");
        let builds = vec![
            finished(
                &mut app,
                BuildCause::User,
                now,
                3 * DAY + HOUR,
                63_000,
                BuildPhase::Complete,
            ),
            finished(
                &mut web,
                BuildCause::User,
                now,
                2 * DAY + HOUR,
                61_000,
                BuildPhase::Complete,
            ),
            finished(
                &mut tools,
                BuildCause::User,
                now,
                DAY + HOUR,
                30_000,
                BuildPhase::Complete,
            ),
            finished(
                &mut tools,
                image_change("osbs-base"),
                now,
                2 * HOUR + 5 * MINUTE + 10_000,
                1_500,
                BuildPhase::Cancelled,
            ),
            finished(
                &mut web,
                BuildCause::User,
                now,
                42 * MINUTE + 10_000,
                45_000,
                BuildPhase::Failed,
            ),
        ];
        let mut base = ImageStream::new("osbs-base");
        base.docker_image_repository = Some("127.0.0.1:5000/osbs/base".into());
        let event = |n: u64, ago: i64| TagEvent {
            digest: format!("sha256:{n:064x}"),
            build: None,
            time: now.plus_millis(-ago),
        };
        base.tags.insert(
            "latest".into(),
            StreamTag {
                digest: format!("sha256:{:064x}", 2),
                history: vec![event(1, 4 * DAY), event(2, 3 * HOUR + MINUTE)],
            },
        );
        let mut app_stream = ImageStream::new("osbs-app");
        app_stream.docker_image_repository = Some("127.0.0.1:5000/osbs/app".into());
        osbs_client::local::bulk_load(&state, &[app, web, tools], &builds, &[base, app_stream])
            .unwrap();
        let config = tmp.path().join("osbs.conf");
        std::fs::write(
            &config,
            format!("[default]\nstate_dir = {}\n", state.display()),
        )
        .unwrap();
        Seeded { tmp, config }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_osbs"));
        cmd.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.tmp.path());
        at_home(&mut cmd, self.tmp.path());
        cmd
    }

    fn expect(&self, code: i32, args: &[&str]) -> Run {
        let run = run_command(&mut self.command(args));
        assert_eq!(
            run.code, code,
            "osbs {args:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        run
    }

    fn settings(&self) -> insta::Settings {
        let mut settings = snapshot_settings();
        settings.add_filter(
            &regex_escape(&self.tmp.path().display().to_string()),
            "[TMP]",
        );
        settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", "[TIME]");
        settings.add_filter(r"\b\d{14}\b", "[STAMP]");
        settings
    }
}

fn bc(repo: &str) -> String {
    osbs_core::naming::build_config_name(
        &format!("https://git.example.com/osbs/{repo}.git"),
        "main",
    )
}

/// Every output format of the read commands, pinned.
#[test]
fn read_commands_in_every_format() {
    let seeded = Seeded::new();
    let web = bc("web");
    let web2 = format!("{web}-2");
    let web1 = format!("{web}-1");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("list-builds-text", vec!["list-builds"]),
        ("list-builds-wide", vec!["list-builds", "-o", "wide"]),
        ("list-builds-name", vec!["list-builds", "-o", "name"]),
        (
            "list-builds-yaml",
            vec!["list-builds", "-o", "yaml", "tools"],
        ),
        (
            "list-builds-json-filter",
            vec!["list-builds", "-o", "json", "tools"],
        ),
        (
            "list-builds-columns",
            vec![
                "list-builds",
                "web",
                "--columns",
                "name,phase,duration,age,error",
            ],
        ),
        ("get-build-text-failed", vec!["get-build", &web2]),
        ("get-build-text-timeline", vec!["get-build", &web1]),
        ("get-build-yaml", vec!["get-build", &web2, "-o", "yaml"]),
        ("get-build-name", vec!["get-build", &web2, "-o", "name"]),
        (
            "list-build-configs-wide",
            vec!["list-build-configs", "-o", "wide"],
        ),
        (
            "list-build-configs-name",
            vec!["list-build-configs", "-o", "name"],
        ),
        (
            "get-build-config-yaml",
            vec!["get-build-config", &web, "-o", "yaml"],
        ),
        (
            "list-image-streams-wide",
            vec!["list-image-streams", "-o", "wide"],
        ),
        (
            "list-image-streams-name",
            vec!["list-image-streams", "-o", "name"],
        ),
        (
            "get-image-stream-yaml",
            vec!["get-image-stream", "is/osbs-base", "-o", "yaml"],
        ),
    ];
    seeded.settings().bind(|| {
        for (name, args) in cases {
            let run = seeded.expect(0, &args);
            assert!(run.stderr.is_empty(), "{name}: {}", run.stderr);
            insta::assert_snapshot!(format!("output-{name}"), run.stdout);
        }
    });
    // JSON and YAML are the same document.
    let json = seeded.expect(0, &["get-build", &web2, "-o", "json"]).stdout;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["plugins_metadata"]["timestamps"]["docker_api"]
            .as_str()
            .map(str::len),
        Some(24)
    );
    let names = seeded.expect(0, &["list-builds", "-o", "name"]).stdout;
    assert_eq!(names.lines().count(), 5);
    assert!(names.lines().all(|l| l.starts_with("build/")), "{names}");
}

/// A BuildConfig (plain or `bc/NAME`) stands for its newest build wherever a build is named.
#[test]
fn build_config_names_mean_the_newest_build() {
    let seeded = Seeded::new();
    let web = bc("web");
    for asked in [web.clone(), format!("bc/{web}"), format!("build/{web}-2")] {
        let run = seeded.expect(0, &["get-build", &asked, "-o", "name"]);
        assert_eq!(run.stdout, format!("build/{web}-2\n"), "{asked}");
        let run = seeded.expect(0, &["cancel-build", &asked]);
        assert_eq!(
            run.stdout,
            format!("{web}-2 already ended Failed; nothing to cancel\n")
        );
        let run = seeded.expect(1, &["watch-build", &asked, "-o", "name"]);
        assert_eq!(run.stdout, format!("build/{web}-2\n"));
    }
    // The newest build's log, with the times kept beside it (`logs/BUILD.log.times`, keyed by
    // the byte offset of each line): a line without a recorded time shows `-`.
    let logs = seeded.tmp.path().join("state/logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join(format!("{web}-2.log")), "first\nsecond\nthird\n").unwrap();
    std::fs::write(
        logs.join(format!("{web}-2.log.times")),
        "0 2026-11-30T12:00:00.047Z\n13 2026-11-30T12:00:01.500Z\n",
    )
    .unwrap();
    let run = seeded.expect(0, &["build-logs", &format!("bc/{web}")]);
    assert_eq!(run.stdout, "first\nsecond\nthird\n");
    let run = seeded.expect(0, &["build-logs", &web, "--timestamps"]);
    assert_eq!(
        run.stdout,
        "2026-11-30T12:00:00.047Z first\n- second\n2026-11-30T12:00:01.500Z third\n"
    );
    // A log kept before times were: no time for any line.
    std::fs::write(logs.join(format!("{web}-1.log")), "old\n").unwrap();
    let run = seeded.expect(0, &["build-logs", &format!("{web}-1"), "--timestamps"]);
    assert_eq!(run.stdout, "- old\n");
    let run = seeded.expect(2, &["get-build", "bc/no-such-config"]);
    assert_eq!(
        run.stderr,
        "error: build config \"no-such-config\" not found\n"
    );
    let run = seeded.expect(2, &["get-build", "no-such-build"]);
    assert_eq!(run.stderr, "error: build \"no-such-build\" not found\n");
    // --wait-if-missing gives up after its timeout, saying how long it waited.
    let started = std::time::Instant::now();
    let run = seeded.expect(2, &["build-logs", "later-1", "--wait-if-missing", "1s"]);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(
        run.stderr,
        "error: build \"later-1\" not found after waiting 1s (--wait-if-missing)\n"
    );
}

/// `rebuild-plan` from an image reference, with the autorebuild-disabled mark, `--depth`, and
/// every format.
#[test]
fn rebuild_plan_formats() {
    let seeded = Seeded::new();
    seeded.settings().bind(|| {
        for (name, format) in [
            ("text", "text"),
            ("json", "json"),
            ("yaml", "yaml"),
            ("name", "name"),
            ("dot", "dot"),
            ("mermaid", "mermaid"),
        ] {
            let run = seeded.expect(
                0,
                &["rebuild-plan", "127.0.0.1:5000/osbs/base", "-o", format],
            );
            insta::assert_snapshot!(format!("output-rebuild-plan-{name}"), run.stdout);
        }
        let run = seeded.expect(0, &["rebuild-plan", "osbs-base:latest", "--depth", "1"]);
        insta::assert_snapshot!("output-rebuild-plan-depth-1", run.stdout);
        let run = seeded.expect(2, &["rebuild-plan", "osbs/bsae"]);
        insta::assert_snapshot!("output-rebuild-plan-did-you-mean", run.stderr);
    });
    let plan = seeded
        .expect(0, &["rebuild-plan", "osbs/base", "-o", "json"])
        .stdout;
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let disabled: Vec<&str> = plan["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["autorebuild_disabled"] == true)
        .map(|n| n["build_config"].as_str().unwrap())
        .collect();
    assert_eq!(disabled, [bc("tools").as_str()]);
}

/// Usage errors of the output flags: exit 2 and a message naming what is valid, without any
/// state, Docker or registry (no config at all).
#[test]
fn output_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "unknown-column",
            &["list-builds", "--columns", "name,colour"],
        ),
        (
            "columns-with-json",
            &["list-builds", "--columns", "name", "-o", "json"],
        ),
        ("dot-for-list-builds", &["-o", "dot", "list-builds"]),
        ("unknown-format", &["-o", "xml", "list-builds"]),
        ("depth-zero", &["rebuild-plan", "osbs-base", "--depth", "0"]),
        ("schema-unknown", &["schema", "nothing"]),
    ];
    let settings = snapshot_settings();
    settings.bind(|| {
        for (name, args) in cases {
            let run = run_command(at_home(
                Command::new(env!("CARGO_BIN_EXE_osbs")).args(*args),
                tmp.path(),
            ));
            assert_eq!(run.code, 2, "{name}: {}", run.stderr);
            assert!(run.stdout.is_empty(), "{name}: {}", run.stdout);
            insta::assert_snapshot!(format!("output-error-{name}"), run.stderr);
        }
    });
    assert!(
        !tmp.path().join("data").exists(),
        "a usage error creates no state"
    );
}

/// Dynamic completion offers the seeded names from the instance's state, and nothing (without
/// an error) where there is no state.
#[test]
fn completion_of_names() {
    let seeded = Seeded::new();
    let complete = |words: &[&str]| -> Vec<String> {
        // The shell hands over the words of the line and the index of the one completed.
        let config = seeded.config.display().to_string();
        let mut line = vec!["osbs", "--config", config.as_str()];
        line.extend_from_slice(words);
        let index = (line.len() - 1).to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_osbs"));
        cmd.env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", &index)
            .env("_CLAP_IFS", "\n")
            .env("HOME", seeded.tmp.path())
            .arg("--")
            .args(&line);
        let run = run_command(&mut cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout.lines().map(str::to_owned).collect()
    };
    let web = bc("web");
    assert_eq!(
        complete(&["get-build", "web"]),
        [format!("{web}-2"), format!("{web}-1")]
    );
    assert_eq!(complete(&["get-build", "bc/web"]), [format!("bc/{web}")]);
    assert_eq!(complete(&["get-build-config", "t"]), [bc("tools")]);
    assert_eq!(
        complete(&["rebuild-plan", "osbs-"]),
        ["osbs-app", "osbs-base"]
    );
    let names: BTreeSet<String> = complete(&["list-builds", "--build-config", ""])
        .into_iter()
        .collect();
    assert_eq!(names, [bc("app"), bc("tools"), web].into_iter().collect());
}

/// `osbs schema` and docs/json-output.md name the same fields, output by output.
#[test]
fn json_output_doc_matches_the_schema() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/json-output.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    for output in osbs_client::schema::OUTPUTS {
        let documented = documented_fields(&doc, output.name);
        let generated: BTreeSet<String> = osbs_client::schema::fields(output).into_iter().collect();
        assert!(
            !generated.is_empty(),
            "{}: no fields in the schema",
            output.name
        );
        assert_eq!(
            documented,
            generated,
            "docs/json-output.md section `{}` vs `osbs schema {}`: documented-only {:?}, \
             schema-only {:?}",
            output.name,
            output.name,
            documented.difference(&generated).collect::<Vec<_>>(),
            generated.difference(&documented).collect::<Vec<_>>()
        );
    }
    // The schema command prints the same schemas.
    let out = Command::new(env!("CARGO_BIN_EXE_osbs"))
        .args(["schema", "build-config"])
        .output()
        .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let generated =
        serde_json::to_value((osbs_client::schema::find("build-config").unwrap().schema)())
            .unwrap();
    assert_eq!(printed, generated);
    assert_eq!(printed["properties"]["name"]["type"], "string");
}

/// The fields of the table under the `<!-- schema: NAME -->` marker of the doc: the
/// backticked names in each row's first cell.
fn documented_fields(doc: &str, name: &str) -> BTreeSet<String> {
    let marker = format!("<!-- schema: {name} -->");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/json-output.md has no {marker}"));
    let mut fields = BTreeSet::new();
    for line in doc[start + marker.len()..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
    {
        if !line.starts_with('|') {
            break;
        }
        let cell = line.split('|').nth(1).unwrap_or("");
        for (i, part) in cell.split('`').enumerate() {
            if i % 2 == 1 {
                fields.insert(part.to_owned());
            }
        }
    }
    fields
}

/// README's sample osbs.conf blocks are valid: each loads (only files they name that this
/// machine lacks, such as secrets and CA files, may be missing), and a comment after a value, which
/// configparser keeps as part of the value, is not in them.
#[test]
fn readme_sample_configs_load() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let blocks: Vec<&str> = readme
        .split("```ini\n")
        .skip(1)
        .map(|rest| &rest[..rest.find("```").unwrap()])
        .collect();
    assert!(blocks.len() >= 3, "README's osbs.conf samples");
    for (i, sample) in blocks.iter().enumerate() {
        for line in sample.lines().filter(|l| l.contains('=')) {
            assert!(
                !line.contains(" ;"),
                "README sample {i}: inline comment in {line:?}"
            );
        }
        let file = tmp.path().join(format!("sample-{i}.conf"));
        // A fragment of keys (no section yet) is read as the default instance's.
        let first = sample
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with([';', '#']));
        let text = if first.is_some_and(|l| !l.starts_with('[')) {
            format!("[default]\n{sample}")
        } else {
            (*sample).to_owned()
        };
        std::fs::write(&file, text).unwrap();
        match osbs_client::config::load(Some(&file), "default") {
            Ok(instance) => assert_eq!(instance.name, "default"),
            Err(e) => {
                let text = osbs_client::app::chain(&e);
                // Only a file the sample names that this machine lacks may fail it.
                let missing = sample
                    .split([' ', ',', '\n'])
                    .filter(|w| w.starts_with('/') && !Path::new(w).exists())
                    .any(|path| text.contains(path));
                assert!(missing, "README sample {i} does not load: {text}\n{sample}");
            }
        }
    }
}
