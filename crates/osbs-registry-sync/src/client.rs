//! [`RegistryClient`] and [`Repository`]: the distribution (v2) API of one registry, with
//! authentication, retries and errors that name registry, repository and digest.
//!
//! # Why both oci-client and reqwest
//!
//! oci-client does the authentication handshake: it reads the registry's `WWW-Authenticate`
//! challenge, falls back to Basic, or exchanges the credential for a Bearer token at the token
//! server with the right scope, and never sends credentials to another host. Requests
//! themselves go through reqwest (oci-client's own HTTP stack, so no second one), because the
//! copy path needs what oci-client's request methods do not offer: a single streaming `PUT` per
//! blob with the digest checked before the last byte leaves, a `HEAD` that answers "absent"
//! without falling back to `GET`, a mount that continues with the upload session a registry
//! opens when it cannot mount, the `Docker-Content-Digest` of a pushed manifest, `Link`
//! pagination of tag lists, retries with backoff, and status codes for error messages. (It
//! also re-pings `/v2/` before each request on registries without auth, which doubled the
//! request count of a re-sync.)
//!
//! Credentials are only attached once the registry has asked for them (a 401), and only to
//! URLs on the registry's own `host:port`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use oci_client::RegistryOperation;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use osbs_core::auth::{Credential, DockerConfig};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::digest::{digest_like, is_digest};
use crate::endpoint::RegistryEndpoint;
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest, SUPPORTED_MEDIA_TYPES};
use crate::retry::{RetryPolicy, retry_after};

/// `User-Agent` of every request.
const USER_AGENT: &str = concat!("osbs-registry-sync/", env!("CARGO_PKG_VERSION"));

/// Manifests larger than this are refused (the distribution registry's own limit is 4 MiB).
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The header a registry names a manifest's or blob's digest in.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// How a [`RegistryClient`] connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// PEM file with extra CA certificates to trust for TLS registries.
    pub ca_file: Option<PathBuf>,
    /// Retries of requests that failed with a connection error, 429 or 5xx.
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
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
        }
    }
}

/// Access a request needs, which decides the token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    Pull,
    Push,
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

