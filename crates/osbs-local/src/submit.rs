//! What a user submission needs from git (SPEC §3 step 2): the validated URL and refs, the
//! resolved commit, and the Dockerfile, repo config and `.dockerignore` at that commit, checked
//! by the rules the reactor applies later, so that what is accepted here builds.
//!
//! Each repository has a bare mirror under `state_dir/git/`, fetched (only the asked branch)
//! under a file lock, so concurrent submissions of one repository do not trip over git's ref
//! locks and repeated ones transfer only what is new. Files are read from the commit's git
//! objects in the mirror through `osbs_reactor::source_files`, the helper the reactor reads
//! its clone with (regular files only, size limits, UTF-8, one repo config rule).
//!
//! A password in the URL never reaches git's command line or the state: git gets the URL
//! without it and the password through its environment (`osbs_core::git::credential_env`);
//! what is stored and shown is `https://user:***@host/...`, and the password goes to the
//! BuildConfig's secret file (module `secrets`) once git accepted it, for the builds that
//! follow.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use osbs_core::ImageReference;
use osbs_core::auth::Secret;
use osbs_core::dockerfile::Dockerfile;
use osbs_core::git::{GitInputError, UrlPassword, split_url, validate_ref, validate_url};
use osbs_core::{naming, target};
use osbs_reactor::source_files::{self, SourceFileError};
use sha2::{Digest as _, Sha256};

use crate::secrets;
use osbs_engine::backend::{BuildSubmission, ClientError};

/// The shared validation of `osbs_core::git` (the reactor checks the same again before it
/// clones), as a usage error.
fn usage(err: GitInputError) -> ClientError {
    ClientError::Usage(err.to_string())
}

/// What a submission found in the repository.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The git URL as it is stored and shown: its password, if any, replaced by `***`.
    pub git_url: String,
    /// The full commit id.
    pub commit: String,
    /// The Dockerfile at that commit.
    pub dockerfile: Dockerfile,
    /// Its base image; `None` for `FROM scratch`.
    pub base_image: Option<ImageReference>,
    /// Unknown sections and keys of the repo config.
    pub warnings: Vec<String>,
}

/// A git command run in `dir`, with prompts and unusual protocols off, and with `password`
/// given through the environment and a credential helper.
fn git(dir: &Path, password: Option<&Secret>) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .envs(osbs_core::git::safe_env())
        .args(osbs_core::git::SAFE_ARGS)
        .stdin(Stdio::null());
    if let Some(password) = password {
        cmd.envs(osbs_core::git::credential_env(password));
    }
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
    osbs_core::text::shorten(&lines[start..].join(" / "))
}

