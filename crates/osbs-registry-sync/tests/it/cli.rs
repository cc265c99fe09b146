//! The `osbs-registry-sync` command line, pinned with snapshots: help, the JSON summary of a
//! copy and of a sync, and the exit codes and messages of failures.

use osbs_testkit::{push_registry, sync_registry};

use crate::support::{
    cli, client, filters, free_port, push_image, render, services, small_image, unique,
};

fn snapshot(name: &str, output: &std::process::Output) {
    let mut settings = insta::Settings::clone_current();
    for (from, to) in filters() {
        settings.add_filter(from, to);
    }
    settings.bind(|| insta::assert_snapshot!(name, render(output)));
}

#[test]
fn help() {
    snapshot("help", &cli(&["--help"]));
    snapshot("help_sync", &cli(&["sync", "--help"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_prints_a_json_summary() {
    services();
    let name = unique("cli-copy");
    // Fixed content, so digests (and the snapshot) are the same on every run.
    let image = small_image("osbs-registry-sync cli snapshot");
    push_image(&client(&push_registry()).repository(&name), "1.0", &image).await;
    let source = format!("{}/{name}:1.0", push_registry());
    let target = format!("docker://{}/{name}", sync_registry());

    let out =
        tokio::task::spawn_blocking(move || cli(&["copy", &source, &target, "--output", "json"]))
            .await
            .unwrap();

    assert_eq!(out.status.code(), Some(0), "{}", render(&out));
    snapshot("copy_json", &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_prints_one_line_per_tag() {
    services();
    let name = unique("cli-sync");
    let seed = client(&push_registry()).repository(&name);
    push_image(
        &seed,
        "1.0",
        &small_image("osbs-registry-sync cli sync one"),
    )
    .await;
    push_image(
        &seed,
        "2.0",
        &small_image("osbs-registry-sync cli sync two"),
    )
    .await;
    push_image(
        &seed,
        "dev",
        &small_image("osbs-registry-sync cli sync dev"),
    )
    .await;
    let source = format!("{}/{name}", push_registry());
    // skopeo's form: the destination is a prefix the source's last component is added to.
    let (namespace, _) = name.rsplit_once('/').unwrap();
    let target = format!("docker://{}/{namespace}", sync_registry());

    let out = tokio::task::spawn_blocking(move || {
        let first = cli(&[
            "sync", "--src", "docker", "--dest", "docker", &source, &target, "--tags", r"^\d",
            "--jobs", "2",
        ]);
        let second = cli(&[
            "sync", "--src", "docker", "--dest", "docker", &source, &target, "--tags", r"^\d",
        ]);
        (first, second)
    })
    .await
    .unwrap();

    snapshot("sync_text_first", &out.0);
    snapshot("sync_text_again", &out.1);
}

#[test]
fn missing_image_names_registry_repository_and_tag() {
    services();
    let name = unique("cli-missing");
    let out = cli(&[
        "copy",
        &format!("{}/{name}:nope", push_registry()),
        &format!("{}/{name}:nope", sync_registry()),
    ]);
    snapshot("missing_image", &out);
}

#[test]
fn unreachable_registry_exits_3() {
    let port = free_port();
    let out = cli(&[
        "--retries",
        "0",
        "copy",
        &format!("127.0.0.1:{port}/a/b:1"),
        "127.0.0.1:5001/a/b:1",
    ]);
    snapshot("unreachable", &out);
}

#[test]
fn usage_errors_exit_2() {
    snapshot(
        "bad_reference",
        &cli(&["copy", "Not A Reference", "127.0.0.1:5001/a/b"]),
    );
    snapshot(
        "sync_with_digest",
        &cli(&[
            "sync",
            "--src",
            "docker",
            "--dest",
            "docker",
            &format!("127.0.0.1:5000/a/b@sha256:{}", "0".repeat(64)),
            "127.0.0.1:5001/a",
        ]),
    );
    snapshot(
        "bad_regex",
        &cli(&[
            "sync",
            "--src",
            "docker",
            "--dest",
            "docker",
            "127.0.0.1:5000/a/b",
            "127.0.0.1:5001/a",
            "--tags",
            "(",
        ]),
    );
    // The form before skopeo's (`--src REPO --dest REPO`) is refused with the new one spelt
    // out, not taken for something else.
    snapshot(
        "sync_old_form",
        &cli(&[
            "sync",
            "--src",
            "127.0.0.1:5000/a/b",
            "--dest",
            "127.0.0.1:5001/a/b",
        ]),
    );
    snapshot(
        "sync_other_transport",
        &cli(&[
            "sync",
            "--src",
            "dir",
            "--dest",
            "docker",
            "/tmp/x",
            "127.0.0.1:5001/d",
        ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("config.json");
    std::fs::write(&authfile, r#"{"auths": {"r": {"auth": "not base64!"}}}"#).unwrap();
    let out = cli(&[
        "--authfile",
        &authfile.display().to_string(),
        "copy",
        "127.0.0.1:5000/a/b",
        "127.0.0.1:5001/a/b",
    ]);
    let rendered = render(&out).replace(&dir.path().display().to_string(), "[TMP]");
    insta::assert_snapshot!("bad_authfile", rendered);
}
