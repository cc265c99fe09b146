//! Where a registry's credential comes from (SPEC §6): one Docker config file (a
//! `registry_secret`, `--authfile`), or else the files docker, podman and skopeo read, in their
//! order (`osbs_core::auth::auth_file_candidates`), including the `docker-credential-*`
//! helpers those files name (`credHelpers`, `credsStore`).
//!
//! Parsing is osbs-core's (`osbs_core::auth`); this module reads the files and runs the
//! helpers: `docker-credential-NAME get` with the registry on stdin and
//! `{"Username", "Secret"}` JSON on stdout. A helper's errors name the helper and the
//! registry; its stdout (the secret) is never quoted.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use osbs_core::auth::{self, Credential, DockerConfig, Lookup};

use crate::error::{Error, Result};

/// The longest stderr text of a failed helper quoted in an error.
const HELPER_MESSAGE_LIMIT: usize = 300;

/// The Docker config files credentials are looked up in, first match wins.
///
/// ```no_run
/// use osbs_registry_sync::Credentials;
///
/// let credentials = Credentials::from_environment()?;
/// let credential = credentials.resolve("quay.io")?;
/// println!("found one: {}", credential.is_some());
/// # Ok::<(), osbs_registry_sync::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The files, in search order.
    files: Vec<DockerConfig>,
}

impl Credentials {
    /// No credentials at all (anonymous access).
    pub fn none() -> Self {
        Self::default()
    }

    /// The credentials of one parsed Docker config (helpers it names included).
    pub fn from_config(config: DockerConfig) -> Self {
        Self {
            files: vec![config],
        }
    }

    /// The credentials of the Docker config file at `path`, and only those.
    ///
    /// # Errors
    ///
    /// [`Error::AuthFile`] when it cannot be read or parsed (its content is never quoted).
    pub fn from_file(path: &Path) -> Result<Self> {
        Ok(Self::from_config(read_config(path)?))
    }

    /// The files docker, podman and skopeo read, those that exist, in their order:
    /// `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
    /// `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), `~/.dockercfg`.
    ///
    /// # Errors
    ///
    /// [`Error::AuthFile`] when one that exists cannot be read or parsed.
    pub fn from_environment() -> Result<Self> {
        let files = auth::auth_file_candidates(|name| std::env::var_os(name))
            .into_iter()
            .filter(|path| path.is_file())
            .map(|path| read_config(&path))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { files })
    }

    /// `registry_secret` when there is one, else [`Credentials::from_environment`].
    ///
    /// # Errors
    ///
    /// As [`Credentials::from_file`] and [`Credentials::from_environment`].
    pub fn from_secret_or_environment(secret: Option<&Path>) -> Result<Self> {
        match secret {
            Some(path) => Self::from_file(path),
            None => Self::from_environment(),
        }
    }

    /// Whether no file was found.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The credential for `registry` (`host[:port]` or a URL): the first file with a
    /// credential or a helper for it decides; a helper that has none ("credentials not
    /// found") means none.
    ///
    /// # Errors
    ///
    /// [`Error::CredentialHelper`] when the helper cannot be run, fails, or answers nonsense.
    pub fn resolve(&self, registry: &str) -> Result<Option<Credential>> {
        for config in &self.files {
            match config.lookup(registry) {
                Lookup::Credential(credential) => return Ok(Some(credential.clone())),
                Lookup::Helper(helper) => return run_helper(helper, registry),
                Lookup::None => {}
            }
        }
        Ok(None)
    }
}

impl From<DockerConfig> for Credentials {
    fn from(config: DockerConfig) -> Self {
        Self::from_config(config)
    }
}

fn read_config(path: &Path) -> Result<DockerConfig> {
    let bad = |reason: String| Error::AuthFile {
        path: PathBuf::from(path),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    DockerConfig::parse(&text).map_err(|e| bad(e.to_string()))
}

/// Asks `docker-credential-HELPER get` for `registry`'s credential.
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credential>> {
    let program = format!("docker-credential-{helper}");
    let failed = |problem: String| Error::CredentialHelper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        problem,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            failed(if e.kind() == std::io::ErrorKind::NotFound {
                format!("{program} is not on PATH")
            } else {
                format!("cannot run {program}: {e}")
            })
        })?;
    let server_url = auth::helper_server_url(registry);
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input closes the pipe: its exit status
        // says what happened, so a write error is not the story.
        let _ = stdin.write_all(server_url.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(format!("cannot read its answer: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The protocol's "no credential" answer is on stdout (docker-credential-helpers)
        // or stderr (some others); neither holds a secret then.
        let not_found = |text: &str| text.contains("credentials not found");
        if not_found(&stdout) || not_found(&stderr) {
            return Ok(None);
        }
        let message: String = stderr.trim().chars().take(HELPER_MESSAGE_LIMIT).collect();
        return Err(failed(if message.is_empty() {
            format!("it exited with {}", output.status)
        } else {
            format!("it exited with {}: {message}", output.status)
        }));
    }
    auth::parse_helper_output(helper, registry, &stdout)
        .map(Some)
        .map_err(|_| failed("its answer is not {\"Username\", \"Secret\"} JSON".to_owned()))
}
