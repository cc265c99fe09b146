//! The `osbs-controller` binary's settings: the SPEC §10 options of `run` and how bad values are
//! refused before anything connects.

use std::process::Command;

fn controller(args: &[&str]) -> std::process::Output {
    controller_with(args, &[])
}

/// `controller` with the environment variables `env` set.
fn controller_with(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_osbs-controller"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("OSBS_LOG_FORMAT")
        .env_remove("OSBS_NOTIFY_SMTP")
        .env_remove("OSBS_NOTIFY_FROM")
        .env_remove("OSBS_NOTIFY_TO")
        .env_remove("OSBS_IMPORT_INTERVAL")
        .env_remove("OSBS_MAX_CONCURRENT_BUILDS")
        .env_remove("OSBS_NOTIFY_WEBHOOK")
        .env_remove("OSBS_ALLOWED_BUILD_SECRETS")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .envs(env.iter().copied())
        .output()
        .expect("osbs-controller runs")
}

#[test]
fn run_takes_the_service_settings_as_options_and_environment() {
    let output = controller(&["run", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (option, env) in [
        ("--max-concurrent-builds", "OSBS_MAX_CONCURRENT_BUILDS"),
        ("--import-interval", "OSBS_IMPORT_INTERVAL"),
        ("--keep-builds", "OSBS_KEEP_BUILDS"),
        ("--notify-webhook", "OSBS_NOTIFY_WEBHOOK"),
        ("--notify-on", "OSBS_NOTIFY_ON"),
        ("--notify-smtp", "OSBS_NOTIFY_SMTP"),
        ("--notify-from", "OSBS_NOTIFY_FROM"),
        ("--notify-to", "OSBS_NOTIFY_TO"),
        ("--registry-secret", "OSBS_REGISTRY_SECRET"),
        ("--allowed-build-secrets", "OSBS_ALLOWED_BUILD_SECRETS"),
    ] {
        assert!(help.contains(option), "{option} missing:\n{help}");
        assert!(help.contains(env), "{env} missing:\n{help}");
    }
}

#[test]
fn bad_values_are_refused_at_start() {
    for (args, expected) in [
        (
            &["run", "--import-interval", "5x"][..],
            "expected a duration such as 15m or 2s, or off",
        ),
        (
            &["run", "--max-concurrent-builds", "0"][..],
            "expected a number of builds, at least 1",
        ),
        (
            &["run", "--notify-on", "auto_fail,sometimes"][..],
            "sometimes",
        ),
        (
            &["run", "--notify-webhook", "ftp://hooks.example.com/s3cr3t"][..],
            "expected an http:// or https:// URL",
        ),
        (
            &["run", "--allowed-build-secrets", "osbs-npmrc,Osbs_Token"][..],
            "invalid value 'Osbs_Token' for '--allowed-build-secrets <SECRET>': expected the \
             name of a Secret (a DNS-1123 subdomain)",
        ),
        // Spaces around a bad name do not make it good.
        (
            &["run", "--allowed-build-secrets", "osbs-npmrc, Osbs_Token ,"][..],
            "invalid value ' Osbs_Token ' for '--allowed-build-secrets <SECRET>': expected the \
             name of a Secret (a DNS-1123 subdomain)",
        ),
        (
            &[
                "run",
                "--notify-webhook",
                "https://hooks.example.com/a, hooks.example.com/s3cr3t",
            ][..],
            "expected an http:// or https:// URL",
        ),
    ] {
        let output = controller(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cr3t\n"), "{stderr}");
    }
    // A blank value where one is needed is a usage error naming the variable's option, not
    // an image or a namespace named "".
    for env in [
        "OSBS_NAMESPACE",
        "OSBS_REACTOR_IMAGE",
        "OSBS_DIND_IMAGE",
        "OSBS_BUILDER_SERVICE_ACCOUNT",
        "OSBS_DEFAULT_REGISTRY",
        "OSBS_MAX_CONCURRENT_BUILDS",
        "OSBS_IMPORT_INTERVAL",
    ] {
        let output = controller_with(&["run", "--no-leader-election"], &[(env, "")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env}: {stderr}");
        let option = format!(
            "--{}",
            env["OSBS_".len()..].to_lowercase().replace('_', "-")
        );
        assert!(stderr.contains(&option), "{env}: {stderr}");
    }
    let output = controller(&["run", "--notify-smtp", "smtp.example.com:25"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--notify-smtp needs --notify-from and --notify-to"),
        "{stderr}"
    );
}

/// What `run` logs as it starts (before it reaches for the API server, which these runs
/// cannot) for `args` and `env`; asserts that it got that far: exit 1, not the usage error 2.
fn started(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["run", "--no-leader-election", "--probe-addr", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let output = controller_with(&all, env);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{args:?} {env:?}: {stderr}");
    assert!(
        stderr.contains("osbs-controller starting") && stderr.contains("cannot reach the API"),
        "{args:?} {env:?}: {stderr}"
    );
    stderr
}

#[test]
fn empty_list_values_mean_none_and_entries_are_trimmed() {
    // An empty value (a templated manifest's `OSBS_ALLOWED_BUILD_SECRETS=`) allows none, as
    // leaving it unset does; the allowed Secrets are in the controller's log.
    for env in [
        &[("OSBS_ALLOWED_BUILD_SECRETS", "")][..],
        &[("OSBS_ALLOWED_BUILD_SECRETS", " , ")][..],
        &[][..],
    ] {
        let log = started(&[], env);
        assert!(log.contains("allowed_build_secrets=none"), "{env:?}: {log}");
    }
    let log = started(&["--allowed-build-secrets="], &[]);
    assert!(log.contains("allowed_build_secrets=none"), "{log}");
    // Spaces after the commas, and a trailing comma, are not part of the names.
    let log = started(
        &[],
        &[("OSBS_ALLOWED_BUILD_SECRETS", "osbs-npmrc, osbs.pip-conf ,")],
    );
    assert!(
        log.contains("allowed_build_secrets=osbs-npmrc,osbs.pip-conf"),
        "{log}"
    );
    let log = started(
        &[
            "--allowed-build-secrets",
            " osbs-npmrc",
            "--allowed-build-secrets",
            "osbs-token",
        ],
        &[],
    );
    assert!(
        log.contains("allowed_build_secrets=osbs-npmrc,osbs-token"),
        "{log}"
    );
    // A blank optional setting is an unset one: no socket named "" (build Pods keep their
    // dind sidecar), no Secret or ConfigMap named "".
    let log = started(
        &[],
        &[
            ("OSBS_DOCKER_SOCKET", " "),
            ("OSBS_REGISTRY_SECRET", ""),
            ("OSBS_REGISTRY_CA", ""),
        ],
    );
    assert!(log.contains("docker=dind"), "{log}");
    let log = started(&[], &[("OSBS_DOCKER_SOCKET", "/run/docker.sock")]);
    assert!(log.contains("docker=socket /run/docker.sock"), "{log}");
    // The same for the webhooks.
    started(&[], &[("OSBS_NOTIFY_WEBHOOK", "")]);
    started(
        &[
            "--notify-webhook",
            "https://a.example/h, http://b.example/h,",
        ],
        &[],
    );
}
