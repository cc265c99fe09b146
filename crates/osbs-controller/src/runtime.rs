//! The I/O edge: [`Service`] runs the controller in rounds, and [`run`] drives the rounds
//! (on every change of a Build, build Pod or ImageStream, and every tick) until SIGTERM.
//!
//! One round, in order:
//!
//! 1. the build Pods are listed (`KubeExecutor::refresh`: the snapshot the engine's liveness
//!    reads), *then* the Builds, so a Pod seen ended without an outcome really ended without
//!    one;
//! 2. [`crate::reconcile()`]'s effects are applied (cancel requests, Pod fate, Pods of started
//!    builds that were never created, Pods of ended builds); the build counters of
//!    BuildConfigs are raised past the numbers users took (`OsbsApi::raise_build_counters`:
//!    users create Builds but may not write the counter, which lives in the status); the
//!    metrics of Builds per phase are set;
//! 3. `Engine::pass`: the run policy and `max_concurrent_builds` start queued builds (a lease
//!    in the Build's status, then its Pod), end stale runs `Error` (lease revoked, Pod deleted)
//!    and cancel superseded autorebuilds;
//! 4. requested imports (`osbs import-image`, an `ImportRequest` annotation on the
//!    ImageStream): the registry is read with the controller's credentials, the import
//!    recorded and fanned out (`Engine::import_stream`), and the answer annotated;
//! 5. every ImageStream's pending triggers are fanned out (`KubeStore::fan_out_all`: the
//!    imports of build Pods, and any fan-out a restart cut short);
//! 6. `Engine::notify`: notifications of ended builds are queued on them and sent;
//! 7. every `import_interval`, `Engine::scheduled_import` re-reads external base images
//!    (credentials from the `--registry-secret` Secret), then another pass starts what it
//!    queued;
//! 8. every five minutes, `Engine::prune` keeps `keep_builds` ended builds per BuildConfig.
//!
//! A failure in one step is logged, reported and counted (`osbs_reconcile_errors_total`); the
//! round goes on, and the next round tries again. Everything is idempotent and every engine
//! write a compare-and-swap, so a round that acts on a stale view, or a controller that
//! restarts at any point, converges.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use osbs_core::prune::PruneRules;
use osbs_core::time::Timestamp;
use osbs_engine::import::{RegistrySource, StreamReport};
use osbs_engine::{Engine, EngineSettings, Notifier, PassReport, error_chain};
use osbs_kube::pod::BUILD_POD_SELECTOR;
use osbs_kube::{
    FiredTriggers, ImportDone, ImportFailure, KubeExecutor, KubeStore, OsbsApi, PodSettings,
    PodView,
};
use osbs_registry_sync::ClientOptions;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::ControllerError;
use crate::metrics::{ImportKind, Metrics};
use crate::probes::Health;
use crate::reconcile::{BuildView, Effect, Settings, reconcile};

/// How often pruning runs.
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// Everything the controller is configured with.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    /// The namespace it manages.
    pub namespace: String,
    /// How build Pods look.
    pub pod: PodSettings,
    /// The grace of cancels.
    pub reconcile: Settings,
    /// A build Pod still `Pending` (or not created) after this long is stuck: its Build ends
    /// `Error`.
    pub pending_timeout_ms: u64,
    /// The service settings of SPEC §10: the cap, the import interval, pruning, notifications.
    pub engine: EngineSettings,
    /// The Secret (`kubernetes.io/dockerconfigjson`) with the credentials of the scheduled
    /// import, if any.
    pub registry_secret: Option<String>,
    /// The ConfigMap whose key `ca.crt` holds extra CA certificates (PEM) for the registries
    /// of the imports: the same name as a kubernetes instance's `registry_ca` in osbs.conf,
    /// which the build Pods mount.
    pub registry_ca: Option<String>,
    /// Whether the imports verify registries' TLS certificates (osbs.conf `verify_ssl`).
    pub verify_tls: bool,
    /// A round runs at least this often, changes or not.
    pub tick: Duration,
    /// This replica's name (its Pod's) as the reporting instance of the Events it records.
    pub identity: String,
}

/// The current time.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// What one [`Service::round`] did.
#[derive(Debug, Default)]
pub struct RoundReport {
    /// The effects of [`crate::reconcile()`] that were applied.
    pub effects: Vec<Effect>,
    /// The engine's supervision pass.
    pub pass: Option<PassReport>,
    /// The requested imports answered: the ImageStream and the answer.
    pub answered: Vec<(String, ImportDone)>,
    /// The ImageStreams whose pending triggers were fanned out, with what that queued.
    pub fired: Vec<(String, FiredTriggers)>,
    /// Notifications delivered.
    pub notified: usize,
    /// The scheduled import, when it was due.
    pub imported: Option<Vec<StreamReport>>,
    /// Builds pruned.
    pub pruned: Vec<String>,
    /// What failed (each also logged).
    pub problems: Vec<String>,
}

