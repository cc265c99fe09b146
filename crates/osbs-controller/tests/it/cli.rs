//! The `osbs-controller` binary's settings: the SPEC §10 options of `run` and how bad values are
//! refused before anything connects.

use std::process::Command;

fn controller(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_osbs-controller"))
        .args(args)
        .env_remove("OSBS_NOTIFY_SMTP")
        .env_remove("OSBS_NOTIFY_FROM")
        .env_remove("OSBS_NOTIFY_TO")
        .env_remove("OSBS_IMPORT_INTERVAL")
        .env_remove("OSBS_MAX_CONCURRENT_BUILDS")
        .env_remove("OSBS_NOTIFY_WEBHOOK")
        .env_remove("OSBS_ALLOWED_BUILD_SECRETS")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
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
    ] {
        let output = controller(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cr3t\n"), "{stderr}");
    }
    let output = controller(&["run", "--notify-smtp", "smtp.example.com:25"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--notify-smtp needs --notify-from and --notify-to"),
        "{stderr}"
    );
}
