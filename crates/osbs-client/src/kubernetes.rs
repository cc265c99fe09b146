//! The kubernetes backend (`backend = kubernetes`): BuildConfigs, Builds and ImageStreams are
//! custom resources in the instance's namespace (through `osbs_kube::OsbsApi`), builds run as
//! Pods started by `osbs-controller`, and build logs are the Pods' logs.
//!
//! The client does what osbs-client did against OpenShift: it resolves the submission (commit,
//! Dockerfile, repo config — through the [`Resolver`] it is given, the same git code as the
//! local backend), records the user build on the BuildConfig and queues the Build; the
//! controller applies the run policy and starts it. Every write is conflict-retried. A 403
//! becomes a usage error naming the RBAC verb and resource that are missing.
//!
//! It writes what the `osbs-user` Role of deploy/rbac.yaml allows, and no status: Builds are
//! created without moving the BuildConfig's counter (`OsbsApi::submit_build`), a cancel is
//! requested in the Build's spec, and `import-image` asks the controller for the import
//! (`osbs_kube::ImportRequest`), which reads the registry with its own credentials.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, LogParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use osbs_core::model::{Build, BuildConfig, ImageStream};
use osbs_core::policy::{self, CancelDecision, QueueStatus};
use osbs_core::submission::{self, ResolvedSubmission, SubmissionPlan};
use osbs_core::time::Timestamp;
use osbs_core::trigger::{RebuildPlan, TriggerGraph};
use osbs_kube::{
    BuildConfigResource, BuildResource, BuildSecretSpec, ConnectError, ConnectOptions,
    ExtraRegistrySpec, ImportDone, ImportFailure, ImportRequest, KubeError, OsbsApi, SyncSpec,
    Target,
};
use osbs_registry_sync::RegistryEndpoint;

use crate::backend::{
    Backend, BuildFilter, BuildSubmission, ClientError, LogEvent, Result, SubmissionFacts,
    Submitted, delete_refused,
};
use crate::config::Instance;

/// Resolves a submission: the same git code the local backend uses (`local::submit`), given to
/// [`KubeBackend`] by the caller so that this module does not depend on the local backend.
pub type Resolver = Box<dyn Fn(&BuildSubmission) -> Result<SubmissionFacts> + Send + Sync>;

/// How often a followed log reconnects after its stream ended while the build still runs.
const LOG_RECONNECT: Duration = Duration::from_secs(1);

/// How long the client waits for the controller to answer a request (an import, the cancel
/// of a queued build), and how often it looks.
const CONTROLLER_WAIT: Duration = Duration::from_secs(10);
const CONTROLLER_POLL: Duration = Duration::from_millis(200);

/// The kubernetes backend of one instance.
pub struct KubeBackend {
    api: OsbsApi,
    pods: Api<Pod>,
    registry_uri: String,
    registry_secret: Option<String>,
    sync: Option<SyncSpec>,
    // Several registries and registry TLS (SPEC §6), written into the BuildConfig with the
    // push registry.
    extra_registries: Vec<ExtraRegistrySpec>,
    skip_tls_verify: bool,
    registry_ca: Option<String>,
    // Build secrets (osbs.conf `build_secrets`: id → Secret name), written into the
    // BuildConfig likewise; names only.
    build_secrets: Vec<BuildSecretSpec>,
    repo_config_file: String,
    resolver: Resolver,
    controller_wait: Duration,
    /// The server and context, for errors.
    target: Option<Target>,
}

impl std::fmt::Debug for KubeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeBackend")
            .field("namespace", &self.api.namespace())
            .field("registry_uri", &self.registry_uri)
            .finish_non_exhaustive()
    }
}

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// The `--kubeconfig`, `--context` and `--namespace` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFlags {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--namespace`.
    pub namespace: Option<String>,
}

impl ClusterFlags {
    /// What `osbs_kube::connect` is asked for: these flags, and the instance's `namespace`.
    pub fn options(&self, instance: &Instance) -> ConnectOptions {
        ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
            configured_namespace: instance.namespace.clone(),
        }
    }
}

/// A cluster configuration that cannot be used: a usage error (exit 2) naming the instance.
pub fn connect_error(instance: &Instance, error: &ConnectError) -> ClientError {
    ClientError::Usage(format!(
        "instance {:?} uses backend = kubernetes: {}",
        instance.name,
        crate::app::chain(error)
    ))
}

