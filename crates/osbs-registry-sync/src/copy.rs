//! The copy engine: [`copy_image`] and [`sync_repository`].
//!
//! A run copies children before parents (blobs, then child manifests, then the manifest that
//! references them), so a destination never holds a manifest whose content is missing. Blobs
//! stream from the source `GET` straight into one destination `PUT`; the digest is checked
//! before the last byte is released, so a corrupt blob is never committed. Each blob and each
//! child manifest is transferred once per run, however many images share it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::{BoxFuture, try_join_all};
use futures_util::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use regex::Regex;
use reqwest::Url;
use tokio::sync::{OnceCell, Semaphore};

use crate::digest::Digester;
use crate::error::{Error, Result};
use crate::manifest::{self, Contents, Descriptor, Manifest};
use crate::progress::{BlobOutcome, Progress};
use crate::repository::{Mount, Repository};
use crate::summary::{ImageResult, ImageStatus, Summary};

/// How a copy runs.
#[derive(Clone)]
pub struct CopyOptions {
    /// How many blobs transfer at once (across all images of a sync). At least 1.
    pub blob_jobs: usize,
    /// Receives progress events.
    pub progress: Option<Arc<dyn Progress>>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            blob_jobs: 8,
            progress: None,
        }
    }
}

impl std::fmt::Debug for CopyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOptions")
            .field("blob_jobs", &self.blob_jobs)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Only tags this regex matches (unanchored, as in skopeo; write `^...$` for whole tags).
    pub tags: Option<Regex>,
    /// How many images are compared or copied at once. At least 1. Blob transfers are bounded
    /// by [`CopyOptions::blob_jobs`] on top of this, so a high value mostly overlaps the
    /// manifest `HEAD`s of unchanged tags.
    pub image_jobs: usize,
    /// Blob parallelism and progress.
    pub copy: CopyOptions,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            tags: None,
            image_jobs: 16,
            copy: CopyOptions::default(),
        }
    }
}

impl SyncOptions {
    /// Sets the tag filter from a regular expression.
    ///
    /// # Errors
    ///
    /// [`Error::TagFilter`] when `pattern` is not a valid regex.
    pub fn with_tag_filter(mut self, pattern: &str) -> Result<Self> {
        self.tags = Some(Regex::new(pattern).map_err(|source| Error::TagFilter {
            pattern: pattern.to_owned(),
            source,
        })?);
        Ok(self)
    }
}

/// Copies the image `reference` (a tag or a digest) of `src` to `dst`, under `dst_tag` or,
/// when that is `None`, by digest only. Manifest lists and OCI indexes are copied with all
/// their children. When the destination already has the same digest there, nothing moves.
///
/// Within one registry, blobs are mounted from `src` instead of copied; a mount the registry
/// refuses (401, `insufficient_scope`, 403, 404) falls back to an existence check and an
/// upload. Manifests are pushed one at a time per destination repository.
///
/// # Errors
///
/// Any [`Error`]; the image is then not (completely) copied: its manifest is only pushed
/// after all its content arrived and was verified.
pub async fn copy_image(
    src: &Repository,
    reference: &str,
    dst: &Repository,
    dst_tag: Option<&str>,
    options: &CopyOptions,
) -> Result<Summary> {
    let run = Run::new(src, dst, options);
    let result = run.copy_reference(reference, dst_tag).await?;
    Ok(run.summary(vec![result]))
}

/// Makes `dst` hold every tag of `src` (or those `options.tags` matches) with the same
/// digests, copying several images at once. A tag whose digest already matches costs one
/// `HEAD` on each side and moves nothing. Tags only present at the destination are left alone.
///
/// # Errors
///
/// The first [`Error`] of any image; the others are then abandoned.
pub async fn sync_repository(
    src: &Repository,
    dst: &Repository,
    options: &SyncOptions,
) -> Result<Summary> {
    let run = Run::new(src, dst, &options.copy);
    let mut tags = src.tags().await?;
    if let Some(filter) = &options.tags {
        tags.retain(|tag| filter.is_match(tag));
    }
    tags.sort_unstable();
    tags.dedup();
    let results = stream::iter(tags)
        .map(|tag| {
            let run = &run;
            async move { run.sync_tag(&tag).await }
        })
        .buffered(options.image_jobs.max(1))
        .try_collect()
        .await?;
    Ok(run.summary(results))
}

/// The state of one copy or sync run.
struct Run<'a> {
    src: &'a Repository,
    dst: &'a Repository,
    same_registry: bool,
    /// Set when the destination refused a mount as such (401, `insufficient_scope`, 403): the
    /// run's other blobs are then uploaded without asking again.
    mounts_refused: AtomicBool,
    permits: Semaphore,
    blobs: Mutex<HashMap<String, Arc<OnceCell<()>>>>,
    manifests: Mutex<HashMap<String, Arc<OnceCell<()>>>>,
    counters: Counters,
    progress: Option<Arc<dyn Progress>>,
    started: Instant,
}