/// Logs `err` as the failure of `what` and reports it.
fn problem(report: &mut RoundReport, what: &str, err: &(dyn std::error::Error + 'static)) {
    let text = format!("{what}: {}", error_chain(err));
    tracing::warn!("{text}");
    report.problems.push(text);
}

/// The controller: the engine over the namespace's resources, and what only Kubernetes needs
/// (see the module documentation).
pub struct Service {
    api: OsbsApi,
    engine: Engine<KubeStore, KubeExecutor>,
    notifier: Notifier,
    settings: ControllerSettings,
    metrics: Metrics,
    last_import: Option<tokio::time::Instant>,
    last_prune: Option<tokio::time::Instant>,
    /// Where the `--registry-ca` ConfigMap's certificates are written for the registry
    /// client (in `$TMPDIR`, one file per service).
    ca_path: std::path::PathBuf,
}

/// Numbers the [`Service`]s of this process, so that each has a CA file of its own.
static SERVICES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Service {
    /// Removes the CA file the imports wrote, if any.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_path);
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("namespace", &self.settings.namespace)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The controller of `settings.namespace` through `client`; Builds without the notified
    /// marker created before `now` count as notified.
    ///
    /// # Errors
    ///
    /// [`ControllerError::Config`] when the notifier cannot be set up.
    pub fn new(client: Client, settings: ControllerSettings) -> Result<Self, ControllerError> {
        let api = OsbsApi::new(client, &settings.namespace)
            .reporting_events_as("osbs-controller", Some(settings.identity.clone()));
        let store =
            KubeStore::new(api.clone(), now()).with_webhooks(&settings.engine.notify.webhooks);
        let executor = KubeExecutor::new(
            api.clone(),
            settings.pod.clone(),
            settings.pending_timeout_ms,
        );
        let notifier = Notifier::new(settings.engine.notify.clone())
            .map_err(|e| ControllerError::Config(error_chain(&e)))?;
        Ok(Service {
            engine: Engine::new(store, executor, settings.engine.clone()),
            api,
            notifier,
            settings,
            metrics: Metrics::new(),
            last_import: None,
            last_prune: None,
            ca_path: std::env::temp_dir().join(format!(
                "osbs-controller-{}-{}-registry-ca.pem",
                std::process::id(),
                SERVICES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )),
        })
    }

    /// Fills in `metrics` (shared with the `/metrics` endpoint) instead of its own.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The metrics the rounds fill in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<KubeStore, KubeExecutor> {
        &self.engine
    }

    /// One round (see the module documentation).
    pub async fn round(&mut self) -> RoundReport {
        let mut report = RoundReport::default();
        match self.engine.executor().refresh(now()).await {
            Ok(pods) => self.reconcile(&pods, &mut report).await,
            Err(e) => problem(&mut report, "cannot list the build pods", &e),
        }
        match self.engine.pass().await {
            Ok(pass) => report.pass = Some(pass),
            Err(e) => problem(&mut report, "supervision", &e),
        }
        self.requested_imports(&mut report).await;
        match self.engine.store().fan_out_all(now()).await {
            Ok(streams) => {
                for (stream, fired) in streams {
                    match fired {
                        Ok(fired) => {
                            for build in &fired.queued {
                                tracing::info!(%stream, build = %build.name, "triggered");
                            }
                            for skipped in &fired.skipped {
                                tracing::info!(%stream, build_config = %skipped.build_config, reason = %skipped.reason, "not triggering");
                            }
                            report.fired.push((stream, fired));
                        }
                        Err(e) => {
                            problem(
                                &mut report,
                                &format!("triggers of image stream {stream}"),
                                &e,
                            );
                        }
                    }
                }
            }
            Err(e) => problem(&mut report, "cannot read the image streams", &e),
        }
        match self.engine.notify(&self.notifier).await {
            Ok(sent) => report.notified = sent,
            Err(e) => problem(&mut report, "notifications", &e),
        }
        if let Some(interval) = self.settings.engine.import_interval
            && self.last_import.is_none_or(|t| t.elapsed() >= interval)
        {
            self.last_import = Some(tokio::time::Instant::now());
            let source = self.registry_source().await;
            let started = tokio::time::Instant::now();
            let imported = self.engine.scheduled_import(&source).await;
            self.metrics
                .observe_import(ImportKind::Scheduled, started.elapsed());
            match imported {
                Ok(reports) => {
                    for stream in &reports {
                        stream.log();
                    }
                    report.imported = Some(reports);
                }
                Err(e) => problem(&mut report, "scheduled import", &e),
            }
            // What it queued starts now, not a round later.
            if let Err(e) = self.engine.pass().await {
                problem(&mut report, "supervision", &e);
            }
        }
        if self.last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            self.last_prune = Some(tokio::time::Instant::now());
            let rules = PruneRules {
                keep: self.settings.engine.keep_builds,
                ended_before: None,
            };
            match self.engine.prune(&rules).await {
                Ok(pruned) => {
                    if !pruned.is_empty() {
                        tracing::info!("pruned {} builds", pruned.len());
                    }
                    report.pruned = pruned;
                }
                Err(e) => problem(&mut report, "pruning", &e),
            }
        }
        self.metrics.count_errors(report.problems.len());
        report
    }

    /// Step 4 of a round: every import request not answered yet is carried out with the
    /// controller's credentials and answered.
    async fn requested_imports(&self, report: &mut RoundReport) {
        let streams = match self.api.list_image_stream_resources().await {
            Ok(streams) => streams,
            Err(e) => return problem(report, "cannot read the image streams", &e),
        };
        for resource in streams {
            let Some(request) = resource.pending_import_request() else {
                continue;
            };
            let name = kube::ResourceExt::name_any(&resource);
            let stream = match resource.to_model() {
                Ok(stream) => stream,
                Err(e) => {
                    problem(report, &format!("import into image stream {name}"), &e);
                    continue;
                }
            };
            let source = self.registry_source().await;
            let started = tokio::time::Instant::now();
            let result = self
                .engine
                .import_stream(&source, &stream, request.tag.as_deref())
                .await;
            self.metrics
                .observe_import(ImportKind::Requested, started.elapsed());
            let done = match &result {
                Ok(imported) => {
                    tracing::info!(stream = %name, queued = imported.queued.len(), "requested import");
                    ImportDone {
                        id: request.id.clone(),
                        changed: imported
                            .stream
                            .tags
                            .iter()
                            .filter(|(tag, t)| stream.digest(tag) != Some(t.digest.as_str()))
                            .map(|(tag, _)| tag.clone())
                            .collect(),
                        queued: imported.queued.iter().map(|b| b.name.clone()).collect(),
                        failure: None,
                    }
                }
                Err(e) => {
                    tracing::warn!(stream = %name, "requested import failed: {}", error_chain(e));
                    ImportDone {
                        id: request.id.clone(),
                        changed: Vec::new(),
                        queued: Vec::new(),
                        failure: Some(ImportFailure::of(e)),
                    }
                }
            };
            match self.api.answer_import(&name, &done).await {
                Ok(()) => report.answered.push((name, done)),
                Err(e) => problem(report, &format!("answer to the import into {name}"), &e),
            }
        }
    }

    /// How imports read registries: with the credentials of the `--registry-secret` Secret,
    /// the certificates of the `--registry-ca` ConfigMap and `--verify-ssl`.
    async fn registry_source(&self) -> RegistrySource {
        RegistrySource::new(
            self.import_credentials().await,
            ClientOptions {
                ca_file: self.import_ca().await,
                verify_tls: self.settings.verify_tls,
                ..ClientOptions::default()
            },
        )
    }

    /// The `--registry-ca` ConfigMap's certificates, read afresh each time (a changed
    /// ConfigMap applies at the next import) and written to this service's CA file for the
    /// registry client; without a readable ConfigMap the import goes on with the system's CAs
    /// only, and says so.
    async fn import_ca(&self) -> Option<std::path::PathBuf> {
        let name = self.settings.registry_ca.as_deref()?;
        let pem = match self.api.registry_ca(name).await {
            Ok(pem) => pem,
            Err(e) => {
                tracing::warn!("import without the registry CA: {}", error_chain(&e));
                return None;
            }
        };
        // Written beside and renamed, so that a reader never sees half a file.
        let partial = self.ca_path.with_extension("partial");
        let written = tokio::fs::write(&partial, pem.as_bytes()).await;
        match written.and(tokio::fs::rename(&partial, &self.ca_path).await) {
            Ok(()) => Some(self.ca_path.clone()),
            Err(e) => {
                tracing::warn!(
                    "import without the registry CA: cannot write {}: {e}",
                    self.ca_path.display()
                );
                None
            }
        }
    }

    /// Step 2 of a round: [`reconcile()`] over the Builds read after `pods`.
    async fn reconcile(&self, pods: &BTreeMap<String, PodView>, report: &mut RoundReport) {
        let resources = match self.api.list_build_resources(None).await {
            Ok(resources) => resources,
            Err(e) => return problem(report, "cannot list the builds", &e),
        };
        self.metrics.set_builds(resources.iter().map(|r| r.phase()));
        match self.api.raise_build_counters(&resources).await {
            Ok(raised) => {
                for config in raised {
                    tracing::debug!(build_config = %config, "build counter raised");
                }
            }
            Err(e) => problem(report, "build counters", &e),
        }
        let views: Vec<BuildView> = resources
            .iter()
            .filter_map(|r| BuildView::of(r).ok())
            .collect();
        for effect in reconcile(&views, pods, &self.settings.reconcile) {
            tracing::info!(?effect, "applying");
            match self.apply(&effect).await {
                Ok(()) => report.effects.push(effect),
                Err(e) => {
                    let text = format!("cannot apply {effect:?}: {}", error_chain(&e));
                    tracing::warn!("{text}");
                    report.problems.push(text);
                }
            }
        }
    }

    async fn apply(&self, effect: &Effect) -> Result<(), ControllerError> {
        match effect {
            Effect::UpdateBuild { build, change } => {
                self.api
                    .update_build(build, |b| change.apply(b, now()))
                    .await?;
            }
            Effect::CreatePod { build, lease } => {
                self.engine
                    .executor()
                    .create_pod(build, lease.as_deref())
                    .await?;
            }
            Effect::DeletePod {
                pod,
                grace_seconds,
                why,
            } => {
                tracing::info!(%pod, %why, "deleting pod");
                self.engine
                    .executor()
                    .delete_pod(pod, u32::try_from(*grace_seconds).unwrap_or(0))
                    .await?;
            }
        }
        Ok(())
    }

    /// The credentials of the scheduled import, read afresh each time (a rotated Secret
    /// applies at the next import); without a readable Secret the import goes on without
    /// credentials, and says so.
    async fn import_credentials(&self) -> Option<osbs_core::auth::DockerConfig> {
        let name = self.settings.registry_secret.as_deref()?;
        match self.api.registry_credentials(name).await {
            Ok(credentials) => Some(credentials),
            Err(e) => {
                tracing::warn!(
                    "scheduled import without registry credentials: {}",
                    error_chain(&e)
                );
                None
            }
        }
    }
}

