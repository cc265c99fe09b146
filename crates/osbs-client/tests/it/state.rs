//! The local state's identity, with the real `osbs`: after `osbs.db` is deleted, the next
//! command says once that the database was recreated, the old build logs are moved aside
//! unchanged, and a new build never takes the name (or the log) of one from before.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use osbs_core::naming::build_config_name;

use crate::cli::Home;

/// Waits until the runner that wrote the log at `path` has exited (it writes its last line
/// and runs an engine pass after the build is `Complete`), and returns the log.
fn wait_for_runner(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(path).unwrap();
        let pid = log
            .lines()
            .next()
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .to_owned();
        let running = Path::new("/proc").join(&pid).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        if !running {
            return log;
        }
        assert!(Instant::now() < deadline, "runner {pid} still runs:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_deleted_state_database_is_reported_once_and_names_are_not_reused() {
    let mut home = Home::new();
    let base = home.repo("base");
    let bc = build_config_name(&base, "main");
    let state = home.path().join("data/osbs");
    home.expect(0, &["build", "-g", &base, "-b", "main", "--no-logs"]);
    let first = format!("{bc}-1");
    let old_log = wait_for_runner(&state.join("logs").join(format!("{first}.log")));
    assert!(old_log.contains("ended Complete"), "{old_log}");
    let old_id = std::fs::read_to_string(state.join("identity")).unwrap();
    let old_id = old_id.trim().to_owned();
    home.filter(&old_id, "[OLD-ID]");

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(state.join(format!("osbs.db{suffix}")));
    }
    let settings = home.settings();
    settings.bind(|| {
        // Reported once, even with -q: it is never said again.
        let run = home.expect(0, &["list-builds", "-q"]);
        assert_eq!(run.stdout, "no builds\n");
        insta::assert_snapshot!("state-database-recreated", run.stderr);
        let run = home.expect(0, &["list-builds"]);
        assert_eq!(run.stderr, "", "told only once");
    });
    let moved = state.join("old-logs").join(&old_id);
    assert_eq!(
        std::fs::read_to_string(moved.join(format!("{first}.log"))).unwrap(),
        old_log
    );
    let new_id = std::fs::read_to_string(state.join("identity")).unwrap();
    assert_ne!(new_id.trim(), old_id);

    // The BuildConfig is made anew and counts on after the names whose logs exist.
    let run = home.expect(
        0,
        &[
            "build",
            "-g",
            &base,
            "-b",
            "main",
            "--no-logs",
            "--output",
            "json",
        ],
    );
    let build: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let second = format!("{bc}-2");
    assert_eq!(build["name"], second.as_str());
    let log = std::fs::read_to_string(state.join("logs").join(format!("{second}.log"))).unwrap();
    assert!(log.starts_with(&format!("build {second} started")), "{log}");
    assert!(!state.join("logs").join(format!("{first}.log")).exists());
    assert_eq!(
        std::fs::read_to_string(moved.join(format!("{first}.log"))).unwrap(),
        old_log,
        "the old log is left as it was"
    );
}
