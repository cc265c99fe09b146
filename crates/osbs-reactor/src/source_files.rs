//! Reading the files OSBS needs from a built repository — the Dockerfile, the repo config and
//! `.dockerignore` — from the git objects of the exact commit, with the rules of
//! `osbs_core::repo_file` (regular files only, size limits, UTF-8) and, for the repo config,
//! `osbs_repo_config::RepoConfig::from_bytes`.
//!
//! This is the one place that does it: submission (osbs-local, and through it the kubernetes
//! client) reads from its bare mirror, the reactor from its clone, both through these
//! functions, so what submission accepts the reactor accepts. The git calls are synchronous
//! and short (`ls-tree` of one path, `cat-file` of one blob of at most the limit); the
//! reactor runs them on the blocking pool.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};

use osbs_core::ImageReference;
use osbs_core::dockerfile::{self, Dockerfile, DockerfileError};
use osbs_core::repo_file::{self, RepoFile, RepoFileError};
use osbs_repo_config::{LoadError, RepoConfig};
use thiserror::Error;

/// Why a file of the repository could not be read or is not acceptable.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SourceFileError {
    /// The file's tree entry or content breaks a rule of `osbs_core::repo_file`.
    #[error(transparent)]
    File(#[from] RepoFileError),
    /// The repository has no Dockerfile at its top level.
    #[error("no Dockerfile in the repository at commit {commit}")]
    MissingDockerfile {
        /// The commit.
        commit: String,
    },
    /// The Dockerfile cannot be parsed.
    #[error("Dockerfile: {0}")]
    Dockerfile(#[from] DockerfileError),
    /// The Dockerfile's base image is not a valid image reference.
    #[error("Dockerfile line {line}: FROM `{value}` is not a valid image reference")]
    BaseImage {
        /// The line of the FROM.
        line: usize,
        /// The reference as written (after ARG substitution), cut if long.
        value: String,
        /// Why it does not parse.
        #[source]
        source: osbs_core::ReferenceError,
    },
    /// The repo config is not acceptable (size, UTF-8, syntax, value).
    #[error(transparent)]
    RepoConfig(#[from] LoadError),
    /// A git command failed.
    #[error("git {action} of {file} at commit {commit} failed: {stderr}")]
    Git {
        /// `ls-tree` or `cat-file`.
        action: &'static str,
        /// The file.
        file: String,
        /// The commit.
        commit: String,
        /// The last lines git printed.
        stderr: String,
    },
    /// git could not be started.
    #[error("cannot run git")]
    Spawn(#[source] std::io::Error),
}

/// A Dockerfile as both sides need it.
#[derive(Debug, Clone)]
pub struct SourceDockerfile {
    /// Its text.
    pub text: String,
    /// What OSBS reads from it.
    pub parsed: Dockerfile,
    /// Its base image; `None` for `FROM scratch`.
    pub base_image: Option<ImageReference>,
}

/// A git command in `git_dir` (a bare mirror or a clone), with the safety settings every git
/// call gets and paths taken literally.
fn git(git_dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(git_dir)
        .envs(osbs_core::git::safe_env())
        .env("GIT_LITERAL_PATHSPECS", "1")
        .args(osbs_core::git::SAFE_ARGS)
        .stdin(Stdio::null());
    cmd
}

/// The last lines of git's stderr.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(2)..].join(" / ");
    if tail.is_empty() {
        "no output".to_owned()
    } else {
        osbs_core::text::shorten(&tail)
    }
}

/// The bytes of `file` at `commit` in `git_dir`, after its tree entry passed
/// [`RepoFile::check`] (a regular file within the limit); `None` when the commit has no such
/// path. At most the limit is read, whatever git sends.
///
/// # Errors
///
/// [`SourceFileError::File`] for a symlink, directory, submodule or a file over the limit;
/// [`SourceFileError::Git`] when git fails (an unknown commit, a broken repository).
pub fn read_bytes(
    git_dir: &Path,
    commit: &str,
    file: &RepoFile,
) -> Result<Option<Vec<u8>>, SourceFileError> {
    let git_error = |action, stderr: &[u8]| SourceFileError::Git {
        action,
        file: file.path().to_owned(),
        commit: commit.to_owned(),
        stderr: tail(stderr),
    };
    osbs_core::git::validate_commit(commit).map_err(|_| git_error("ls-tree", b"invalid commit"))?;
    let mut ls_tree = git(git_dir);
    ls_tree.args(repo_file::ls_tree_args(commit, file.path()));
    let out = ls_tree.output().map_err(SourceFileError::Spawn)?;
    if !out.status.success() {
        return Err(git_error("ls-tree", &out.stderr));
    }
    let Some(entry) = repo_file::parse_ls_tree(&out.stdout, file.path())? else {
        return Ok(None);
    };
    file.check(&entry)?;
    let mut cat = git(git_dir);
    cat.args(["cat-file", "blob", &entry.object])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cat.spawn().map_err(SourceFileError::Spawn)?;
    let mut bytes = Vec::new();
    let read = match child.stdout.take() {
        Some(stdout) => stdout
            .take(file.max_size() + 1)
            .read_to_end(&mut bytes)
            .map(drop),
        None => Ok(()),
    };
    let over = u64::try_from(bytes.len()).unwrap_or(u64::MAX) > file.max_size();
    if over {
        // Do not wait for git to write the rest.
        let _ = child.kill();
    }
    let out = child.wait_with_output().map_err(SourceFileError::Spawn)?;
    file.check_size(u64::try_from(bytes.len()).unwrap_or(u64::MAX))?;
    read.map_err(SourceFileError::Spawn)?;
    if !out.status.success() {
        return Err(git_error("cat-file", &out.stderr));
    }
    Ok(Some(bytes))
}

/// The text of `file` at `commit` (valid UTF-8), or `None` when there is no such path.
///
/// # Errors
///
/// As [`read_bytes`], and [`RepoFileError::InvalidUtf8`].
pub fn read_text(
    git_dir: &Path,
    commit: &str,
    file: &RepoFile,
) -> Result<Option<String>, SourceFileError> {
    match read_bytes(git_dir, commit, file)? {
        Some(bytes) => Ok(Some(file.decode(bytes)?)),
        None => Ok(None),
    }
}

/// The Dockerfile at `commit`, parsed, with its base image.
///
/// # Errors
///
/// [`SourceFileError::MissingDockerfile`], a file rule, a parse error, or a base image that is
/// not a valid reference.
pub fn dockerfile(git_dir: &Path, commit: &str) -> Result<SourceDockerfile, SourceFileError> {
    dockerfile_with_args(git_dir, commit, &BTreeMap::new())
}

/// [`dockerfile`] parsed with the build's arguments (`--build-arg`), which `ARG`s in `FROM`
/// lines and labels take instead of their defaults.
///
/// # Errors
///
/// As [`dockerfile`].
pub fn dockerfile_with_args(
    git_dir: &Path,
    commit: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<SourceDockerfile, SourceFileError> {
    let text = read_text(git_dir, commit, &RepoFile::dockerfile())?.ok_or_else(|| {
        SourceFileError::MissingDockerfile {
            commit: commit.to_owned(),
        }
    })?;
    let parsed = dockerfile::parse_with_args(&text, build_args)?;
    let base_image = match &parsed.base_image {
        None => None,
        Some(base) => {
            Some(
                ImageReference::parse(base).map_err(|source| SourceFileError::BaseImage {
                    line: parsed.base_image_line,
                    value: osbs_core::text::shorten(base),
                    source,
                })?,
            )
        }
    };
    Ok(SourceDockerfile {
        text,
        parsed,
        base_image,
    })
}

/// The repo config `name` at `commit`: the default (autorebuild enabled) when there is none.
///
/// # Errors
///
/// A file rule (symlink, directory, over [`osbs_repo_config::MAX_FILE_SIZE`]) or what
/// [`RepoConfig::from_bytes`] refuses.
pub fn repo_config(
    git_dir: &Path,
    commit: &str,
    name: &str,
) -> Result<RepoConfig, SourceFileError> {
    let file = RepoFile::new(name, osbs_repo_config::MAX_FILE_SIZE)?;
    match read_bytes(git_dir, commit, &file)? {
        Some(bytes) => Ok(RepoConfig::from_bytes(&bytes, name)?),
        None => Ok(RepoConfig::default()),
    }
}

/// The text of `.dockerignore` at `commit`, if there is one.
///
/// # Errors
///
/// As [`read_text`].
pub fn dockerignore(git_dir: &Path, commit: &str) -> Result<Option<String>, SourceFileError> {
    read_text(git_dir, commit, &RepoFile::dockerignore())
}

/// The commit checked out in the clone at `dir` (`HEAD`).
///
/// # Errors
///
/// [`SourceFileError::Git`] when `dir` is not a git checkout.
pub fn head_commit(dir: &Path) -> Result<String, SourceFileError> {
    let mut head = git(dir);
    head.args(["rev-parse", "--verify", "HEAD^{commit}"]);
    let out = head.output().map_err(SourceFileError::Spawn)?;
    if !out.status.success() {
        return Err(SourceFileError::Git {
            action: "rev-parse",
            file: "HEAD".to_owned(),
            commit: "HEAD".to_owned(),
            stderr: tail(&out.stderr),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with one commit holding what `setup` made; returns it and the commit.
    fn repo(setup: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("git")
                .current_dir(dir.path())
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        run(&["init", "--quiet"]);
        setup(dir.path());
        run(&["add", "--all"]);
        run(&["commit", "--quiet", "--allow-empty", "-m", "c"]);
        let commit = run(&["rev-parse", "HEAD"]);
        (dir, commit)
    }

    #[test]
    fn files_are_read_from_the_commit_not_the_checkout() {
        let (dir, commit) = repo(|d| {
            std::fs::write(d.join("Dockerfile"), "FROM busybox\nLABEL version=1\n").unwrap();
            std::fs::write(d.join(".osbs-repo-config"), "[autorebuild]\nenabled = 0\n").unwrap();
        });
        // The checkout changes after the commit; the commit is what counts.
        std::fs::write(dir.path().join("Dockerfile"), "garbage").unwrap();
        std::fs::remove_file(dir.path().join(".osbs-repo-config")).unwrap();
        let df = dockerfile(dir.path(), &commit).unwrap();
        assert_eq!(df.parsed.version(), Some("1"));
        assert_eq!(
            df.base_image.map(|b| b.to_string()).as_deref(),
            Some("docker.io/library/busybox")
        );
        let config = repo_config(dir.path(), &commit, ".osbs-repo-config").unwrap();
        assert!(!config.autorebuild_enabled());
        assert_eq!(dockerignore(dir.path(), &commit).unwrap(), None);
        assert_eq!(head_commit(dir.path()).unwrap(), commit);
    }

    #[test]
    fn links_directories_and_oversized_files_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "[autorebuild]\nenabled = host-secret\n").unwrap();
        let (dir, commit) = repo(|d| {
            std::os::unix::fs::symlink(&secret, d.join(".osbs-repo-config")).unwrap();
            std::fs::create_dir(d.join("Dockerfile")).unwrap();
            std::fs::write(d.join("Dockerfile").join("x"), "x").unwrap();
            std::fs::write(d.join(".dockerignore"), vec![b'#'; 70 * 1024]).unwrap();
            std::fs::write(d.join("binary"), b"\xff\xfe\x00").unwrap();
        });
        let err = repo_config(dir.path(), &commit, ".osbs-repo-config")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(".osbs-repo-config is a symbolic link"),
            "{err}"
        );
        assert!(
            !err.contains("host-secret") && !err.contains("outside"),
            "{err}"
        );
        let err = dockerfile(dir.path(), &commit).unwrap_err().to_string();
        assert_eq!(err, "Dockerfile is a directory, not a regular file");
        let err = dockerignore(dir.path(), &commit).unwrap_err().to_string();
        assert_eq!(
            err,
            ".dockerignore is 71680 bytes, more than the limit of 65536 bytes"
        );
        let err = repo_config(dir.path(), &commit, "binary")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "binary:1: invalid UTF-8");
        let err = repo_config(dir.path(), &commit, "../etc/passwd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not allowed"), "{err}");
    }

    #[test]
    fn a_missing_dockerfile_and_an_unknown_commit() {
        let (dir, commit) = repo(|_| {});
        let err = dockerfile(dir.path(), &commit).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("no Dockerfile in the repository at commit {commit}")
        );
        let err = dockerfile(dir.path(), "0123456789abcdef0123456789abcdef01234567")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("git ls-tree of Dockerfile at commit 0123"),
            "{err}"
        );
    }
}
