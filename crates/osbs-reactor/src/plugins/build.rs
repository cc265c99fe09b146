//! `pull_base_image` and `docker_api`: make sure the base image is there (held and pinned for
//! this build), then build through the Docker Engine API with the context streamed as a tar
//! and the log streamed by line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use bollard::Docker;
use bollard::models::ImageInspect;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use osbs_core::ImageReference;
use osbs_core::dockerfile::with_base_image_and_args;

use osbs_core::build::Builder;

use super::push::unique_tag;
use super::{PluginFuture, Step};
use crate::buildkit;
use crate::context_tar;
use crate::error::{ReactorError, chain};
use crate::pipeline::Context;
use crate::progress::{EngineStatus, Kind, LayerProgress};
use crate::registry::{Auth, Registry};

/// The local repository of the tags that hold each running build's base image.
pub(crate) const BASE_HOLD_REPOSITORY: &str = "localhost/osbs-reactor/base-hold";

/// The reason a cancelled plugin gives.
const CANCELLED: &str = "build cancelled";

/// Whether the local image `image` (from `inspect`) carries `digest` for `base`'s repository.
fn has_digest(repo_digests: &[String], base: &ImageReference, digest: &str) -> bool {
    let names = [base.name(), base.familiar_name()];
    repo_digests.iter().any(|rd| {
        rd.split_once('@')
            .is_some_and(|(name, d)| d == digest && names.iter().any(|n| n == name))
    })
}

/// How often the base image is made present again when it vanishes before it is held.
const HOLD_ATTEMPTS: u32 = 3;

/// The base image, present locally.
enum Present {
    /// The image id, and whether it had to be pulled.
    Image { id: String, pulled: bool },
    /// The build was cancelled during the pull.
    Cancelled,
    /// Another build's clean-up removed the name right after the pull.
    Vanished,
}

/// What decides whether the base image must be pulled: the local image of its name, and the
/// digest its registry serves for the referenced tag (or the digest the FROM names).
pub(crate) struct BaseLookup {
    /// The client it asked the Engine with.
    docker: Docker,
    local: Option<ImageInspect>,
    wanted: Result<String, ReactorError>,
}

/// Asks the Docker Engine and the base's registry at the same time.
async fn look_up(docker: Docker, auth: Auth, base: ImageReference) -> BaseLookup {
    let local_name = base.to_string();
    let wanted = async {
        match base.digest() {
            Some(digest) => Ok(digest.to_owned()),
            None => {
                Registry::from_uri(base.registry(), &auth)?
                    .manifest_digest(base.repository(), base.tag_or_latest())
                    .await
            }
        }
    };
    let (local, wanted) = tokio::join!(docker.inspect_image(&local_name), wanted);
    BaseLookup {
        docker,
        local: local.ok(),
        wanted,
    }
}

/// The lookup of the base image the build request names as a hint (`base_image_hint`),
/// started by `fetch_source` before it clones; aborted when dropped (a cancelled or failed
/// build, or a `FROM` that names another image).
pub(crate) struct BaseCheck {
    base: ImageReference,
    /// `None` when the Docker Engine could not be reached (`pull_base_image` reports it).
    task: tokio::task::JoinHandle<Option<BaseLookup>>,
}