struct Inner {
    endpoint: RegistryEndpoint,
    base_url: String,
    http: reqwest::Client,
    credential: Option<Credential>,
    retry: RetryPolicy,
    oci_config: OciSettings,
    oci: OnceCell<oci_client::Client>,
    /// Set once the registry answered 401: from then on requests carry authorization.
    challenged: AtomicBool,
    /// `Authorization` per (repository, access), `None` when the handshake gave nothing.
    authorizations: Mutex<HashMap<(String, Access), Option<HeaderValue>>>,
    /// Serialises handshakes, so a burst of parallel requests fetches one token, not many.
    handshakes: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct OciSettings {
    ca_pem: Option<Vec<u8>>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("endpoint", &self.inner.endpoint)
            .field("credential", &self.inner.credential)
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
        let ca_pem = match &options.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| Error::CaFile {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .tcp_nodelay(true);
        if endpoint.is_plain_http() {
            // No TLS: skip loading the system's CA store (it costs milliseconds per client).
            builder = builder.tls_certs_only(Vec::new());
        } else if let (Some(pem), Some(path)) = (&ca_pem, &options.ca_file) {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| Error::InvalidCaFile { path: path.clone() })?;
            builder = builder.tls_certs_merge(certs);
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
                credential,
                retry: options.retry,
                oci_config: OciSettings {
                    ca_pem,
                    connect_timeout: options.connect_timeout,
                    read_timeout: options.read_timeout,
                },
                oci: OnceCell::new(),
                challenged: AtomicBool::new(false),
                authorizations: Mutex::new(HashMap::new()),
                handshakes: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The registry this client talks to.
    pub fn endpoint(&self) -> &RegistryEndpoint {
        &self.inner.endpoint
    }

    /// Whether a credential for this registry was found.
    pub fn has_credential(&self) -> bool {
        self.inner.credential.is_some()
    }

    /// A handle on `repository` (`namespace/name`) in this registry.
    pub fn repository(&self, repository: &str) -> Repository {
        Repository {
            client: self.clone(),
            name: repository.to_owned(),
        }
    }

    /// The retry policy of this client.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    fn url(&self, path: &str) -> Result<Url> {
        let text = format!("{}{path}", self.inner.base_url);
        Url::parse(&text).map_err(|_| Error::InvalidRegistry {
            uri: text,
            reason: "does not make a valid URL",
        })
    }

    /// Whether `url` is on this registry's own origin (credentials may go there).
    fn same_origin(&self, url: &Url) -> bool {
        let expected = format!("{}/", self.inner.base_url);
        url.as_str().starts_with(&expected)
    }

    /// Sends a request built by `build` until it succeeds or fails for good: retries on
    /// connection errors, 429 and 5xx, and authenticates once on 401. A request whose body
    /// cannot be replayed (a stream; `replayable` false) is sent once: its caller retries the
    /// whole transfer instead.
    async fn send(
        &self,
        op: &Op<'_>,
        url: &Url,
        replayable: bool,
        mut build: impl FnMut(&reqwest::Client) -> Option<RequestBuilder>,
    ) -> Result<Response> {
        let retry = self.inner.retry;
        let max_retries = if replayable { retry.max_retries } else { 0 };
        let mut retries = 0;
        let mut authenticated_again = !replayable;
        loop {
            let Some(mut request) = build(&self.inner.http) else {
                return Err(op.protocol(self, "the request could not be repeated"));
            };
            let with_auth = self.same_origin(url);
            let mut sent_auth = false;
            if with_auth && let Some(value) = self.authorization(op.repository, op.access).await? {
                request = request.header(header::AUTHORIZATION, value);
                sent_auth = true;
            }
            let outcome = request.send().await;
            let retry_left = retries < max_retries;
            match outcome {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    if with_auth && !authenticated_again {
                        authenticated_again = true;
                        self.forget_authorization(op.repository, op.access);
                        continue;
                    }
                    if with_auth {
                        // Whatever we hold for this repository did not work.
                        self.forget_authorization(op.repository, op.access);
                    }
                    return Err(Error::Unauthorized {
                        registry: self.inner.endpoint.name().to_owned(),
                        repository: op.repository.to_owned(),
                        sent_credentials: sent_auth && self.inner.credential.is_some(),
                    });
                }
                Ok(response) if retryable_status(response.status()) && retry_left => {
                    let wait = retry.backoff(retries, retry_after(response.headers()));
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Ok(response) => return Ok(response),
                Err(err) if retryable_transport(&err) && retry_left => {
                    let wait = retry.backoff(retries, None);
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(source) => return Err(op.transport(self, source)),
            }
        }
    }

    /// The `Authorization` header for `repository`, once the registry has asked for one.
    async fn authorization(&self, repository: &str, access: Access) -> Result<Option<HeaderValue>> {
        if !self.inner.challenged.load(Ordering::Acquire) {
            return Ok(None);
        }
        if let Some(value) = self.cached_authorization(repository, access) {
            return Ok(value);
        }
        let _handshake = self.inner.handshakes.lock().await;
        // Another request may have done the handshake while this one waited.
        if let Some(value) = self.cached_authorization(repository, access) {
            return Ok(value);
        }
        let value = self.handshake(repository, access).await?;
        lock(&self.inner.authorizations).insert((repository.to_owned(), access), value.clone());
        Ok(value)
    }

    fn cached_authorization(
        &self,
        repository: &str,
        access: Access,
    ) -> Option<Option<HeaderValue>> {
        let cache = lock(&self.inner.authorizations);
        let key = (repository.to_owned(), access);
        if let Some(value) = cache.get(&key) {
            return Some(value.clone());
        }
        // A push token also allows pulling.
        match access {
            Access::Pull => cache.get(&(repository.to_owned(), Access::Push)).cloned(),
            Access::Push => None,
        }
    }

    fn forget_authorization(&self, repository: &str, access: Access) {
        self.inner.challenged.store(true, Ordering::Release);
        let mut cache = lock(&self.inner.authorizations);
        cache.remove(&(repository.to_owned(), access));
        cache.remove(&(repository.to_owned(), Access::Push));
    }

    /// Runs oci-client's authentication handshake for `repository` and turns the outcome
    /// into an `Authorization` header.
    async fn handshake(&self, repository: &str, access: Access) -> Result<Option<HeaderValue>> {
        let inner = &self.inner;
        let oci = inner
            .oci
            .get_or_try_init(|| async { self.oci_client() })
            .await?;
        let reference = oci_client::Reference::with_tag(
            inner.endpoint.api_host().to_owned(),
            repository.to_owned(),
            "latest".to_owned(),
        );
        let auth = match &inner.credential {
            Some(Credential::Basic { username, password }) => {
                RegistryAuth::Basic(username.clone(), password.expose().to_owned())
            }
            Some(Credential::RegistryToken(token)) => {
                RegistryAuth::Bearer(token.expose().to_owned())
            }
            _ => RegistryAuth::Anonymous,
        };
        let operation = match access {
            Access::Pull => RegistryOperation::Pull,
            Access::Push => RegistryOperation::Push,
        };
        let mut retries = 0;
        let token = loop {
            match oci.auth(&reference, &auth, operation).await {
                Ok(token) => break token,
                Err(OciDistributionError::RequestError(err))
                    if retryable_transport(&err) && retries < inner.retry.max_retries =>
                {
                    tokio::time::sleep(inner.retry.backoff(retries, None)).await;
                    retries += 1;
                }
                Err(OciDistributionError::AuthenticationFailure(_)) => {
                    return Err(Error::Unauthorized {
                        registry: inner.endpoint.name().to_owned(),
                        repository: repository.to_owned(),
                        sent_credentials: inner.credential.is_some(),
                    });
                }
                Err(source) => {
                    return Err(Error::Auth {
                        registry: inner.endpoint.name().to_owned(),
                        repository: repository.to_owned(),
                        source,
                    });
                }
            }
        };
        let value = match (token, &inner.credential) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Some(Credential::Basic { username, password })) => {
                let pair = format!("{username}:{}", password.expose());
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (None, _) => None,
        };
        Ok(value.and_then(|text| {
            let mut value = HeaderValue::from_str(&text).ok()?;
            value.set_sensitive(true);
            Some(value)
        }))
    }

    fn oci_client(&self) -> Result<oci_client::Client> {
        let inner = &self.inner;
        let settings = &inner.oci_config;
        let config = ClientConfig {
            protocol: if inner.endpoint.is_plain_http() {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates: settings
                .ca_pem
                .iter()
                .map(|pem| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            connect_timeout: Some(settings.connect_timeout),
            read_timeout: Some(settings.read_timeout),
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        oci_client::Client::try_from(config).map_err(|source| Error::Auth {
            registry: inner.endpoint.name().to_owned(),
            repository: String::new(),
            source,
        })
    }

    /// Turns an unexpected response into the matching error (reads its body for the message).
    async fn unexpected(&self, op: &Op<'_>, response: Response) -> Error {
        let status = response.status();
        let registry = self.inner.endpoint.name().to_owned();
        let repository = op.repository.to_owned();
        match status {
            StatusCode::FORBIDDEN => Error::Forbidden {
                registry,
                repository,
                operation: op.describe(),
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                registry,
                repository,
                what: op.target.clone(),
            },
            _ => {
                let body = response.bytes().await.unwrap_or_default();
                Error::Status {
                    registry,
                    repository,
                    operation: op.describe(),
                    status: status.as_u16(),
                    message: error_message(&body),
                }
            }
        }
    }

    /// Resolves a `Location` header against the registry.
    fn location(&self, op: &Op<'_>, response: &Response) -> Result<Url> {
        let value = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| op.protocol(self, "no Location header"))?;
        let base = self.url("/")?;
        base.join(value)
            .map_err(|_| op.protocol(self, "an invalid Location header"))
    }
}

/// A repository of one registry: where images are read from or written to.
#[derive(Debug, Clone)]
pub struct Repository {
    client: RegistryClient,
    name: String,
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.client.endpoint().name(), self.name)
    }
}

/// What became of a cross-repository mount request.
pub(crate) enum Mount {
    /// The registry linked the blob into the repository.
    Mounted,
    /// It could not, and opened an upload session instead (at this URL).
    Upload(Url),
}

impl Repository {
    /// The registry client.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The repository name (`namespace/name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn op(&self, access: Access, method: &'static str, target: String) -> Op<'_> {
        Op {
            repository: &self.name,
            access,
            method,
            target,
        }
    }

