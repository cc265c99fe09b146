//! [`KubeHost`]: the reactor's build host over the Kubernetes API, what `osbs-reactor-pod` runs
//! the reactor with inside a build Pod.
//!
//! The reactor's `BuildHost` methods are synchronous; this host owns a small Tokio runtime of
//! its own, runs each API call there and waits for the answer, so it works from inside the
//! reactor's runtime without blocking it on a nested `block_on`. A background task polls the
//! Build every [`CANCEL_POLL`] for `spec.cancelRequested`.

use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kube::{Client, Config};
use osbs_core::build::{BuildOutcome, BuildPhase, BuildRequest, ImageImport, SyncTarget};
use osbs_core::time::Timestamp;
use osbs_kube::{KubeError, OsbsApi, REGISTRY_SECRET_MOUNT, SYNC_SECRET_MOUNT};
use osbs_reactor::{BuildHost, HostError};

/// How often the host looks for a cancel request.
pub const CANCEL_POLL: Duration = Duration::from_secs(2);

/// The current time.
fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// The reactor's host for one Build, over the API (see the module documentation).
pub struct KubeHost {
    runtime: Option<tokio::runtime::Runtime>,
    api: OsbsApi,
    build: String,
    default_registry: String,
    secret_path: String,
    cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for KubeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeHost")
            .field("namespace", &self.api.namespace())
            .field("build", &self.build)
            .finish_non_exhaustive()
    }
}

impl Drop for KubeHost {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl KubeHost {
    /// A host for the Build `build` in `namespace`, with the in-cluster configuration (or the
    /// kubeconfig, outside a cluster). Builds without a registry on their BuildConfig push to
    /// `default_registry`.
    ///
    /// # Errors
    ///
    /// [`KubeError::Unreachable`] when no configuration can be found.
    pub fn infer(namespace: &str, build: &str, default_registry: &str) -> Result<Self, KubeError> {
        Self::start(namespace, build, default_registry, None)
    }

    /// A host talking to the API server `config` describes.
    ///
    /// # Errors
    ///
    /// [`KubeError::Unreachable`] when the client cannot be built.
    pub fn with_config(
        config: Config,
        namespace: &str,
        build: &str,
        default_registry: &str,
    ) -> Result<Self, KubeError> {
        Self::start(namespace, build, default_registry, Some(config))
    }

