//! [`RegistryClient`]: one registry, its connection pool and TLS set-up, its credential and
//! token cache (module `auth`), and the per-repository order of manifest `PUT`s. The request
//! loop is in module `request`, the repository API in module `repository`.
//!
//! # Why reqwest and not oci-client's request methods
//!
//! Requests go through reqwest (oci-client's own HTTP stack, so no second one), because the
//! copy path needs what oci-client's request methods do not offer: a single streaming `PUT` per
//! blob with the digest checked before the last byte leaves, a `HEAD` that answers "absent"
//! without falling back to `GET`, a mount that continues with the upload session a registry
//! opens when it cannot mount, the `Docker-Content-Digest` of a pushed manifest, `Link`
//! pagination of tag lists, retries with backoff, status codes for error messages, and tokens
//! that carry several repositories' scopes (a mount). oci-client provides the manifest types.
//!
//! Credentials are only attached once the registry has asked for them (a 401), and only to
//! URLs on the registry's own `host:port` (and its token server).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osbs_core::auth::{Credential, DockerConfig};
use reqwest::Url;

use crate::auth::Auth;
use crate::endpoint::RegistryEndpoint;
use crate::error::{Error, Result};
use crate::request::lock;
use crate::retry::RetryPolicy;

/// `User-Agent` of every request.
const USER_AGENT: &str = concat!("osbs-registry-sync/", env!("CARGO_PKG_VERSION"));

/// How a [`RegistryClient`] connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// PEM file with extra CA certificates to trust for TLS registries.
    pub ca_file: Option<PathBuf>,
    /// A directory whose `*.crt` files are CA certificates to trust, like skopeo's
    /// `--cert-dir` and Docker's `/etc/docker/certs.d/HOST/`.
    pub ca_dir: Option<PathBuf>,
    /// Whether TLS certificates are verified (`verify_ssl`, `--tls-verify`); `false` accepts
    /// any certificate and host name. Default `true`.
    pub verify_tls: bool,
    /// Retries of requests that failed with a connection error, 429 or 5xx (and of manifest
    /// `PUT`s a registry refused while it was still taking in an earlier one).
    pub retry: RetryPolicy,
    /// Connect timeout of each connection.
    pub connect_timeout: Duration,
    /// The longest wait for data on an established connection.
    pub read_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            ca_dir: None,
            verify_tls: true,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
        }
    }
}

