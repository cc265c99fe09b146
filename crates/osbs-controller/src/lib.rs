//! The OSBS Kubernetes controller, library of the `osbs-controller` binary.
//!
//! The decisions are pure functions, tested without a cluster: [`reconcile()`] (one
//! BuildConfig's builds and Pods → [`Effect`]s: the serial run policy and coalescing through
//! `osbs_core::policy`, Pod fate → Build phase, stale or stuck Pods → `Error`, cancel →
//! Pod deletion with a grace period), [`plan_triggers`] (pending image-change triggers →
//! autorebuilds through `osbs_core::trigger`, replay-safe), [`render_pod`] (the build Pod) and
//! [`leader::decide`] (the Lease rule). [`runtime`] is the I/O edge on kube-runtime.

mod cli;
pub mod leader;
mod pod;
mod reconcile;
pub mod runtime;
mod triggers;

pub use cli::main;
pub use pod::{DockerMode, PodSecrets, PodSettings, render_pod};
pub use reconcile::{Change, Effect, PodPhase, PodView, Settings, reconcile};
pub use triggers::{TriggerPlan, plan_triggers};

use osbs_kube::KubeError;

/// What can stop the controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// An API call through `osbs-kube` failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// Another API call failed.
    #[error("cannot {verb} {resource} {name:?}")]
    Api {
        /// The RBAC verb.
        verb: &'static str,
        /// The resource.
        resource: String,
        /// The object.
        name: String,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
    /// Another replica took the Lease, or it could not be renewed in time.
    #[error("lost the leader lease {0}")]
    LostLease(String),
    /// The controller is misconfigured or cannot reach the API server.
    #[error("{0}")]
    Config(String),
}
