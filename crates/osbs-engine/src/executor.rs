//! [`Executor`]: how runs are started, watched and cleaned up: runner processes locally
//! (osbs-local), build Pods on Kubernetes (osbs-kube).

use std::future::Future;

use osbs_core::model::Build;
use osbs_core::policy::Liveness;
use osbs_core::time::Timestamp;

use crate::store::{RunRecord, StoreResult};

/// Starts and observes the runs of builds.
pub trait Executor: Send + Sync {
    /// Starts the run of `build` (now `Pending`) under `lease`; the runner must present the
    /// lease with every write. An error leaves the build `Pending`: with no runner reporting,
    /// it ends `Error` once its heartbeat is stale.
    fn start(&self, build: &Build, lease: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// What is known of the runner of the active build `record` at `now`.
    fn liveness(&self, record: &RunRecord, now: Timestamp) -> Liveness;

    /// Removes what the dead run of `record` left: its runner and the runner's children (a
    /// stopped or hung runner too), its work dir, held and built images. Called after the
    /// build was ended `Error` and its lease revoked; errors are reported, not fatal.
    fn clean_up(&self, record: &RunRecord) -> impl Future<Output = StoreResult<()>> + Send;
}
