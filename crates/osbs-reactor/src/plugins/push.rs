//! `tag_by_labels` and `tag_and_push`: tag the built image `version-release`, `version`,
//! `latest` and a unique tag, push every tag through the Docker Engine (which streams the
//! layers), and record each manifest digest after checking it with a manifest HEAD.

use std::time::SystemTime;

use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;
use osbs_core::build::PushedDigest;

use super::{PluginFuture, Step};
use crate::error::{ReactorError, chain};
use crate::pipeline::Context;
use crate::time::compact;

/// `s` reduced to the characters a tag may hold.
fn tag_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The unique tag of a build: its name and the time, e.g. `app-main-1a2b3-4-20261127100500`.
pub(crate) fn unique_tag(build_name: &str, at: SystemTime) -> String {
    let mut tag = format!("{}-{}", tag_safe(build_name), compact(at));
    if tag.starts_with(['.', '-']) {
        tag.insert(0, 'b');
    }
    if tag.len() > 128 {
        tag = tag[tag.len() - 128..].to_owned();
    }
    tag
}

/// Tags the built image with the primary tags and a unique tag.
pub(crate) fn tag_by_labels<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let image_id = cx.image_id.clone().ok_or(ReactorError::Missing {
            what: "the built image",
        })?;
        let version = cx.version.clone().ok_or(ReactorError::Missing {
            what: "the version",
        })?;
        let release = cx.results.release.clone();
        if release.is_none() && cx.request.variant.takes_release() {
            return Err(ReactorError::Missing {
                what: "the release",
            });
        }
        let image = cx.target()?.image();
        // The build's variant chooses: regular `version-release`, `version`, `latest`;
        // isolated `version-release`; scratch none; then the extra tags (`-A`).
        let primary = cx.request.variant.tags(&version, release.as_deref());
        let unique = unique_tag(&cx.request.build_name, SystemTime::now());
        let docker = cx.docker().await?;
        for tag in primary.iter().chain([&unique]) {
            let options = TagImageOptionsBuilder::default()
                .repo(&image)
                .tag(tag)
                .build();
            docker
                .tag_image(&image_id, Some(options))
                .await
                .map_err(ReactorError::docker("tag"))?;
        }
        cx.results.repositories.primary = primary.iter().map(|t| format!("{image}:{t}")).collect();
        cx.results.repositories.unique = vec![format!("{image}:{unique}")];
        cx.primary_tags = primary;
        cx.unique_tag = Some(unique);
        Ok(Step::Done)
    })
}

/// The digest in a push status line, `TAG: digest: sha256:... size: N`.
fn digest_from_status(status: &str, tag: &str) -> Option<String> {
    let rest = status.strip_prefix(tag)?.strip_prefix(": digest: ")?;
    let digest = rest.split_whitespace().next()?;
    digest.starts_with("sha256:").then(|| digest.to_owned())
}

/// Pushes every tag to the target registry (credentials for that registry only) and records
/// the digest the registry serves for each.
pub(crate) fn tag_and_push<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let docker = cx.docker().await?;
        let target = cx.target()?;
        let image = target.image();
        let registry_host = target.registry.host().to_owned();
        let repository = target.repository.clone();
        let credentials = cx.auth.docker_credentials(&registry_host);
        let tags: Vec<String> = cx
            .primary_tags
            .iter()
            .chain(cx.unique_tag.iter())
            .cloned()
            .collect();
        if tags.is_empty() {
            return Err(ReactorError::Missing { what: "the tags" });
        }
        let mut digests = Vec::new();
        for tag in &tags {
            cx.host
                .check_lease()
                .await
                .map_err(ReactorError::host("push (the run's lease)"))?;
            cx.log(&format!("pushing {image}:{tag}"));
            let options = PushImageOptionsBuilder::default().tag(tag).build();
            let mut push = docker.push_image(&image, Some(options), credentials.clone());
            let mut digest = None;
            loop {
                let item = tokio::select! {
                    item = push.next() => item,
                    () = cx.cancel.cancelled() => return Ok(Step::Cancel("build cancelled".to_owned())),
                };
                match item {
                    None => break,
                    Some(Ok(info)) => {
                        if let Some(status) = &info.status {
                            if let Some(d) = digest_from_status(status, tag) {
                                digest = Some(d);
                            }
                            // Per-layer progress is noise in a build log; the rest is not.
                            let per_layer = [
                                "Preparing",
                                "Waiting",
                                "Pushing",
                                "Pushed",
                                "Layer already exists",
                            ];
                            if !per_layer.contains(&status.as_str()) {
                                cx.log(status);
                            }
                        }
                    }
                    Some(Err(err)) => {
                        let message = match err {
                            bollard::errors::Error::DockerStreamError { error } => error,
                            other => chain(&other),
                        };
                        return Err(ReactorError::Push {
                            image: format!("{image}:{tag}"),
                            message,
                        });
                    }
                }
            }
            let pushed = digest.ok_or_else(|| ReactorError::Push {
                image: format!("{image}:{tag}"),
                message: "the Docker Engine reported no digest".to_owned(),
            })?;
            digests.push((tag.clone(), pushed));
        }
        let target = cx.target()?;
        for (tag, pushed) in &digests {
            let served = target.registry.manifest_digest(&repository, tag).await?;
            if &served != pushed {
                return Err(ReactorError::DigestMismatch {
                    image: format!("{image}:{tag}"),
                    pushed: pushed.clone(),
                    served,
                });
            }
        }
        cx.results.digests = digests
            .into_iter()
            .map(|(tag, digest)| PushedDigest {
                registry: registry_host.clone(),
                repository: repository.clone(),
                tag,
                digest,
            })
            .collect();
        Ok(Step::Done)
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn digests_from_push_status() {
        assert_eq!(
            digest_from_status("1-2: digest: sha256:abc size: 528", "1-2").as_deref(),
            Some("sha256:abc")
        );
        assert_eq!(
            digest_from_status("1-2: digest: sha256:abc size: 528", "1"),
            None
        );
        assert_eq!(digest_from_status("Pushed", "1"), None);
    }

    #[test]
    fn unique_tags() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_773_900);
        assert_eq!(
            unique_tag("app-main-1a2b3-4", at),
            "app-main-1a2b3-4-20261127100500"
        );
        assert_eq!(unique_tag("a/b c", at), "a-b-c-20261127100500");
    }
}
