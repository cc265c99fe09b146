//! [`Store`]: what the engine reads and writes, implemented over SQLite (osbs-local) and over
//! the Kubernetes API (osbs-kube). Every write that depends on what was read is a
//! compare-and-swap on the record's version, so two engines (two `osbs` processes, two
//! controller replicas) never both apply a decision.

use std::future::Future;

use osbs_core::build::ImageImport;
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStream};
use osbs_core::time::Timestamp;
use osbs_core::trigger::SkippedTrigger;
use osbs_core::variant::BuildVariant;

use crate::notify::Delivery;

/// An error of a store; the engine reports it and tries again on its next pass.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// What a store call returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// Who runs an active build, as far as the store knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunnerState {
    /// The runner's identity once it registered: a process (`PID:START`) or a Pod name.
    pub runner: Option<String>,
    /// When the runner last reported (or when the run started, before its first report).
    pub heartbeat: Option<Timestamp>,
}

/// An unfinished build with what the engine needs to supervise it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The build.
    pub build: Build,
    /// Its version: a write based on this record names it and fails if the build changed.
    pub version: u64,
    /// The lease of its current run (`Pending`/`Running`); `None` while queued.
    pub lease: Option<String>,
    /// Its runner.
    pub runner: RunnerState,
}

/// What an import into an ImageStream did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The ImageStream afterwards.
    pub stream: ImageStream,
    /// The autorebuilds its changed tags queued.
    pub queued: Vec<Build>,
    /// Triggered BuildConfigs that got no build, and why.
    pub skipped: Vec<SkippedTrigger>,
}

/// The engine's view of the service's state.
pub trait Store: Send + Sync {
    /// Every `New`, `Pending` and `Running` build of the instance.
    fn unfinished(&self) -> impl Future<Output = StoreResult<Vec<RunRecord>>> + Send;

    /// `New` → `Pending` for `build` at `version`, under a new run `lease`; the run's
    /// heartbeat counts from `now`. `false` when the build changed meanwhile.
    fn start_run(
        &self,
        build: &str,
        version: u64,
        lease: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Writes `build` (the engine's decision: `Error`, `Cancelled`) if it is still at
    /// `version`; a build that ends loses its lease, which fences its runner. `false` when the
    /// build changed meanwhile.
    fn update_build(
        &self,
        build: &Build,
        version: u64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Every build, finished or not, without the bulky results (for pruning).
    fn all_builds(&self) -> impl Future<Output = StoreResult<Vec<Build>>> + Send;

    /// Removes an ended build and its logs; an unfinished build is left alone.
    fn delete_build(&self, name: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// One BuildConfig.
    fn build_config(
        &self,
        name: &str,
    ) -> impl Future<Output = StoreResult<Option<BuildConfig>>> + Send;

    /// Queues a build of BuildConfig `config` (its counter bumped) with `cause`, `commit`
    /// and `is_autorebuild`, created `now`; with `variant` (a re-run of a scratch or isolated
    /// build), else the BuildConfig's build arguments.
    fn queue_build(
        &self,
        config: &str,
        cause: BuildCause,
        commit: Option<String>,
        is_autorebuild: bool,
        variant: Option<BuildVariant>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Build>> + Send;

    /// One build, with its results.
    fn build(&self, name: &str) -> impl Future<Output = StoreResult<Option<Build>>> + Send;

    /// Every ImageStream.
    fn image_streams(&self) -> impl Future<Output = StoreResult<Vec<ImageStream>>> + Send;

    /// Applies `import` (made by the build `by`, or by a user or the schedule when `None`)
    /// and, with `fire`, queues the autorebuilds its changed tags fire, atomically, with
    /// `osbs_core::import::apply_import` and `TriggerGraph::fan_out`. Without `fire` the
    /// digests are only recorded (the first sighting of an external image: its baseline).
    fn import(
        &self,
        import: &ImageImport,
        by: Option<&Build>,
        fire: bool,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Imported>> + Send;

    /// Ended builds whose notifications were not yet queued, oldest first.
    fn unnotified(&self) -> impl Future<Output = StoreResult<Vec<Build>>> + Send;

    /// Marks `build` notified and queues its `deliveries` (possibly none), atomically.
    fn queue_deliveries(
        &self,
        build: &str,
        deliveries: &[Delivery],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Queued deliveries whose next attempt is due at `now`.
    fn due_deliveries(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Vec<Delivery>>> + Send;

    /// Records an attempt of `delivery`: `next` is when to try again, `None` when it is done
    /// (delivered or given up) and can be dropped.
    fn record_attempt(
        &self,
        delivery: &Delivery,
        next: Option<Timestamp>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
