//! `import_image` (postbuild) and the exit plugins `store_metadata` and `remove_built_image`
//! (the clean-up, after the results are stored).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bollard::Docker;
use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
use osbs_core::build::ImageImport;

use super::{PluginFuture, Step};
use crate::error::ReactorError;
use crate::pipeline::Context;
use crate::plugins::build::BASE_HOLD_REPOSITORY;
use crate::time::compact;

/// A base-image hold older than this was left by a run that never reached its clean-up (a
/// killed runner): no build runs that long, so `remove_built_image` drops it.
const STALE_HOLD: Duration = Duration::from_secs(24 * 3600);

/// Imports the pushed tags into the image's ImageStream (the repository with `/` → `-`).
pub(crate) fn import_image<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        if cx.request.variant.scratch {
            return Ok(Step::Skipped(
                "a scratch build is not imported into its image stream".to_owned(),
            ));
        }
        let target = cx.target()?;
        let import = ImageImport {
            image_stream: osbs_core::naming::image_stream_name(&target.repository),
            docker_image_repository: target.image(),
            // The primary registry's tags only (the further ones of `registry_uri` hold the
            // same digests).
            tags: cx
                .results
                .digests
                .iter()
                .filter(|d| d.registry == target.registry.host())
                .map(|d| (d.tag.clone(), d.digest.clone()))
                .collect(),
        };
        cx.host
            .import_image(&import)
            .await
            .map_err(ReactorError::host("import the image"))?;
        cx.log(&format!(
            "imported {} tags into image stream {}",
            import.tags.len(),
            import.image_stream
        ));
        Ok(Step::Done)
    })
}

/// Stores the outcome and results (SPEC §5) on the Build through the host. This finishes the
/// Build: what runs after it (`remove_built_image`) cannot change how it ended, and the runner
/// stores the outcome once more at its very end only for the clean-up's timings.
pub(crate) fn store_metadata<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let outcome = cx.outcome();
        cx.host
            .store_results(&outcome)
            .await
            .map_err(ReactorError::host("store the results"))?;
        cx.stored = true;
        Ok(Step::Done)
    })
}

/// What the removal of one reference or image came to.
enum Removal {
    /// Removed or untagged.
    Done,
    /// Already gone.
    Gone,
    /// Kept by the daemon, with its reason (still tagged or used by someone else).
    Kept(String),
}

/// Removes `reference` (a tag or an image id) without force and without pruning its untagged
/// parents: those may be the layer cache another build is resolving at this moment.
async fn remove(docker: &Docker, reference: &str) -> Result<Removal, bollard::errors::Error> {
    let options = RemoveImageOptionsBuilder::default()
        .force(false)
        .noprune(true)
        .build();
    match docker.remove_image(reference, Some(options), None).await {
        Ok(_) => Ok(Removal::Done),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(Removal::Gone),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        }) => Ok(Removal::Kept(message)),
        Err(err) => Err(err),
    }
}

/// Whether the hold tag `tag` (`BUILD-YYYYMMDDhhmmss`) was made before `cutoff` (compact).
fn is_stale_hold(tag: &str, cutoff: &str) -> bool {
    let Some(stamp) = tag.len().checked_sub(14).and_then(|at| tag.get(at..)) else {
        return false;
    };
    stamp.bytes().all(|b| b.is_ascii_digit()) && stamp < cutoff
}

/// The hold tags (`repository:tag`) older than [`STALE_HOLD`]; started in the background when
/// a run first connects to the Engine (`Context::docker`).
pub(crate) async fn stale_holds(docker: Docker) -> Result<Vec<String>, bollard::errors::Error> {
    let cutoff = compact(SystemTime::now() - STALE_HOLD);
    let filters = HashMap::from([("reference", vec![BASE_HOLD_REPOSITORY])]);
    let options = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let prefix = format!("{BASE_HOLD_REPOSITORY}:");
    Ok(docker
        .list_images(Some(options))
        .await?
        .into_iter()
        .flat_map(|image| image.repo_tags)
        .filter(|reference| {
            reference
                .strip_prefix(&prefix)
                .is_some_and(|tag| is_stale_hold(tag, &cutoff))
        })
        .collect())
}

