//! The reactor's own push path (`push_method = reactor`): the built image's layers come from
//! the Engine's image export (module `export`), gzipped on every core, and go to the registry
//! through osbs-registry-sync's client, with its retries (connection errors, 429, 5xx) per
//! request and per blob (an interrupted upload resumes or restarts). Layers the registry has
//! already are not sent: the base image's layers are recognised by their `diff_id`s (its
//! manifest and config in the same registry map them to blobs) and mounted from the base's
//! repository or found with a `HEAD`. Then the config, and one manifest (Docker schema 2)
//! `PUT` per tag, all with the same bytes.
//!
//! Before anything is pushed the image is checked: the export's layers hash to the `diff_id`s
//! the Engine reports (`RootFS.Layers`) and that the config lists, and the config hashes to the
//! image id. The registry's digest for each `PUT` must be the manifest's own.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;

use bollard::Docker;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt, stream};
use osbs_core::ImageReference;
use osbs_registry_sync::{Manifest, Repository, UploadStats, sha256_digest};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{ReactorError, chain};
use crate::export::{self, Exported, Skip};
use crate::gzip;
use crate::layer_store::{self, LayerStore, Source};
use crate::progress::State;

/// Docker schema 2 manifest media type.
const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config media type.
const CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer media type.
const LAYER_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// How many blobs upload at once.
const BLOB_JOBS: usize = 4;

/// An upload that follows a layer's compression; aborted when dropped (a cancelled build, a
/// layer the registry turned out to have).
struct EarlyUpload(JoinHandle<osbs_registry_sync::Result<UploadStats>>);

impl Drop for EarlyUpload {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Layer progress for the build log: `(layer id, bytes done, total, state)`; `None` while
/// bytes move.
pub(crate) type ProgressEvent = (String, u64, Option<u64>, Option<State>);

/// A layer as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

/// A layer the registry has already: where it can be mounted from.
#[derive(Debug, Clone)]
struct Known {
    descriptor: Descriptor,
    repository: String,
}

/// What a push did: the manifest to `PUT` under each tag, and lines for the build log.
#[derive(Debug)]
pub(crate) struct PushReport {
    /// The manifest, its blobs all present in the target repository.
    pub(crate) manifest: Manifest,
    /// Lines for the build log.
    pub(crate) lines: Vec<String>,
}

/// Where the push goes and what it pushes.
pub(crate) struct PushJob<'a> {
    /// The Engine.
    pub(crate) docker: &'a Docker,
    /// The built image's id.
    pub(crate) image_id: &'a str,
    /// The target repository.
    pub(crate) target: Repository,
    /// The base image (its layers are in the registry when it lives there).
    pub(crate) base: Option<&'a ImageReference>,
    /// Scratch space for the compressed layers.
    pub(crate) dir: &'a std::path::Path,
    /// Receives layer progress.
    pub(crate) progress: mpsc::UnboundedSender<ProgressEvent>,
}

