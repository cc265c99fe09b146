//! The service logic of OSBS in Rust (SPEC §10), written once for both backends over two
//! traits: [`Store`] (the state, with compare-and-swap on a version) and [`Executor`] (runs:
//! start, liveness, clean-up).
//!
//! [`Engine::pass`] is one round of queue supervision: the run policy and the
//! `max_concurrent_builds` cap decide (`osbs_core::policy::schedule_capped`), the engine
//! applies each decision as a compare-and-swap, starts runs under fresh leases, and cleans up
//! after runs it declared dead (their lease is gone, so nothing they still try takes effect).
//! [`Engine::notify`] queues and sends notifications of ended builds,
//! [`Engine::scheduled_import`] re-reads external base images, [`Engine::prune`] removes old
//! builds, and [`Engine::start_build`] re-runs a BuildConfig. The daemonless local CLI calls
//! `pass` before every answer; `osbs serve` and `osbs-controller` call everything on a timer
//! ([`Engine::run`]).

pub mod backend;
pub mod executor;
pub mod import;
pub mod notify;
pub mod store;

use std::time::Duration;

use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, BuildCause};
use osbs_core::policy::{self, Action, StaleRules};
use osbs_core::prune::PruneRules;
use osbs_core::time::Timestamp;

pub use executor::Executor;
pub use notify::{Delivery, Notifier, NotifySettings};
pub use store::{Imported, RunRecord, RunnerState, Store, StoreError, StoreResult};

/// Tells [`Engine::run`] to stop: it returns once the paired sender sends `true`.
pub type Shutdown = tokio::sync::watch::Receiver<bool>;

/// How the engine behaves (osbs.conf keys of SPEC §10).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// `max_concurrent_builds`: running builds across all BuildConfigs; `None`: no bound.
    pub max_concurrent_builds: Option<usize>,
    /// When a silent runner counts as gone.
    pub stale: StaleRules,
    /// `import_interval`: how often external ImageStreams are re-read; `None` (`off`): never.
    pub import_interval: Option<Duration>,
    /// `keep_builds`: ended builds kept per BuildConfig by the controller's pruning.
    pub keep_builds: usize,
    /// Where notifications go.
    pub notify: NotifySettings,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_concurrent_builds: None,
            stale: StaleRules::default(),
            import_interval: Some(Duration::from_secs(15 * 60)),
            keep_builds: 50,
            notify: NotifySettings::default(),
        }
    }
}

/// What one [`Engine::pass`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// The decisions applied, in order.
    pub applied: Vec<Action>,
    /// Problems met on the way (a run that could not be started, a clean-up that failed).
    pub problems: Vec<String>,
}

/// An error that stops an engine call: the store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct EngineError {
    /// What the engine was doing.
    pub context: String,
    /// The store's error.
    #[source]
    pub source: StoreError,
}

fn store_error(context: &str) -> impl FnOnce(StoreError) -> EngineError + '_ {
    move |source| EngineError {
        context: context.to_owned(),
        source,
    }
}

/// Now, read from the system clock.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// A new run lease: unique per start of a build.
pub fn new_lease(build: &str, now: Timestamp) -> String {
    format!("{build}/{}-{:08x}", now.unix_millis(), fastrand::u32(..))
}

/// The service logic over a store `S` and an executor `E`.
#[derive(Debug)]
pub struct Engine<S, E> {
    store: S,
    executor: E,
    settings: EngineSettings,
}