    fn start(
        namespace: &str,
        build: &str,
        default_registry: &str,
        config: Option<Config>,
    ) -> Result<Self, KubeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("osbs-kube-host")
            .enable_all()
            .build()
            .map_err(|e| KubeError::Invalid {
                kind: "runtime",
                name: "osbs-kube-host".to_owned(),
                problem: e.to_string(),
            })?;
        let client = wait(&runtime, async move {
            let config = match config {
                Some(config) => config,
                None => Config::infer().await.map_err(|e| KubeError::Unreachable {
                    context: "no in-cluster configuration or kubeconfig".to_owned(),
                    source: Box::new(kube::Error::InferConfig(e)),
                })?,
            };
            Client::try_from(config).map_err(|source| KubeError::Unreachable {
                context: "cannot build the client".to_owned(),
                source: Box::new(source),
            })
        })??;
        let api = OsbsApi::new(client, namespace)
            .reporting_events_as("osbs-reactor", Some(osbs_kube::pod_name(build)));
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let api = api.clone();
            let cancel = cancel.clone();
            let build = build.to_owned();
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(CANCEL_POLL).await;
                    if let Ok(resource) = api.get_build_resource(&build).await {
                        let ended_elsewhere = resource.phase().is_finished();
                        if resource.spec.cancel_requested || ended_elsewhere {
                            cancel.store(true, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        Ok(KubeHost {
            runtime: Some(runtime),
            api,
            build: build.to_owned(),
            default_registry: default_registry.to_owned(),
            secret_path: REGISTRY_SECRET_MOUNT.to_owned(),
            cancel,
        })
    }

    /// Reads the registry credentials from `path` instead of [`REGISTRY_SECRET_MOUNT`].
    pub fn with_secret_path(mut self, path: impl Into<String>) -> Self {
        self.secret_path = path.into();
        self
    }

    fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, KubeError> {
        match &self.runtime {
            Some(runtime) => wait(runtime, future),
            None => Err(KubeError::Invalid {
                kind: "runtime",
                name: "osbs-kube-host".to_owned(),
                problem: "shut down".to_owned(),
            }),
        }
    }
}

/// Runs `future` on `runtime` and waits for it from any thread (also from inside another
/// runtime, where `block_on` would panic).
fn wait<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, KubeError> {
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().map_err(|_| KubeError::Invalid {
        kind: "runtime",
        name: "osbs-kube-host".to_owned(),
        problem: "the API task ended without an answer".to_owned(),
    })
}

impl BuildHost for KubeHost {
    fn build_request(&self) -> Result<BuildRequest, HostError> {
        let api = self.api.clone();
        let name = self.build.clone();
        let (build, config) = self.run(async move {
            let build = api.update_build(&name, |b| b.mark_running(now())).await?;
            let config = api.get_build_config_resource(&build.build_config).await?;
            Ok::<_, KubeError>((build, config))
        })??;
        let spec = config.as_ref().map(|c| &c.spec);
        let registry_secret = spec
            .and_then(|s| s.registry_secret.as_ref())
            .filter(|_| Path::new(&self.secret_path).exists())
            .map(|_| self.secret_path.clone());
        Ok(BuildRequest {
            build_name: build.name,
            build_config: build.build_config,
            git_url: build.git_url,
            git_branch: build.git_branch,
            git_commit: build.commit,
            is_autorebuild: build.is_autorebuild,
            registry_uri: spec
                .and_then(|s| s.registry_uri.clone())
                .unwrap_or_else(|| self.default_registry.clone()),
            registry_secret,
            image_name: spec.and_then(|s| s.image_name.clone()),
            repo_config_name: spec.map_or_else(
                || osbs_core::build::DEFAULT_REPO_CONFIG_NAME.to_owned(),
                |s| s.repo_config_name.clone(),
            ),
            sync_target: spec.and_then(|s| s.sync.as_ref()).map(|sync| SyncTarget {
                name: sync.name.clone(),
                registry_uri: sync.registry_uri.clone(),
                registry_secret: sync
                    .registry_secret
                    .as_ref()
                    .filter(|_| Path::new(SYNC_SECRET_MOUNT).exists())
                    .map(|_| SYNC_SECRET_MOUNT.to_owned()),
            }),
            no_cache: false,
            plugins: Default::default(),
        })
    }

    fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        let api = self.api.clone();
        let name = self.build.clone();
        let (key, value) = (key.to_owned(), value.to_owned());
        self.run(async move {
            let build = api.get_build(&name).await?;
            api.update_build_config(&build.build_config, |c| {
                c.spec.labels.insert(key.clone(), value.clone()).as_ref() != Some(&value)
            })
            .await?;
            Ok::<_, KubeError>(())
        })??;
        Ok(())
    }

    fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        let api = self.api.clone();
        let name = self.build.clone();
        let import = import.clone();
        let imported = self.run(async move {
            let build = api.get_build(&name).await?;
            api.import(&import, Some(&build), now()).await
        })??;
        for change in &imported.changes {
            self.log(&format!(
                "image stream {}: tag {} now {} (the controller fires its triggers)",
                imported.stream.name, change.tag, change.new
            ));
        }
        Ok(())
    }

    fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        let api = self.api.clone();
        let name = self.build.clone();
        let outcome = outcome.clone();
        self.run(async move {
            api.update_build(&name, |build| {
                if build.phase.is_finished() {
                    // A later call (store_metadata, then the end of the run) refreshes the
                    // results, never the phase or the finish time.
                    if build.phase != outcome.phase {
                        return false;
                    }
                    let finished = build.finished;
                    build.phase = BuildPhase::Running;
                    build.record_outcome(&outcome, now());
                    build.finished = finished;
                    true
                } else {
                    build.record_outcome(&outcome, now())
                }
            })
            .await
        })??;
        Ok(())
    }

    fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    fn log(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}