/// Maps an API error to the client's error (and so to SPEC §7's exit codes): a 403 is a usage
/// error (2) naming verb and resource, a missing object is not found (2), an unreachable API
/// server is 3.
pub fn client_error(error: KubeError) -> ClientError {
    match error {
        KubeError::Forbidden { .. } => ClientError::Usage(error.to_string()),
        KubeError::NotFound { kind, name, .. } => ClientError::NotFound { kind, name },
        KubeError::Unreachable { .. } => ClientError::Unreachable {
            what: "the Kubernetes API server".to_owned(),
            source: Box::new(error),
        },
        other => ClientError::Backend {
            context: "kubernetes backend".to_owned(),
            source: Box::new(other),
        },
    }
}

impl KubeBackend {
    /// Connects to the cluster of the kubeconfig context (`--kubeconfig`, `$KUBECONFIG`,
    /// `~/.kube/config`; `--context`, else the current one), or the in-cluster configuration
    /// inside a Pod, and works in the namespace kubectl would: `--namespace`, else the
    /// instance's `namespace`, else the context's, else `default`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Usage`] (exit 2) when no configuration can be found or used, naming the
    /// kubeconfig and context.
    pub async fn connect(
        instance: &Instance,
        flags: &ClusterFlags,
        resolver: Resolver,
    ) -> Result<Self> {
        let (client, target) = osbs_kube::connect(&flags.options(instance))
            .await
            .map_err(|e| connect_error(instance, &e))?;
        Ok(Self::new(client, instance, resolver).with_target(target))
    }

    /// The backend over an existing client (tests point it at a fake API server), in the
    /// client's default namespace (which [`osbs_kube::connect`] chooses).
    pub fn new(client: Client, instance: &Instance, resolver: Resolver) -> Self {
        let uri = |endpoint: &RegistryEndpoint| {
            let scheme = if endpoint.is_plain_http() {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{}", endpoint.name())
        };
        let endpoint = &instance.registry;
        KubeBackend {
            pods: Api::default_namespaced(client.clone()),
            api: OsbsApi::new(client.clone(), client.default_namespace())
                .reporting_events_as("osbs", None),
            registry_uri: uri(endpoint),
            registry_secret: instance.registry_secret.clone(),
            sync: instance.sync.as_ref().map(|target| SyncSpec {
                name: target.name.clone(),
                registry_uri: uri(&target.registry),
                registry_secret: target.secret.clone(),
            }),
            extra_registries: instance
                .extra_registries
                .iter()
                .map(|extra| ExtraRegistrySpec {
                    registry_uri: uri(&extra.registry),
                    registry_secret: extra.secret.clone(),
                })
                .collect(),
            skip_tls_verify: !instance.verify_ssl,
            registry_ca: instance.registry_ca_config_map.clone(),
            build_secrets: instance
                .build_secrets
                .iter()
                .map(|(id, secret)| BuildSecretSpec {
                    id: id.clone(),
                    secret: secret.clone(),
                })
                .collect(),
            repo_config_file: instance.repo_config_file.clone(),
            resolver,
            controller_wait: CONTROLLER_WAIT,
            target: None,
        }
    }

    /// Names `target` (server and context) in the errors of calls that cannot reach it.
    #[must_use]
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The cluster, as [`KubeBackend::with_target`] set it.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// [`client_error`], with the server and context named when the server is unreachable.
    fn client_error(&self, error: KubeError) -> ClientError {
        match (error, &self.target) {
            (KubeError::Unreachable { context, source }, Some(target)) => {
                let configured = match &target.context {
                    Some(name) => format!("context {name:?}"),
                    None => "in-cluster configuration".to_owned(),
                };
                ClientError::Unreachable {
                    what: format!(
                        "the Kubernetes API server {} ({configured}; {context})",
                        target.server
                    ),
                    source,
                }
            }
            (error, _) => client_error(error),
        }
    }

    /// How long `import_image` waits for the controller's answer, and `cancel_build` for the
    /// controller to cancel a queued build (10 s unless set).
    #[must_use]
    pub fn with_controller_wait(mut self, wait: Duration) -> Self {
        self.controller_wait = wait;
        self
    }

    /// Waits until the controller has answered the import request `id` on the ImageStream
    /// `stream`, and returns its answer with the stream as it is then.
    ///
    /// # Errors
    ///
    /// [`ClientError::Backend`] (exit 3) when no answer came within the wait: the request is
    /// recorded, but no controller acted on it.
    async fn wait_for_import(&self, stream: &str, id: &str) -> Result<(ImportDone, ImageStream)> {
        let deadline = tokio::time::Instant::now() + self.controller_wait;
        loop {
            let Some(resource) = self
                .api
                .get_image_stream_resource(stream)
                .await
                .map_err(|e| self.client_error(e))?
            else {
                return Err(ClientError::NotFound {
                    kind: "image stream",
                    name: stream.to_owned(),
                });
            };
            if let Some(done) = resource.import_done().filter(|d| d.id == id) {
                return Ok((done, resource.to_model().map_err(|e| self.client_error(e))?));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Backend {
                    context: format!(
                        "the import into image stream {stream:?} is requested, but no \
                         osbs-controller carried it out within {} s; is one running in \
                         namespace {:?}?",
                        self.controller_wait.as_secs_f64(),
                        self.api.namespace()
                    ),
                    source: Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "import request not answered",
                    )),
                });
            }
            tokio::time::sleep(CONTROLLER_POLL).await;
        }
    }

    /// The resources this backend works on.
    pub fn api(&self) -> &OsbsApi {
        &self.api
    }

    async fn log_chunk(
        &self,
        pod: &str,
        follow: bool,
        skip: usize,
        on_event: &mut (dyn FnMut(LogEvent, Option<Timestamp>) + Send),
    ) -> Result<usize> {
        // The kubelet's timestamps (`kubectl logs --timestamps`) come first on each line.
        let params = LogParams {
            container: Some("reactor".to_owned()),
            follow,
            timestamps: true,
            ..LogParams::default()
        };
        let stream = match self.pods.log_stream(pod, &params).await {
            Ok(stream) => stream,
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 400 => {
                // No Pod yet, or its container has not started.
                return Ok(0);
            }
            Err(e) => {
                return Err(self.client_error(self.api.error("get", "pods/log", "pod", pod)(e)));
            }
        };
        let mut lines = stream.lines();
        let mut seen = 0;
        while let Some(line) = lines.try_next().await.map_err(|e| ClientError::Backend {
            context: format!("cannot read the log of pod {pod}"),
            source: Box::new(e),
        })? {
            seen += 1;
            if seen > skip {
                let (time, text) = split_log_timestamp(&line);
                on_event(LogEvent::Line(text.to_owned()), time);
            }
        }
        Ok(seen)
    }
}

