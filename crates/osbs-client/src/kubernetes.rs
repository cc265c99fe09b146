//! The kubernetes backend (`backend = kubernetes`): BuildConfigs, Builds and ImageStreams are
//! custom resources in the instance's namespace (through `osbs_kube::OsbsApi`), builds run as
//! Pods started by `osbs-controller`, and build logs are the Pods' logs.
//!
//! The client does what osbs-client did against OpenShift: it resolves the submission (commit,
//! Dockerfile, repo config — through the [`Resolver`] it is given, the same git code as the
//! local backend), records the user build on the BuildConfig and queues the Build; the
//! controller applies the run policy and starts it. Every write is conflict-retried. A 403
//! becomes a usage error naming the RBAC verb and resource that are missing.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{DeleteParams, LogParams, WatchEvent, WatchParams};
use kube::{Api, Client, Config};
use osbs_core::auth::DockerConfig;
use osbs_core::import::TagChange;
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStream};
use osbs_core::policy::{self, CancelDecision, QueueStatus};
use osbs_core::submission::{self, ResolvedSubmission};
use osbs_core::time::Timestamp;
use osbs_core::trigger::{RebuildPlan, TriggerGraph};
use osbs_engine::import::{ImportError, RegistrySource, read_import};
use osbs_kube::{BuildConfigResource, BuildResource, KubeError, OsbsApi, SyncSpec};
use osbs_registry_sync::{ClientOptions, RegistryEndpoint};

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

/// How long `import-image` waits for the controller to turn the import's tag changes into
/// builds, and how often it looks.
const FAN_OUT_WAIT: Duration = Duration::from_secs(10);
const FAN_OUT_POLL: Duration = Duration::from_millis(200);

/// The kubernetes backend of one instance.
pub struct KubeBackend {
    api: OsbsApi,
    pods: Api<Pod>,
    registry_uri: String,
    registry_secret: Option<String>,
    sync: Option<SyncSpec>,
    repo_config_file: String,
    resolver: Resolver,
    fan_out_wait: Duration,
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
    /// Connects to the cluster of the current kubeconfig context, or the in-cluster
    /// configuration inside a Pod, and works in the instance's `namespace`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unreachable`] when no configuration can be found or the client cannot be
    /// built.
    pub async fn connect(instance: &Instance, resolver: Resolver) -> Result<Self> {
        let config = Config::infer()
            .await
            .map_err(|e| ClientError::Unreachable {
                what: "the Kubernetes API server (no kubeconfig or in-cluster configuration)"
                    .to_owned(),
                source: Box::new(e),
            })?;
        let client = Client::try_from(config).map_err(|e| ClientError::Unreachable {
            what: "the Kubernetes API server".to_owned(),
            source: Box::new(e),
        })?;
        Ok(Self::new(client, instance, resolver))
    }