#[derive(Deserialize)]
struct RawManifest {
    config: RawDescriptor,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct RawConfig {
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl PushJob<'_> {
    fn image(&self) -> String {
        self.target.to_string()
    }

    fn registry_error(&self, action: String, err: &osbs_registry_sync::Error) -> ReactorError {
        ReactorError::Registry {
            registry: self.target.client().endpoint().name().to_owned(),
            action,
            reason: chain(err),
        }
    }

    fn verify_error(&self, problem: String) -> ReactorError {
        ReactorError::Verify {
            image: self.image(),
            problem,
        }
    }

    /// The base image's layers by `diff_id`, when the base lives in the target registry.
    /// Anything unexpected only means the layers are compressed and checked one by one.
    async fn known_layers(&self, lines: &mut Vec<String>) -> (HashMap<String, Known>, Skip) {
        let Some(base) = self.base else {
            return Default::default();
        };
        if base.registry() != self.target.client().endpoint().name() {
            return Default::default();
        }
        let repository = self.target.client().repository(base.repository());
        let reference = base
            .digest()
            .map_or_else(|| base.tag_or_latest().to_owned(), str::to_owned);
        let found = async {
            let manifest = repository.manifest(&reference).await.ok()?;
            let raw: RawManifest = serde_json::from_slice(&manifest.bytes).ok()?;
            let config = repository
                .blob_bytes(&raw.config.digest, 4 * 1024 * 1024)
                .await
                .ok()?;
            let config: RawConfig = serde_json::from_slice(&config).ok()?;
            (config.rootfs.diff_ids.len() == raw.layers.len()).then_some((config, raw))
        }
        .await;
        let Some((config, raw)) = found else {
            lines.push(format!(
                "base image {base}: its layers are not known to the registry; they are sent \
                 if it lacks them"
            ));
            return Default::default();
        };
        let skip = Skip {
            diff_ids: config.rootfs.diff_ids.iter().cloned().collect(),
            layers: Vec::new(),
        };
        let known = config
            .rootfs
            .diff_ids
            .into_iter()
            .zip(raw.layers)
            .map(|(diff_id, layer)| {
                let descriptor = Descriptor {
                    media_type: layer.media_type,
                    digest: layer.digest,
                    size: layer.size,
                };
                let repository = base.repository().to_owned();
                (
                    diff_id,
                    Known {
                        descriptor,
                        repository,
                    },
                )
            })
            .collect();
        (known, skip)
    }

    /// Makes one layer present in the target repository; a log line.
    async fn layer(
        &self,
        layer: &export::Layer,
        known: Option<&Known>,
    ) -> Result<(Descriptor, String), ReactorError> {
        let diff_id = &layer.compressed.diff_id;
        let repo = &self.target;
        if let Some(known) = known {
            let digest = &known.descriptor.digest;
            let there = repo.blob_exists(digest).await.map_err(|e| {
                self.registry_error(format!("blob HEAD of {digest} (layer {diff_id})"), &e)
            })?;
            if there {
                return Ok((
                    known.descriptor.clone(),
                    format!("layer {diff_id}: present"),
                ));
            }
            if known.repository != repo.name() {
                let mounted = repo
                    .mount_blob(digest, &known.repository)
                    .await
                    .map_err(|e| self.registry_error(format!("mount of {digest}"), &e))?;
                if mounted {
                    self.exists(&known.descriptor);
                    return Ok((
                        known.descriptor.clone(),
                        format!("layer {diff_id}: mounted from {}", known.repository),
                    ));
                }
            }
            if layer.file.is_none() {
                return Err(self.registry_error(
                    format!("mount of {digest} from {}", known.repository),
                    &osbs_registry_sync::Error::NotFound {
                        registry: repo.client().endpoint().name().to_owned(),
                        repository: known.repository.clone(),
                        what: format!("blob {digest}"),
                    },
                ));
            }
        }
        let Some(file) = &layer.file else {
            return Err(self.verify_error(format!("layer {diff_id} was neither sent nor found")));
        };
        let descriptor = Descriptor {
            media_type: LAYER_TYPE.to_owned(),
            digest: layer.compressed.digest.clone(),
            size: layer.compressed.size,
        };
        let digest = descriptor.digest.clone();
        let there = repo
            .blob_exists(&digest)
            .await
            .map_err(|e| self.registry_error(format!("blob HEAD of {digest}"), &e))?;
        if there {
            self.exists(&descriptor);
            return Ok((descriptor, format!("layer {diff_id}: present as {digest}")));
        }
        let _ = self
            .progress
            .send((digest.clone(), 0, Some(descriptor.size), None));
        let stats = repo
            .upload_blob_file(file, &digest, descriptor.size)
            .await
            .map_err(|e| self.registry_error(format!("upload of layer {digest}"), &e))?;
        self.done(&descriptor);
        let mut line = format!(
            "layer {diff_id}: pushed {digest} ({} bytes gzipped from {})",
            descriptor.size, layer.compressed.raw_size
        );
        if stats.resumed + stats.restarted > 0 {
            line.push_str(&format!(
                ", resumed {} and restarted {} times",
                stats.resumed, stats.restarted
            ));
        }
        Ok((descriptor, line))
    }

    /// [`PushJob::layer`] over owned values, boxed: what the upload stream runs.
    fn layer_owned(
        &self,
        layer: export::Layer,
        known: Option<Known>,
        upload: Option<EarlyUpload>,
    ) -> BoxFuture<'_, Result<(String, Descriptor, String), ReactorError>> {
        Box::pin(async move {
            let (descriptor, line) = match (upload, &known) {
                // The base's layer, compressed because it could not be told apart before:
                // its upload is dropped (never committed), the base's blob is used.
                (Some(_), Some(_)) | (None, _) => self.layer(&layer, known.as_ref()).await?,
                (Some(upload), None) => self.finish_early(&layer, upload).await?,
            };
            Ok((layer.compressed.diff_id, descriptor, line))
        })
    }