/// A Pod log line asked for with `timestamps`: the kubelet's RFC 3339 time (nanoseconds,
/// kept to milliseconds) and the line. A line without one is returned whole.
fn split_log_timestamp(line: &str) -> (Option<Timestamp>, &str) {
    line.split_once(' ')
        .and_then(|(time, rest)| Some((Timestamp::parse(time).ok()?, rest)))
        .map_or((None, line), |(time, rest)| (Some(time), rest))
}

impl KubeBackend {
    /// SPEC §3 steps 2 and 4 for a submission: resolves it, records it on its BuildConfig
    /// (created if missing; a scratch or isolated build leaves trigger and commit alone) and
    /// makes sure the base's ImageStream exists. Returns the plan and what the resolver found.
    async fn record_submission(
        &self,
        submission: &BuildSubmission,
    ) -> Result<(SubmissionPlan, SubmissionFacts)> {
        // SPEC §6: a git URL's password is never stored or shown. A BuildConfig here is read
        // by everyone who may read the namespace and the build Pod could not get the password
        // from this client, so a URL with one is refused before anything is read or stored.
        let git_url = submission.git_url.as_str();
        if osbs_core::git::split_url(git_url).password != osbs_core::git::UrlPassword::None {
            return Err(ClientError::Usage(format!(
                "git url `{}` has a password: the kubernetes backend stores no git passwords; \
                 give the build Pods git credentials another way (a credential helper in the \
                 reactor image) and the url without the password",
                osbs_core::git::redact_url(git_url)
            )));
        }
        submission
            .variant
            .validate()
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        // osbs.conf's loader checked `build_secrets` (naming its line); an instance made
        // otherwise is held to the rule the BuildConfig's CRD enforces.
        if let Some(problem) = osbs_kube::build_secrets_problem(&self.build_secrets) {
            return Err(ClientError::Usage(format!("build_secrets: {problem}")));
        }
        let facts = (self.resolver)(submission)?;
        // The image name under the push registry: what the reactor's `bump_release` requires
        // (the resolver checked the Dockerfile's labels already).
        if let Some(name) = &facts.image_name {
            let registry = RegistryEndpoint::parse(&self.registry_uri)
                .map_err(|e| ClientError::Usage(format!("registry_uri: {e}")))?;
            osbs_core::target::repository(registry.name(), name)
                .map_err(|e| ClientError::Usage(e.to_string()))?;
        }
        let plan = submission::plan(&ResolvedSubmission {
            git_url: submission.git_url.clone(),
            git_branch: submission.git_branch.clone(),
            commit: facts.commit.clone(),
            base_image: facts.base_image.clone(),
            image_name: facts.image_name.clone(),
            component: submission.component.clone(),
            repo_config_name: self.repo_config_file.clone(),
            variant: submission.variant.clone(),
        })
        .map_err(|e| ClientError::Usage(e.to_string()))?;
        let name = plan.build_config.clone();
        let initial = BuildConfigResource::from_model(
            &BuildConfig::new(&submission.git_url, &submission.git_branch),
            Some(self.registry_uri.clone()),
            self.registry_secret.clone(),
        );
        self.api
            .ensure_build_config(&initial)
            .await
            .map_err(|e| self.client_error(e))?;
        self.api
            .update_build_config(&name, |resource| {
                let config = plan.build_config(Some(resource.to_model()), "", "");
                let before = resource.clone();
                resource.apply_model(&config);
                let spec = &mut resource.spec;
                spec.registry_uri = Some(self.registry_uri.clone());
                spec.registry_secret.clone_from(&self.registry_secret);
                spec.sync.clone_from(&self.sync);
                spec.extra_registries.clone_from(&self.extra_registries);
                spec.skip_tls_verify = self.skip_tls_verify;
                spec.registry_ca.clone_from(&self.registry_ca);
                spec.build_secrets.clone_from(&self.build_secrets);
                resource.spec != before.spec
            })
            .await
            .map_err(|e| self.client_error(e))?;
        if let Some((stream, image)) = &plan.base_stream {
            self.api
                .ensure_image_stream(stream, Some(image.clone()))
                .await
                .map_err(|e| self.client_error(e))?;
        }
        Ok((plan, facts))
    }
}