/// A client for one registry. Cheap to clone (shared connection pool and token cache).
///
/// ```no_run
/// # async fn demo() -> Result<(), osbs_registry_sync::Error> {
/// use osbs_registry_sync::{ClientOptions, RegistryClient};
///
/// let registry = RegistryClient::new("127.0.0.1:5000".parse()?, None, &ClientOptions::default())?;
/// let repo = registry.repository("osbs/busybox");
/// println!("{:?}", repo.tags().await?);
/// println!("{:?}", repo.manifest_digest("latest").await?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) endpoint: RegistryEndpoint,
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) retry: RetryPolicy,
    pub(crate) auth: Auth,
    verify_tls: bool,
    /// One lock per repository: manifest `PUT`s to a repository go one at a time (Pulp
    /// processes them one at a time anyway, and answers 400 to a `PUT` that overtakes
    /// another).
    manifest_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("endpoint", &self.inner.endpoint)
            .field("credential", &self.inner.auth.credential())
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `endpoint`, with the credential `docker_config` holds for it (if any).
    ///
    /// # Errors
    ///
    /// [`Error::CaFile`] / [`Error::InvalidCaFile`] for a bad CA file,
    /// [`Error::UnsupportedCredential`] for an identity token, [`Error::HttpClient`] when the
    /// TLS stack cannot be set up.
    pub fn new(
        endpoint: RegistryEndpoint,
        docker_config: Option<&DockerConfig>,
        options: &ClientOptions,
    ) -> Result<Self> {
        let credential = docker_config
            .and_then(|config| config.credential_for(endpoint.name()))
            .cloned();
        Self::with_credential(endpoint, credential, options)
    }

    /// A client for `endpoint`, with the credential `credentials` finds for it: written in a
    /// Docker config, or asked of the `docker-credential-*` helper the config names.
    ///
    /// # Errors
    ///
    /// As [`RegistryClient::new`], and [`Error::CredentialHelper`] when a helper fails.
    pub fn with_credentials(
        endpoint: RegistryEndpoint,
        credentials: &crate::Credentials,
        options: &ClientOptions,
    ) -> Result<Self> {
        let credential = credentials.resolve(endpoint.name())?;
        Self::with_credential(endpoint, credential, options)
    }

    /// A client for `endpoint` with an explicit credential.
    ///
    /// # Errors
    ///
    /// As [`RegistryClient::new`].
    pub fn with_credential(
        endpoint: RegistryEndpoint,
        credential: Option<Credential>,
        options: &ClientOptions,
    ) -> Result<Self> {
        crate::install_crypto_provider();
        if let Some(Credential::IdentityToken { .. }) = credential {
            return Err(Error::UnsupportedCredential {
                registry: endpoint.name().to_owned(),
                reason: "identity tokens (OAuth2 refresh tokens) are not supported yet; \
                         use a user name and password or a registry token",
            });
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .tcp_nodelay(true);
        let plain_http = endpoint.is_plain_http();
        if plain_http {
            // No TLS: skip loading the system's CA store (it costs milliseconds per client).
            builder = builder.tls_certs_only(Vec::new());
        } else {
            let mut files: Vec<PathBuf> = options.ca_file.iter().cloned().collect();
            if let Some(dir) = &options.ca_dir {
                files.extend(ca_dir_files(dir)?);
            }
            for path in files {
                let pem = std::fs::read(&path).map_err(|source| Error::CaFile {
                    path: path.clone(),
                    source,
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .ok()
                    .filter(|certs| !certs.is_empty())
                    .ok_or_else(|| Error::InvalidCaFile { path: path.clone() })?;
                builder = builder.tls_certs_merge(certs);
            }
            if !options.verify_tls {
                builder = builder.tls_danger_accept_invalid_certs(true);
            }
        }
        let http = builder.build().map_err(|source| Error::HttpClient {
            registry: endpoint.name().to_owned(),
            source,
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                base_url: endpoint.base_url(),
                endpoint,
                http,
                retry: options.retry,
                auth: Auth::new(credential),
                verify_tls: options.verify_tls || plain_http,
                manifest_locks: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Whether this client verifies TLS certificates.
    pub fn verifies_tls(&self) -> bool {
        self.inner.verify_tls
    }

    /// The registry this client talks to.
    pub fn endpoint(&self) -> &RegistryEndpoint {
        &self.inner.endpoint
    }

    /// Whether a credential for this registry was found.
    pub fn has_credential(&self) -> bool {
        self.inner.auth.credential().is_some()
    }

    /// A handle on `repository` (`namespace/name`) in this registry.
    pub fn repository(&self, repository: &str) -> crate::Repository {
        crate::Repository::new(self.clone(), repository)
    }

    /// The retry policy of this client.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        let text = format!("{}{path}", self.inner.base_url);
        Url::parse(&text).map_err(|_| Error::InvalidRegistry {
            uri: text,
            reason: "does not make a valid URL",
        })
    }

    /// Whether `url` is on this registry's own origin (credentials may go there).
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        let expected = format!("{}/", self.inner.base_url);
        url.as_str().starts_with(&expected)
    }

    /// The lock that orders manifest `PUT`s to `repository`.
    pub(crate) fn manifest_lock(&self, repository: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = lock(&self.inner.manifest_locks);
        Arc::clone(locks.entry(repository.to_owned()).or_default())
    }
}

/// The `*.crt` files of a certificate directory, sorted.
fn ca_dir_files(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::CaFile {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "crt"))
        .collect();
    files.sort();
    Ok(files)
}