    fn exists(&self, d: &Descriptor) {
        let _ = self
            .progress
            .send((d.digest.clone(), 0, Some(d.size), Some(State::Exists)));
    }

    fn done(&self, d: &Descriptor) {
        let _ = self
            .progress
            .send((d.digest.clone(), d.size, Some(d.size), Some(State::Done)));
    }

    /// Waits for the upload that followed a layer's compression.
    async fn finish_early(
        &self,
        layer: &export::Layer,
        mut upload: EarlyUpload,
    ) -> Result<(Descriptor, String), ReactorError> {
        let digest = &layer.compressed.digest;
        let stats = (&mut upload.0)
            .await
            .map_err(|e| self.verify_error(format!("the upload of {digest} stopped: {e}")))?
            .map_err(|e| self.registry_error(format!("upload of layer {digest}"), &e))?;
        let descriptor = Descriptor {
            media_type: LAYER_TYPE.to_owned(),
            digest: digest.clone(),
            size: layer.compressed.size,
        };
        self.done(&descriptor);
        let mut line = format!(
            "layer {}: pushed {digest} while compressing ({} bytes gzipped from {})",
            layer.compressed.diff_id, descriptor.size, layer.compressed.raw_size
        );
        if stats.resumed + stats.restarted > 0 {
            line.push_str(&format!(
                ", resumed {} and restarted {} times",
                stats.resumed, stats.restarted
            ));
        }
        Ok((descriptor, line))
    }

    /// Runs the read `start` makes (the export or the layer store) while starting an upload
    /// for each layer file it announces: large layers upload while they are compressed.
    async fn follow<F, Fut>(
        &self,
        early: &mut HashMap<PathBuf, EarlyUpload>,
        start: F,
    ) -> Fut::Output
    where
        F: FnOnce(mpsc::UnboundedSender<export::Started>) -> Fut,
        Fut: Future,
    {
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let read = start(started_tx);
        tokio::pin!(read);
        loop {
            tokio::select! {
                Some(layer) = started.recv() => {
                    let repo = self.target.clone();
                    let path = layer.path.clone();
                    let task = tokio::spawn(async move {
                        repo.upload_blob_growing(&layer.path, layer.growth).await
                    });
                    early.insert(path, EarlyUpload(task));
                }
                done = &mut read => return done,
            }
        }
    }

    /// The built image's config and layers, gzipped, with an upload following each layer
    /// file (in `early`): from the Engine's layer store, else (`auto`) from its image export.
    async fn read_layers(
        &self,
        engine_layers: &[String],
        skip: Skip,
        early: &mut HashMap<PathBuf, EarlyUpload>,
        lines: &mut Vec<String>,
    ) -> Result<Exported, ReactorError> {
        let source = layer_store::source().unwrap_or_else(|value| {
            lines.push(format!(
                "warning: {}={value:?} is none of auto, store and export; using auto",
                layer_store::SOURCE_VAR
            ));
            Source::Auto
        });
        if source != Source::Export {
            let read = match LayerStore::open(self.docker).await {
                Ok(store) => {
                    self.follow(early, |started| {
                        export::from_store(
                            store,
                            self.image_id,
                            engine_layers,
                            self.dir,
                            gzip::level(),
                            skip.diff_ids.clone(),
                            Some(started),
                        )
                    })
                    .await
                }
                Err(reason) => Err(reason),
            };
            match read {
                Ok(exported) => {
                    lines.push("layers read from the Engine's layer store".to_owned());
                    return Ok(exported);
                }
                Err(reason) if source == Source::Store => {
                    return Err(self.verify_error(format!(
                        "the Engine's layer store cannot be read ({} is `store`): {reason}",
                        layer_store::SOURCE_VAR
                    )));
                }
                Err(reason) => {
                    // Uploads that followed the store's files never commit.
                    early.clear();
                    lines.push(format!(
                        "layers from the Engine's image export (its layer store: {reason})"
                    ));
                }
            }
        }
        self.follow(early, |started| {
            export::export(
                self.docker,
                self.image_id,
                self.dir,
                gzip::level(),
                skip,
                Some(started),
            )
        })
        .await
    }

