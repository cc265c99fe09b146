//! `push_to_other_registries`: the registries after the first of `registry_uri` (SPEC §6)
//! receive every tag pushed to the primary one, copied registry to registry by digest with
//! osbs-registry-sync (blobs skipped when present, the digest verified at the destination),
//! each with its own `registry_secret` (by position) or the build's credentials, and the
//! instance's TLS settings. Their digests are recorded in `digests` beside the primary's.

use std::path::Path;

use osbs_core::build::PushedDigest;
use osbs_registry_sync::{CopyOptions, copy_image};

use super::{PluginFuture, Step};
use crate::error::{ReactorError, chain};
use crate::pipeline::Context;
use crate::registry::Registry;

/// Copies the primary registry's pushed tags to every further registry; skipped with one.
pub(crate) fn push_to_other_registries<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let extra = cx.request.extra_registries.clone();
        if extra.is_empty() {
            return Ok(Step::Skipped("registry_uri names one registry".to_owned()));
        }
        let target = cx.target()?;
        let primary_host = target.registry.host().to_owned();
        let repository = target.repository.clone();
        let src_repo = target.registry.client().repository(&repository);
        let pushed: Vec<PushedDigest> = cx
            .results
            .digests
            .iter()
            .filter(|d| d.registry == primary_host)
            .cloned()
            .collect();
        if pushed.is_empty() {
            return Err(ReactorError::Missing {
                what: "the pushed digests",
            });
        }
        let options = CopyOptions::default();
        let mut recorded = Vec::new();
        for registry in &extra {
            let auth = match &registry.registry_secret {
                Some(path) => cx.auth.with_secret(Path::new(path))?,
                None => cx.auth.clone(),
            };
            let dst = Registry::from_uri(&registry.registry_uri, &auth)?;
            let dst_repo = dst.client().repository(&repository);
            for tag in &pushed {
                cx.host
                    .check_lease()
                    .await
                    .map_err(ReactorError::host("push (the run's lease)"))?;
                let summary = tokio::select! {
                    summary = copy_image(&src_repo, &tag.digest, &dst_repo, Some(&tag.tag), &options) => summary,
                    () = cx.cancel.cancelled() => return Ok(Step::Cancel("build cancelled".to_owned())),
                }
                .map_err(|e| ReactorError::Registry {
                    registry: dst.host().to_owned(),
                    action: format!("push of {repository}:{}", tag.tag),
                    reason: chain(&e),
                })?;
                let digest = summary
                    .images
                    .first()
                    .map_or_else(|| tag.digest.clone(), |image| image.digest.clone());
                recorded.push(PushedDigest {
                    registry: dst.host().to_owned(),
                    repository: repository.clone(),
                    tag: tag.tag.clone(),
                    digest,
                });
            }
            cx.log(&format!(
                "pushed {} tags of {repository} to {}",
                pushed.len(),
                dst.host()
            ));
        }
        cx.results.digests.extend(recorded);
        Ok(Step::Done)
    })
}
