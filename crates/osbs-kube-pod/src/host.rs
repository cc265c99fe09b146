//! [`KubeHost`]: the reactor's build host over the Kubernetes API, what `osbs-reactor-pod` runs
//! the reactor with inside a build Pod.
//!
//! The host has no runtime of its own: its methods call [`OsbsApi`] directly and are awaited
//! on the reactor's runtime. [`BuildHost::cancel_requested`], which the reactor polls every
//! 200 ms, reads the Build at most once every [`CANCEL_POLL`] (for `spec.cancelRequested`, an
//! end elsewhere, or a lost lease) and answers from memory in between.
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

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::{Client, Config};
use osbs_core::build::{
    BuildOutcome, BuildRequest, ExtraRegistry, ImageImport, RunTarget, SyncTarget,
};
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
    api: OsbsApi,
    build: String,
    default_registry: String,
    secret_path: String,
    /// The run's lease; `None`: not fenced.
    lease: Option<String>,
    /// The ids of the build secrets the Pod mounts (`$OSBS_BUILD_SECRETS`).
    build_secrets: Vec<String>,
    /// Set once a poll saw a reason to stop; never cleared.
    cancel: AtomicBool,
    /// When the Build was last read for a cancel request; `None`: not yet.
    polled: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KubeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeHost")
            .field("namespace", &self.api.namespace())
            .field("build", &self.build)
            .finish_non_exhaustive()
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
    pub async fn infer(
        namespace: &str,
        build: &str,
        default_registry: &str,
    ) -> Result<Self, KubeError> {
        let config = Config::infer().await.map_err(|e| KubeError::Unreachable {
            context: "no in-cluster configuration or kubeconfig".to_owned(),
            source: Box::new(kube::Error::InferConfig(e)),
        })?;
        Self::with_config(config, namespace, build, default_registry)
    }

    /// A host talking to the API server `config` describes.
    ///
    /// # Errors
    ///
    /// [`KubeError::Unreachable`] when the client cannot be built.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: the client starts its connection task on the current one,
    /// the runtime the reactor then runs on.
    pub fn with_config(
        config: Config,
        namespace: &str,
        build: &str,
        default_registry: &str,
    ) -> Result<Self, KubeError> {
        let client = Client::try_from(config).map_err(|source| KubeError::Unreachable {
            context: "cannot build the client".to_owned(),
            source: Box::new(source),
        })?;
        let api = OsbsApi::new(client, namespace)
            .reporting_events_as("osbs-reactor", Some(osbs_kube::pod_name(build)));
        Ok(KubeHost {
            api,
            build: build.to_owned(),
            default_registry: default_registry.to_owned(),
            secret_path: REGISTRY_SECRET_MOUNT.to_owned(),
            lease: None,
            build_secrets: Vec::new(),
            cancel: AtomicBool::new(false),
            polled: Mutex::new(None),
        })
    }

    /// Fences the run with `lease` (the value of `$OSBS_LEASE`, [`osbs_kube::LEASE_ENV`]):
    /// from now on every write, and [`BuildHost::check_lease`], requires the Build's status to
    /// still name it. `None` leaves the run unfenced (a Pod started before leases).
    #[must_use]
    pub fn with_lease(mut self, lease: Option<String>) -> Self {
        self.lease = lease;
        self
    }

    /// The build secrets the Pod mounts, by id (the value of `$OSBS_BUILD_SECRETS`,
    /// [`osbs_kube::pod::BUILD_SECRETS_ENV`], split with [`osbs_kube::pod::build_secret_ids`]):
    /// the request gets each as [`osbs_kube::pod::build_secret_path`]`(id)`.
    #[must_use]
    pub fn with_build_secrets(mut self, ids: Vec<String>) -> Self {
        self.build_secrets = ids;
        self
    }

    /// Fails with `KubeError::Fenced` unless the run still holds its lease (always fine for
    /// an unfenced run).
    async fn fence(&self) -> Result<(), KubeError> {
        match &self.lease {
            Some(lease) => self.api.check_lease(&self.build, lease).await,
            None => Ok(()),
        }
    }

    /// Reads the registry credentials from `path` instead of [`REGISTRY_SECRET_MOUNT`].
    pub fn with_secret_path(mut self, path: impl Into<String>) -> Self {
        self.secret_path = path.into();
        self
    }

    /// Whether a read of the Build is due: none yet, or the last one [`CANCEL_POLL`] ago.
    /// Claims the read when it is.
    fn poll_due(&self) -> bool {
        let mut polled = self.polled.lock().unwrap_or_else(|p| p.into_inner());
        if polled.is_some_and(|at| at.elapsed() < CANCEL_POLL) {
            return false;
        }
        *polled = Some(Instant::now());
        true
    }
}

