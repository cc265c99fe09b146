//! Reading an image's tags from its registry and importing them: the one implementation behind
//! `osbs import-image` on both backends and the scheduled import of external base images
//! (SPEC §10, OpenShift's `importPolicy.scheduled`).
//!
//! Which tags are read is `osbs_core::import::tags_to_read`; how registry answers map to
//! errors is [`ReadError`]: an unreachable registry is [`ReadError::Unreachable`] (exit 3 in the
//! CLI, retried next interval by the schedule), a tag asked for by name and missing is
//! [`ReadError::MissingTag`], and a tag the stream knew but the registry no longer has is
//! skipped (kept with its last digest).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use futures_util::{StreamExt as _, TryStreamExt as _};
use osbs_core::auth::DockerConfig;
use osbs_core::build::ImageImport;
use osbs_core::import::{TagSelection, is_external, tags_to_read};
use osbs_core::model::ImageStream;
use osbs_registry_sync::{ClientOptions, Credentials, RegistryClient, RegistryEndpoint};

use crate::{Engine, EngineError, Executor, Imported, Store, now, store_error};

/// How many manifest `HEAD`s of one image are in flight at once.
const PARALLEL_HEADS: usize = 8;

/// What a read found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagDigests {
    /// Tags and their current digests.
    pub found: Vec<(String, String)>,
    /// Known tags the registry no longer has (left as they were).
    pub missing: Vec<String>,
}

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The stream does not say where its image lives.
    #[error("image stream {stream} does not know its image repository yet; build it first")]
    NoRepository {
        /// The ImageStream.
        stream: String,
    },
    /// The repository names no registry, or one that cannot be used.
    #[error("invalid registry in image repository {image}: {detail}")]
    BadRegistry {
        /// `registry/repository`.
        image: String,
        /// What is wrong.
        detail: String,
    },
    /// The registry did not answer.
    #[error("registry {registry} is unreachable")]
    Unreachable {
        /// The registry.
        registry: String,
        /// What happened.
        #[source]
        source: Box<osbs_registry_sync::Error>,
    },
    /// The registry answered with an error.
    #[error("cannot read {image} from registry {registry}")]
    Registry {
        /// The registry.
        registry: String,
        /// `registry/repository`.
        image: String,
        /// The registry's answer.
        #[source]
        source: Box<osbs_registry_sync::Error>,
    },
    /// A tag asked for by name is not in the registry.
    #[error("image {image}:{tag} not found")]
    MissingTag {
        /// `registry/repository`.
        image: String,
        /// The tag.
        tag: String,
    },
}

impl ReadError {
    /// Whether the registry could not be reached at all (exit code 3 in the CLI).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ReadError::Unreachable { .. })
    }
}

/// Reads tags and digests of images (`registry/repository`).
pub trait ImageSource: Send + Sync {
    /// The digests of the `selection` of `image`'s tags.
    fn read(
        &self,
        image: &str,
        selection: &TagSelection,
    ) -> impl Future<Output = Result<TagDigests, ReadError>> + Send;
}

/// [`ImageSource`] over the registries themselves, with the instance's credentials (offered
/// only to the registry they belong to) and one client, with its connection pool, per
/// registry.
pub struct RegistrySource {
    credentials: Credentials,
    options: ClientOptions,
    clients: Mutex<HashMap<String, RegistryClient>>,
}

impl std::fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource").finish_non_exhaustive()
    }
}

impl RegistrySource {
    /// A source that authenticates with `credentials` (a parsed `registry_secret`), or
    /// anonymously without.
    pub fn new(credentials: Option<DockerConfig>, options: ClientOptions) -> Self {
        Self::with_credentials(
            credentials.map_or_else(Credentials::none, Credentials::from_config),
            options,
        )
    }

    /// A source that authenticates with `credentials`: a `registry_secret`, or the files
    /// docker, podman and skopeo read with the credential helpers they name (SPEC §6). TLS
    /// (`verify_ssl`, `registry_ca`) comes with `options`.
    pub fn with_credentials(credentials: Credentials, options: ClientOptions) -> Self {
        RegistrySource {
            credentials,
            options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, registry: &str, image: &str) -> Result<RegistryClient, ReadError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(registry) {
            return Ok(client.clone());
        }
        let bad = |detail: String| ReadError::BadRegistry {
            image: image.to_owned(),
            detail,
        };
        let endpoint = RegistryEndpoint::parse(registry).map_err(|e| bad(e.to_string()))?;
        let client = RegistryClient::with_credentials(endpoint, &self.credentials, &self.options)
            .map_err(|e| bad(e.to_string()))?;
        clients.insert(registry.to_owned(), client.clone());
        Ok(client)
    }
}