    /// The checks of the module documentation, before anything is pushed.
    fn verify(&self, exported: &Exported, engine_layers: &[String]) -> Result<(), ReactorError> {
        if exported.diff_ids != engine_layers {
            return Err(self.verify_error(format!(
                "the exported layers hash to {:?}, the Engine reports {engine_layers:?}",
                exported.diff_ids
            )));
        }
        let config: RawConfig = serde_json::from_slice(&exported.config)
            .map_err(|e| self.verify_error(format!("the exported config is not valid: {e}")))?;
        if config.rootfs.diff_ids != exported.diff_ids {
            return Err(self.verify_error(format!(
                "the config lists diff_ids {:?}, the layers hash to {:?}",
                config.rootfs.diff_ids, exported.diff_ids
            )));
        }
        let config_digest = sha256_digest(&exported.config);
        if config_digest != self.image_id {
            return Err(self.verify_error(format!(
                "the exported config hashes to {config_digest}, the image id is {}",
                self.image_id
            )));
        }
        Ok(())
    }

    /// Pushes the image's blobs and returns its manifest; see the module documentation.
    pub(crate) async fn run(self) -> Result<PushReport, ReactorError> {
        let mut lines = Vec::new();
        let inspected = self
            .docker
            .inspect_image(self.image_id)
            .await
            .map_err(ReactorError::docker("inspect of the built image"))?;
        let engine_layers = inspected.root_fs.and_then(|r| r.layers).unwrap_or_default();
        let (known, mut skip) = self.known_layers(&mut lines).await;
        skip.layers.clone_from(&engine_layers);
        let mut early: HashMap<PathBuf, EarlyUpload> = HashMap::new();
        let exported = self
            .read_layers(&engine_layers, skip, &mut early, &mut lines)
            .await?;
        self.verify(&exported, &engine_layers)?;
        let mut unique: Vec<(export::Layer, Option<Known>, Option<EarlyUpload>)> = Vec::new();
        for layer in &exported.layers {
            if !unique
                .iter()
                .any(|(l, _, _)| l.compressed.diff_id == layer.compressed.diff_id)
            {
                let known = known.get(&layer.compressed.diff_id).cloned();
                let upload = layer.file.as_ref().and_then(|path| early.remove(path));
                unique.push((layer.clone(), known, upload));
            }
        }
        // Largest first: the long uploads start early.
        unique.sort_by_key(|(l, _, _)| std::cmp::Reverse(l.compressed.size));
        let pushed: HashMap<String, Descriptor> = stream::iter(unique)
            .map(|(layer, known, upload)| self.layer_owned(layer, known, upload))
            .buffer_unordered(BLOB_JOBS)
            .map_ok(|(diff_id, descriptor, line)| {
                lines.push(line);
                (diff_id, descriptor)
            })
            .try_collect()
            .await?;
        let config_digest = sha256_digest(&exported.config);
        let config_there = self
            .target
            .blob_exists(&config_digest)
            .await
            .map_err(|e| self.registry_error(format!("blob HEAD of {config_digest}"), &e))?;
        if !config_there {
            self.target
                .upload_blob_bytes(exported.config.clone(), &config_digest)
                .await
                .map_err(|e| {
                    self.registry_error(format!("upload of config {config_digest}"), &e)
                })?;
        }
        let layers: Vec<serde_json::Value> = exported
            .diff_ids
            .iter()
            .map(|diff_id| {
                let d = &pushed[diff_id];
                json!({"mediaType": d.media_type, "size": d.size, "digest": d.digest})
            })
            .collect();
        let body = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": CONFIG_TYPE,
                "size": exported.config.len(),
                "digest": config_digest,
            },
            "layers": layers,
        });
        let bytes = Bytes::from(
            serde_json::to_vec_pretty(&body)
                .map_err(|e| self.verify_error(format!("cannot serialise the manifest: {e}")))?,
        );
        let manifest = Manifest {
            media_type: MANIFEST_TYPE.to_owned(),
            digest: sha256_digest(&bytes),
            bytes,
        };
        Ok(PushReport { manifest, lines })
    }
}
