//! The progress bars of `osbs-registry-sync copy` (osbs-registry-sync's `LayerBars`, shared
//! with `osbs`): drawn under a pseudo-terminal (util-linux `script`) for a multi-MiB image,
//! with human sizes; absent when stderr is a pipe, and with `-q` on a terminal.

use std::process::{Command, Output, Stdio};

use bytes::Bytes;
use osbs_testkit::{push_registry, sync_registry};

use crate::support::{
    client, oci_image, push_image, services, tar_with, unique, without_auth_files,
};

/// Runs `osbs-registry-sync ARGS` with a pseudo-terminal as stdout and stderr; what the
/// terminal showed is `stdout`.
fn on_a_terminal(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_osbs-registry-sync"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let out = without_auth_files(&mut Command::new("script"), home.path())
        // -q: no banner; -e: the command's exit code; -c: the command; no typescript file.
        .args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` is needed for this test");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Whether `text` shows a drawn bar of a blob copy with its size in MiB.
fn shows_a_copy_bar(text: &str) -> bool {
    text.match_indices("copy sha256:").any(|(at, _)| {
        let rest = &text[at..text.len().min(at + 200)];
        rest.contains(" [") && rest.contains("] ") && rest.contains(" MiB")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_on_a_terminal_none_on_a_pipe_or_with_quiet() {
    services();
    let name = unique("progress");
    // 6 MiB that no other run pushed: every copy streams it.
    let noise: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..))
        .take(6 << 20)
        .collect();
    let image = oci_image(
        "amd64",
        &[tar_with("noise", &noise), Bytes::from_static(b"")],
    );
    push_image(&client(&push_registry()).repository(&name), "1", &image).await;
    let source = format!("{}/{name}:1", push_registry());
    let target = |n: u8| format!("{}/{name}-{n}:1", sync_registry());

    let (src, dst) = (source.clone(), target(1));
    let tty = tokio::task::spawn_blocking(move || on_a_terminal(&["copy", &src, &dst]))
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&tty.stdout).into_owned();
    assert!(shows_a_copy_bar(&shown), "no bar drawn:\n{shown}");
    assert!(shown.contains("copied "), "{shown}");

    let (src, dst) = (source.clone(), target(2));
    let piped = tokio::task::spawn_blocking(move || crate::support::cli(&["copy", &src, &dst]))
        .await
        .unwrap();
    assert_eq!(piped.status.code(), Some(0));
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!shows_a_copy_bar(&err) && !err.contains('\u{1b}'), "{err}");
    assert!(
        String::from_utf8_lossy(&piped.stdout).contains("MiB"),
        "the summary's size"
    );

    let (src, dst) = (source, target(3));
    let quiet = tokio::task::spawn_blocking(move || on_a_terminal(&["-q", "copy", &src, &dst]))
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        !shows_a_copy_bar(&shown) && !shown.contains('\u{1b}'),
        "{shown}"
    );
}
