//! `fetch_source`: clone the repository at the exact commit and read its Dockerfile.

use osbs_core::ImageReference;
use osbs_core::dockerfile;

use super::{PluginFuture, Step};
use crate::error::ReactorError;
use crate::git;
use crate::pipeline::Context;

/// Clones `git_url` at `git_commit` (or the branch head), parses the Dockerfile and its base
/// image, and records the commit.
pub(crate) fn fetch_source<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let dest = cx.workdir.path().join("source");
        let request = &cx.request;
        let commit = git::clone_at(
            &request.git_url,
            &request.git_branch,
            request.git_commit.as_deref(),
            &dest,
        )
        .await?;
        cx.log(&format!(
            "cloned {} at {commit}",
            git::redact_url(&cx.request.git_url)
        ));
        cx.results.commit_id = Some(commit.clone());
        cx.source_dir = Some(dest.clone());

        let path = dest.join("Dockerfile");
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReactorError::MissingDockerfile { commit });
            }
            Err(source) => {
                return Err(ReactorError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        cx.results.dockerfile = Some(text.clone());
        let parsed = dockerfile::parse(&text)?;
        if let Some(base) = &parsed.base_image {
            let reference =
                base.parse::<ImageReference>()
                    .map_err(|source| ReactorError::BaseImage {
                        line: parsed.base_image_line,
                        value: base.clone(),
                        source,
                    })?;
            cx.results.base_image_name = Some(base.clone());
            cx.base_image = Some(reference);
        }
        cx.dockerfile = Some(parsed);
        Ok(Step::Done)
    })
}
