//! The plugins, listed in one static, explicit registry ([`all`]) in the order they run.
//!
//! A plugin is a function over the private per-run [`Context`]; it returns a [`Step`] or an
//! error. The runner in `pipeline` decides what a failure means from the plugin's `required`
//! and `allowed_to_fail` (and the build request's overrides).

pub(crate) mod build;
pub(crate) mod exit;
mod labels;
pub(crate) mod push;
mod rebuild;
mod registries;
mod release;
mod source;
mod sync;

use std::future::Future;
use std::pin::Pin;

use crate::error::ReactorError;
use crate::pipeline::Context;

/// The phases of a build, in order. Exit plugins always run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Prepare: clone, decide the release, pull the base image, add labels.
    Prebuild,
    /// Build the image.
    Buildstep,
    /// Tag, push, sync, import.
    Postbuild,
    /// Always run, also after a failure or a cancel: store results, clean up.
    Exit,
}

/// What a plugin that did not fail asks of the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Done; go on.
    Done,
    /// Nothing to do (the reason is logged).
    Skipped(String),
    /// End the build `Cancelled` with this reason (exit plugins still run).
    Cancel(String),
}

/// What a plugin function returns.
pub(crate) type PluginFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Step, ReactorError>> + Send + 'a>>;

/// A plugin function.
type RunFn = for<'a> fn(&'a mut Context) -> PluginFuture<'a>;

/// One plugin: its name, phase, defaults, and the function that runs it.
pub struct PluginSpec {
    /// The plugin's name, as in atomic-reactor (`fetch_source`, `docker_api`, …).
    pub name: &'static str,
    /// The phase it runs in.
    pub phase: Phase,
    /// Whether it must run (a plugin that is not required may be disabled per build).
    pub required: bool,
    /// Whether a failure lets the build go on.
    pub allowed_to_fail: bool,
    pub(crate) run: RunFn,
}

impl std::fmt::Debug for PluginSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSpec")
            .field("name", &self.name)
            .field("phase", &self.phase)
            .field("required", &self.required)
            .field("allowed_to_fail", &self.allowed_to_fail)
            .finish()
    }
}

const fn plugin(
    name: &'static str,
    phase: Phase,
    required: bool,
    allowed_to_fail: bool,
    run: RunFn,
) -> PluginSpec {
    PluginSpec {
        name,
        phase,
        required,
        allowed_to_fail,
        run,
    }
}

/// Every plugin, in the order it runs (SPEC §3 step 6).
pub fn all() -> &'static [PluginSpec] {
    use Phase::*;
    const ALL: &[PluginSpec] = &[
        plugin("fetch_source", Prebuild, true, false, source::fetch_source),
        plugin(
            "check_and_set_rebuild",
            Prebuild,
            true,
            false,
            rebuild::check_and_set_rebuild,
        ),
        plugin(
            "stop_autorebuild_if_disabled",
            Prebuild,
            false,
            false,
            rebuild::stop_autorebuild_if_disabled,
        ),
        plugin("bump_release", Prebuild, true, false, release::bump_release),
        plugin(
            "pull_base_image",
            Prebuild,
            false,
            false,
            build::pull_base_image,
        ),
        plugin("add_labels", Prebuild, true, false, labels::add_labels),
        plugin("docker_api", Buildstep, true, false, build::docker_api),
        plugin("tag_by_labels", Postbuild, true, false, push::tag_by_labels),
        plugin("tag_and_push", Postbuild, true, false, push::tag_and_push),
        plugin(
            "registry_sync",
            Postbuild,
            false,
            false,
            sync::registry_sync,
        ),
        plugin(
            "push_to_other_registries",
            Postbuild,
            true,
            false,
            registries::push_to_other_registries,
        ),
        plugin("import_image", Postbuild, false, false, exit::import_image),
        // The results are stored first: that finishes the Build (`osbs build` returns, the
        // next build of its BuildConfig may start) while this run cleans up. The clean-up
        // removes only names of this build's own, so it cannot race that next build; its
        // failure is logged and changes nothing stored (`pipeline`).
        plugin("store_metadata", Exit, true, false, exit::store_metadata),
        plugin(
            "remove_built_image",
            Exit,
            false,
            true,
            exit::remove_built_image,
        ),
    ];
    ALL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_ordered_by_phase_and_names_are_unique() {
        let plugins = all();
        assert!(plugins.windows(2).all(|w| w[0].phase <= w[1].phase));
        let mut names: Vec<_> = plugins.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), plugins.len());
    }

    #[test]
    fn results_are_stored_before_the_clean_up_which_runs_last() {
        // Storing the results finishes the Build: the clean-up comes after it, last, so that
        // the user has the result without waiting for it. (That it removes only names unique
        // to the build is shown by the integration tests `builds::*_leaves_nothing_behind`.)
        let names: Vec<_> = all().iter().map(|p| p.name).collect();
        let [.., store, clean_up] = names[..] else {
            panic!("too few plugins: {names:?}");
        };
        assert_eq!((store, clean_up), ("store_metadata", "remove_built_image"));
        let exit: Vec<_> = all().iter().filter(|p| p.phase == Phase::Exit).collect();
        assert_eq!(exit.len(), 2, "{exit:?}");
        let clean_up = exit[1];
        assert!(clean_up.allowed_to_fail && !clean_up.required);
    }
}
