//! Cloning the source: validation of git URLs and refs (so they can never be read as options
//! and only ordinary transports are used), and the clone of one exact commit. A password is
//! never on git's command line: the URL git gets has none, and the password reaches git
//! through its environment and a credential helper (`osbs_core::git::credential_env`).

use std::path::Path;
use std::process::Stdio;

use osbs_core::auth::Secret;
use osbs_core::git::{UrlPassword, split_url};
use tokio::process::Command;

use crate::error::ReactorError;

pub(crate) use osbs_core::git::redact_url;

/// Checks a git URL ([`osbs_core::git::validate_url`]).
pub(crate) fn validate_url(url: &str) -> Result<(), ReactorError> {
    osbs_core::git::validate_url(url).map_err(ReactorError::from)
}

/// Checks a branch name ([`osbs_core::git::validate_ref`]).
pub(crate) fn validate_branch(branch: &str) -> Result<(), ReactorError> {
    osbs_core::git::validate_ref("branch", branch).map_err(ReactorError::from)
}

/// Checks a commit ([`osbs_core::git::validate_commit`]).
pub(crate) fn validate_commit(commit: &str) -> Result<(), ReactorError> {
    osbs_core::git::validate_commit(commit).map_err(ReactorError::from)
}

/// A git command with the safety settings every call gets: no prompts, no remote helpers or
/// other unusual protocols, and killed when dropped (cancellation); with `password`, the
/// credential helper that gives it to git from the environment.
fn git(dir: &Path, password: Option<&Secret>) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .envs(osbs_core::git::safe_env())
        .args(osbs_core::git::SAFE_ARGS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(password) = password {
        cmd.envs(osbs_core::git::credential_env(password));
    }
    cmd
}

async fn run(mut cmd: Command, action: &'static str) -> Result<String, ReactorError> {
    let output = cmd.output().await.map_err(|source| ReactorError::Spawn {
        program: "git",
        source,
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        let mut tail: Vec<&str> = tail.into_iter().rev().collect();
        if tail.is_empty() {
            tail.push("no output");
        }
        return Err(ReactorError::Git {
            action,
            stderr: tail.join(" / "),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Clones `branch` of `url` into `dest` (which must not exist) and checks out `commit` (the
/// branch head when `None`). Returns the full commit id that was checked out.
///
/// A password in `url` is taken out of git's command line and given through the
/// environment; a URL whose password was redacted (`user:***@`) uses `stored`, the password
/// the host keeps for the BuildConfig, and fails without one.
pub(crate) async fn clone_at(
    url: &str,
    branch: &str,
    commit: Option<&str>,
    dest: &Path,
    stored: Option<Secret>,
) -> Result<String, ReactorError> {
    validate_url(url)?;
    validate_branch(branch)?;
    if let Some(commit) = commit {
        validate_commit(commit)?;
    }
    let split = split_url(url);
    let password = match split.password {
        UrlPassword::None => None,
        UrlPassword::Given(password) => Some(password),
        UrlPassword::Redacted => Some(stored.ok_or_else(|| ReactorError::Request {
            reason: format!(
                "git url `{}` has a redacted password, and no password is stored for this \
                 build config",
                split.shown
            ),
        })?),
    };
    let password = password.as_ref();
    let url = split.for_git.as_str();
    let parent = dest.parent().unwrap_or(Path::new("."));
    let mut clone = git(parent, password);
    clone
        .args([
            "clone",
            "--quiet",
            "--no-checkout",
            "--single-branch",
            "--branch",
        ])
        .arg(branch)
        .arg("--")
        .arg(url)
        .arg(dest);
    run(clone, "clone").await?;
    let target = match commit {
        Some(commit) => {
            let mut verify = git(dest, None);
            verify
                .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
                .arg(format!("{commit}^{{commit}}"));
            if run(verify, "rev-parse").await.is_err() {
                // Not on the branch: fetch the commit itself.
                let mut fetch = git(dest, password);
                fetch.args(["fetch", "--quiet", "origin", "--"]).arg(commit);
                run(fetch, "fetch of the commit").await?;
            }
            commit.to_owned()
        }
        None => "HEAD".to_owned(),
    };
    let mut checkout = git(dest, None);
    checkout
        .args([
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
        ])
        .arg(&target)
        .arg("--");
    run(checkout, "checkout").await?;
    let mut head = git(dest, None);
    head.args(["rev-parse", "HEAD"]);
    run(head, "rev-parse").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_hide_credentials() {
        let err = validate_url("ftp://user:hunter2@example.com/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "git url `ftp://user:***@example.com/x` is not allowed: only https, http, ssh, git and file transports are allowed"
        );
    }
}
