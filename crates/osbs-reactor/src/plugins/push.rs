//! `tag_by_labels` and `tag_and_push`: choose the tags `version-release`, `version`, `latest`
//! and a unique tag (only the unique one is made in the Docker Engine), push the image once
//! (the reactor's own path, module `layer_push`, or `docker push` through the Engine:
//! `push_method`), give every further tag one manifest `PUT` of the same bytes, and record
//! each manifest digest after checking it with a manifest HEAD.

use std::time::SystemTime;

use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use osbs_core::build::{PushMethod, PushedDigest};
use osbs_registry_sync::{Manifest, Repository};

use super::{PluginFuture, Step};
use crate::error::{ReactorError, chain};
use crate::layer_push::PushJob;
use crate::pipeline::Context;
use crate::progress::{EngineStatus, Kind, LayerProgress};
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

/// Chooses the primary tags and a unique tag, and tags the built image locally with the
/// unique tag only: a name of this build's own. The primary tags (`latest`, `version`, …) are
/// shared by every build of the image, so they are never made locally, where the clean-up of
/// one build could untag the next one's image; the push gives them to the registry.
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
        let options = TagImageOptionsBuilder::default()
            .repo(&image)
            .tag(&unique)
            .build();
        docker
            .tag_image(&image_id, Some(options))
            .await
            .map_err(ReactorError::docker("tag"))?;
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

/// One status of the Engine's push stream as layer progress; `true` when it was per-layer.
/// bollard's push status carries no layer id, so a layer is told apart by its size (two
/// layers of one size share a bar); the Engine's own ids come with the reactor's push path.
fn push_status(
    cx: &Context<'_>,
    layers: &LayerProgress,
    status: &str,
    detail: Option<&bollard::models::ProgressDetail>,
) -> bool {
    let total = detail.and_then(|d| d.total);
    let id = total.map(|total| format!("layer-{total}"));
    layers.engine_status(
        cx,
        EngineStatus {
            id: id.as_deref(),
            status,
            current: detail.and_then(|d| d.current),
            total,
        },
    )
}

/// Pushes the image under every tag to the target registry (credentials for that registry
/// only) and records the digest the registry serves for each. The image is pushed once
/// (`push_method`: the reactor's own path, by image id, under the first tag; or `docker push`
/// through the Engine of the unique tag, the one local name the build made); every further tag
/// costs one manifest `PUT` of the same bytes.
pub(crate) fn tag_and_push<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let docker = cx.docker().await?;
        let target = cx.target()?;
        let image = target.image();
        let registry_host = target.registry.host().to_owned();
        let repository = target.repository.clone();
        let tags: Vec<String> = cx
            .primary_tags
            .iter()
            .chain(cx.unique_tag.iter())
            .cloned()
            .collect();
        let Some(first) = tags.first() else {
            return Err(ReactorError::Missing { what: "the tags" });
        };
        check_lease(cx).await?;
        let repo = cx.target()?.registry.client().repository(&repository);
        let manifest = match cx.request.push_method {
            PushMethod::Reactor => {
                cx.log(&format!("pushing {image}:{first} (the reactor's own push)"));
                let Some(manifest) = push_by_reactor(cx, &docker, &repo).await? else {
                    return Ok(Step::Cancel("build cancelled".to_owned()));
                };
                check_lease(cx).await?;
                put_manifest(&repo, first, &manifest)
                    .await
                    .map_err(|e| manifest_error(&registry_host, first, &e))?;
                manifest
            }
            PushMethod::Engine => {
                // `docker push` needs a local name: the unique tag, which no other build has.
                let unique = cx.unique_tag.clone().ok_or(ReactorError::Missing {
                    what: "the unique tag",
                })?;
                let Some(digest) = push_by_engine(cx, &docker, &image, &unique).await? else {
                    return Ok(Step::Cancel("build cancelled".to_owned()));
                };
                get_manifest(&repo, &digest)
                    .await
                    .map_err(|e| manifest_error(&registry_host, &unique, &e))?
            }
        };
        // The tag the image was pushed under already serves the manifest.
        let pushed_as = match cx.request.push_method {
            PushMethod::Reactor => first.as_str(),
            PushMethod::Engine => cx.unique_tag.as_deref().unwrap_or(first),
        };
        let mut digests = Vec::with_capacity(tags.len());
        for tag in &tags {
            if tag == pushed_as {
                digests.push((tag.clone(), manifest.digest.clone()));
                continue;
            }
            check_lease(cx).await?;
            let stored = put_manifest(&repo, tag, &manifest)
                .await
                .map_err(|e| manifest_error(&registry_host, tag, &e))?;
            digests.push((tag.clone(), stored));
        }
        cx.log(&format!(
            "pushed {image}@{} as {}",
            manifest.digest,
            tags.join(", ")
        ));
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

