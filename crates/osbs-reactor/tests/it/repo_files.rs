//! Files are read from the commit's git objects, by the rules submission applies: an
//! autorebuild of a recorded commit whose `.osbs-repo-config` is a symlink, a directory, 10 MB
//! or binary garbage ends `Failed` naming the file (never showing what a link points to), and a
//! symlinked Dockerfile or `.dockerignore` fails `fetch_source`. Submission refuses the same
//! files (osbs-client's `local_hardening` tests); these commits bypass it, as a commit recorded
//! before the rules would.

use std::path::{Path, PathBuf};

use osbs_core::build::{BuildOutcome, BuildPhase};
use osbs_testkit::{push_registry, require_services};

use crate::support::*;

/// A change to a repository's working tree.
type Change<'a> = Box<dyn Fn(&Path) + 'a>;

/// What a file outside the repository holds: it must never show up anywhere.
const OUTSIDE_MARKER: &str = "host-secret-do-not-show";

/// The `small` fixture with `change` applied to its working tree and committed; its commit.
fn repo_with(change: impl FnOnce(&Path)) -> (FixtureRepo, PathBuf) {
    let mut repo = fixture_repo("small");
    let dir = PathBuf::from(repo.url.strip_prefix("file://").unwrap());
    change(&dir);
    osbs_testkit::fixture::git(&dir, &["add", "--all"]);
    osbs_testkit::fixture::git(&dir, &["commit", "--quiet", "-m", "change"]);
    repo.commit = osbs_testkit::fixture::git(&dir, &["rev-parse", "HEAD"]);
    (repo, dir)
}

/// Runs an autorebuild of `repo`'s commit; returns the outcome and the log.
fn autorebuild(repo: &FixtureRepo) -> (BuildOutcome, String) {
    let mut request = request(&repo.url, &push_registry(), &unique("osbs-test/files"));
    request.is_autorebuild = true;
    request.git_commit = Some(repo.commit.clone());
    let host = TestHost::new(request);
    let outcome = build(&host);
    (outcome, host.log_text())
}

fn failed(outcome: &BuildOutcome, log: &str, prefix: &str) -> String {
    assert_eq!(outcome.phase, BuildPhase::Failed, "{}", summary(outcome));
    let error = outcome.error.clone().unwrap_or_default();
    assert!(error.starts_with(prefix), "{error}");
    assert!(
        error.len() < 600,
        "the error is short: {} bytes",
        error.len()
    );
    for text in [error.as_str(), log] {
        assert!(!text.contains(OUTSIDE_MARKER), "{text}");
    }
    let json = serde_json::to_string(outcome).unwrap();
    assert!(!json.contains(OUTSIDE_MARKER), "{json}");
    assert!(
        outcome
            .results
            .plugins_metadata
            .timestamps
            .contains_key("store_metadata"),
        "exit plugins ran"
    );
    error
}

/// A file outside the repository that a link may point to.
fn outside_file(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outside");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

#[test]
fn a_symlinked_repo_config_fails_the_autorebuild_without_reading_the_target() {
    require_services();
    let (_outside, target) = outside_file(&format!(
        "{OUTSIDE_MARKER}\n[autorebuild]\nenabled = {OUTSIDE_MARKER}\n"
    ));
    for link in [target.clone(), PathBuf::from("../../../../etc/hostname")] {
        let (repo, _dir) = repo_with(|dir| {
            std::os::unix::fs::symlink(&link, dir.join(".osbs-repo-config")).unwrap();
        });
        let (outcome, log) = autorebuild(&repo);
        let error = failed(
            &outcome,
            &log,
            "Error in plugin stop_autorebuild_if_disabled: .osbs-repo-config is a symbolic link",
        );
        let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let hostname = hostname.trim();
        if hostname.len() > 6 {
            assert!(!error.contains(hostname), "{error}");
        }
    }
}

#[test]
fn oversized_directory_and_garbage_repo_configs_fail_the_autorebuild() {
    require_services();
    let huge = format!(
        "[autorebuild]\nenabled = {}\n",
        "x".repeat(10 * 1024 * 1024)
    );
    let huge_error = format!(
        "Error in plugin stop_autorebuild_if_disabled: .osbs-repo-config is {} bytes, more \
         than the limit of 65536 bytes",
        huge.len()
    );
    let cases: [(&str, Change<'_>, &str); 3] = [
        (
            "10 MB",
            Box::new(|dir| std::fs::write(dir.join(".osbs-repo-config"), &huge).unwrap()),
            &huge_error,
        ),
        (
            "directory",
            Box::new(|dir| {
                std::fs::create_dir(dir.join(".osbs-repo-config")).unwrap();
                std::fs::write(dir.join(".osbs-repo-config").join("enabled"), "0").unwrap();
            }),
            "Error in plugin stop_autorebuild_if_disabled: .osbs-repo-config is a directory, \
             not a regular file",
        ),
        (
            "garbage",
            Box::new(|dir| {
                std::fs::write(
                    dir.join(".osbs-repo-config"),
                    b"[autorebuild]\n\xff\xfe\x00\x01 binary",
                )
                .unwrap();
            }),
            "Error in plugin stop_autorebuild_if_disabled: .osbs-repo-config:2: invalid UTF-8",
        ),
    ];
    for (what, change, expected) in cases {
        let (repo, _dir) = repo_with(change);
        let (outcome, log) = autorebuild(&repo);
        let error = failed(&outcome, &log, expected);
        assert_eq!(error, expected, "{what}");
    }
}

#[test]
fn a_long_bad_value_is_cut_in_the_error() {
    require_services();
    let (repo, _dir) = repo_with(|dir| {
        let value = "y".repeat(60 * 1024);
        std::fs::write(
            dir.join(".osbs-repo-config"),
            format!("[autorebuild]\nenabled = {value}\n"),
        )
        .unwrap();
    });
    let (outcome, log) = autorebuild(&repo);
    let error = failed(
        &outcome,
        &log,
        "Error in plugin stop_autorebuild_if_disabled: .osbs-repo-config:2: invalid value \"yyy",
    );
    assert!(error.contains("… 61240 bytes more"), "{error}");
}

#[test]
fn symlinked_dockerfile_and_dockerignore_fail_fetch_source() {
    require_services();
    let (_outside, target) = outside_file(&format!(
        "FROM {}\nLABEL name=\"{OUTSIDE_MARKER}\" version=\"1\"\n",
        osbs_testkit::base_image()
    ));
    for (file, expected) in [
        (
            "Dockerfile",
            "Error in plugin fetch_source: Dockerfile is a symbolic link",
        ),
        (
            ".dockerignore",
            "Error in plugin fetch_source: .dockerignore is a symbolic link",
        ),
    ] {
        let (repo, _dir) = repo_with(|dir| {
            let path = dir.join(file);
            let _ = std::fs::remove_file(&path);
            std::os::unix::fs::symlink(&target, &path).unwrap();
        });
        let (outcome, log) = autorebuild(&repo);
        failed(&outcome, &log, expected);
        assert_eq!(outcome.results.dockerfile, None, "nothing was read");
    }
}