#[derive(Default)]
struct Counters {
    blobs_copied: AtomicU64,
    blobs_skipped: AtomicU64,
    blobs_mounted: AtomicU64,
    bytes_copied: AtomicU64,
}

impl<'a> Run<'a> {
    fn new(src: &'a Repository, dst: &'a Repository, options: &CopyOptions) -> Self {
        Self {
            src,
            dst,
            same_registry: src.client().endpoint() == dst.client().endpoint(),
            mounts_refused: AtomicBool::new(false),
            permits: Semaphore::new(options.blob_jobs.max(1)),
            blobs: Mutex::default(),
            manifests: Mutex::default(),
            counters: Counters::default(),
            progress: options.progress.clone(),
            started: Instant::now(),
        }
    }

    fn summary(&self, images: Vec<ImageResult>) -> Summary {
        let count = |status| images.iter().filter(|i| i.status == status).count() as u64;
        Summary {
            images_copied: count(ImageStatus::Copied),
            images_skipped: count(ImageStatus::Skipped),
            blobs_copied: self.counters.blobs_copied.load(Ordering::Relaxed),
            blobs_skipped: self.counters.blobs_skipped.load(Ordering::Relaxed),
            blobs_mounted: self.counters.blobs_mounted.load(Ordering::Relaxed),
            bytes_copied: self.counters.bytes_copied.load(Ordering::Relaxed),
            duration: self.started.elapsed(),
            images,
        }
    }

    fn image_result(
        &self,
        src_reference: &str,
        dst_reference: &str,
        manifest_digest: &str,
        media_type: &str,
        status: ImageStatus,
    ) -> ImageResult {
        let result = ImageResult {
            source: reference_string(self.src, src_reference),
            destination: reference_string(self.dst, dst_reference),
            digest: manifest_digest.to_owned(),
            media_type: media_type.to_owned(),
            status,
        };
        if let Some(progress) = &self.progress {
            progress.image_finished(&result);
        }
        result
    }

    /// `copy_image`: the source manifest and the destination's digest are fetched at once.
    async fn copy_reference(&self, reference: &str, dst_tag: Option<&str>) -> Result<ImageResult> {
        let (manifest, existing) = match dst_tag {
            Some(tag) => {
                tokio::try_join!(self.src.manifest(reference), self.dst.manifest_digest(tag))?
            }
            None => {
                let manifest = self.src.manifest(reference).await?;
                let existing = self.dst.manifest_digest(&manifest.digest).await?;
                (manifest, existing)
            }
        };
        let dst_reference = dst_tag.unwrap_or(&manifest.digest).to_owned();
        if existing.as_deref() == Some(manifest.digest.as_str()) {
            return Ok(self.image_result(
                reference,
                &dst_reference,
                &manifest.digest,
                &manifest.media_type,
                ImageStatus::Skipped,
            ));
        }
        self.copy_contents(&manifest).await?;
        self.dst
            .put_manifest_after_content(&dst_reference, &manifest)
            .await?;
        Ok(self.image_result(
            reference,
            &dst_reference,
            &manifest.digest,
            &manifest.media_type,
            ImageStatus::Copied,
        ))
    }

    /// One tag of a sync: a `HEAD` on each side decides whether anything needs to move.
    async fn sync_tag(&self, tag: &str) -> Result<ImageResult> {
        let (src_head, dst_head) =
            tokio::try_join!(self.src.manifest_head(tag), self.dst.manifest_head(tag))?;
        let Some((src_digest, media_type)) = src_head else {
            return Err(Error::NotFound {
                registry: self.src.client().endpoint().name().to_owned(),
                repository: self.src.name().to_owned(),
                what: format!("manifest {tag}"),
            });
        };
        if dst_head.is_some_and(|(digest, _)| digest == src_digest) {
            return Ok(self.image_result(tag, tag, &src_digest, &media_type, ImageStatus::Skipped));
        }
        let manifest = self.src.manifest(&src_digest).await?;
        self.copy_contents(&manifest).await?;
        self.dst.put_manifest_after_content(tag, &manifest).await?;
        Ok(self.image_result(
            tag,
            tag,
            &manifest.digest,
            &manifest.media_type,
            ImageStatus::Copied,
        ))
    }