    fn path_url(&self, suffix: &str) -> Result<Url> {
        self.client.url(&format!("/v2/{}/{suffix}", self.name))
    }

    /// All tags, following `Link` pagination; sorted as the registry sends them.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the repository does not exist, or any request error.
    pub async fn tags(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let op = self.op(Access::Pull, "GET", "tag list".to_owned());
        let mut url = self.path_url("tags/list")?;
        let mut tags = Vec::new();
        loop {
            let response = self
                .client
                .send(&op, &url, true, |http| Some(http.get(url.clone())))
                .await?;
            if response.status() != StatusCode::OK {
                return Err(self.client.unexpected(&op, response).await);
            }
            let next = next_link(response.headers());
            let body = response
                .bytes()
                .await
                .map_err(|source| op.transport(&self.client, source))?;
            let page: TagList = serde_json::from_slice(&body)
                .map_err(|_| op.protocol(&self.client, "a tag list that is not valid JSON"))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(link) => {
                    url = self
                        .client
                        .url("/")?
                        .join(&link)
                        .map_err(|_| op.protocol(&self.client, "an invalid Link header"))?;
                }
                None => return Ok(tags),
            }
        }
    }

    /// The digest of the manifest `reference` (a tag or digest) points to, from one `HEAD`;
    /// `None` when there is no such manifest.
    ///
    /// # Errors
    ///
    /// Request errors, or a 2xx without a `Docker-Content-Digest` header and a failing `GET`.
    pub async fn manifest_digest(&self, reference: &str) -> Result<Option<String>> {
        Ok(self
            .manifest_head(reference)
            .await?
            .map(|(digest, _)| digest))
    }

    /// `HEAD` of a manifest: its digest and media type (`Content-Type`), if it exists.
    pub(crate) async fn manifest_head(&self, reference: &str) -> Result<Option<(String, String)>> {
        let op = self.op(Access::Pull, "HEAD", format!("manifest {reference}"));
        let url = self.path_url(&format!("manifests/{reference}"))?;
        let response = self
            .client
            .send(&op, &url, true, |http| {
                Some(
                    http.head(url.clone())
                        .header(header::ACCEPT, accept_manifests()),
                )
            })
            .await?;
        match response.status() {
            StatusCode::OK => {
                let media_type = header_str(response.headers(), "content-type")
                    .unwrap_or_default()
                    .to_owned();
                match header_str(response.headers(), DOCKER_CONTENT_DIGEST) {
                    Some(digest) => Ok(Some((digest.to_owned(), media_type))),
                    // Registries that do not send the header: hash the manifest.
                    None => {
                        let manifest = self.manifest(reference).await?;
                        Ok(Some((manifest.digest, manifest.media_type)))
                    }
                }
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.client.unexpected(&op, response).await),
        }
    }

    /// The manifest `reference` points to, verified: its bytes hash to the requested digest,
    /// and to the `Docker-Content-Digest` the registry sent.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::ManifestDigestMismatch`], [`Error::InvalidManifest`] for
    /// schema 1 or unknown media types, or request errors.
    pub async fn manifest(&self, reference: &str) -> Result<Manifest> {
        let op = self.op(Access::Pull, "GET", format!("manifest {reference}"));
        let url = self.path_url(&format!("manifests/{reference}"))?;
        let response = self
            .client
            .send(&op, &url, true, |http| {
                Some(
                    http.get(url.clone())
                        .header(header::ACCEPT, accept_manifests()),
                )
            })
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.client.unexpected(&op, response).await);
        }
        let content_type = header_str(response.headers(), "content-type").map(str::to_owned);
        let header_digest =
            header_str(response.headers(), DOCKER_CONTENT_DIGEST).map(str::to_owned);
        if response
            .content_length()
            .is_some_and(|len| len > MAX_MANIFEST_BYTES as u64)
        {
            return Err(self.invalid_manifest(reference, "larger than 4 MiB".to_owned()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|source| op.transport(&self.client, source))?;
        let expected = if is_digest(reference) {
            Some(reference.to_owned())
        } else {
            header_digest
        };
        let digest = digest_like(&bytes, expected.as_deref());
        if let Some(expected) = expected
            && digest != expected
        {
            return Err(Error::ManifestDigestMismatch {
                registry: self.client.endpoint().name().to_owned(),
                repository: self.name.clone(),
                reference: reference.to_owned(),
                expected,
                actual: digest,
            });
        }
        let (media_type, _) = manifest::inspect(&bytes, content_type.as_deref())
            .map_err(|problem| self.invalid_manifest(reference, problem))?;
        Ok(Manifest {
            media_type,
            digest,
            bytes,
        })
    }

    fn invalid_manifest(&self, reference: &str, problem: String) -> Error {
        Error::InvalidManifest {
            registry: self.client.endpoint().name().to_owned(),
            repository: self.name.clone(),
            reference: reference.to_owned(),
            problem,
        }
    }

    /// Pushes `manifest` under `reference` (a tag, or its digest) and returns the digest the
    /// registry stored, after checking it is `manifest.digest`.
    ///
    /// # Errors
    ///
    /// [`Error::ManifestDigestMismatch`] when the registry reports another digest, or request
    /// errors (a registry missing a referenced blob answers 400 `MANIFEST_BLOB_UNKNOWN`).
    pub async fn put_manifest(&self, reference: &str, manifest: &Manifest) -> Result<String> {
        let op = self.op(Access::Push, "PUT", format!("manifest {reference}"));
        let url = self.path_url(&format!("manifests/{reference}"))?;
        let content_type = HeaderValue::from_str(&manifest.media_type)
            .map_err(|_| self.invalid_manifest(reference, "an invalid media type".to_owned()))?;
        let response = self
            .client
            .send(&op, &url, true, |http| {
                Some(
                    http.put(url.clone())
                        .header(header::CONTENT_TYPE, content_type.clone())
                        .body(manifest.bytes.clone()),
                )
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(self.client.unexpected(&op, response).await);
        }
        let stored = match header_str(response.headers(), DOCKER_CONTENT_DIGEST) {
            Some(digest) => digest.to_owned(),
            None => self
                .manifest_digest(&manifest.digest)
                .await?
                .unwrap_or_default(),
        };
        if stored != manifest.digest {
            return Err(Error::ManifestDigestMismatch {
                registry: self.client.endpoint().name().to_owned(),
                repository: self.name.clone(),
                reference: reference.to_owned(),
                expected: manifest.digest.clone(),
                actual: stored,
            });
        }
        Ok(stored)
    }

    /// Whether the blob `digest` is in this repository (one `HEAD`).
    ///
    /// # Errors
    ///
    /// Request errors other than 404.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool> {
        let op = self.op(Access::Pull, "HEAD", format!("blob {digest}"));
        let url = self.path_url(&format!("blobs/{digest}"))?;
        let response = self
            .client
            .send(&op, &url, true, |http| Some(http.head(url.clone())))
            .await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.client.unexpected(&op, response).await),
        }
    }

    /// Uploads a small blob held in memory (a config, a test fixture) with one `POST` and one
    /// `PUT`, and returns its sha256 digest. Blobs of images are copied by streaming instead.
    ///
    /// # Errors
    ///
    /// Request errors, or the registry refusing the digest.
    pub async fn push_blob(&self, data: Bytes) -> Result<String> {
        let digest = crate::digest::sha256_digest(&data);
        let location = self.start_upload().await?;
        let size = data.len() as u64;
        self.finish_upload(&location, &digest, Some(size), true, move || {
            Some(reqwest::Body::from(data.clone()))
        })
        .await?;
        Ok(digest)
    }

    /// Opens the blob `digest` for reading.
    pub(crate) async fn open_blob(&self, digest: &str) -> Result<Response> {
        let op = self.op(Access::Pull, "GET", format!("blob {digest}"));
        let url = self.path_url(&format!("blobs/{digest}"))?;
        let response = self
            .client
            .send(&op, &url, true, |http| Some(http.get(url.clone())))
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.client.unexpected(&op, response).await);
        }
        Ok(response)
    }

    /// Starts an upload session and returns its URL.
    pub(crate) async fn start_upload(&self) -> Result<Url> {
        let op = self.op(Access::Push, "POST", "blob upload".to_owned());
        let url = self.path_url("blobs/uploads/")?;
        let response = self
            .client
            .send(&op, &url, true, |http| {
                Some(http.post(url.clone()).header(header::CONTENT_LENGTH, 0))
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.client.unexpected(&op, response).await);
        }
        self.client.location(&op, &response)
    }

    /// Asks the registry to link blob `digest` from repository `from` into this one.
    pub(crate) async fn mount(&self, digest: &str, from: &str) -> Result<Mount> {
        let op = self.op(
            Access::Push,
            "POST",
            format!("blob mount {digest} from {from}"),
        );
        let mut url = self.path_url("blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let response = self
            .client
            .send(&op, &url, true, |http| {
                Some(http.post(url.clone()).header(header::CONTENT_LENGTH, 0))
            })
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(self.client.location(&op, &response)?)),
            _ => Err(self.client.unexpected(&op, response).await),
        }
    }

    /// Completes the upload at `location` with one `PUT` carrying the whole blob (of `size`
    /// bytes, or chunked when the size is unknown).
    ///
    /// `body` gives the request body, again for each retry when `replayable` (a stream is
    /// not: it is sent once and the caller retries the whole transfer).
    pub(crate) async fn finish_upload(
        &self,
        location: &Url,
        digest: &str,
        size: Option<u64>,
        replayable: bool,
        mut body: impl FnMut() -> Option<reqwest::Body>,
    ) -> Result<()> {
        let op = self.op(Access::Push, "PUT", format!("blob {digest}"));
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .client
            .send(&op, &url, replayable, |http| {
                let body = body()?;
                let request = http
                    .put(url.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream");
                let request = match size {
                    Some(size) => request.header(header::CONTENT_LENGTH, size),
                    None => request,
                };
                Some(request.body(body))
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(self.client.unexpected(&op, response).await);
        }
        if let Some(stored) = header_str(response.headers(), DOCKER_CONTENT_DIGEST)
            && stored != digest
        {
            return Err(op.protocol(
                &self.client,
                "a Docker-Content-Digest that differs from the uploaded digest",
            ));
        }
        Ok(())
    }
}

/// One request's identity, for authentication scope and error messages.
struct Op<'a> {
    repository: &'a str,
    access: Access,
    method: &'static str,
    target: String,
}

