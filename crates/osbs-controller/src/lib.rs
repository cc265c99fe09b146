//! The OSBS Kubernetes controller, library of the `osbs-controller` binary.
//!
//! While it holds the leader Lease ([`leader`]), it runs the service of SPEC §10 with
//! `osbs_engine::Engine` over the namespace's resources (`osbs_kube::KubeStore`, build Pods
//! through `osbs_kube::KubeExecutor`): queue supervision under the run policy and
//! `max_concurrent_builds`, stale runs fenced and cleaned up, the fan-out of image-change
//! triggers, scheduled import of external base images, notifications and pruning
//! ([`runtime::Service::round`]). What only Kubernetes needs is decided by a pure function
//! tested without a cluster, [`reconcile()`] (cancel requests → Pod deletion with a grace
//! period, Pod fate → Build phase, Pods of started builds that were never created);
//! [`leader::decide`] is the Lease rule. [`runtime`] is the I/O edge. [`probes`] serves
//! `/healthz`, `/readyz` and the Prometheus [`metrics`]; [`logging`] writes text or JSON logs.
//!
//! The controller names the build Pod's binary (`osbs_kube::render_pod`) but links neither the
//! reactor nor a Docker client.

mod cli;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod probes;
mod reconcile;
pub mod runtime;

pub use cli::main;
pub use reconcile::{BuildView, Change, Effect, Settings, reconcile};

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