    /// Makes everything `manifest` references present at the destination.
    fn copy_contents<'s>(&'s self, manifest: &'s Manifest) -> BoxFuture<'s, Result<()>> {
        Box::pin(async move {
            let (_, contents) = manifest::inspect(&manifest.bytes, Some(&manifest.media_type))
                .map_err(|problem| Error::InvalidManifest {
                    registry: self.src.client().endpoint().name().to_owned(),
                    repository: self.src.name().to_owned(),
                    reference: manifest.digest.clone(),
                    problem,
                })?;
            match contents {
                Contents::Image { mut blobs } => {
                    // Largest first: with fewer permits than blobs, the long transfers start
                    // early and the small ones fill in around them.
                    blobs.sort_by_key(|blob| std::cmp::Reverse(blob.size));
                    try_join_all(blobs.iter().map(|blob| self.blob(blob))).await?;
                }
                Contents::Index { manifests } => {
                    try_join_all(manifests.iter().map(|child| self.child_manifest(child))).await?;
                }
            }
            Ok(())
        })
    }

    /// Copies a child manifest of an index (its content first), once per run.
    async fn child_manifest(&self, descriptor: &Descriptor) -> Result<()> {
        let cell = once_cell_for(&self.manifests, &descriptor.digest);
        cell.get_or_try_init(|| async {
            let digest = descriptor.digest.as_str();
            if self.dst.manifest_digest(digest).await?.as_deref() == Some(digest) {
                // A registry only accepts a manifest whose content it has.
                return Ok(());
            }
            let child = self.src.manifest(digest).await?;
            self.copy_contents(&child).await?;
            self.dst.put_manifest_after_content(digest, &child).await?;
            Ok::<(), Error>(())
        })
        .await?;
        Ok(())
    }

    /// Makes one blob present at the destination, once per run.
    async fn blob(&self, descriptor: &Descriptor) -> Result<()> {
        let cell = once_cell_for(&self.blobs, &descriptor.digest);
        cell.get_or_try_init(|| self.transfer(descriptor)).await?;
        Ok(())
    }