/// Sends a wake-up to `wake` on every change of a `K` that `config` selects (the watch
/// restarts with backoff after errors).
async fn wake_on<K>(api: Api<K>, config: watcher::Config, wake: Arc<Notify>)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher(api, config)
        .default_backoff()
        .for_each(|event| {
            match event {
                Ok(_) => wake.notify_one(),
                Err(e) => tracing::debug!("watch: {e}"),
            }
            std::future::ready(())
        })
        .await;
}

/// Resolves on SIGTERM or SIGINT.
async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Runs the controller until SIGTERM: a round now, then one after every change of a Build,
/// build Pod or ImageStream (changes in quick succession share a round) and at least every
/// `settings.tick`. The rounds fill in `metrics`; `health` is synced once the first round is
/// done.
///
/// # Errors
///
/// [`ControllerError`] when the controller cannot be set up.
pub async fn run(
    client: Client,
    settings: ControllerSettings,
    health: Health,
    metrics: Metrics,
) -> Result<(), ControllerError> {
    let namespace = settings.namespace.clone();
    let tick = settings.tick;
    metrics.set_leader(true);
    health.leading();
    let mut service = Service::new(client.clone(), settings)?.with_metrics(metrics);
    let api = OsbsApi::new(client.clone(), &namespace);
    let wake = Arc::new(Notify::new());
    let watches = futures_util::future::join3(
        wake_on(api.builds(), watcher::Config::default(), wake.clone()),
        wake_on(
            Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client, &namespace),
            watcher::Config::default().labels(BUILD_POD_SELECTOR),
            wake.clone(),
        ),
        wake_on(
            api.image_streams(),
            watcher::Config::default(),
            wake.clone(),
        ),
    );
    let rounds = async {
        loop {
            service.round().await;
            health.synced();
            tokio::select! {
                () = wake.notified() => {
                    // Let a burst of changes (a Pod's status updates) settle into one round.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                () = tokio::time::sleep(tick) => {}
            }
        }
    };
    tokio::select! {
        () = signalled() => {
            tracing::info!("signal received, stopping");
        }
        _ = watches => {}
        () = rounds => {}
    }
    Ok(())
}
