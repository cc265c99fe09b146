//! `bump_release`: choose the release from the target repository's tags (SPEC §3 step 7).

use osbs_core::release::next_release;
use osbs_core::target;

use super::{PluginFuture, Step};
use crate::error::ReactorError;
use crate::pipeline::{Context, Target};
use crate::registry::{Auth, Registry};

/// Reads the registry secret and works out the push target: the registry of `registry_uri` and
/// the repository the request or the Dockerfile's `name` label names.
fn prepare_target(cx: &mut Context<'_>) -> Result<(), ReactorError> {
    // The registry secret (else the files docker, podman and skopeo read) and the TLS
    // settings, for every registry call from here on.
    cx.auth = Auth::for_request(&cx.request)?;
    let registry = Registry::from_uri(&cx.request.registry_uri, &cx.auth)?;
    let name = match &cx.request.image_name {
        Some(name) => name.clone(),
        None => cx
            .dockerfile()?
            .name()
            .ok_or(ReactorError::MissingLabel { label: "name" })?
            .to_owned(),
    };
    // The repository must be valid under the registry's host: the rule submission applied.
    let repository = target::repository(registry.host(), &name)?;
    cx.target = Some(Target {
        registry,
        repository,
    });
    Ok(())
}

/// Chooses the release: `1 +` the highest numeric release of this version in the target
/// repository, or the Dockerfile's explicit release (with a counter for autorebuilds).
pub(crate) fn bump_release<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        prepare_target(cx)?;
        let dockerfile = cx.dockerfile()?;
        let version = dockerfile
            .version()
            .ok_or(ReactorError::MissingLabel { label: "version" })?
            .to_owned();
        let variant = &cx.request.variant;
        if !variant.takes_release() {
            target::validate_version(&version)?;
            cx.version = Some(version);
            return Ok(Step::Skipped(
                "a scratch build takes no release (only its unique tag is pushed)".to_owned(),
            ));
        }
        // `--release` (an isolated build's, or a user's) comes before the Dockerfile's label.
        let explicit = variant
            .release
            .clone()
            .or_else(|| dockerfile.release().map(str::to_owned));
        target::validate_labels(Some(&version), explicit.as_deref())?;
        let target = cx.target()?;
        let tags = target.registry.list_tags(&target.repository).await?;
        let release = next_release(
            &version,
            explicit.as_deref(),
            cx.request.is_autorebuild,
            &tags,
        )?;
        // The tags this release makes (`version-release`, `version`, `latest`) are valid
        // and distinct, before anything is built.
        target::primary_tags(&version, &release)?;
        cx.log(&format!("release {release} for version {version}"));
        cx.version = Some(version);
        cx.results.release = Some(release);
        Ok(Step::Done)
    })
}