impl Drop for BaseCheck {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the lookup of the request's base image hint, to run while `fetch_source` clones;
/// nothing when there is no usable hint, `pull_base_image` is disabled, or the Engine or the
/// credentials are not at hand (then `pull_base_image` looks up as always, and reports). The
/// task connects to the Engine by itself: nothing of it delays the clone.
pub(crate) fn start_base_check(cx: &mut Context<'_>) {
    let pulls = cx
        .request
        .plugins
        .get("pull_base_image")
        .and_then(|o| o.enabled)
        != Some(false);
    let Some(Ok(base)) = cx
        .request
        .base_image_hint
        .as_deref()
        .filter(|_| pulls)
        .map(ImageReference::parse)
    else {
        return;
    };
    let Ok(auth) = Auth::for_request(&cx.request) else {
        return;
    };
    let lookup = base.clone();
    let task = tokio::spawn(async move {
        let docker = crate::pipeline::connect_docker().await.ok()?;
        Some(look_up(docker, auth, lookup).await)
    });
    cx.base_check = Some(BaseCheck { base, task });
}

/// The early lookup if it was of `base` (the cloned Dockerfile's `FROM`), else `None`.
async fn early_lookup(cx: &mut Context<'_>, base: &ImageReference) -> Option<BaseLookup> {
    let mut check = cx.base_check.take().filter(|check| check.base == *base)?;
    (&mut check.task).await.ok().flatten()
}

/// Makes the base image present: pulls it unless the local one already has the digest the
/// registry serves for the referenced tag (or the digest the FROM names). `early` is a lookup
/// of the same image made while the source was cloned.
async fn make_present(
    cx: &mut Context<'_>,
    docker: &Docker,
    base: &ImageReference,
    early: Option<BaseLookup>,
) -> Result<Present, ReactorError> {
    let local_name = base.to_string();
    let BaseLookup { local, wanted, .. } = match early {
        Some(lookup) => lookup,
        None => look_up(docker.clone(), cx.auth.clone(), base.clone()).await,
    };
    let wanted = match (wanted, &local) {
        (Ok(digest), _) => digest,
        (Err(err), Some(_)) => {
            cx.log(&format!(
                "warning: cannot check {local_name} in its registry ({}); using the local image",
                chain(&err)
            ));
            String::new()
        }
        (Err(err), None) => return Err(err),
    };
    let present = local.as_ref().is_some_and(|image| {
        wanted.is_empty() || has_digest(image.repo_digests.as_deref().unwrap_or(&[]), base, &wanted)
    });
    if let Some(id) = local.and_then(|image| image.id).filter(|_| present) {
        cx.log(&format!("{local_name} is present with digest {wanted}"));
        return Ok(Present::Image { id, pulled: false });
    }
    cx.log(&format!("pulling {local_name}"));
    let reference = base.digest().or(base.tag()).unwrap_or("latest").to_owned();
    let options = CreateImageOptionsBuilder::default()
        .from_image(&base.name())
        .tag(&reference)
        .build();
    let credentials = cx.auth.docker_credentials(base.registry());
    let mut pull = docker.create_image(Some(options), None, credentials);
    let layers = LayerProgress::new(Kind::Pull);
    loop {
        let item = tokio::select! {
            item = pull.next() => item,
            () = cx.cancel.cancelled() => return Ok(Present::Cancelled),
        };
        match item {
            None => break,
            Some(Ok(info)) => {
                if let Some(status) = &info.status {
                    let detail = info.progress_detail.as_ref();
                    layers.engine_status(
                        cx,
                        EngineStatus {
                            id: info.id.as_deref(),
                            status,
                            current: detail.and_then(|d| d.current),
                            total: detail.and_then(|d| d.total),
                        },
                    );
                }
            }
            Some(Err(err)) => {
                return Err(ReactorError::Pull {
                    image: local_name,
                    message: chain(&err),
                });
            }
        }
    }
    layers.finish_all(cx);
    let image = match docker.inspect_image(&local_name).await {
        Ok(image) => image,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(Present::Vanished),
        Err(err) => return Err(ReactorError::docker("inspect of the base image")(err)),
    };
    let id = image.id.ok_or(ReactorError::Missing {
        what: "the id of the pulled base image",
    })?;
    Ok(Present::Image { id, pulled: true })
}

/// Tags image `id` as `BASE_HOLD_REPOSITORY:tag`; `false` when the image is gone.
async fn hold_image(docker: &Docker, id: &str, tag: &str) -> Result<bool, ReactorError> {
    let options = TagImageOptionsBuilder::default()
        .repo(BASE_HOLD_REPOSITORY)
        .tag(tag)
        .build();
    match docker.tag_image(id, Some(options)).await {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(err) => Err(ReactorError::docker("tag of the base image")(err)),
    }
}

/// Makes the base image present, holds it with a tag of this build's own (so no other build's
/// clean-up can remove it, and no later push can move it, while this build runs) and pins the
/// Dockerfile's `FROM` to its id, so the build uses exactly the image recorded as
/// `base-image-id`. `remove_built_image` drops the hold.
pub(crate) fn pull_base_image<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let Some(base) = cx.base_image.clone() else {
            return Ok(Step::Skipped("FROM scratch has no base image".to_owned()));
        };
        // Looked up while the source was cloned, if the hint named this very image (its
        // Engine client becomes the run's); a second attempt looks again.
        let mut early = early_lookup(cx, &base).await;
        if let Some(lookup) = &early {
            cx.adopt_docker(lookup.docker.clone());
        }
        let docker = cx.docker().await?;
        let hold_tag = unique_tag(&cx.request.build_name, SystemTime::now());
        let hold = format!("{BASE_HOLD_REPOSITORY}:{hold_tag}");
        let mut attempt = 0;
        let (id, pulled) = loop {
            attempt += 1;
            let held = match make_present(cx, &docker, &base, early.take()).await? {
                Present::Image { id, pulled } => hold_image(&docker, &id, &hold_tag)
                    .await?
                    .then_some((id, pulled)),
                Present::Cancelled => return Ok(Step::Cancel(CANCELLED.to_owned())),
                Present::Vanished => None,
            };
            if let Some(held) = held {
                break held;
            }
            // Another build's clean-up removed the image between the pull and the hold.
            if attempt == HOLD_ATTEMPTS {
                return Err(ReactorError::Pull {
                    image: base.to_string(),
                    message: format!(
                        "removed right after each of {HOLD_ATTEMPTS} pulls by other builds' \
                         clean-up"
                    ),
                });
            }
            cx.log(&format!(
                "{base} was removed before this build could hold it (another build's clean-up); \
                 again"
            ));
        };
        cx.base_hold = Some(hold.clone());
        cx.results.base_image_id = Some(id.clone());
        let (pinned, line) = pinned_dockerfile(cx, &id)?;
        cx.set_dockerfile(pinned).await?;
        cx.log(&format!(
            "{} {base} as {id}, held as {hold}; FROM on line {line} pinned to it",
            if pulled { "pulled" } else { "using" }
        ));
        Ok(Step::Done)
    })
}

