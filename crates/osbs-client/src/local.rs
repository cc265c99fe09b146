//! The embedded local backend: `osbs_local`, re-exported (and opened from an `osbs.conf`
//! instance by [`open`]).

pub use osbs_local::*;

use crate::backend::{ClientError, Result};
use crate::config::Instance;

/// The settings of the local backend from `instance`.
pub fn options(instance: &Instance) -> LocalOptions {
    LocalOptions {
        state_dir: instance.state_dir.clone(),
        registry: instance.registry.clone(),
        registry_secret: instance.registry_secret.clone(),
        sync: instance.sync.as_ref().map(|s| LocalSyncTarget {
            name: s.name.clone(),
            registry: s.registry.clone(),
            secret: s.secret.clone(),
        }),
        repo_config_file: instance.repo_config_file.clone(),
        service: instance.service.clone(),
        push_method: instance.push_method,
        builder: instance.builder,
        build_secrets: instance.build_secrets.clone(),
        extra_registries: instance
            .extra_registries
            .iter()
            .map(|r| (r.registry.clone(), r.secret.clone()))
            .collect(),
        verify_ssl: instance.verify_ssl,
        registry_ca: instance.registry_ca.clone(),
    }
}

/// Opens the local backend of `instance`; runners are `osbs RUNNER_ARGS... __run-build` (see
/// [`LocalBackend::open`]).
///
/// # Errors
///
/// As [`LocalBackend::open`].
pub fn open(instance: &Instance, runner_args: Vec<String>) -> Result<LocalBackend, ClientError> {
    LocalBackend::open(&options(instance), runner_args)
}
