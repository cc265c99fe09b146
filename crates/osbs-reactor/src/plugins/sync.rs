//! `registry_sync`: copies every pushed tag to the sync registry (SPEC §6, the seed's "pulp
//! sync") with osbs-registry-sync — by digest, blobs streamed and skipped when present,
//! mounted within one registry — and records each tag with the digest verified there.

use std::path::Path;
use std::sync::Arc;

use osbs_core::build::PushedDigest;
use osbs_registry_sync::{CopyOptions, copy_image};

use super::{PluginFuture, Step};
use crate::error::{ReactorError, chain};
use crate::pipeline::Context;
use crate::progress::{SyncProgress, log_progress};
use crate::registry::Registry;

/// Copies the pushed tags to the request's sync target; skipped without one.
pub(crate) fn registry_sync<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let Some(sync) = cx.request.sync_target.clone() else {
            return Ok(Step::Skipped(
                "no sync registry (pulp_sync_registry_name or pulp_registry_name) configured"
                    .to_owned(),
            ));
        };
        if cx.results.digests.is_empty() {
            return Err(ReactorError::Missing {
                what: "the pushed digests",
            });
        }
        // The section's own secret, else the instance's `registry_secret` (whose credential
        // for the sync registry, if it holds one, is the only one offered there).
        let auth = match &sync.registry_secret {
            Some(path) => cx.auth.with_secret(Path::new(path))?,
            None => cx.auth.clone(),
        };
        let dst = Registry::from_uri(&sync.registry_uri, &auth)?;
        let target = cx.target()?;
        let src_repo = target.registry.client().repository(&target.repository);
        let dst_repo = dst.client().repository(&target.repository);
        let mut synced = Vec::with_capacity(cx.results.digests.len());
        let mut lines = Vec::new();
        for pushed in &cx.results.digests {
            cx.host
                .check_lease()
                .await
                .map_err(ReactorError::host("sync (the run's lease)"))?;
            // Blob progress goes to the build log as `sync` progress lines while it copies.
            let (progress, mut progress_lines) = SyncProgress::channel();
            let options = CopyOptions {
                progress: Some(Arc::new(progress)),
                ..CopyOptions::default()
            };
            let copy = copy_image(
                &src_repo,
                &pushed.digest,
                &dst_repo,
                Some(&pushed.tag),
                &options,
            );
            tokio::pin!(copy);
            let copied = loop {
                tokio::select! {
                    copied = &mut copy => break copied,
                    Some(line) = progress_lines.recv() => log_progress(cx, &line),
                }
            };
            while let Ok(line) = progress_lines.try_recv() {
                log_progress(cx, &line);
            }
            let summary = copied.map_err(|e| ReactorError::Registry {
                registry: dst.host().to_owned(),
                action: format!(
                    "sync of {}:{} to registry {}",
                    pushed.repository, pushed.tag, sync.name
                ),
                reason: chain(&e),
            })?;
            let copied = summary.images.first().map(|i| i.digest.as_str());
            if copied != Some(pushed.digest.as_str()) {
                return Err(ReactorError::Registry {
                    registry: dst.host().to_owned(),
                    action: format!("sync of {}:{}", pushed.repository, pushed.tag),
                    reason: format!(
                        "the destination holds {} instead of {}",
                        copied.unwrap_or("nothing"),
                        pushed.digest
                    ),
                });
            }
            lines.push(format!(
                "synced {}:{} to {}/{}:{} ({} blobs copied, {} present, {} mounted, {})",
                target.image(),
                pushed.tag,
                dst.host(),
                target.repository,
                pushed.tag,
                summary.blobs_copied,
                summary.blobs_skipped,
                summary.blobs_mounted,
                osbs_registry_sync::format_bytes(summary.bytes_copied)
            ));
            synced.push(PushedDigest {
                registry: dst.host().to_owned(),
                repository: target.repository.clone(),
                tag: pushed.tag.clone(),
                digest: pushed.digest.clone(),
            });
        }
        for line in lines {
            cx.log(&line);
        }
        cx.results.sync = synced;
        Ok(Step::Done)
    })
}