/// Splits the daemon's `stream` text into complete lines, keeping a partial last line.
fn complete_lines(buffer: &mut String, text: &str) -> Vec<String> {
    buffer.push_str(text);
    let mut lines = Vec::new();
    while let Some(pos) = buffer.find('\n') {
        let line: String = buffer.drain(..=pos).collect();
        lines.push(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    lines
}

/// Removes the container of the step that was running when the build was cancelled, and
/// waits (at most about 2.5 s) until it is gone. Dropping the build request already makes the
/// daemon stop it; this makes sure, and makes it observable.
async fn remove_step_container(docker: &Docker, id: &str) {
    for _ in 0..25 {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = docker.remove_container(id, Some(options)).await;
        if let Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) = docker.inspect_container(id, None).await
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Makes sure the image the Dockerfile's `FROM` is pinned to is still in the Docker Engine
/// right before the build: if it vanished (removed by force since `pull_base_image` held it),
/// `FROM sha256:…` would make the daemon look for an image of that name on Docker Hub. The base
/// is pulled again and held again if the registry still serves the same image; a different
/// image there fails the build naming the base, never building from another base than the one
/// recorded. `None` to go on, or the step to end with (cancelled during the pull).
async fn recheck_pinned_base(
    cx: &mut Context<'_>,
    docker: &Docker,
) -> Result<Option<Step>, ReactorError> {
    let (Some(base), Some(pinned)) = (cx.base_image.clone(), cx.results.base_image_id.clone())
    else {
        return Ok(None);
    };
    match docker.inspect_image(&pinned).await {
        Ok(_) => return Ok(None),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(err) => {
            return Err(ReactorError::docker("inspect of the pinned base image")(
                err,
            ));
        }
    }
    cx.log(&format!(
        "the base image {base} ({pinned}) vanished from the Docker Engine before the build; \
         pulling it again"
    ));
    let id = match make_present(cx, docker, &base, None).await? {
        Present::Image { id, .. } => id,
        Present::Cancelled => return Ok(Some(Step::Cancel(CANCELLED.to_owned()))),
        Present::Vanished => {
            return Err(ReactorError::Pull {
                image: base.to_string(),
                message: format!("the pinned base image {pinned} vanished again after a pull"),
            });
        }
    };
    if id != pinned {
        return Err(ReactorError::Pull {
            image: base.to_string(),
            message: format!(
                "the pinned base image {pinned} vanished from the Docker Engine before the build, \
                 and the registry now serves {id}; not building from another base than the one \
                 recorded"
            ),
        });
    }
    if let Some(tag) = cx
        .base_hold
        .as_deref()
        .and_then(|hold| hold.rsplit_once(':'))
        .map(|(_, tag)| tag.to_owned())
    {
        hold_image(docker, &id, &tag).await?;
    }
    cx.log(&format!("pulled {base} again as {id}"));
    Ok(None)
}

/// The Dockerfile with its base image's `FROM` naming `image` (and the build arguments
/// substituted), and that line's number.
fn pinned_dockerfile(cx: &Context<'_>, image: &str) -> Result<(String, usize), ReactorError> {
    let line = cx.dockerfile()?.base_image_line;
    let build_args = &cx.request.variant.build_args;
    let pinned = with_base_image_and_args(&cx.dockerfile_text()?, line, image, build_args).ok_or(
        ReactorError::Missing {
            what: "the FROM instruction of the base image",
        },
    )?;
    Ok((pinned, line))
}

/// The builder of this build: the request's, else BuildKit where the Engine supports it.
async fn builder(cx: &Context<'_>, docker: &Docker) -> Builder {
    match cx.request.builder {
        Some(builder) => builder,
        None if buildkit::engine_supports_buildkit(docker).await => Builder::Buildkit,
        None => Builder::Classic,
    }
}

/// The local repository of the tags BuildKit builds get (the Engine's `moby` exporter names
/// the image it stores); `remove_built_image` drops the tag.
pub(crate) const BUILT_REPOSITORY: &str = "localhost/osbs-reactor/built";

/// The name BuildKit builds the held base image by: `repository@digest` when the image has
/// that digest for the base's repository (the same name for every build of that base, so the
/// Dockerfile in the context, and with it the layer cache of `COPY .`, stays the same from
/// build to build), else `None` for the hold's own tag. `Err(None)` when the image vanished
/// since `recheck_pinned_base` saw it.
async fn buildkit_pin(
    cx: &Context<'_>,
    docker: &Docker,
) -> Result<Option<String>, Option<ReactorError>> {
    let (Some(base), Some(id)) = (&cx.base_image, &cx.results.base_image_id) else {
        return Ok(None);
    };
    let image = match docker.inspect_image(id).await {
        Ok(image) => image,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Err(None),
        Err(err) => {
            return Err(Some(
                ReactorError::docker("inspect of the held base image")(err),
            ));
        }
    };
    let names = [base.name(), base.familiar_name()];
    Ok(image
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .find(|rd| {
            rd.split_once('@')
                .is_some_and(|(name, _)| names.iter().any(|n| n == name))
        }))
}

/// The BuildKit half of `docker_api`: the `FROM` of the Dockerfile it builds pinned to the
/// base-image hold (BuildKit resolves a name in the Engine's image store, not a bare image id;
/// the hold names exactly the recorded `base-image-id` and cannot move while this build runs;
/// the results keep the Dockerfile pinned to the id), the context
/// collected, the solve with the request's build arguments and secrets, its status rendered
/// into the build log, and the image id read back from the tag the Engine stored it under.
async fn buildkit_build(
    cx: &mut Context<'_>,
    docker: &Docker,
    dir: PathBuf,
    ignore: context_tar::DockerIgnore,
) -> Result<Step, ReactorError> {
    if let Some(hold) = cx.base_hold.clone() {
        let pin = match buildkit_pin(cx, docker).await {
            Ok(pin) => pin,
            Err(Some(err)) => return Err(err),
            // The Engine can still drop an image that another run's clean-up removed the last
            // name of at the moment this run pulled and held it (a base built just before,
            // in a cascade): it is pulled and held again, and must be the recorded one.
            Err(None) => {
                if let Some(step) = recheck_pinned_base(cx, docker).await? {
                    return Ok(step);
                }
                buildkit_pin(cx, docker).await.map_err(|err| {
                    err.unwrap_or_else(|| ReactorError::Pull {
                        image: cx
                            .base_image
                            .as_ref()
                            .map_or_else(String::new, ToString::to_string),
                        message: "the held base image vanished from the Docker Engine twice"
                            .to_owned(),
                    })
                })?
            }
        }
        .unwrap_or(hold);
        let (pinned, _) = pinned_dockerfile(cx, &pin)?;
        let path = dir.join("Dockerfile");
        tokio::fs::write(&path, pinned)
            .await
            .map_err(|source| ReactorError::Io {
                action: "write",
                path,
                source,
            })?;
    }
    let secrets: BTreeMap<String, PathBuf> = cx
        .request
        .build_secrets
        .iter()
        .map(|(id, file)| (id.clone(), PathBuf::from(file)))
        .collect();
    for (id, file) in &secrets {
        // A missing source would make BuildKit mount nothing; say which one instead.
        std::fs::File::open(file).map_err(|source| ReactorError::Io {
            action: "read the build secret",
            path: file.clone(),
            source,
        })?;
        cx.log(&format!("build secret {id} from {}", file.display()));
    }
    let context = buildkit::collect_context(context_tar::stream(dir.clone(), ignore))
        .await
        .map_err(|source| ReactorError::Io {
            action: "read the build context",
            path: dir,
            source,
        })?;
    let tag = format!(
        "{BUILT_REPOSITORY}:{}",
        unique_tag(&cx.request.build_name, SystemTime::now())
    );
    cx.log(&format!(
        "building with BuildKit ({} KiB of context)",
        context.len().div_ceil(1024)
    ));
    let build_args = cx.request.variant.build_args.clone();
    let solve = buildkit::Solve {
        tag: &tag,
        context,
        no_cache: cx.request.no_cache,
        build_args: &build_args,
        secrets: &secrets,
    };
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut on_line = move |line: String| {
        let _ = lines_tx.send(line);
    };
    let cancel = cx.cancel.clone();
    let outcome = {
        let solving = buildkit::build(docker, solve, &cancel, &mut on_line);
        let mut solving = std::pin::pin!(solving);
        loop {
            tokio::select! {
                result = &mut solving => break result,
                Some(line) = lines_rx.recv() => cx.log(&line),
            }
        }
    };
    drop(on_line);
    while let Ok(line) = lines_rx.try_recv() {
        cx.log(&line);
    }
    // The tag exists once the exporter ran; a failed or cancelled solve may have made it too.
    cx.built_tag = Some(tag.clone());
    match outcome {
        Ok(true) => {}
        Ok(false) => return Ok(Step::Cancel(CANCELLED.to_owned())),
        Err(message) => {
            cx.log(&message);
            return Err(ReactorError::BuildFailed { message });
        }
    }
    let id = docker
        .inspect_image(&tag)
        .await
        .map_err(ReactorError::docker("inspect of the built image"))?
        .id
        .ok_or(ReactorError::Missing {
            what: "the id of the built image",
        })?;
    cx.log(&format!("built image {id}"));
    cx.results.image_id = Some(id.clone());
    cx.image_id = Some(id);
    Ok(Step::Done)
}

/// Builds the image through the Docker Engine API (classic builder, intermediate containers
/// always removed). A cancel drops the request, which makes the daemon stop the build, and
/// removes the step's container in case the daemon did not.
pub(crate) fn docker_api<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let docker = cx.docker().await?;
        if let Some(step) = recheck_pinned_base(cx, &docker).await? {
            return Ok(step);
        }
        let dir = cx.source_dir()?;
        let ignore = context_tar::load_dockerignore(&dir).map_err(|source| ReactorError::Io {
            action: "read",
            path: dir.join(".dockerignore"),
            source,
        })?;
        if builder(cx, &docker).await == Builder::Buildkit {
            return buildkit_build(cx, &docker, dir, ignore).await;
        }
        cx.log("building with the classic builder");
        let body = bollard::body_try_stream(context_tar::stream(dir, ignore));
        // `--build-arg`: the Docker build's arguments (a regular build's come from its
        // BuildConfig, so autorebuilds build with them too).
        let build_args: std::collections::HashMap<String, String> =
            cx.request.variant.build_args.clone().into_iter().collect();
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .rm(true)
            .forcerm(true)
            .nocache(cx.request.no_cache)
            .buildargs(&build_args)
            .build();
        let mut stream = docker.build_image(options, None, Some(body));
        let mut buffer = String::new();
        let mut running: Option<String> = None;
        let mut image_id: Option<String> = None;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                () = cx.cancel.cancelled() => {
                    drop(stream);
                    if let Some(id) = running {
                        remove_step_container(&docker, &id).await;
                    }
                    return Ok(Step::Cancel(CANCELLED.to_owned()));
                }
            };
            let info = match item {
                None => break,
                Some(Ok(info)) => info,
                Some(Err(bollard::errors::Error::DockerStreamError { error })) => {
                    for line in complete_lines(&mut buffer, "\n") {
                        if !line.is_empty() {
                            cx.log(&line);
                        }
                    }
                    cx.log(&error);
                    return Err(ReactorError::BuildFailed { message: error });
                }
                Some(Err(err)) => return Err(ReactorError::docker("build")(err)),
            };
            if let Some(text) = &info.stream {
                for line in complete_lines(&mut buffer, text) {
                    if let Some(id) = line.trim().strip_prefix("---> Running in ") {
                        running = Some(id.trim().to_owned());
                    }
                    cx.log(&line);
                }
            }
            if let Some(bollard::models::BuildInfoAux::Default(aux)) = &info.aux
                && let Some(id) = &aux.id
            {
                image_id = Some(id.clone());
            }
        }
        if !buffer.is_empty() {
            cx.log(&buffer);
        }
        let id = image_id.ok_or(ReactorError::BuildFailed {
            message: "the Docker Engine reported no image id".to_owned(),
        })?;
        cx.log(&format!("built image {id}"));
        cx.results.image_id = Some(id.clone());
        cx.image_id = Some(id);
        Ok(Step::Done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_across_chunks() {
        let mut buffer = String::new();
        assert!(complete_lines(&mut buffer, "Step 1/2 : FROM").is_empty());
        assert_eq!(
            complete_lines(&mut buffer, " x\n ---> abc\nStep"),
            ["Step 1/2 : FROM x", " ---> abc"]
        );
        assert_eq!(buffer, "Step");
    }

    #[test]
    fn digests_of_local_images() {
        let base: ImageReference = "127.0.0.1:5000/osbs/busybox:latest".parse().unwrap();
        let rd = vec!["127.0.0.1:5000/osbs/busybox@sha256:aa".to_owned()];
        assert!(has_digest(&rd, &base, "sha256:aa"));
        assert!(!has_digest(&rd, &base, "sha256:bb"));
        let hub: ImageReference = "busybox:1".parse().unwrap();
        assert!(has_digest(
            &["busybox@sha256:aa".to_owned()],
            &hub,
            "sha256:aa"
        ));
    }
}