/// Refuses to write to the registry once the run's lease was taken away.
async fn check_lease(cx: &Context<'_>) -> Result<(), ReactorError> {
    cx.host
        .check_lease()
        .await
        .map_err(ReactorError::host("push (the run's lease)"))
}

/// `Repository::put_manifest`, boxed: its future is `Send` for the lifetimes at hand, which
/// the compiler cannot see through the plugin's own boxed future otherwise.
fn put_manifest<'a>(
    repo: &'a Repository,
    tag: &'a str,
    manifest: &'a Manifest,
) -> BoxFuture<'a, Result<String, osbs_registry_sync::Error>> {
    Box::pin(repo.put_manifest(tag, manifest))
}

/// `Repository::manifest`, boxed (as [`put_manifest`]).
fn get_manifest<'a>(
    repo: &'a Repository,
    digest: &'a str,
) -> BoxFuture<'a, Result<Manifest, osbs_registry_sync::Error>> {
    Box::pin(repo.manifest(digest))
}

fn manifest_error(registry: &str, tag: &str, err: &osbs_registry_sync::Error) -> ReactorError {
    ReactorError::Registry {
        registry: registry.to_owned(),
        action: format!("manifest PUT of {tag}"),
        reason: chain(err),
    }
}

/// The reactor's own push (module `layer_push`): every blob, and the manifest to `PUT`;
/// `None` when the build was cancelled meanwhile.
async fn push_by_reactor(
    cx: &Context<'_>,
    docker: &bollard::Docker,
    repo: &Repository,
) -> Result<Option<Manifest>, ReactorError> {
    let image_id = cx.image_id.clone().ok_or(ReactorError::Missing {
        what: "the built image",
    })?;
    let dir = cx.workdir.path().join("push");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|source| ReactorError::Io {
            action: "create",
            path: dir.clone(),
            source,
        })?;
    let (progress, mut events) = tokio::sync::mpsc::unbounded_channel();
    let job = PushJob {
        docker,
        image_id: &image_id,
        target: repo.clone(),
        base: cx.base_image.as_ref(),
        dir: &dir,
        progress,
    };
    let layers = LayerProgress::new(Kind::Push);
    let run = job.run();
    tokio::pin!(run);
    let report = loop {
        tokio::select! {
            report = &mut run => break report,
            Some((id, done, total, state)) = events.recv() => match state {
                Some(state) => layers.finish(cx, &id, done, total, state),
                None => layers.report(cx, &id, done, total),
            },
            () = cx.cancel.cancelled() => return Ok(None),
        }
    };
    while let Ok((id, done, total, state)) = events.try_recv() {
        match state {
            Some(state) => layers.finish(cx, &id, done, total, state),
            None => layers.report(cx, &id, done, total),
        }
    }
    // The compressed layers are not needed any more, whatever happened.
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let report = report?;
    for line in &report.lines {
        cx.log(line);
    }
    Ok(Some(report.manifest))
}

/// `docker push` of one tag through the Engine; the digest it reports, or `None` when the
/// build was cancelled meanwhile.
async fn push_by_engine(
    cx: &Context<'_>,
    docker: &bollard::Docker,
    image: &str,
    tag: &str,
) -> Result<Option<String>, ReactorError> {
    let registry_host = cx.target()?.registry.host().to_owned();
    let credentials = cx.auth.docker_credentials(&registry_host);
    cx.log(&format!(
        "pushing {image}:{tag} (through the Docker Engine)"
    ));
    let options = PushImageOptionsBuilder::default().tag(tag).build();
    let mut push = docker.push_image(image, Some(options), credentials);
    let layers = LayerProgress::new(Kind::Push);
    let mut digest = None;
    loop {
        let item = tokio::select! {
            item = push.next() => item,
            () = cx.cancel.cancelled() => return Ok(None),
        };
        match item {
            None => break,
            Some(Ok(info)) => {
                if let Some(status) = &info.status {
                    if let Some(d) = digest_from_status(status, tag) {
                        digest = Some(d);
                    }
                    // Per-layer progress becomes progress lines; the rest is text.
                    if !push_status(cx, &layers, status, info.progress_detail.as_ref()) {
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
    layers.finish_all(cx);
    digest.map(Some).ok_or_else(|| ReactorError::Push {
        image: format!("{image}:{tag}"),
        message: "the Docker Engine reported no digest".to_owned(),
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
