//! What a user submission needs from git (SPEC §3 step 2): the validated URL and refs, the
//! resolved commit, and the Dockerfile and repo config at that commit.
//!
//! Each repository has a bare mirror under `state_dir/git/`, fetched (only the asked branch)
//! under a file lock, so concurrent submissions of one repository do not trip over git's ref
//! locks and repeated ones transfer only what is new.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use osbs_core::ImageReference;
use osbs_core::dockerfile::{self, Dockerfile};
use osbs_core::git::{GitInputError, redact_url, validate_ref, validate_url};
use osbs_repo_config::RepoConfig;
use sha2::{Digest as _, Sha256};

use osbs_engine::backend::{BuildSubmission, ClientError};

/// The Dockerfile's path at the top of the repository.
const DOCKERFILE: &str = "Dockerfile";

/// The shared validation of `osbs_core::git` (the reactor checks the same again before it
/// clones), as a usage error.
fn usage(err: GitInputError) -> ClientError {
    ClientError::Usage(err.to_string())
}

/// What a submission found in the repository.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The full commit id.
    pub commit: String,
    /// The Dockerfile at that commit.
    pub dockerfile: Dockerfile,
    /// Its base image; `None` for `FROM scratch`.
    pub base_image: Option<ImageReference>,
    /// Unknown sections and keys of the repo config.
    pub warnings: Vec<String>,
}

/// A git command run in `dir`, with prompts and unusual protocols off.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .envs(osbs_core::git::safe_env())
        .args(osbs_core::git::SAFE_ARGS)
        .stdin(Stdio::null());
    cmd
}

/// Runs a git command; `Err(stderr)` when it fails.
fn run(mut cmd: Command) -> Result<Vec<u8>, String> {
    let output = cmd.output().map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// The last lines of git's stderr, for messages.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(2);
    lines[start..].join(" / ")
}

/// The error of a failed fetch: a missing repository or branch is the user's (exit 2), the
/// rest means the server cannot be reached (exit 3).
fn fetch_error(url: &str, branch: &str, stderr: &str) -> ClientError {
    let lower = stderr.to_ascii_lowercase();
    let shown = redact_url(url);
    if lower.contains("couldn't find remote ref") || lower.contains("could not find remote ref") {
        return ClientError::Usage(format!(
            "branch {branch:?} does not exist in git repository {shown}"
        ));
    }
    if lower.contains("does not appear to be a git repository")
        || lower.contains("repository not found")
        || lower.contains("not found")
        || lower.contains("does not exist")
    {
        return ClientError::NotFound {
            kind: "git repository",
            name: shown,
        };
    }
    ClientError::Unreachable {
        what: format!("git repository {shown}"),
        source: tail(stderr).into(),
    }
}

