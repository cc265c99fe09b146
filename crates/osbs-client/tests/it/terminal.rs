//! Untrusted text never reaches the terminal raw: a repository whose Dockerfile carries an
//! `ESC ] 0;…BEL` (a terminal title change) in a `LABEL` word and whose build prints colour
//! codes. The stored log holds plain text, and the real `osbs` prints no ESC or BEL in text
//! output; JSON stays exact.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use osbs_core::naming::build_config_name;

use crate::cli::Home;

/// Whether `text` holds a raw ESC or BEL.
fn has_raw_controls(text: &str) -> bool {
    text.contains('\u{1b}') || text.contains('\u{7}')
}

#[test]
fn escape_sequences_from_a_repository_are_neither_stored_nor_printed() {
    let mut home = Home::new();
    let url = home.repo_with(
        "hostile",
        &[(
            "Dockerfile",
            b"FROM 127.0.0.1:5000/osbs/busybox:latest\n\
              LABEL name=\"osbs/@PREFIX@-hostile\" version=\"1\" \
              title=\"\x1b]0;pwned\x07\"\n\
              RUN printf '\\033[31mred\\033[0m\\n' # @PREFIX@: never from the layer cache\n",
        )],
    );
    let build = format!("{}-1", build_config_name(&url, "main"));

    // The build streams its log to stderr: shown, not obeyed.
    let run = home.expect(0, &["build", "-g", &url, "-b", "main"]);
    assert!(
        !has_raw_controls(&run.stdout) && !has_raw_controls(&run.stderr),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );

    // The stored log is plain text: no ESC byte, the colour codes gone, the words kept.
    let log_file = home
        .path()
        .join("data/osbs/logs")
        .join(format!("{build}.log"));
    let log = std::fs::read(&log_file).unwrap();
    assert!(!log.contains(&0x1b), "{}", String::from_utf8_lossy(&log));
    let log = String::from_utf8(log).unwrap();
    assert!(
        // BuildKit's step output is `#N red`, the classic builder's `red`.
        log.lines()
            .any(|l| l.trim() == "red" || l.ends_with(" red")),
        "the build's output is kept: {log}"
    );
    // The classic builder echoes each step, the LABEL's words with it (BuildKit shows no
    // LABEL step).
    if log.contains("Step 1/") {
        assert!(log.contains("title="), "{log}");
    }

    for args in [
        vec!["build-logs", build.as_str()],
        vec!["get-build", build.as_str()],
        vec!["list-builds"],
        vec!["get-build-config", build.trim_end_matches("-1")],
    ] {
        let run = home.expect(0, &args);
        assert!(
            !has_raw_controls(&run.stdout) && !has_raw_controls(&run.stderr),
            "osbs {args:?}\nstdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
    let run = home.expect(0, &["build-logs", build.as_str()]);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.trim() == "red" || l.ends_with(" red")),
        "{}",
        run.stdout
    );

    // JSON is exact: the Dockerfile comes back byte for byte, escaped by serde.
    let run = home.expect(0, &["get-build", build.as_str(), "--output", "json"]);
    assert!(!has_raw_controls(&run.stdout), "{}", run.stdout);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let dockerfile = value["dockerfile"].as_str().unwrap();
    assert!(dockerfile.contains("\u{1b}]0;pwned\u{7}"), "{dockerfile}");
}
