//! The `osbs-reactor` binary: request from a file or `$OSBS_BUILD_REQUEST`, results JSON on
//! stdout, exit codes.

use std::process::Command;

fn reactor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_osbs-reactor"))
}

const EXT_REQUEST: &str = r#"{"build_name":"x-1","build_config":"x","git_url":"ext::sh -c true","git_branch":"main","registry_uri":"127.0.0.1:5000","image_name":"osbs-test/cli"}"#;

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[DATE]"),
        (r": \d+\.\d+", ": [SECONDS]"),
    ]
}

#[test]
fn request_from_a_file_prints_results_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("request.json");
    std::fs::write(&path, EXT_REQUEST).unwrap();
    let out = reactor()
        .args(["build", "--request"])
        .arg(&path)
        .env_remove("OSBS_BUILD_REQUEST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("running plugin fetch_source"), "{stderr}");
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!("cli_ext_url_refused", stdout);
    });
}

#[test]
fn request_from_the_environment() {
    let out = reactor()
        .arg("build")
        .env("OSBS_BUILD_REQUEST", EXT_REQUEST)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["phase"], "Failed");
}

#[test]
fn unreadable_requests_are_usage_errors() {
    let out = reactor()
        .arg("build")
        .env_remove("OSBS_BUILD_REQUEST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "osbs-reactor: error: no --request FILE and $OSBS_BUILD_REQUEST is not set\n"
    );
    let out = reactor()
        .arg("build")
        .env("OSBS_BUILD_REQUEST", "{\"build_name\": 1}")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("osbs-reactor: error: invalid build request in $OSBS_BUILD_REQUEST: "),
        "{stderr}"
    );
}
