//! Where a registry's credential comes from (SPEC §6): one Docker config file (a
//! `registry_secret`, `--authfile`), or else the files docker, podman and skopeo read, in their
//! order (`osbs_core::auth::auth_file_candidates`), including the `docker-credential-*`
//! helpers those files name (`credHelpers`, `credsStore`).
//!
//! Parsing is osbs-core's (`osbs_core::auth`); this module reads the files and runs the
//! helpers: `docker-credential-NAME get` with the registry on stdin and
//! `{"Username", "Secret"}` JSON on stdout. A helper's errors name the helper and the
//! registry; its stdout (the secret) is never quoted. A helper that has not answered within
//! [`HELPER_TIMEOUT`] (`$OSBS_CREDENTIAL_HELPER_TIMEOUT` seconds, if set) is killed, with its
//! process group, and the lookup fails naming the helper and the registry.

use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use osbs_core::auth::{self, Credential, DockerConfig, Lookup};

use crate::error::{Error, Result};

/// The longest stderr text of a failed helper quoted in an error.
const HELPER_MESSAGE_LIMIT: usize = 300;

/// How long a `docker-credential-*` helper may take to answer before it is killed, unless
/// `$OSBS_CREDENTIAL_HELPER_TIMEOUT` (whole seconds) says otherwise.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that overrides [`HELPER_TIMEOUT`] (whole seconds, at least 1).
pub const HELPER_TIMEOUT_ENV: &str = "OSBS_CREDENTIAL_HELPER_TIMEOUT";

/// [`HELPER_TIMEOUT`], or `$OSBS_CREDENTIAL_HELPER_TIMEOUT` when it is a positive number.
fn default_helper_timeout() -> Duration {
    std::env::var(HELPER_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&seconds| seconds > 0)
        .map_or(HELPER_TIMEOUT, Duration::from_secs)
}

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
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The files, in search order.
    files: Vec<DockerConfig>,
    /// How long a credential helper may take.
    helper_timeout: Duration,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            helper_timeout: default_helper_timeout(),
        }
    }
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
            ..Self::default()
        }
    }

    /// The same credentials with helpers killed after `timeout` instead of
    /// [`HELPER_TIMEOUT`].
    #[must_use]
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_timeout = timeout;
        self
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
        Ok(Self {
            files,
            ..Self::default()
        })
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
                Lookup::Helper(helper) => {
                    return run_helper(helper, registry, self.helper_timeout);
                }
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

/// Asks `docker-credential-HELPER get` for `registry`'s credential, killing it (and its
/// process group) when it has not exited within `timeout`.
fn run_helper(helper: &str, registry: &str, timeout: Duration) -> Result<Option<Credential>> {
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
        // Its own process group, so that a timeout kills what it started too.
        .process_group(0)
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
    // Both pipes are drained on threads of their own, so that a helper writing more than a
    // pipe holds still exits, and the wait below can give up.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                // The group first (what the helper started keeps the pipes open), then the
                // helper itself; the drain threads end when the pipes close.
                if let Some(pid) = rustix::process::Pid::from_raw(child.id().cast_signed()) {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "{program} did not answer within {} s and was killed",
                    timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(failed(format!("cannot wait for {program}: {e}"))),
        }
    };
    let join = |thread: std::thread::JoinHandle<Vec<u8>>| thread.join().unwrap_or_default();
    let (stdout, stderr) = (join(stdout), join(stderr));
    let stdout = String::from_utf8_lossy(&stdout);
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        // The protocol's "no credential" answer is on stdout (docker-credential-helpers)
        // or stderr (some others); neither holds a secret then.
        let not_found = |text: &str| text.contains("credentials not found");
        if not_found(&stdout) || not_found(&stderr) {
            return Ok(None);
        }
        let message: String = stderr.trim().chars().take(HELPER_MESSAGE_LIMIT).collect();
        return Err(failed(if message.is_empty() {
            format!("it exited with {status}")
        } else {
            format!("it exited with {status}: {message}")
        }));
    }
    auth::parse_helper_output(helper, registry, &stdout)
        .map(Some)
        .map_err(|_| failed("its answer is not {\"Username\", \"Secret\"} JSON".to_owned()))
}
