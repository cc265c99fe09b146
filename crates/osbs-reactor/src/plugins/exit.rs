//! `import_image` (postbuild) and the exit plugins `store_metadata` and `remove_built_image`.

use bollard::query_parameters::RemoveImageOptionsBuilder;
use osbs_core::build::ImageImport;

use super::{PluginFuture, Step};
use crate::error::ReactorError;
use crate::pipeline::Context;

/// Imports the pushed tags into the image's ImageStream (the repository with `/` → `-`).
pub(crate) fn import_image<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let target = cx.target()?;
        let import = ImageImport {
            image_stream: osbs_core::naming::image_stream_name(&target.repository),
            docker_image_repository: target.image(),
            tags: cx
                .results
                .digests
                .iter()
                .map(|d| (d.tag.clone(), d.digest.clone()))
                .collect(),
        };
        cx.host
            .import_image(&import)
            .map_err(ReactorError::host("import the image"))?;
        cx.log(&format!(
            "imported {} tags into image stream {}",
            import.tags.len(),
            import.image_stream
        ));
        Ok(Step::Done)
    })
}

/// Stores the outcome and results (SPEC §5) on the Build through the host.
pub(crate) fn store_metadata<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let outcome = cx.outcome();
        cx.host
            .store_results(&outcome)
            .map_err(ReactorError::host("store the results"))?;
        Ok(Step::Done)
    })
}

/// Removes the built image and all its tags from the Docker Engine.
pub(crate) fn remove_built_image<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        let (Some(id), Some(docker)) = (cx.image_id.clone(), cx.connected_docker()) else {
            return Ok(Step::Skipped("no image was built".to_owned()));
        };
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        docker
            .remove_image(&id, Some(options), None)
            .await
            .map_err(ReactorError::docker("image removal"))?;
        cx.log(&format!("removed image {id}"));
        Ok(Step::Done)
    })
}
