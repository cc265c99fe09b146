//! Git repositories made from `fixtures/` for tests: copy a fixture directory (rewriting
//! placeholders such as the registry address or a per-run image prefix), commit it on branch
//! `main`, and run git with a fixed author. Helpers panic with git's stderr on failure: a broken
//! fixture should fail the test loudly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The workspace's `fixtures/` directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A lowercase name unique to this process and call, `PREFIX<pid>x<nanos>x<n>`, for registry
/// repositories and tags that must not collide between runs sharing one registry.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}{}x{nanos:x}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `cmd` and returns its stdout, trimmed.
///
/// # Panics
///
/// When the command cannot start or fails (with its stderr).
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs `git args` in `dir` with a fixed author and committer; returns stdout, trimmed.
///
/// # Panics
///
/// When git cannot start or fails (with its stderr).
pub fn git(dir: &Path, args: &[&str]) -> String {
    run(Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "OSBS Test")
        .env("GIT_AUTHOR_EMAIL", "osbs@example.com")
        .env("GIT_COMMITTER_NAME", "OSBS Test")
        .env("GIT_COMMITTER_EMAIL", "osbs@example.com"))
}

/// Copies the tree `src` to `dest`, replacing every `(from, to)` in each UTF-8 file (other files
/// are copied as they are).
///
/// # Panics
///
/// When a file cannot be read or written.
pub fn copy_fixture(src: &Path, dest: &Path, replacements: &[(&str, &str)]) {
    std::fs::create_dir_all(dest)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dest.display()));
    let entries = std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", src.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        if from.is_dir() {
            copy_fixture(&from, &to, replacements);
            continue;
        }
        let bytes =
            std::fs::read(&from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
        let bytes = match String::from_utf8(bytes) {
            Ok(mut text) => {
                for (old, new) in replacements {
                    text = text.replace(old, new);
                }
                text.into_bytes()
            }
            Err(e) => e.into_bytes(),
        };
        std::fs::write(&to, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", to.display()));
    }
}

/// [`copy_fixture`], then `git init` on branch `main` and one commit of everything; returns the
/// commit.
pub fn git_repo_from_fixture(src: &Path, dest: &Path, replacements: &[(&str, &str)]) -> String {
    copy_fixture(src, dest, replacements);
    git(dest, &["init", "--quiet", "--initial-branch=main"]);
    git(dest, &["add", "--all"]);
    git(dest, &["commit", "--quiet", "-m", "fixture"]);
    git(dest, &["rev-parse", "HEAD"])
}
