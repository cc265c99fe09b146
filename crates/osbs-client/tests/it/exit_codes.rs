//! SPEC §7's exit codes, one row per cause, each run through the real `osbs` binary with its
//! message pinned: 2 for usage and configuration problems (found at start, before anything is
//! queued), 3 for an unreachable Docker Engine or registry, 1 for a build that did not end
//! `Complete`. Also: a relative `state_dir` is relative to the config file, not the current
//! directory.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::path::PathBuf;

use crate::cli::{Home, run_command};

/// One row of the table.
struct Case {
    /// The snapshot's name: `exit-code-NAME`.
    name: &'static str,
    /// The arguments after `osbs`.
    args: Vec<String>,
    /// Environment changes: a value to set, or `None` to remove the variable.
    env: Vec<(&'static str, Option<String>)>,
    /// The exit code expected.
    code: i32,
}

/// Writes `text` to `conf/NAME.conf` in `home` and returns its path.
fn conf(home: &Home, name: &str, text: &str) -> String {
    let dir = home.path().join("conf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[test]
fn exit_codes_follow_spec_section_7() {
    let mut home = Home::new();
    let app = home.repo("base");
    let failing = home.repo_with(
        "fails",
        &[(
            "Dockerfile",
            b"FROM 127.0.0.1:5000/osbs/busybox:latest\n\
              LABEL name=\"osbs/@PREFIX@-fails\" version=\"1\"\n\
              RUN exit 3\n",
        )],
    );
    let state_file = home.path().join("state-file");
    std::fs::write(&state_file, "not a directory\n").unwrap();
    let data_file = home.path().join("data-file");
    std::fs::create_dir_all(&data_file).unwrap();
    std::fs::write(data_file.join("osbs"), "not a directory\n").unwrap();
    let build = |url: &str| args(&["build", "-g", url, "-b", "main", "--no-logs"]);
    let with_conf = |conf: String, rest: Vec<String>| {
        let mut all = vec!["--config".to_owned(), conf];
        all.extend(rest);
        all
    };
    let cases = vec![
        Case {
            name: "missing-registry-secret",
            args: with_conf(
                conf(
                    &home,
                    "missing-secret",
                    "[default]\nstate_dir = state\nregistry_secret = missing-dockercfg.json\n",
                ),
                args(&["list-builds"]),
            ),
            env: vec![],
            code: 2,
        },
        Case {
            name: "missing-sync-secret",
            args: with_conf(
                conf(
                    &home,
                    "missing-sync-secret",
                    "[default]\nstate_dir = state\npulp_sync_registry_name = stage\n\n\
                     [registry stage]\nuri = 127.0.0.1:5001\nsecret = /nonexistent/dockercfg\n",
                ),
                args(&["list-builds"]),
            ),
            env: vec![],
            code: 2,
        },
        Case {
            name: "state-dir-is-a-file",
            args: with_conf(
                conf(
                    &home,
                    "state-file",
                    "[default]\nstate_dir = ../state-file\n",
                ),
                args(&["list-builds"]),
            ),
            env: vec![],
            code: 2,
        },
        Case {
            name: "default-state-dir-is-a-file",
            args: args(&["list-builds"]),
            env: vec![("XDG_DATA_HOME", Some(data_file.display().to_string()))],
            code: 2,
        },
        Case {
            name: "unknown-instance",
            args: with_conf(
                conf(&home, "instances", "[default]\n\n[stage]\n"),
                args(&["--instance", "prod", "list-builds"]),
            ),
            env: vec![],
            code: 2,
        },
        Case {
            name: "bad-value",
            args: with_conf(
                conf(
                    &home,
                    "bad-value",
                    "[default]\nstate_dir = state\nmax_concurrent_builds = lots\n",
                ),
                args(&["list-builds"]),
            ),
            env: vec![],
            code: 2,
        },
        Case {
            name: "missing-kubeconfig",
            args: with_conf(
                conf(&home, "kubernetes", "[default]\nbackend = kubernetes\n"),
                args(&["list-builds"]),
            ),
            env: vec![
                (
                    "KUBECONFIG",
                    Some(home.path().join("missing-kubeconfig").display().to_string()),
                ),
                ("KUBERNETES_SERVICE_HOST", None),
                ("KUBERNETES_SERVICE_PORT", None),
            ],
            code: 2,
        },
        Case {
            name: "docker-engine-down",
            args: build(&app),
            env: vec![("DOCKER_HOST", Some("unix:///nonexistent.sock".to_owned()))],
            code: 3,
        },
        Case {
            name: "docker-host-not-an-address",
            args: build(&app),
            env: vec![("DOCKER_HOST", Some("docker.example.com".to_owned()))],
            code: 2,
        },
        Case {
            name: "registry-down",
            args: with_conf(
                conf(
                    &home,
                    "registry-down",
                    "[default]\nstate_dir = state\nregistry_uri = 127.0.0.1:9\n",
                ),
                build(&app),
            ),
            env: vec![],
            code: 3,
        },
        Case {
            name: "build-failed",
            args: build(&failing),
            env: vec![],
            code: 1,
        },
    ];
    let settings = home.settings();
    settings.bind(|| {
        for case in cases {
            let argv: Vec<&str> = case.args.iter().map(String::as_str).collect();
            let mut cmd = home.command(&argv);
            for (key, value) in &case.env {
                match value {
                    Some(value) => cmd.env(key, value),
                    None => cmd.env_remove(key),
                };
            }
            let run = run_command(&mut cmd);
            assert_eq!(
                run.code, case.code,
                "{}: osbs {argv:?}\nstdout:\n{}\nstderr:\n{}",
                case.name, run.stdout, run.stderr
            );
            let shown = if case.code == 1 {
                // The build's summary; its streamed log is not shown with --no-logs.
                &run.stdout
            } else {
                assert!(
                    run.stdout.is_empty(),
                    "{}: nothing on stdout, got {}",
                    case.name,
                    run.stdout
                );
                &run.stderr
            };
            insta::assert_snapshot!(format!("exit-code-{}", case.name), shown);
        }
    });
    // The Docker Engine is checked before anything is queued: the refused build left nothing.
    let run = home.expect(0, &["list-builds", "--output", "json"]);
    let builds: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<&str> = builds.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(
        names.len(),
        1,
        "only the failed build was queued: {names:?}"
    );
    assert!(names[0].contains("fails"), "{names:?}");
}

/// `state_dir = state` in `conf/osbs.conf` is `conf/state`, from wherever `osbs` runs and
/// however the config file was named (here relative to another directory).
#[test]
fn a_relative_state_dir_is_relative_to_the_config_file() {
    let home = Home::new();
    let conf_dir = home.path().join("conf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(conf_dir.join("osbs.conf"), "[default]\nstate_dir = state\n").unwrap();
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for (cwd, config) in [
        (elsewhere.clone(), PathBuf::from("../conf/osbs.conf")),
        (home.path().to_path_buf(), conf_dir.join("osbs.conf")),
    ] {
        let mut cmd = home.command(&["--config", &config.display().to_string(), "list-builds"]);
        cmd.current_dir(&cwd);
        let run = run_command(&mut cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, "no builds\n");
    }
    assert!(conf_dir.join("state").join("osbs.db").is_file());
    assert!(!elsewhere.join("state").exists());
    assert!(!home.path().join("state").exists());
}