/// The error of a failed fetch: a missing repository or branch is the user's (exit 2), the
/// rest means the server cannot be reached (exit 3). `url` is the URL as shown.
fn fetch_error(url: &str, branch: &str, stderr: &str) -> ClientError {
    let lower = stderr.to_ascii_lowercase();
    let shown = osbs_core::git::redact_url(url);
    if lower.contains("couldn't find remote ref") || lower.contains("could not find remote ref") {
        return ClientError::Usage(format!(
            "branch {branch:?} does not exist in git repository {shown}"
        ));
    }
    if lower.contains("authentication failed") || lower.contains("could not read password") {
        return ClientError::Usage(format!(
            "git repository {shown} refused the credentials: {}",
            tail(stderr)
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

/// The bare mirror of `url` (as shown: without its password) under `state_dir/git/`.
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

/// A file of the commit that cannot be accepted: the user's (exit 2), naming the file and the
/// commit; git or process failures are the backend's.
fn file_error(err: SourceFileError, url: &str, short: &str) -> ClientError {
    match err {
        SourceFileError::MissingDockerfile { .. } => ClientError::Usage(format!(
            "git repository {url} has no {} at the top at commit {short}",
            osbs_core::repo_file::DOCKERFILE
        )),
        err @ (SourceFileError::Git { .. } | SourceFileError::Spawn(_)) => ClientError::Backend {
            context: format!("cannot read the repository's files at commit {short}"),
            source: Box::new(err),
        },
        err => {
            let mut message = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&osbs_core::text::shorten(&cause.to_string()));
                source = cause.source();
            }
            ClientError::Usage(format!("{message} (commit {short})"))
        }
    }
}

/// The password to fetch with: the URL's own, or for a URL whose password is redacted
/// (`user:***@`, as stored) the one stored for its BuildConfig.
fn password_for(
    state_dir: &Path,
    submission: &BuildSubmission,
    password: UrlPassword,
    shown: &str,
) -> Result<Option<Secret>, ClientError> {
    match password {
        UrlPassword::None => Ok(None),
        UrlPassword::Given(password) => Ok(Some(password)),
        UrlPassword::Redacted => {
            let config = naming::build_config_name(&submission.git_url, &submission.git_branch);
            let stored = secrets::read_password(state_dir, &config).map_err(io_error(format!(
                "cannot read the git password of build config {config}"
            )))?;
            stored.map(Some).ok_or_else(|| {
                ClientError::Usage(format!(
                    "git url `{shown}` has a redacted password (`***`), and no password is \
                     stored for build config {config}; give the url with its password"
                ))
            })
        }
    }
}

/// Resolves the submission's commit and reads its Dockerfile, repo config (named
/// `repo_config_file`) and `.dockerignore`; checks the image name (under `registry_host`, the
/// push registry, when known) and the labels the build will tag with. A password given in the
/// URL is stored for the BuildConfig once everything passed.
pub(crate) fn resolve(
    state_dir: &Path,
    submission: &BuildSubmission,
    repo_config_file: &str,
    registry_host: Option<&str>,
) -> Result<Resolved, ClientError> {
    let branch = submission.git_branch.as_str();
    submission
        .variant
        .validate()
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    validate_url(&submission.git_url).map_err(usage)?;
    validate_ref("branch", branch).map_err(usage)?;
    if let Some(commit) = &submission.git_commit {
        validate_ref("ref", commit).map_err(usage)?;
    }
    let split = split_url(&submission.git_url);
    let shown = split.shown.as_str();
    let given = match &split.password {
        UrlPassword::Given(password) => Some(password.clone()),
        _ => None,
    };
    let password = password_for(state_dir, submission, split.password.clone(), shown)?;
    let password = password.as_ref();
    let url = split.for_git.as_str();
    let mirror = mirror_path(state_dir, shown);
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
        let mut init = git(&git_dir, None);
        init.args(["init", "--quiet", "--bare"]).arg(&mirror);
        run(init).map_err(|stderr| ClientError::Backend {
            context: format!("cannot create the git mirror {}", mirror.display()),
            source: tail(&stderr).into(),
        })?;
    }
    let mut fetch = git(&mirror, password);
    fetch
        .args(["fetch", "--quiet", "--no-tags", "--force", "--"])
        .arg(url)
        .arg(format!("+refs/heads/{branch}:refs/heads/{branch}"));
    run(fetch).map_err(|stderr| fetch_error(shown, branch, &stderr))?;
    let commit = match &submission.git_commit {
        None => rev_parse(&mirror, &format!("refs/heads/{branch}"))
            .ok_or_else(|| fetch_error(shown, branch, "couldn't find remote ref"))?,
        Some(wanted) => match rev_parse(&mirror, wanted) {
            Some(commit) => commit,
            None => {
                let mut fetch = git(&mirror, password);
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
                            "commit {wanted:?} does not exist in git repository {shown}"
                        ))
                    })?
            }
        },
    };
    let short = commit.get(..12).unwrap_or(&commit).to_owned();
    let refused = |err| file_error(err, shown, &short);
    let dockerfile =
        source_files::dockerfile_with_args(&mirror, &commit, &submission.variant.build_args)
            .map_err(refused)?;
    source_files::dockerignore(&mirror, &commit).map_err(refused)?;
    let config = source_files::repo_config(&mirror, &commit, repo_config_file).map_err(refused)?;
    drop(lock);

    let image_name = dockerfile.parsed.name().or(submission.component.as_deref());
    if let Some(name) = image_name {
        match registry_host {
            Some(host) => target::repository(host, name).map(drop),
            None => target::validate_image_name(name),
        }
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    }
    target::validate_labels(dockerfile.parsed.version(), dockerfile.parsed.release())
        .map_err(|e| ClientError::Usage(format!("{e} (commit {short})")))?;
    submission
        .variant
        .validate_with_labels(dockerfile.parsed.version(), dockerfile.parsed.release())
        .map_err(|e| ClientError::Usage(format!("{e} (commit {short})")))?;

    if let Some(password) = &given {
        let config = naming::build_config_name(&submission.git_url, branch);
        secrets::store_password(state_dir, &config, password).map_err(io_error(format!(
            "cannot store the git password of build config {config}"
        )))?;
    }
    Ok(Resolved {
        git_url: split.shown,
        commit,
        dockerfile: dockerfile.parsed,
        base_image: dockerfile.base_image,
        warnings: config.warnings().iter().map(ToString::to_string).collect(),
    })
}

/// The full commit id `rev` names in `mirror`, if any.
fn rev_parse(mirror: &Path, rev: &str) -> Option<String> {
    let mut cmd = git(mirror, None);
    cmd.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"));
    let out = run(cmd).ok()?;
    let commit = String::from_utf8_lossy(&out).trim().to_owned();
    (!commit.is_empty()).then_some(commit)
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
        let refused = fetch_error(
            "https://u:p@h/r",
            "main",
            "remote: denied\nfatal: Authentication failed for 'https://h/r/'",
        );
        assert_eq!(refused.exit_code(), 2);
        assert!(
            refused.to_string().contains("https://u:***@h/r"),
            "{refused}"
        );
    }
}
