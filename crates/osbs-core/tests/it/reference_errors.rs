//! The error messages, pinned as one insta snapshot: one line per input with what it parses to
//! or the full error message.

use std::fmt::Write as _;

use osbs_core::ImageReference;

#[test]
fn messages() {
    let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    let f64 = "f".repeat(64);
    let inputs = [
        String::new(),
        "ubuntu".to_owned(),
        "ubuntu:22.04".to_owned(),
        "quay.io/foo/bar:1@sha256:".to_owned() + &f64,
        "localhost:5000".to_owned(),
        hex.to_owned(),
        "Ubuntu".to_owned(),
        "docker.io/Foo/bar".to_owned(),
        "Foo_x/bar".to_owned(),
        "-ubuntu".to_owned(),
        "ubuntu latest".to_owned(),
        "ubuntu:-rc".to_owned(),
        "ubuntu:".to_owned(),
        "ubuntu@sha256:abc".to_owned(),
        "ubuntu@md5:".to_owned() + &"f".repeat(32),
        "ubuntu@sha256:".to_owned() + &"f".repeat(63),
        "ubuntu@sha256:".to_owned() + &f64.to_uppercase(),
        "my_registry.local/app".to_owned(),
        "[fe80::1%eth0]:5000/app".to_owned(),
        "a".repeat(248),
        "tab\there".to_owned(),
    ];
    let mut out = String::new();
    for input in &inputs {
        let shown = if input.len() > 60 {
            format!(
                "{}… ({} characters)",
                input.chars().take(40).collect::<String>(),
                input.len()
            )
        } else {
            format!("{input:?}")
        };
        let result = match input.parse::<ImageReference>() {
            Ok(r) => format!("ok {r} (familiar {})", r.familiar()),
            Err(e) => format!("error: {e}"),
        };
        writeln!(out, "{shown}\n    {result}").expect("writing to a String");
    }
    insta::assert_snapshot!(out);
}
