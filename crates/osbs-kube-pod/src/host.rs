//! [`KubeHost`]: the reactor's build host over the Kubernetes API, what `osbs-reactor-pod` runs
//! the reactor with inside a build Pod.
//!
//! The reactor's `BuildHost` methods are synchronous; this host owns a small Tokio runtime of
//! its own, runs each API call there and waits for the answer, so it works from inside the
//! reactor's runtime without blocking it on a nested `block_on`. A background task polls the
//! Build every [`CANCEL_POLL`] for `spec.cancelRequested` (and for a lost lease).
//!
//! **Fencing.** The Pod's run holds the lease the engine gave it (`$OSBS_LEASE`, set with
//! [`KubeHost::with_lease`]). Every write first reads the Build and checks that its status
//! still names that lease: the Build's own writes (marking it running, the results) are then
//! made at the `resourceVersion` of that read, so a lease taken away in between makes them
//! conflict and be checked again; the BuildConfig label and an ImageStream import are written
//! right after the check, conditional on their own object's `resourceVersion`.
//! [`BuildHost::check_lease`] is the same check, asked before every publishing step. A run
//! declared dead gets `KubeError::Fenced` and publishes nothing more. A Pod without a lease
//! (started before leases) is not fenced.

use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::{Client, Config};
use osbs_core::build::{BuildOutcome, BuildRequest, ImageImport, RunTarget, SyncTarget};
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
    /// The run's lease; `None`: not fenced.
    lease: Arc<RwLock<Option<String>>>,
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
        let lease: Arc<RwLock<Option<String>>> = Arc::default();
        {
            let api = api.clone();
            let cancel = cancel.clone();
            let lease = lease.clone();
            let build = build.to_owned();
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(CANCEL_POLL).await;
                    if let Ok(resource) = api.get_build_resource(&build).await {
                        let ended_elsewhere = resource.phase().is_finished();
                        let own = lease.read().unwrap_or_else(|p| p.into_inner()).clone();
                        let lost_lease = own.is_some_and(|own| resource.lease() != Some(&own));
                        if resource.spec.cancel_requested || ended_elsewhere || lost_lease {
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
            lease,
        })
    }

    /// Fences the run with `lease` (the value of `$OSBS_LEASE`, [`osbs_kube::LEASE_ENV`]):
    /// from now on every write, and [`BuildHost::check_lease`], requires the Build's status to
    /// still name it. `None` leaves the run unfenced (a Pod started before leases).
    #[must_use]
    pub fn with_lease(self, lease: Option<String>) -> Self {
        *self.lease.write().unwrap_or_else(|p| p.into_inner()) = lease;
        self
    }

    /// The run's lease, if it is fenced.
    fn lease(&self) -> Option<String> {
        self.lease.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Fails with `KubeError::Fenced` unless the run still holds its lease (always fine for
    /// an unfenced run).
    async fn fence(api: &OsbsApi, build: &str, lease: Option<&str>) -> Result<(), KubeError> {
        match lease {
            Some(lease) => api.check_lease(build, lease).await,
            None => Ok(()),
        }
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
        let lease = self.lease();
        let (build, config) = self.run(async move {
            let running = |b: &mut osbs_core::model::Build| b.mark_running(now());
            let build = match &lease {
                Some(lease) => api.update_build_fenced(&name, lease, running).await?,
                None => api.update_build(&name, running).await?,
            };
            let config = api.get_build_config_resource(&build.build_config).await?;
            Ok::<_, KubeError>((build, config))
        })??;
        let spec = config.as_ref().map(|c| &c.spec);
        let registry_secret = spec
            .and_then(|s| s.registry_secret.as_ref())
            .filter(|_| Path::new(&self.secret_path).exists())
            .map(|_| self.secret_path.clone());
        let target = RunTarget {
            registry_uri: spec
                .and_then(|s| s.registry_uri.clone())
                .unwrap_or_else(|| self.default_registry.clone()),
            registry_secret,
            sync_target: spec.and_then(|s| s.sync.as_ref()).map(|sync| SyncTarget {
                name: sync.name.clone(),
                registry_uri: sync.registry_uri.clone(),
                registry_secret: sync
                    .registry_secret
                    .as_ref()
                    .filter(|_| Path::new(SYNC_SECRET_MOUNT).exists())
                    .map(|_| SYNC_SECRET_MOUNT.to_owned()),
            }),
            image_name: spec.and_then(|s| s.image_name.clone()),
            repo_config_name: spec.map_or_else(
                || osbs_core::build::DEFAULT_REPO_CONFIG_NAME.to_owned(),
                |s| s.repo_config_name.clone(),
            ),
        };
        Ok(BuildRequest::for_build(build, target))
    }

    fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        let api = self.api.clone();
        let name = self.build.clone();
        let (key, value) = (key.to_owned(), value.to_owned());
        let lease = self.lease();
        self.run(async move {
            Self::fence(&api, &name, lease.as_deref()).await?;
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
        let lease = self.lease();
        let imported = self.run(async move {
            Self::fence(&api, &name, lease.as_deref()).await?;
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
        let lease = self.lease();
        self.run(async move {
            let store = |build: &mut osbs_core::model::Build| build.store_results(&outcome, now());
            match &lease {
                Some(lease) => api.update_build_fenced(&name, lease, store).await,
                None => api.update_build(&name, store).await,
            }
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

    fn check_lease(&self) -> Result<(), HostError> {
        let api = self.api.clone();
        let name = self.build.clone();
        let lease = self.lease();
        self.run(async move { Self::fence(&api, &name, lease.as_deref()).await })??;
        Ok(())
    }
}