impl<S: Store, E: Executor> Engine<S, E> {
    /// An engine over `store` and `executor`.
    pub fn new(store: S, executor: E, settings: EngineSettings) -> Self {
        Engine {
            store,
            executor,
            settings,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// One round of queue supervision: stale runs end `Error` (and are cleaned up), superseded
    /// queued autorebuilds end `Cancelled`, and queued builds start as far as the run policy and
    /// the cap allow. Every decision is applied as a compare-and-swap, so engines running side
    /// by side never both apply one; a lost race is simply decided again next pass.
    ///
    /// # Errors
    ///
    /// [`EngineError`] when the store cannot be read; failures of single decisions are in the
    /// report's `problems`.
    pub async fn pass(&self) -> Result<PassReport, EngineError> {
        let records = self
            .store
            .unfinished()
            .await
            .map_err(store_error("cannot read the unfinished builds"))?;
        let now = now();
        let builds: Vec<Build> = records.iter().map(|r| r.build.clone()).collect();
        let actions = policy::schedule_capped(
            &builds,
            |b| {
                records
                    .iter()
                    .find(|r| r.build.name == b.name)
                    .map_or(policy::Liveness::Unknown, |r| {
                        self.executor.liveness(r, now)
                    })
            },
            &self.settings.stale,
            self.settings.max_concurrent_builds,
        );
        let mut report = PassReport::default();
        for action in actions {
            let Some(record) = records.iter().find(|r| r.build.name == action.build()) else {
                continue;
            };
            match self.apply(&action, record, now).await {
                Ok(true) => report.applied.push(action),
                Ok(false) => {}
                Err(problem) => report.problems.push(problem),
            }
        }
        for problem in &report.problems {
            tracing::warn!("{problem}");
        }
        Ok(report)
    }

    /// Applies one decision about `record`; `Ok(false)` when the build moved on meanwhile.
    async fn apply(
        &self,
        action: &Action,
        record: &RunRecord,
        now: Timestamp,
    ) -> Result<bool, String> {
        let name = &record.build.name;
        match action {
            Action::Start { .. } => {
                let lease = new_lease(name, now);
                let started = self
                    .store
                    .start_run(name, record.version, &lease, now)
                    .await
                    .map_err(|e| format!("cannot start build {name}: {e}"))?;
                if !started {
                    return Ok(false);
                }
                let mut build = record.build.clone();
                build.phase = BuildPhase::Pending;
                self.executor
                    .start(&build, &lease)
                    .await
                    .map_err(|e| format!("cannot start the run of build {name}: {e}"))?;
                Ok(true)
            }
            Action::Error { .. } | Action::Cancel { .. } => {
                let mut build = record.build.clone();
                if !action.apply(&mut build, now) {
                    return Ok(false);
                }
                let written = self
                    .store
                    .update_build(&build, record.version)
                    .await
                    .map_err(|e| format!("cannot store {action}: {e}"))?;
                if written && matches!(action, Action::Error { .. }) {
                    self.executor
                        .clean_up(record)
                        .await
                        .map_err(|e| format!("cannot clean up after build {name}: {e}"))?;
                }
                Ok(written)
            }
        }
    }

    /// Queues the notifications of builds that ended since the last call, then makes every
    /// due delivery attempt with `notifier`. Attempts run one after the other, each bounded in
    /// time; a failed one is rescheduled with backoff ([`notify::next_attempt`]) or, after
    /// ten minutes of tries, given up and logged.
    ///
    /// # Errors
    ///
    /// [`EngineError`] when the outbox cannot be read or written.
    pub async fn notify(&self, notifier: &Notifier) -> Result<usize, EngineError> {
        let now = now();
        for build in self
            .store
            .unnotified()
            .await
            .map_err(store_error("cannot read the ended builds"))?
        {
            let deliveries = notify::deliveries_for(&build, notifier.settings(), now);
            self.store
                .queue_deliveries(&build.name, &deliveries)
                .await
                .map_err(store_error("cannot queue notifications"))?;
        }
        let due = self
            .store
            .due_deliveries(now)
            .await
            .map_err(store_error("cannot read the notification outbox"))?;
        let mut sent = 0;
        for mut delivery in due {
            delivery.attempts += 1;
            let next = match notifier.send(&delivery).await {
                Ok(()) => {
                    sent += 1;
                    None
                }
                Err(err) => {
                    delivery.last_error = Some(err.to_string());
                    let next = notify::next_attempt(&delivery, crate::now());
                    if next.is_none() {
                        tracing::warn!(
                            "giving up the {} notification of build {} after {} attempts: {err}",
                            delivery.event,
                            delivery.build,
                            delivery.attempts
                        );
                    }
                    next
                }
            };
            self.store
                .record_attempt(&delivery, next)
                .await
                .map_err(store_error("cannot update the notification outbox"))?;
        }
        Ok(sent)
    }

    /// Removes the ended builds `rules` select (`osbs_core::prune::prune`) and their logs;
    /// returns their names.
    ///
    /// # Errors
    ///
    /// [`EngineError`] when the builds cannot be read or one cannot be removed.
    pub async fn prune(&self, rules: &PruneRules) -> Result<Vec<String>, EngineError> {
        let builds = self
            .store
            .all_builds()
            .await
            .map_err(store_error("cannot read the builds"))?;
        let removed = osbs_core::prune::prune(&builds, rules);
        for name in &removed {
            self.store
                .delete_build(name)
                .await
                .map_err(store_error("cannot remove a build"))?;
        }
        Ok(removed)
    }

    /// `start-build`: queues a build of BuildConfig `config`. With `from_build`, that build's
    /// commit and kind again (an autorebuild stays an autorebuild of the same image change,
    /// e.g. to retry a failed one); else a user build of `commit` (the caller resolved it).
    ///
    /// # Errors
    ///
    /// [`StartBuildError`] for an unknown BuildConfig or build, a build of another
    /// BuildConfig, or a store failure.
    pub async fn start_build(
        &self,
        config: &str,
        commit: Option<String>,
        from_build: Option<&str>,
    ) -> Result<Build, StartBuildError> {
        let found = self
            .store
            .build_config(config)
            .await
            .map_err(StartBuildError::Store)?;
        if found.is_none() {
            return Err(StartBuildError::UnknownBuildConfig(config.to_owned()));
        }
        let (cause, commit, is_autorebuild, variant) = match from_build {
            Some(name) => {
                let from = self
                    .store
                    .build(name)
                    .await
                    .map_err(StartBuildError::Store)?
                    .ok_or_else(|| StartBuildError::UnknownBuild(name.to_owned()))?;
                if from.build_config != config {
                    return Err(StartBuildError::OtherBuildConfig {
                        build: name.to_owned(),
                        build_config: from.build_config,
                    });
                }
                // The same kind again: a scratch or isolated build re-runs as one.
                (
                    from.cause,
                    from.commit,
                    from.is_autorebuild,
                    Some(from.variant),
                )
            }
            None => (BuildCause::User, commit, false, None),
        };
        let build = self
            .store
            .queue_build(config, cause, commit, is_autorebuild, variant, now())
            .await
            .map_err(StartBuildError::Store)?;
        Ok(build)
    }

    /// Runs the service until `shutdown` says stop: a supervision pass every `tick`,
    /// notifications, a scheduled import every `import_interval` (with `source` reading the
    /// registries), and pruning by `keep_builds` every few minutes. Errors of one round are
    /// logged and the next round goes on.
    pub async fn run(
        &self,
        notifier: &Notifier,
        source: &impl import::ImageSource,
        tick: Duration,
        mut shutdown: Shutdown,
    ) {
        let mut last_import: Option<tokio::time::Instant> = None;
        let mut last_prune: Option<tokio::time::Instant> = None;
        const PRUNE_EVERY: Duration = Duration::from_secs(300);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(err) = self.pass().await {
                tracing::warn!("supervision: {}", error_chain(&err));
            }
            if let Err(err) = self.notify(notifier).await {
                tracing::warn!("notifications: {}", error_chain(&err));
            }
            if let Some(interval) = self.settings.import_interval
                && last_import.is_none_or(|t| t.elapsed() >= interval)
            {
                last_import = Some(tokio::time::Instant::now());
                match self.scheduled_import(source).await {
                    Ok(reports) => {
                        for report in reports {
                            report.log();
                        }
                    }
                    Err(err) => tracing::warn!("scheduled import: {}", error_chain(&err)),
                }
                // Builds it queued start at once, not a tick later.
                let _ = self.pass().await;
            }
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(tokio::time::Instant::now());
                let rules = PruneRules {
                    keep: self.settings.keep_builds,
                    ended_before: None,
                };
                match self.prune(&rules).await {
                    Ok(removed) if !removed.is_empty() => {
                        tracing::info!("pruned {} builds", removed.len());
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!("pruning: {}", error_chain(&err)),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// `start-build` failures.
#[derive(Debug, thiserror::Error)]
pub enum StartBuildError {
    /// No such BuildConfig.
    #[error("build config {0} not found")]
    UnknownBuildConfig(String),
    /// No such build.
    #[error("build {0} not found")]
    UnknownBuild(String),
    /// `--from-build` names a build of another BuildConfig.
    #[error("build {build} belongs to build config {build_config}")]
    OtherBuildConfig {
        /// The build.
        build: String,
        /// Its BuildConfig.
        build_config: String,
    },
    /// The store failed.
    #[error("cannot queue the build")]
    Store(#[source] StoreError),
}

/// `err` and its sources, joined with `: `.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