impl Backend for KubeBackend {
    async fn create_build(&self, submission: &BuildSubmission) -> Result<Submitted> {
        let (plan, facts) = self.record_submission(submission).await?;
        let name = plan.build_config.clone();
        let build = self
            .api
            .submit_build(&name, |config| plan.queue(config, now()))
            .await
            .map_err(|e| self.client_error(e))?;
        let builds = self
            .api
            .list_builds(Some(&name))
            .await
            .map_err(|e| self.client_error(e))?;
        let queued_behind = match policy::queue_status(&builds, &build.name) {
            QueueStatus::Behind { build, .. } => Some(build),
            _ => None,
        };
        Ok(Submitted {
            build,
            queued_behind,
            warnings: facts.warnings,
        })
    }

    async fn update_build_config(
        &self,
        submission: &BuildSubmission,
    ) -> Result<(BuildConfig, Vec<String>)> {
        submission.check_skip_build()?;
        let (plan, facts) = self.record_submission(submission).await?;
        let config = self.get_build_config(&plan.build_config).await?;
        Ok((config, facts.warnings))
    }

    async fn get_build(&self, name: &str) -> Result<Build> {
        self.api
            .get_build(name)
            .await
            .map_err(|e| self.client_error(e))
    }

    async fn list_builds(&self, filter: &BuildFilter) -> Result<Vec<Build>> {
        let mut builds = self
            .api
            .list_builds(filter.build_config.as_deref())
            .await
            .map_err(|e| self.client_error(e))?;
        if filter.running {
            builds.retain(|b| !b.phase.is_finished());
        }
        builds.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| b.number.cmp(&a.number))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(builds)
    }

    async fn watch_build(
        &self,
        name: &str,
        on_change: &mut (dyn FnMut(&Build) + Send),
    ) -> Result<Build> {
        let api = self.api.builds();
        let resource = self
            .api
            .get_build_resource(name)
            .await
            .map_err(|e| self.client_error(e))?;
        let mut current = resource.to_model().map_err(|e| self.client_error(e))?;
        let mut version = resource
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        on_change(&current);
        let watch_error = |e: kube::Error| {
            self.client_error(self.api.error("watch", "builds.osbs.dev", "build", name)(e))
        };
        loop {
            if current.phase.is_finished() {
                return Ok(current);
            }
            let params = WatchParams::default()
                .fields(&format!("metadata.name={name}"))
                .timeout(290);
            let stream = api.watch(&params, &version).await.map_err(watch_error)?;
            futures_util::pin_mut!(stream);
            loop {
                let event = stream.try_next().await.map_err(watch_error)?;
                let Some(event) = event else { break };
                let changed = match event {
                    WatchEvent::Added(b) | WatchEvent::Modified(b) => {
                        version = b.metadata.resource_version.clone().unwrap_or_default();
                        b.to_model().map_err(|e| self.client_error(e))?
                    }
                    WatchEvent::Deleted(_) => {
                        return Err(ClientError::NotFound {
                            kind: "build",
                            name: name.to_owned(),
                        });
                    }
                    WatchEvent::Bookmark(bookmark) => {
                        version = bookmark.metadata.resource_version;
                        continue;
                    }
                    WatchEvent::Error(status) if status.code == 410 => {
                        // Our resourceVersion is too old: read the object again and watch on
                        // from there.
                        let fresh = self
                            .api
                            .get_build_resource(name)
                            .await
                            .map_err(|e| self.client_error(e))?;
                        version = fresh.metadata.resource_version.clone().unwrap_or_default();
                        let build = fresh.to_model().map_err(|e| self.client_error(e))?;
                        if build.phase != current.phase {
                            on_change(&build);
                        }
                        current = build;
                        break;
                    }
                    WatchEvent::Error(status) => {
                        return Err(self.client_error(self.api.error(
                            "watch",
                            "builds.osbs.dev",
                            "build",
                            name,
                        )(kube::Error::Api(
                            status,
                        ))));
                    }
                };
                if changed.phase != current.phase {
                    on_change(&changed);
                }
                current = changed;
                if current.phase.is_finished() {
                    return Ok(current);
                }
            }
        }
    }

    async fn build_logs_timed(
        &self,
        name: &str,
        follow: bool,
        on_event: &mut (dyn FnMut(LogEvent, Option<Timestamp>) + Send),
    ) -> Result<()> {
        let pod = osbs_kube::pod_name(name);
        let mut seen = 0;
        loop {
            let build = self.get_build(name).await?;
            let finished = build.phase.is_finished();
            seen += self
                .log_chunk(&pod, follow && !finished, seen, on_event)
                .await?;
            if !follow {
                return Ok(());
            }
            if finished {
                on_event(LogEvent::Finished(Box::new(build)), None);
                return Ok(());
            }
            // The stream ended (Pod not started yet, or the connection dropped): reconnect,
            // skipping the lines already shown.
            tokio::time::sleep(LOG_RECONNECT).await;
        }
    }

    async fn cancel_build(&self, name: &str) -> Result<Build> {
        let build = self.get_build(name).await?;
        // A user may not write a Build's status: the cancel is requested in the spec and the
        // controller carries it out, a queued build at once (waited for here), a running one
        // through its Pod.
        match policy::cancel(&build) {
            CancelDecision::Now(_) => {
                let mut build = self
                    .api
                    .request_cancel(name)
                    .await
                    .map_err(|e| self.client_error(e))?;
                let deadline = tokio::time::Instant::now() + self.controller_wait;
                while !build.phase.is_finished() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(CONTROLLER_POLL).await;
                    build = self.get_build(name).await?;
                }
                Ok(build)
            }
            CancelDecision::StopRunner => self
                .api
                .request_cancel(name)
                .await
                .map_err(|e| self.client_error(e)),
            CancelDecision::AlreadyFinished(_) => Ok(build),
        }
    }

    async fn list_build_configs(&self) -> Result<Vec<BuildConfig>> {
        self.api
            .list_build_configs()
            .await
            .map_err(|e| self.client_error(e))
    }

    async fn get_build_config(&self, name: &str) -> Result<BuildConfig> {
        self.api
            .get_build_config(name)
            .await
            .map_err(|e| self.client_error(e))
    }

    async fn list_image_streams(&self) -> Result<Vec<ImageStream>> {
        self.api
            .list_image_streams()
            .await
            .map_err(|e| self.client_error(e))
    }

    async fn get_image_stream(&self, name: &str) -> Result<ImageStream> {
        self.api
            .get_image_stream(name)
            .await
            .map_err(|e| self.client_error(e))
    }

    async fn import_image(
        &self,
        name: &str,
        tag: Option<&str>,
    ) -> Result<(ImageStream, Vec<Build>)> {
        // The controller reads the registry (with its `--registry-secret`), records the import
        // and queues what it triggers: a user cannot choose the digests an import records.
        self.get_image_stream(name).await?;
        let request = ImportRequest {
            id: osbs_engine::new_lease(name, now()),
            tag: tag.map(str::to_owned),
        };
        self.api
            .request_import(name, &request)
            .await
            .map_err(|e| self.client_error(e))?;
        let (done, stream) = self.wait_for_import(name, &request.id).await?;
        if let Some(failure) = done.failure {
            return Err(import_failure(name, failure));
        }
        if done.queued.is_empty() {
            return Ok((stream, Vec::new()));
        }
        let builds = self
            .api
            .list_builds(None)
            .await
            .map_err(|e| self.client_error(e))?;
        Ok((
            stream,
            builds
                .into_iter()
                .filter(|b| done.queued.contains(&b.name))
                .collect(),
        ))
    }

    async fn rebuild_plan(&self, stream: &str, tag: &str) -> Result<RebuildPlan> {
        let configs = self.list_build_configs().await?;
        Ok(TriggerGraph::new(&configs).rebuild_plan(stream, tag))
    }

    async fn triggered_by(&self, build: &Build) -> Result<Vec<Build>> {
        let builds = self
            .api
            .list_builds(None)
            .await
            .map_err(|e| self.client_error(e))?;
        Ok(builds
            .into_iter()
            .filter(|b| b.was_triggered_by(build))
            .collect())
    }

    async fn delete_build(&self, name: &str) -> Result<()> {
        let build = self.get_build(name).await?;
        if !build.phase.is_finished() {
            return Err(delete_refused(&format!("build {name}"), &build));
        }
        let builds: Api<BuildResource> =
            Api::namespaced(self.api.client().clone(), self.api.namespace());
        // The build Pod goes with it: the Build owns it.
        builds
            .delete(name, &DeleteParams::background())
            .await
            .map(drop)
            .map_err(|e| kube_delete_error(e, "builds", name))
    }

    async fn delete_build_config(&self, name: &str) -> Result<Vec<String>> {
        self.get_build_config(name).await?;
        let builds = self
            .api
            .list_builds(Some(name))
            .await
            .map_err(|e| self.client_error(e))?;
        if let Some(active) = builds.iter().find(|b| !b.phase.is_finished()) {
            return Err(delete_refused(&format!("build config {name}"), active));
        }
        let configs: Api<BuildConfigResource> =
            Api::namespaced(self.api.client().clone(), self.api.namespace());
        // Its Builds (and their Pods) are owned by it: Kubernetes removes them too.
        configs
            .delete(name, &DeleteParams::foreground())
            .await
            .map_err(|e| kube_delete_error(e, "buildconfigs", name))?;
        Ok(builds.into_iter().map(|b| b.name).collect())
    }

    fn state_location(&self) -> Option<PathBuf> {
        None
    }
}

