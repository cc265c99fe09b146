//! `check_and_set_rebuild` and `stop_autorebuild_if_disabled`: the autorebuild bookkeeping of
//! SPEC §3 steps 4 and 6.

use super::source::blocking;
use super::{PluginFuture, Step};
use crate::error::ReactorError;
use crate::pipeline::Context;
use crate::source_files;

/// The BuildConfig label that marks triggered builds as autorebuilds.
pub(crate) const IS_AUTOREBUILD: &str = "is_autorebuild";

/// The reason an autorebuild of a repository that opted out ends `Cancelled`.
pub(crate) const AUTOREBUILD_DISABLED: &str = "autorebuild disabled in .osbs-repo-config";

/// A user build sets the BuildConfig's `is_autorebuild` label to `true`, so the builds its
/// trigger starts are marked autorebuilds. An autorebuild leaves it alone.
pub(crate) fn check_and_set_rebuild<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        if cx.request.is_autorebuild {
            cx.log("this is an autorebuild");
            return Ok(Step::Skipped("build is an autorebuild".to_owned()));
        }
        cx.host
            .set_build_config_label(IS_AUTOREBUILD, "true")
            .await
            .map_err(ReactorError::host(
                "set the BuildConfig label is_autorebuild",
            ))?;
        Ok(Step::Done)
    })
}

/// An autorebuild of a repository whose repo config disables autorebuilds ends `Cancelled`.
/// The config is read from the commit's git objects by the rules submission applied
/// (`source_files::repo_config`): a symlink, directory, oversized or malformed config fails
/// the build naming the file, and nothing outside the repository is ever read.
pub(crate) fn stop_autorebuild_if_disabled<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        if !cx.request.is_autorebuild {
            return Ok(Step::Skipped("not an autorebuild".to_owned()));
        }
        let dir = cx.source_dir()?;
        let commit = cx
            .results
            .commit_id
            .clone()
            .ok_or(ReactorError::Missing { what: "the commit" })?;
        let name = cx.request.repo_config_name.clone();
        let config = blocking(move || source_files::repo_config(&dir, &commit, &name)).await?;
        for warning in config.warnings() {
            cx.log(&format!("warning: {warning}"));
        }
        if config.autorebuild_enabled() {
            Ok(Step::Done)
        } else {
            Ok(Step::Cancel(AUTOREBUILD_DISABLED.to_owned()))
        }
    })
}