impl BuildHost for KubeHost {
    async fn build_request(&self) -> Result<BuildRequest, HostError> {
        let running = |b: &mut osbs_core::model::Build| b.mark_running(now());
        let build = match &self.lease {
            Some(lease) => {
                self.api
                    .update_build_fenced(&self.build, lease, running)
                    .await?
            }
            None => self.api.update_build(&self.build, running).await?,
        };
        let config = self
            .api
            .get_build_config_resource(&build.build_config)
            .await?;
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
        let mut request = BuildRequest::for_build(build, target);
        // Several registries and registry TLS (SPEC §6): the further registries with the
        // Secrets the Pod mounts by position, `verify_ssl = false`, and the mounted CA.
        if let Some(spec) = spec {
            request.extra_registries = spec
                .extra_registries
                .iter()
                .enumerate()
                .map(|(index, extra)| ExtraRegistry {
                    registry_uri: extra.registry_uri.clone(),
                    registry_secret: extra
                        .registry_secret
                        .as_ref()
                        .map(|_| osbs_kube::extra_registry_secret_mount(index))
                        .filter(|path| Path::new(path).exists()),
                })
                .collect();
            request.skip_tls_verify = spec.skip_tls_verify;
            request.registry_ca = spec
                .registry_ca
                .as_ref()
                .map(|_| osbs_kube::REGISTRY_CA_MOUNT.to_owned());
        }
        // The build secrets the Pod mounts (`osbs_kube::pod::BUILD_SECRETS_ENV` lists their ids).
        for id in &self.build_secrets {
            request
                .build_secrets
                .insert(id.clone(), osbs_kube::pod::build_secret_path(id));
        }
        Ok(request)
    }

    async fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.fence().await?;
        let build = self.api.get_build(&self.build).await?;
        self.api
            .update_build_config(&build.build_config, |c| {
                c.spec
                    .labels
                    .insert(key.to_owned(), value.to_owned())
                    .as_deref()
                    != Some(value)
            })
            .await?;
        Ok(())
    }

    async fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        self.fence().await?;
        let build = self.api.get_build(&self.build).await?;
        let imported = self.api.import(import, Some(&build), now()).await?;
        for change in &imported.changes {
            self.log(&format!(
                "image stream {}: tag {} now {} (the controller fires its triggers)",
                imported.stream.name, change.tag, change.new
            ));
        }
        Ok(())
    }

    async fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        let store = |build: &mut osbs_core::model::Build| build.store_results(outcome, now());
        match &self.lease {
            Some(lease) => {
                self.api
                    .update_build_fenced(&self.build, lease, store)
                    .await?
            }
            None => self.api.update_build(&self.build, store).await?,
        };
        Ok(())
    }

    /// At most one read of the Build every [`CANCEL_POLL`]; in between, and once a reason to
    /// stop was seen, the answer comes from memory. A failed read counts as no cancel.
    async fn cancel_requested(&self) -> bool {
        if self.cancel.load(Ordering::SeqCst) {
            return true;
        }
        if !self.poll_due() {
            return false;
        }
        let Ok(resource) = self.api.get_build_resource(&self.build).await else {
            return false;
        };
        let ended_elsewhere = resource.phase().is_finished();
        let lost_lease = self
            .lease
            .as_deref()
            .is_some_and(|own| resource.lease() != Some(own));
        if resource.spec.cancel_requested || ended_elsewhere || lost_lease {
            self.cancel.store(true, Ordering::SeqCst);
        }
        self.cancel.load(Ordering::SeqCst)
    }

    /// A write to stderr, which the Pod's log collects: no API call per line.
    fn log(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    async fn check_lease(&self) -> Result<(), HostError> {
        Ok(self.fence().await?)
    }
}
