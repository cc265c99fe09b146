//! Reading without copying: [`inspect_image`] (what `skopeo inspect` prints: digest, tags,
//! platform, labels, layers) and [`plan_sync`] (what a sync would copy, for `sync --dry-run`).

use std::collections::BTreeMap;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use serde::{Deserialize, Serialize};

use crate::copy::SyncOptions;
use crate::error::{Error, Result};
use crate::manifest::Descriptor;
use crate::repository::Repository;

/// The largest image config read by [`inspect_image`].
const MAX_CONFIG_BYTES: usize = 4 << 20;

/// What [`inspect_image`] found, in `skopeo inspect`'s field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspection {
    /// `registry/repository`.
    pub name: String,
    /// The digest the reference resolves to (of the list, for a manifest list).
    pub digest: String,
    /// The media type of that manifest.
    pub media_type: String,
    /// Every tag of the repository.
    pub repo_tags: Vec<String>,
    /// The image config's `created`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The platform's architecture.
    pub architecture: String,
    /// The platform's operating system.
    pub os: String,
    /// The image's labels.
    pub labels: BTreeMap<String, String>,
    /// Layer digests, base first.
    pub layers: Vec<String>,
    /// The image's environment.
    pub env: Vec<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<PlatformDescriptor>>,
}

#[derive(Deserialize)]
struct PlatformDescriptor {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize, Default)]
struct ImageConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: Option<RunConfig>,
}

#[derive(Deserialize, Default)]
struct RunConfig {
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "Env", default)]
    env: Option<Vec<String>>,
}

/// Reads `reference` (a tag or digest) of `repository`: its digest, the repository's tags and,
/// from the image config, platform, labels, environment and layers. For a manifest list or OCI
/// index, the `linux/amd64` image (else the first) is described, as `skopeo inspect` does on
/// such a host; the digest stays the list's.
///
/// # Errors
///
/// [`Error::NotFound`] and any request error; [`Error::InvalidManifest`] when the manifest or
/// config is not what it claims; [`Error::BlobCorrupt`] when the config does not hash to its
/// digest or exceeds 4 MiB.
pub async fn inspect_image(repository: &Repository, reference: &str) -> Result<Inspection> {
    let top = repository.manifest(reference).await?;
    let invalid = |problem: &str| Error::InvalidManifest {
        registry: repository.client().endpoint().name().to_owned(),
        repository: repository.name().to_owned(),
        reference: reference.to_owned(),
        problem: problem.to_owned(),
    };
    let parse = |bytes: &[u8]| -> Result<RawManifest> {
        serde_json::from_slice(bytes).map_err(|_| invalid("the manifest is not valid JSON"))
    };
    let mut image = parse(&top.bytes)?;
    if let Some(children) = &image.manifests {
        let chosen = children
            .iter()
            .find(|c| {
                c.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
            })
            .or_else(|| children.first())
            .ok_or_else(|| invalid("the manifest list is empty"))?;
        let child = repository.manifest(&chosen.digest).await?;
        image = parse(&child.bytes)?;
    }
    let config_descriptor = image
        .config
        .ok_or_else(|| invalid("the manifest names no config"))?;
    let config_bytes = repository
        .blob_bytes(&config_descriptor.digest, MAX_CONFIG_BYTES)
        .await?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|_| invalid("the image config is not valid JSON"))?;
    let mut repo_tags = repository.tags().await?;
    repo_tags.sort();
    let run = config.config.unwrap_or_default();
    Ok(Inspection {
        name: format!(
            "{}/{}",
            repository.client().endpoint().name(),
            repository.name()
        ),
        digest: top.digest,
        media_type: top.media_type,
        repo_tags,
        created: config.created,
        architecture: config.architecture,
        os: config.os,
        labels: run.labels.unwrap_or_default(),
        layers: image.layers.into_iter().map(|l| l.digest).collect(),
        env: run.env.unwrap_or_default(),
    })
}

/// One tag of a [`plan_sync`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedTag {
    /// The tag.
    pub tag: String,
    /// Its digest at the source.
    pub digest: String,
    /// Its digest at the destination, if it has the tag.
    pub destination_digest: Option<String>,
    /// Whether a sync would copy it (the digests differ or the destination lacks it).
    pub copy: bool,
}

/// What [`crate::sync_repository`] with `options` would do, without doing it: each source tag
/// (filtered and sorted as the sync does) with its digest on both sides. Costs one tag list and
/// one manifest `HEAD` per tag and side.
///
/// # Errors
///
/// Request errors; a destination repository that does not exist yet is not one (every tag
/// would be copied).
pub async fn plan_sync(
    src: &Repository,
    dst: &Repository,
    options: &SyncOptions,
) -> Result<Vec<PlannedTag>> {
    let mut tags = src.tags().await?;
    if let Some(filter) = &options.tags {
        tags.retain(|tag| filter.is_match(tag));
    }
    tags.sort_unstable();
    tags.dedup();
    stream::iter(tags)
        .map(|tag| async move {
            let (source, destination) =
                tokio::try_join!(src.manifest_digest(&tag), dst.manifest_digest(&tag))?;
            let digest = source.ok_or_else(|| Error::NotFound {
                registry: src.client().endpoint().name().to_owned(),
                repository: src.name().to_owned(),
                what: format!("manifest {tag}"),
            })?;
            Ok(PlannedTag {
                copy: destination.as_deref() != Some(digest.as_str()),
                tag,
                digest,
                destination_digest: destination,
            })
        })
        .buffered(options.image_jobs.max(1))
        .try_collect()
        .await
}
