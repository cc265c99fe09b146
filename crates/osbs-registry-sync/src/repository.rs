//! [`Repository`]: the distribution API of one repository — tags, manifests (`HEAD`, `GET`,
//! `PUT`, one `PUT` at a time per repository), blob existence and uploads, and the
//! crate-private pieces of a blob copy (`open_blob`, `start_upload`, `mount`, `finish_upload`).

use bytes::Bytes;
use reqwest::header::{self, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;

use crate::auth::Access;
use crate::client::RegistryClient;
use crate::digest::{digest_like, is_digest};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest, SUPPORTED_MEDIA_TYPES};
use crate::request::{Op, header_str, next_link};

/// Manifests larger than this are refused (the distribution registry's own limit is 4 MiB).
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The header a registry names a manifest's or blob's digest in.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

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
    pub(crate) fn new(client: RegistryClient, name: &str) -> Self {
        Self {
            client,
            name: name.to_owned(),
        }
    }

    /// The registry client.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The repository name (`namespace/name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn op(&self, access: Access, method: &'static str, target: String) -> Op<'_> {
        Op {
            repository: &self.name,
            access,
            mount_from: None,
            method,
            target,
        }
    }

    pub(crate) fn path_url(&self, suffix: &str) -> Result<Url> {
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
    /// registry stored, after checking it is `manifest.digest`. Manifest `PUT`s to one
    /// repository through one client go one at a time.
    ///
    /// # Errors
    ///
    /// [`Error::ManifestDigestMismatch`] when the registry reports another digest, or request
    /// errors (a registry missing a referenced blob answers 400 `MANIFEST_BLOB_UNKNOWN`).
    pub async fn put_manifest(&self, reference: &str, manifest: &Manifest) -> Result<String> {
        self.put_manifest_with(reference, manifest, false).await
    }

    /// [`Repository::put_manifest`] for a manifest whose blobs and children were all
    /// confirmed present at this repository (copied, mounted or found): a 400
    /// `MANIFEST_INVALID`, `BLOB_UNKNOWN` or `MANIFEST_BLOB_UNKNOWN` can then only be the
    /// registry still taking in an earlier write (Pulp answers so while another `PUT`'s task
    /// runs), and is retried with backoff, at most [`RetryPolicy::max_retries`] times.
    ///
    /// [`RetryPolicy::max_retries`]: crate::RetryPolicy::max_retries
    pub(crate) async fn put_manifest_after_content(
        &self,
        reference: &str,
        manifest: &Manifest,
    ) -> Result<String> {
        self.put_manifest_with(reference, manifest, true).await
    }

    async fn put_manifest_with(
        &self,
        reference: &str,
        manifest: &Manifest,
        content_confirmed: bool,
    ) -> Result<String> {
        let lock = self.client.manifest_lock(&self.name);
        let _one_at_a_time = lock.lock().await;
        let retry = self.client.retry_policy();
        let mut retries = 0;
        loop {
            match self.put_manifest_once(reference, manifest).await {
                Err(err)
                    if content_confirmed
                        && err.is_manifest_put_race()
                        && retries < retry.max_retries =>
                {
                    tokio::time::sleep(retry.backoff(retries, None)).await;
                    retries += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn put_manifest_once(&self, reference: &str, manifest: &Manifest) -> Result<String> {
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
        let op = Op {
            mount_from: Some(from),
            ..self.op(
                Access::Push,
                "POST",
                format!("blob mount {digest} from {from}"),
            )
        };
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

fn accept_manifests() -> String {
    SUPPORTED_MEDIA_TYPES.join(", ")
}