impl ImageSource for RegistrySource {
    async fn read(&self, image: &str, selection: &TagSelection) -> Result<TagDigests, ReadError> {
        let (registry, repository) =
            image
                .split_once('/')
                .ok_or_else(|| ReadError::BadRegistry {
                    image: image.to_owned(),
                    detail: "no registry host".to_owned(),
                })?;
        let client = self.client(registry, image)?;
        let repo = client.repository(repository);
        let failed = |source: osbs_registry_sync::Error| {
            if source.is_unreachable() {
                ReadError::Unreachable {
                    registry: registry.to_owned(),
                    source: Box::new(source),
                }
            } else {
                ReadError::Registry {
                    registry: registry.to_owned(),
                    image: image.to_owned(),
                    source: Box::new(source),
                }
            }
        };
        let tags = match selection {
            TagSelection::One(tag) => vec![tag.clone()],
            TagSelection::Known(tags) => tags.clone(),
            TagSelection::Listed => repo.tags().await.map_err(failed)?,
        };
        let digests: Vec<(String, Option<String>)> = futures_util::stream::iter(tags)
            .map(|tag| {
                let repo = &repo;
                async move { repo.manifest_digest(&tag).await.map(|d| (tag, d)) }
            })
            .buffered(PARALLEL_HEADS)
            .try_collect()
            .await
            .map_err(failed)?;
        let mut read = TagDigests::default();
        for (tag, digest) in digests {
            match digest {
                Some(digest) => read.found.push((tag, digest)),
                None if matches!(selection, TagSelection::One(_)) => {
                    return Err(ReadError::MissingTag {
                        image: image.to_owned(),
                        tag,
                    });
                }
                None => read.missing.push(tag),
            }
        }
        Ok(read)
    }
}

/// Reads `stream`'s image (the tag given, or as `tags_to_read` says) with `source` and returns
/// the import to apply.
///
/// # Errors
///
/// [`ReadError`] as the module documentation says.
pub async fn read_import(
    source: &impl ImageSource,
    stream: &ImageStream,
    tag: Option<&str>,
) -> Result<(ImageImport, TagDigests), ReadError> {
    let image = stream
        .docker_image_repository
        .clone()
        .ok_or_else(|| ReadError::NoRepository {
            stream: stream.name.clone(),
        })?;
    let read = source.read(&image, &tags_to_read(stream, tag)).await?;
    let import = ImageImport {
        image_stream: stream.name.clone(),
        docker_image_repository: image,
        tags: read.found.clone(),
    };
    Ok((import, read))
}

/// What the scheduled import did for one ImageStream.
#[derive(Debug)]
pub struct StreamReport {
    /// The ImageStream.
    pub stream: String,
    /// The import's result, or why the registry could not be read (retried next interval).
    pub result: Result<Imported, ReadError>,
    /// Known tags the registry no longer has.
    pub missing: Vec<String>,
}

impl StreamReport {
    /// Logs what changed, or the problem.
    pub fn log(&self) {
        match &self.result {
            Ok(imported) if !imported.queued.is_empty() => tracing::info!(
                "scheduled import of {}: queued {}",
                self.stream,
                imported
                    .queued
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ok(_) => tracing::debug!("scheduled import of {}: unchanged", self.stream),
            Err(err) => tracing::warn!(
                "scheduled import of {} failed, retrying next interval: {}",
                self.stream,
                crate::error_chain(err)
            ),
        }
        if !self.missing.is_empty() {
            tracing::warn!(
                "scheduled import of {}: tags gone from the registry: {}",
                self.stream,
                self.missing.join(", ")
            );
        }
    }
}

impl<S: Store, E: Executor> Engine<S, E> {
    /// Imports `stream` (the tag given, or all it knows) from its registry with `source`:
    /// `osbs import-image`. A changed digest queues autorebuilds.
    ///
    /// # Errors
    ///
    /// [`ImportError`]: the registry could not be read, or the store failed.
    pub async fn import_stream(
        &self,
        source: &impl ImageSource,
        stream: &ImageStream,
        tag: Option<&str>,
    ) -> Result<Imported, ImportError> {
        let (import, _) = read_import(source, stream, tag).await?;
        self.store
            .import(&import, None, true, now())
            .await
            .map_err(|source| ImportError::Store {
                stream: stream.name.clone(),
                source,
            })
    }

    /// One round of the scheduled import: every external ImageStream
    /// (`osbs_core::import::is_external`) re-read, one manifest `HEAD` per tag; changed digests
    /// fire autorebuilds. One unreachable registry does not stop the others.
    ///
    /// # Errors
    ///
    /// [`EngineError`] when the ImageStreams cannot be listed.
    pub async fn scheduled_import(
        &self,
        source: &impl ImageSource,
    ) -> Result<Vec<StreamReport>, EngineError> {
        let streams = self
            .store
            .image_streams()
            .await
            .map_err(store_error("cannot read the image streams"))?;
        let mut reports = Vec::new();
        for stream in streams.iter().filter(|s| is_external(s)) {
            let (result, missing) = match read_import(source, stream, None).await {
                // Nothing new (the usual round): no write at all.
                Ok((import, read))
                    if import
                        .tags
                        .iter()
                        .all(|(tag, digest)| stream.digest(tag) == Some(digest.as_str())) =>
                {
                    (
                        Ok(Imported {
                            stream: stream.clone(),
                            queued: Vec::new(),
                            skipped: Vec::new(),
                        }),
                        read.missing,
                    )
                }
                Ok((import, read)) => {
                    // The first read of an external image records its baseline: the builds
                    // that use it were just made from it, so nothing fires.
                    let fire = !stream.tags.is_empty();
                    let imported = self
                        .store
                        .import(&import, None, fire, now())
                        .await
                        .map_err(store_error("cannot store a scheduled import"))?;
                    (Ok(imported), read.missing)
                }
                Err(err) => (Err(err), Vec::new()),
            };
            reports.push(StreamReport {
                stream: stream.name.clone(),
                result,
                missing,
            });
        }
        Ok(reports)
    }
}

/// Why `import_stream` failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The registry could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The import could not be stored.
    #[error("cannot import into image stream {stream}")]
    Store {
        /// The ImageStream.
        stream: String,
        /// The store's error.
        #[source]
        source: crate::StoreError,
    },
}
