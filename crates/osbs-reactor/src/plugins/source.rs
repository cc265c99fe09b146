//! `fetch_source`: clone the repository at the exact commit and read its Dockerfile (and check
//! its `.dockerignore`) from the commit's git objects, by the rules submission applied
//! (`source_files`).

use super::{PluginFuture, Step};
use crate::error::ReactorError;
use crate::git;
use crate::pipeline::Context;
use crate::source_files::{self, SourceDockerfile};

/// Clones `git_url` at `git_commit` (or the branch head), reads the Dockerfile from the
/// commit, parses it and its base image, checks `.dockerignore`, and records the commit;
/// starts the lookup of the request's base image hint first, to run during the clone.
pub(crate) fn fetch_source<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        // The base image the request expects is looked up meanwhile (`pull_base_image` uses
        // the answer if the cloned Dockerfile names the same image).
        super::build::start_base_check(cx);
        let dest = cx.workdir.path().join("source");
        let stored = cx
            .host
            .git_password()
            .await
            .map_err(ReactorError::host("read the git password"))?;
        let request = &cx.request;
        let commit = git::clone_at(
            &request.git_url,
            &request.git_branch,
            request.git_commit.as_deref(),
            &dest,
            stored,
        )
        .await?;
        cx.log(&format!(
            "cloned {} at {commit}",
            git::redact_url(&cx.request.git_url)
        ));
        cx.results.commit_id = Some(commit.clone());
        cx.source_dir = Some(dest.clone());

        let build_args = cx.request.variant.build_args.clone();
        let SourceDockerfile {
            text,
            parsed,
            base_image,
        } = blocking(move || {
            let dockerfile = source_files::dockerfile_with_args(&dest, &commit, &build_args)?;
            source_files::dockerignore(&dest, &commit)?;
            Ok(dockerfile)
        })
        .await?;
        cx.results.dockerfile = Some(text);
        if let Some(reference) = base_image {
            cx.results.base_image_name = parsed.base_image.clone();
            cx.base_image = Some(reference);
        }
        cx.dockerfile = Some(parsed);
        Ok(Step::Done)
    })
}

/// Runs `f` (short git plumbing) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, source_files::SourceFileError> + Send + 'static,
) -> Result<T, ReactorError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReactorError::Request {
            reason: format!("reading the repository's files stopped: {e}"),
        })?
        .map_err(ReactorError::from)
}