    async fn transfer(&self, descriptor: &Descriptor) -> Result<()> {
        let _permit = self.permits.acquire().await;
        let digest = descriptor.digest.as_str();
        let mut session = None;
        if self.same_registry && !self.mounts_refused.load(Ordering::Relaxed) {
            match self.dst.mount(digest, self.src.name()).await {
                Ok(Mount::Mounted) => {
                    self.blob_done(digest, BlobOutcome::Mounted, 0);
                    return Ok(());
                }
                Ok(Mount::Upload(url)) => session = Some(url),
                // A refused mount is no reason to fail the copy: check and upload instead. A
                // 404 concerns this blob only; a refusal of access concerns every mount.
                Err(err) if err.is_refusal() => {
                    if !matches!(err, Error::NotFound { .. }) {
                        self.mounts_refused.store(true, Ordering::Relaxed);
                    }
                }
                Err(err) => return Err(err),
            }
        }
        if session.is_none() && self.dst.blob_exists(digest).await? {
            self.blob_done(digest, BlobOutcome::Skipped, 0);
            return Ok(());
        }
        let retry = self.dst.client().retry_policy();
        let mut retries = 0;
        // A token that expired during a long upload: the next attempt authenticates afresh.
        let mut reauthenticated = false;
        loop {
            match self.stream_blob(descriptor, session.take()).await {
                Err(Error::Unauthorized { .. }) if !reauthenticated => reauthenticated = true,
                Ok(size) => {
                    self.blob_done(digest, BlobOutcome::Copied, size);
                    return Ok(());
                }
                Err(err) if err.is_retryable() && retries < retry.max_retries => {
                    tokio::time::sleep(retry.backoff(retries, None)).await;
                    retries += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn blob_done(&self, digest: &str, outcome: BlobOutcome, size: u64) {
        let counter = match outcome {
            BlobOutcome::Copied => &self.counters.blobs_copied,
            BlobOutcome::Skipped => &self.counters.blobs_skipped,
            BlobOutcome::Mounted => &self.counters.blobs_mounted,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_copied
            .fetch_add(size, Ordering::Relaxed);
        if let Some(progress) = &self.progress {
            progress.blob_finished(digest, outcome);
        }
    }

    /// Streams one blob: source `GET` into destination `PUT`, verified on the way.
    async fn stream_blob(&self, descriptor: &Descriptor, session: Option<Url>) -> Result<u64> {
        let digest = descriptor.digest.as_str();
        let Some(digester) = Digester::for_digest(digest) else {
            return Err(self.corrupt(digest, "its digest algorithm is not supported".to_owned()));
        };
        let (response, location) = match session {
            Some(location) => (self.src.open_blob(digest).await?, location),
            None => tokio::try_join!(self.src.open_blob(digest), self.dst.start_upload())?,
        };
        let size = match (descriptor.size, response.content_length()) {
            (0, length) => length,
            (size, Some(length)) if length != size => {
                return Err(self.corrupt(
                    digest,
                    format!("the registry sends {length} bytes, the manifest says {size}"),
                ));
            }
            (size, _) => Some(size),
        };
        if let Some(progress) = &self.progress {
            progress.blob_started(digest, size);
        }
        let failure = Arc::new(Mutex::new(None));
        let verifying = Verifying {
            inner: response.bytes_stream().boxed(),
            digester: Some(digester),
            expected_digest: digest.to_owned(),
            expected_size: size,
            seen: 0,
            verified: false,
            failure: Arc::clone(&failure),
            origin: Origin {
                registry: self.src.client().endpoint().name().to_owned(),
                repository: self.src.name().to_owned(),
            },
            progress: self.progress.clone(),
        };
        let mut body = Some(reqwest::Body::wrap_stream(verifying));
        let outcome = self
            .dst
            .finish_upload(&location, digest, size, false, move || body.take())
            .await;
        // A problem the stream saw explains the upload's failure better than the upload does.
        if let Some(err) = failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            return Err(err);
        }
        outcome?;
        Ok(size.unwrap_or_default())
    }

    fn corrupt(&self, digest: &str, problem: String) -> Error {
        Error::BlobCorrupt {
            registry: self.src.client().endpoint().name().to_owned(),
            repository: self.src.name().to_owned(),
            digest: digest.to_owned(),
            problem,
        }
    }
}

fn once_cell_for(map: &Mutex<HashMap<String, Arc<OnceCell<()>>>>, key: &str) -> Arc<OnceCell<()>> {
    let mut map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(map.entry(key.to_owned()).or_default())
}

fn reference_string(repository: &Repository, reference: &str) -> String {
    let separator = if crate::digest::is_digest(reference) {
        '@'
    } else {
        ':'
    };
    format!("{repository}{separator}{reference}")
}

/// Where verified bytes come from, for error messages.
struct Origin {
    registry: String,
    repository: String,
}

/// Passes a blob's bytes through while hashing them. The chunk that completes the expected
/// size is only released after the digest matched, so the destination never receives a
/// complete corrupt blob; any problem is recorded in `failure` for a precise error.
struct Verifying {
    inner: BoxStream<'static, reqwest::Result<Bytes>>,
    digester: Option<Digester>,
    expected_digest: String,
    expected_size: Option<u64>,
    seen: u64,
    verified: bool,
    failure: Arc<Mutex<Option<Error>>>,
    origin: Origin,
    progress: Option<Arc<dyn Progress>>,
}

impl Verifying {
    fn fail(&mut self, err: Error) -> Poll<Option<std::io::Result<Bytes>>> {
        let message = err.to_string();
        *self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(err);
        Poll::Ready(Some(Err(std::io::Error::other(message))))
    }

    fn corrupt(&mut self, problem: String) -> Poll<Option<std::io::Result<Bytes>>> {
        let err = Error::BlobCorrupt {
            registry: self.origin.registry.clone(),
            repository: self.origin.repository.clone(),
            digest: self.expected_digest.clone(),
            problem,
        };
        self.fail(err)
    }

    /// Checks the digest; `None` when it matches.
    fn verify(&mut self) -> Option<String> {
        self.verified = true;
        let actual = self.digester.take()?.finish();
        (actual != self.expected_digest).then(|| format!("its bytes hash to {actual}"))
    }
}

impl Stream for Verifying {
    type Item = std::io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                this.seen += chunk.len() as u64;
                if let Some(size) = this.expected_size
                    && this.seen > size
                {
                    return this.corrupt(format!(
                        "it is longer than the {size} bytes the manifest says"
                    ));
                }
                if let Some(digester) = &mut this.digester {
                    digester.update(&chunk);
                }
                if Some(this.seen) == this.expected_size
                    && let Some(problem) = this.verify()
                {
                    return this.corrupt(problem);
                }
                if let Some(progress) = &this.progress {
                    progress.blob_advanced(&this.expected_digest, chunk.len() as u64);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(source))) => {
                let err = Error::Transport {
                    registry: this.origin.registry.clone(),
                    repository: this.origin.repository.clone(),
                    operation: format!("GET blob {}", this.expected_digest),
                    source,
                };
                this.fail(err)
            }
            Poll::Ready(None) => {
                if let Some(size) = this.expected_size
                    && this.seen < size
                {
                    let seen = this.seen;
                    return this.corrupt(format!(
                        "it ends after {seen} of the {size} bytes the manifest says"
                    ));
                }
                if !this.verified
                    && let Some(problem) = this.verify()
                {
                    return this.corrupt(problem);
                }
                Poll::Ready(None)
            }
        }
    }
}