impl Op<'_> {
    fn describe(&self) -> String {
        format!("{} {}", self.method, self.target)
    }

    fn transport(&self, client: &RegistryClient, source: reqwest::Error) -> Error {
        Error::Transport {
            registry: client.endpoint().name().to_owned(),
            repository: self.repository.to_owned(),
            operation: self.describe(),
            source,
        }
    }

    fn protocol(&self, client: &RegistryClient, problem: &str) -> Error {
        Error::Protocol {
            registry: client.endpoint().name().to_owned(),
            repository: self.repository.to_owned(),
            operation: self.describe(),
            problem: problem.to_owned(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn accept_manifests() -> String {
    SUPPORTED_MEDIA_TYPES.join(", ")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

fn retryable_transport(err: &reqwest::Error) -> bool {
    err.is_connect() || err.is_timeout() || err.is_request()
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part[start..].find('>')? + start;
            Some(part[start..end].to_owned())
        })
}

/// The message of a distribution error body (`{"errors": [{"code", "message"}]}`), or the
/// start of a plain-text body.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        return envelope
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{} ({})", e.message, e.code),
                (true, _) => e.message.clone(),
                (false, true) => e.code.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static("</v2/a/tags/list?last=b&n=2>; rel=\"next\""),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_message(br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#),
            "provided digest did not match uploaded content (DIGEST_INVALID)"
        );
        assert_eq!(error_message(b"  oops \n"), "oops");
        assert_eq!(error_message(&[b'x'; 300]).chars().count(), 201);
    }
}