    /// The backend over an existing client (tests point it at a fake API server).
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
            pods: Api::namespaced(client.clone(), &instance.namespace),
            api: OsbsApi::new(client, &instance.namespace).reporting_events_as("osbs", None),
            registry_uri: uri(endpoint),
            registry_secret: instance.registry_secret.clone(),
            sync: instance.sync.as_ref().map(|target| SyncSpec {
                name: target.name.clone(),
                registry_uri: uri(&target.registry),
                registry_secret: target.secret.clone(),
            }),
            repo_config_file: instance.repo_config_file.clone(),
            resolver,
            fan_out_wait: FAN_OUT_WAIT,
        }
    }

    /// How long `import_image` waits for the controller to queue the builds an import
    /// triggers (10 s unless set).
    #[must_use]
    pub fn with_fan_out_wait(mut self, wait: Duration) -> Self {
        self.fan_out_wait = wait;
        self
    }

    /// The credentials in the instance's `registry_secret`, read through the API as the build
    /// Pod mounts them: a `kubernetes.io/dockerconfigjson` Secret (`.dockerconfigjson`) or a
    /// legacy `kubernetes.io/dockercfg` one (`.dockercfg`). `None` without a secret.
    ///
    /// # Errors
    ///
    /// Not found or forbidden as for any resource; a usage error naming the Secret (never its
    /// content) when it holds no docker config or an invalid one.
    pub async fn registry_credentials(&self) -> Result<Option<DockerConfig>> {
        let Some(name) = &self.registry_secret else {
            return Ok(None);
        };
        let namespace = self.api.namespace();
        let secrets: Api<Secret> = Api::namespaced(self.api.client().clone(), namespace);
        let secret = secrets
            .get(name)
            .await
            .map_err(|e| client_error(self.api.error("get", "secrets", "secret", name)(e)))?;
        let data = secret.data.unwrap_or_default();
        let Some((key, bytes)) = [".dockerconfigjson", ".dockercfg"]
            .into_iter()
            .find_map(|key| data.get(key).map(|bytes| (key, bytes)))
        else {
            return Err(ClientError::Usage(format!(
                "secret {name:?} in namespace {namespace:?} (registry_secret) has no \
                 .dockerconfigjson or .dockercfg key"
            )));
        };
        let invalid = |problem: String| {
            ClientError::Usage(format!(
                "secret {name:?} in namespace {namespace:?} (registry_secret), key {key}: {problem}"
            ))
        };
        let text =
            std::str::from_utf8(&bytes.0).map_err(|_| invalid("not UTF-8 text".to_owned()))?;
        DockerConfig::parse(text)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    }

    /// Waits until the controller has fanned out the tag `changes` that an import recorded on
    /// `stream` (they leave its `pendingTriggers`), then returns the builds they queued.
    ///
    /// # Errors
    ///
    /// [`ClientError::Backend`] (exit 3) when the changes are still pending after the fan-out
    /// wait: the import is recorded, but no controller acted on it.
    async fn wait_for_fan_out(&self, stream: &str, changes: &[TagChange]) -> Result<Vec<Build>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let ours =
            |tag: &str, digest: &str| changes.iter().any(|c| c.tag == tag && c.new == digest);
        let deadline = tokio::time::Instant::now() + self.fan_out_wait;
        loop {
            let resource = self
                .api
                .get_image_stream_resource(stream)
                .await
                .map_err(client_error)?;
            let pending = resource
                .and_then(|r| r.status)
                .is_some_and(|s| s.pending_triggers.iter().any(|p| ours(&p.tag, &p.new)));
            if !pending {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Backend {
                    context: format!(
                        "the import into image stream {stream:?} is recorded, but no \
                         osbs-controller turned it into builds within {} s; is one running in \
                         namespace {:?}?",
                        self.fan_out_wait.as_secs_f64(),
                        self.api.namespace()
                    ),
                    source: Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "triggers still pending",
                    )),
                });
            }
            tokio::time::sleep(FAN_OUT_POLL).await;
        }
        let builds = self.api.list_builds(None).await.map_err(client_error)?;
        Ok(builds
            .into_iter()
            .filter(|b| match &b.cause {
                BuildCause::ImageChange {
                    stream: s,
                    tag,
                    digest,
                    chain,
                } => s == stream && chain.is_empty() && ours(tag, digest),
                BuildCause::User => false,
            })
            .collect())
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
        on_event: &mut (dyn FnMut(LogEvent) + Send),
    ) -> Result<usize> {
        let params = LogParams {
            container: Some("reactor".to_owned()),
            follow,
            ..LogParams::default()
        };
        let stream = match self.pods.log_stream(pod, &params).await {
            Ok(stream) => stream,
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 400 => {
                // No Pod yet, or its container has not started.
                return Ok(0);
            }
            Err(e) => {
                return Err(client_error(self.api.error("get", "pods/log", "pod", pod)(
                    e,
                )));
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
                on_event(LogEvent::Line(line));
            }
        }
        Ok(seen)
    }
}