/// The CLI's error for an import into `stream` that the controller could not carry out, with
/// the exit codes of the local backend's (`local::import_error`): a missing tag is not found,
/// a stream without a usable image a usage error, an unreachable registry 3.
fn import_failure(stream: &str, failure: ImportFailure) -> ClientError {
    let source = |message: String| Box::new(std::io::Error::other(message));
    match failure {
        ImportFailure::MissingTag { image, tag } => ClientError::NotFound {
            kind: "image",
            name: format!("{image}:{tag}"),
        },
        ImportFailure::Invalid { message } => ClientError::Usage(message),
        ImportFailure::Unreachable { registry, message } => ClientError::Unreachable {
            what: format!("registry {registry}"),
            source: source(message),
        },
        ImportFailure::Failed { message } => ClientError::Backend {
            context: format!("the controller cannot import into image stream {stream}"),
            source: source(message),
        },
    }
}

/// The CLI's error for a refused or failed delete of `resource` `name`.
fn kube_delete_error(error: kube::Error, resource: &str, name: &str) -> ClientError {
    match &error {
        kube::Error::Api(status) if status.code == 404 => ClientError::NotFound {
            kind: if resource == "builds" {
                "build"
            } else {
                "build config"
            },
            name: name.to_owned(),
        },
        kube::Error::Api(status) if status.code == 403 => ClientError::Usage(format!(
            "not allowed to delete {resource} {name}: the role needs `delete` on {resource}"
        )),
        _ => ClientError::Unreachable {
            what: "the Kubernetes API".to_owned(),
            source: Box::new(error),
        },
    }
}