/// Drops what this build put into the Docker Engine: its unique tag, its hold on the base
/// image and the name BuildKit exported it under (every one a name of this build's own, never
/// a shared one such as `latest`: `tag_by_labels` makes no other), then the built image itself
/// unless something else still uses it; also any base-image hold older than a day, which a
/// killed run left behind. It runs after `store_metadata`, so the next build of the
/// BuildConfig may already be running: removing only names unique to this build, never by
/// force, and keeping untagged parents, leaves that build's (and any other's) base image,
/// image and layer cache alone.
pub(crate) fn remove_built_image<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let Some(docker) = cx.connected_docker() else {
            return Ok(Step::Skipped("the Docker Engine was not used".to_owned()));
        };
        // The one registry name made locally (`tag_by_labels`): the unique tag.
        let unique = &cx.results.repositories.unique;
        // The image goes with its last tag. It is removed by id only when this build never
        // tagged it, and only while it has no tag at all: by id, the daemon also deletes the
        // one tag another build may hold on it (a base-image hold of an autorebuild building
        // FROM this very image, or the next build of this BuildConfig that made the same
        // image from the cache, both of which may run while this clean-up does).
        let untagged_image = cx.image_id.clone().filter(|_| unique.is_empty());
        let references: Vec<String> = unique
            .iter()
            .chain(&cx.base_hold)
            .chain(&cx.built_tag)
            .cloned()
            .collect();
        // Holds that killed runs left behind, so they do not keep base images forever.
        let listing = match cx.stale_holds.take() {
            Some(started) => match started.await {
                Ok(listing) => listing.map_err(|e| e.to_string()),
                Err(join) => Err(join.to_string()),
            },
            None => stale_holds(docker.clone()).await.map_err(|e| e.to_string()),
        };
        let stale = match listing {
            Ok(stale) => stale,
            Err(err) => {
                cx.log(&format!("warning: cannot list old base-image holds: {err}"));
                Vec::new()
            }
        };
        let references: Vec<String> = references.into_iter().chain(stale).collect();
        if references.is_empty() && untagged_image.is_none() {
            return Ok(Step::Skipped("no image was built or held".to_owned()));
        }
        for reference in &references {
            remove_and_log(cx, &docker, reference).await?;
        }
        if let Some(id) = untagged_image {
            let tags = match docker.inspect_image(&id).await {
                Ok(image) => image.repo_tags.unwrap_or_default(),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(Step::Done),
                Err(err) => return Err(ReactorError::docker("inspect of the built image")(err)),
            };
            if tags.is_empty() {
                remove_and_log(cx, &docker, &id).await?;
            } else {
                cx.log(&format!(
                    "kept {id}: another build tagged it ({})",
                    tags.join(", ")
                ));
            }
        }
        Ok(Step::Done)
    })
}

/// [`remove`] of `reference`, said in the build log.
async fn remove_and_log(
    cx: &Context<'_>,
    docker: &Docker,
    reference: &str,
) -> Result<(), ReactorError> {
    match remove(docker, reference)
        .await
        .map_err(ReactorError::docker("image removal"))?
    {
        Removal::Done => cx.log(&format!("removed {reference}")),
        Removal::Gone => {}
        Removal::Kept(reason) => cx.log(&format!("kept {reference}: {reason}")),
    }
    Ok(())
}

/// Whether `tag` is one the build `build` made: its unique tag or its base-image hold,
/// `BUILD-YYYYMMDDhhmmss`.
fn is_tag_of(tag: &str, build: &str) -> bool {
    let prefix = crate::plugins::push::unique_tag(build, SystemTime::UNIX_EPOCH);
    let prefix = &prefix[..prefix.len() - 14];
    tag.strip_prefix(prefix)
        .is_some_and(|stamp| stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes from the local Docker Engine what a run of `build` that never reached its
/// clean-up (killed, or declared dead and fenced) left: its unique tags and base-image holds
/// (an image goes with its last tag; one another build still tags stays). Never by force,
/// never by id, never pruning parents. Returns the references removed.
///
/// # Errors
///
/// [`ReactorError::Docker`] when the Engine cannot be reached or refuses to list images.
pub async fn remove_leftovers(build: &str) -> Result<Vec<String>, ReactorError> {
    let docker = Docker::connect_with_defaults()
        .map_err(ReactorError::docker("connect"))?
        .negotiate_version()
        .await
        .map_err(ReactorError::docker("version negotiation"))?;
    let images = docker
        .list_images(Some(ListImagesOptionsBuilder::default().build()))
        .await
        .map_err(ReactorError::docker("image listing"))?;
    let mut removed = Vec::new();
    for image in images {
        let own: Vec<&String> = image
            .repo_tags
            .iter()
            .filter(|r| {
                r.rsplit_once(':')
                    .is_some_and(|(_, tag)| is_tag_of(tag, build))
            })
            .collect();
        if own.is_empty() {
            continue;
        }
        for reference in own {
            if let Removal::Done = remove(&docker, reference)
                .await
                .map_err(ReactorError::docker("image removal"))?
            {
                removed.push(reference.clone());
            }
        }
        // The image itself went with its last tag; removing it by id would also delete a tag
        // another build holds on it (see `remove_built_image`).
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_builds_own_tags_are_recognised() {
        assert!(is_tag_of(
            "app-main-1a2b3-4-20261127100500",
            "app-main-1a2b3-4"
        ));
        assert!(!is_tag_of(
            "app-main-1a2b3-40-20261127100500",
            "app-main-1a2b3-4"
        ));
        assert!(!is_tag_of(
            "app-main-1a2b3-4-2026112710050",
            "app-main-1a2b3-4"
        ));
        assert!(!is_tag_of("latest", "app-main-1a2b3-4"));
    }

    use super::*;

    #[test]
    fn holds_older_than_the_cutoff_are_stale() {
        let cutoff = "20261126120000";
        assert!(is_stale_hold("app-main-1a2b3-4-20261126115959", cutoff));
        assert!(!is_stale_hold("app-main-1a2b3-4-20261126120000", cutoff));
        assert!(!is_stale_hold("app-main-1a2b3-4-20261127100500", cutoff));
        assert!(!is_stale_hold("app-main-1a2b3-4-2026112611595x", cutoff));
        assert!(!is_stale_hold("short", cutoff));
        assert!(!is_stale_hold("ééééééééé", cutoff));
    }
}