impl Backend for KubeBackend {
    async fn create_build(&self, submission: &BuildSubmission) -> Result<Submitted> {
        let facts = (self.resolver)(submission)?;
        let plan = submission::plan(&ResolvedSubmission {
            git_url: submission.git_url.clone(),
            git_branch: submission.git_branch.clone(),
            commit: facts.commit.clone(),
            base_image: facts.base_image.clone(),
            image_name: facts.image_name.clone(),
            component: submission.component.clone(),
            repo_config_name: self.repo_config_file.clone(),
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
            .map_err(client_error)?;
        let recorded = plan.record.clone();
        let (registry_uri, registry_secret, sync) = (
            self.registry_uri.clone(),
            self.registry_secret.clone(),
            self.sync.clone(),
        );
        self.api
            .update_build_config(&name, |resource| {
                let mut config = resource.to_model();
                config.record_user_build(recorded.clone());
                let before = resource.clone();
                resource.apply_model(&config);
                resource.spec.registry_uri = Some(registry_uri.clone());
                resource.spec.registry_secret.clone_from(&registry_secret);
                resource.spec.sync.clone_from(&sync);
                resource.spec != before.spec
            })
            .await
            .map_err(client_error)?;
        if let Some((stream, image)) = &plan.base_stream {
            self.api
                .ensure_image_stream(stream, Some(image.clone()))
                .await
                .map_err(client_error)?;
        }
        let build = self
            .api
            .queue_build(&name, |config| plan.queue(config, now()))
            .await
            .map_err(client_error)?;
        let builds = self
            .api
            .list_builds(Some(&name))
            .await
            .map_err(client_error)?;
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

    async fn get_build(&self, name: &str) -> Result<Build> {
        self.api.get_build(name).await.map_err(client_error)
    }

    async fn list_builds(&self, filter: &BuildFilter) -> Result<Vec<Build>> {
        let mut builds = self
            .api
            .list_builds(filter.build_config.as_deref())
            .await
            .map_err(client_error)?;
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
            .map_err(client_error)?;
        let mut current = resource.to_model().map_err(client_error)?;
        let mut version = resource
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        on_change(&current);
        let watch_error = |e: kube::Error| {
            client_error(self.api.error(
                "watch",
                "builds.osbs.example.dev",
                "build",
                name,
            )(e))
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
                        b.to_model().map_err(client_error)?
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
                            .map_err(client_error)?;
                        version = fresh.metadata.resource_version.clone().unwrap_or_default();
                        let build = fresh.to_model().map_err(client_error)?;
                        if build.phase != current.phase {
                            on_change(&build);
                        }
                        current = build;
                        break;
                    }
                    WatchEvent::Error(status) => {
                        return Err(client_error(self.api.error(
                            "watch",
                            "builds.osbs.example.dev",
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

    async fn build_logs(
        &self,
        name: &str,
        follow: bool,
        on_event: &mut (dyn FnMut(LogEvent) + Send),
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
                on_event(LogEvent::Finished(Box::new(build)));
                return Ok(());
            }
            // The stream ended (Pod not started yet, or the connection dropped): reconnect,
            // skipping the lines already shown.
            tokio::time::sleep(LOG_RECONNECT).await;
        }
    }

    async fn cancel_build(&self, name: &str) -> Result<Build> {
        let build = self.get_build(name).await?;
        match policy::cancel(&build) {
            CancelDecision::Now(action) => self
                .api
                .update_build(name, |b| action.apply(b, now()))
                .await
                .map_err(client_error),
            CancelDecision::StopRunner => self.api.request_cancel(name).await.map_err(client_error),
            CancelDecision::AlreadyFinished(_) => Ok(build),
        }
    }

    async fn list_build_configs(&self) -> Result<Vec<BuildConfig>> {
        self.api.list_build_configs().await.map_err(client_error)
    }

    async fn get_build_config(&self, name: &str) -> Result<BuildConfig> {
        self.api.get_build_config(name).await.map_err(client_error)
    }

    async fn list_image_streams(&self) -> Result<Vec<ImageStream>> {
        self.api.list_image_streams().await.map_err(client_error)
    }

    async fn get_image_stream(&self, name: &str) -> Result<ImageStream> {
        self.api.get_image_stream(name).await.map_err(client_error)
    }

    async fn import_image(
        &self,
        name: &str,
        tag: Option<&str>,
    ) -> Result<(ImageStream, Vec<Build>)> {
        let stream = self.get_image_stream(name).await?;
        // The registry of the stream is normally the push registry, whose Secret this is; the
        // client sends a credential to its own registry only.
        let credentials = self.registry_credentials().await?;
        let source = RegistrySource::new(credentials, ClientOptions::default());
        let (import, _) = read_import(&source, &stream, tag)
            .await
            .map_err(|e| crate::local::import_error(ImportError::Read(e)))?;
        let imported = self
            .api
            .import(&import, None, now())
            .await
            .map_err(client_error)?;
        let triggered = self
            .wait_for_fan_out(&stream.name, &imported.changes)
            .await?;
        Ok((imported.stream, triggered))
    }

    async fn rebuild_plan(&self, stream: &str, tag: &str) -> Result<RebuildPlan> {
        let configs = self.list_build_configs().await?;
        Ok(TriggerGraph::new(&configs).rebuild_plan(stream, tag))
    }

    async fn triggered_by(&self, build: &Build) -> Result<Vec<Build>> {
        let builds = self.api.list_builds(None).await.map_err(client_error)?;
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
            .map_err(client_error)?;
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