/// The bare mirror of `url` under `state_dir/git/`.
fn mirror_path(state_dir: &Path, url: &str) -> PathBuf {
    let digest = Sha256::digest(url.as_bytes());
    let name = hex::encode(&digest[..8]);
    state_dir.join("git").join(format!("{name}.git"))
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> ClientError {
    move |source| ClientError::Backend {
        context,
        source: Box::new(source),
    }
}

/// Resolves the submission's commit and reads its Dockerfile and repo config (named
/// `repo_config_file`).
pub(crate) fn resolve(
    state_dir: &Path,
    submission: &BuildSubmission,
    repo_config_file: &str,
) -> Result<Resolved, ClientError> {
    let url = submission.git_url.as_str();
    let branch = submission.git_branch.as_str();
    validate_url(url).map_err(usage)?;
    validate_ref("branch", branch).map_err(usage)?;
    if let Some(commit) = &submission.git_commit {
        validate_ref("ref", commit).map_err(usage)?;
    }
    let mirror = mirror_path(state_dir, url);
    let git_dir = state_dir.join("git");
    std::fs::create_dir_all(&git_dir)
        .map_err(io_error(format!("cannot create {}", git_dir.display())))?;
    let lock_path = mirror.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(format!("cannot open {}", lock_path.display())))?;
    lock.lock()
        .map_err(io_error(format!("cannot lock {}", lock_path.display())))?;
    if !mirror.join("HEAD").exists() {
        let mut init = git(&git_dir);
        init.args(["init", "--quiet", "--bare"]).arg(&mirror);
        run(init).map_err(|stderr| ClientError::Backend {
            context: format!("cannot create the git mirror {}", mirror.display()),
            source: tail(&stderr).into(),
        })?;
    }
    let mut fetch = git(&mirror);
    fetch
        .args(["fetch", "--quiet", "--no-tags", "--force", "--"])
        .arg(url)
        .arg(format!("+refs/heads/{branch}:refs/heads/{branch}"));
    run(fetch).map_err(|stderr| fetch_error(url, branch, &stderr))?;
    let commit = match &submission.git_commit {
        None => rev_parse(&mirror, &format!("refs/heads/{branch}"))
            .ok_or_else(|| fetch_error(url, branch, "couldn't find remote ref"))?,
        Some(wanted) => match rev_parse(&mirror, wanted) {
            Some(commit) => commit,
            None => {
                let mut fetch = git(&mirror);
                fetch
                    .args(["fetch", "--quiet", "--no-tags", "--"])
                    .arg(url)
                    .arg(wanted);
                let fetched = run(fetch).is_ok();
                fetched
                    .then(|| rev_parse(&mirror, "FETCH_HEAD"))
                    .flatten()
                    .ok_or_else(|| {
                        ClientError::Usage(format!(
                            "commit {wanted:?} does not exist in git repository {}",
                            redact_url(url)
                        ))
                    })?
            }
        },
    };
    let short = commit.get(..12).unwrap_or(&commit);
    let text = show(&mirror, &commit, DOCKERFILE).ok_or_else(|| {
        ClientError::Usage(format!(
            "git repository {} has no {DOCKERFILE} at the top at commit {short}",
            redact_url(url)
        ))
    })?;
    let dockerfile = dockerfile::parse(&text)
        .map_err(|e| ClientError::Usage(format!("{DOCKERFILE} (commit {short}): {e}")))?;
    let base_image = match &dockerfile.base_image {
        None => None,
        Some(base) => Some(ImageReference::parse(base).map_err(|e| {
            ClientError::Usage(format!(
                "{DOCKERFILE}:{}: invalid base image {base:?}: {e}",
                dockerfile.base_image_line
            ))
        })?),
    };
    let warnings = match show(&mirror, &commit, repo_config_file) {
        None => Vec::new(),
        Some(text) => {
            let config = RepoConfig::parse_named(&text, repo_config_file)
                .map_err(|e| ClientError::Usage(format!("{e} (commit {short})")))?;
            config.warnings().iter().map(ToString::to_string).collect()
        }
    };
    drop(lock);
    Ok(Resolved {
        commit,
        dockerfile,
        base_image,
        warnings,
    })
}

/// The full commit id `rev` names in `mirror`, if any.
fn rev_parse(mirror: &Path, rev: &str) -> Option<String> {
    let mut cmd = git(mirror);
    cmd.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"));
    let out = run(cmd).ok()?;
    let commit = String::from_utf8_lossy(&out).trim().to_owned();
    (!commit.is_empty()).then_some(commit)
}

/// The text of `path` at `commit` (a full commit id), if it exists.
fn show(mirror: &Path, commit: &str, path: &str) -> Option<String> {
    let mut cmd = git(mirror);
    cmd.args(["cat-file", "blob"])
        .arg(format!("{commit}:{path}"));
    run(cmd)
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_errors_are_classified() {
        let missing_branch = fetch_error(
            "file:///r",
            "nope",
            "fatal: couldn't find remote ref refs/heads/nope",
        );
        assert_eq!(missing_branch.exit_code(), 2);
        let missing_repo = fetch_error(
            "file:///r",
            "main",
            "fatal: '/r' does not appear to be a git repository",
        );
        assert_eq!(missing_repo.exit_code(), 2);
        let down = fetch_error(
            "https://u:p@h/r",
            "main",
            "fatal: unable to access 'https://h/r/': Failed to connect",
        );
        assert_eq!(down.exit_code(), 3);
        assert!(!down.to_string().contains(":p@"));
    }
}
