//! [`OsbsApi`]: every read and write of the OSBS resources in one namespace, with optimistic
//! concurrency. Each update reads the object, applies a pure change from `osbs-core`, and writes
//! it back with the `resourceVersion` it read; an HTTP 409 means someone else wrote first, so it
//! reads again and reapplies, up to [`CONFLICT_RETRIES`] times. Because the `osbs-core`
//! changes are idempotent (`Action::apply`, `record_outcome`), reapplying is always safe.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use osbs_core::auth::DockerConfig;
use osbs_core::build::ImageImport;
use osbs_core::import::{TagChange, apply_import};
use osbs_core::model::{self, ImageStream};
use osbs_core::time::Timestamp;
use osbs_core::variant::{ImportPolicy, import_policy};
use serde_json::json;

use crate::error::is_conflict;
use crate::requests::{
    IMPORT_DONE_ANNOTATION, IMPORT_REQUEST_ANNOTATION, ImportDone, ImportRequest,
};
use crate::resources::{
    BuildConfigResource, BuildResource, ImageStreamResource, ImageStreamSpec, PendingTrigger,
};
use crate::{FIELD_MANAGER, KubeError, LABEL_BUILD_CONFIG};

/// How many times an update is retried after HTTP 409 Conflict.
pub const CONFLICT_RETRIES: usize = 8;

const BUILDS: &str = "builds.osbs.dev";
const BUILD_STATUS: &str = "builds.osbs.dev/status";
const CONFIGS: &str = "buildconfigs.osbs.dev";
const CONFIG_STATUS: &str = "buildconfigs.osbs.dev/status";
const STREAMS: &str = "imagestreams.osbs.dev";
const STREAM_STATUS: &str = "imagestreams.osbs.dev/status";

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The ImageStream after the import.
    pub stream: ImageStream,
    /// The tags whose digest changed (recorded as pending triggers for the controller).
    pub changes: Vec<TagChange>,
}

/// The OSBS resources of one namespace.
#[derive(Clone)]
pub struct OsbsApi {
    client: Client,
    namespace: String,
    /// Publishes the Events of Build phase changes; `None` publishes none.
    events: Option<Recorder>,
}

impl std::fmt::Debug for OsbsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsbsApi")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Fails with [`KubeError::Fenced`] unless `resource`'s status names `lease`.
fn check_lease(resource: &BuildResource, lease: &str) -> Result<(), KubeError> {
    if resource.lease() == Some(lease) {
        Ok(())
    } else {
        Err(KubeError::Fenced {
            build: resource.name_any(),
        })
    }
}

pub(crate) fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

pub(crate) fn post_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    }
}

impl OsbsApi {
    /// The resources of `namespace`, through `client`.
    pub fn new(client: Client, namespace: impl Into<String>) -> Self {
        OsbsApi {
            client,
            namespace: namespace.into(),
            events: None,
        }
    }

    /// Also publishes an Event ([`crate::events::phase_event`]) on every Build this API stores
    /// entering a new phase, reported by `component` (e.g. `osbs-controller`) from `instance`
    /// (e.g. its Pod's name). Needs `create` and `patch` on `events.k8s.io` events.
    #[must_use]
    pub fn reporting_events_as(mut self, component: &str, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: component.to_owned(),
            instance,
        };
        self.events = Some(Recorder::new(self.client.clone(), reporter));
        self
    }

    /// Publishes the Event of `stored` having entered its phase, if it has one. Best effort:
    /// a refused Event is logged, never an error of the update that caused it.
    pub(crate) async fn publish_phase_event(&self, stored: &BuildResource, build: &model::Build) {
        let (Some(recorder), Some(event)) = (&self.events, crate::events::phase_event(build))
        else {
            return;
        };
        let event = Event {
            type_: if event.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.to_owned(),
            note: Some(event.note),
            action: "UpdatePhase".to_owned(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&event, &stored.object_ref(&())).await {
            tracing::warn!(build = %build.name, reason = %event.reason, "cannot publish the event: {e}");
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The Build API of the namespace.
    pub fn builds(&self) -> Api<BuildResource> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The BuildConfig API of the namespace.
    pub fn build_configs(&self) -> Api<BuildConfigResource> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The ImageStream API of the namespace.
    pub fn image_streams(&self) -> Api<ImageStreamResource> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Maps a failed call.
    pub fn error(
        &self,
        verb: &'static str,
        resource: &str,
        kind: &'static str,
        name: &str,
    ) -> impl FnOnce(kube::Error) -> KubeError {
        let namespace = self.namespace.clone();
        let resource = resource.to_owned();
        let name = name.to_owned();
        move |e| KubeError::from_kube(e, verb, &resource, kind, &name, &namespace)
    }

    // ---- Builds ----

    /// One Build resource.
    pub async fn get_build_resource(&self, name: &str) -> Result<BuildResource, KubeError> {
        self.builds()
            .get(name)
            .await
            .map_err(self.error("get", BUILDS, "build", name))
    }

    /// One Build.
    pub async fn get_build(&self, name: &str) -> Result<model::Build, KubeError> {
        self.get_build_resource(name).await?.to_model()
    }

    /// The Build resources, of one BuildConfig or all.
    pub async fn list_build_resources(
        &self,
        build_config: Option<&str>,
    ) -> Result<Vec<BuildResource>, KubeError> {
        let mut params = ListParams::default();
        if let Some(config) = build_config {
            params = params.labels(&format!("{LABEL_BUILD_CONFIG}={config}"));
        }
        Ok(self
            .builds()
            .list(&params)
            .await
            .map_err(self.error("list", BUILDS, "build", ""))?
            .items)
    }

    /// The Builds, of one BuildConfig or all.
    pub async fn list_builds(
        &self,
        build_config: Option<&str>,
    ) -> Result<Vec<model::Build>, KubeError> {
        self.list_build_resources(build_config)
            .await?
            .iter()
            .map(BuildResource::to_model)
            .collect()
    }

    /// Reads the Build `name`, lets `change` alter it, and writes the results annotations and
    /// the status back, retrying on conflict. `change` returns whether it changed anything
    /// (nothing is written otherwise). Returns the Build as stored.
    pub async fn update_build(
        &self,
        name: &str,
        change: impl FnMut(&mut model::Build) -> bool,
    ) -> Result<model::Build, KubeError> {
        self.update_build_checked(name, |_| Ok(()), change).await
    }

    /// [`OsbsApi::update_build`] for the run that holds `lease`: every attempt first checks
    /// that the Build's status still names that lease, and the write is conditional on the
    /// `resourceVersion` that check read, so a run declared dead meanwhile changes nothing.
    ///
    /// # Errors
    ///
    /// [`KubeError::Fenced`] once the lease was taken away; as [`OsbsApi::update_build`]
    /// otherwise.
    pub async fn update_build_fenced(
        &self,
        name: &str,
        lease: &str,
        change: impl FnMut(&mut model::Build) -> bool,
    ) -> Result<model::Build, KubeError> {
        self.update_build_checked(name, |resource| check_lease(resource, lease), change)
            .await
    }

    /// Reads the Build `name`, fails with what `check` says about the resource read, lets
    /// `change` alter the model and writes it back at the `resourceVersion` read, retrying on
    /// conflict (each attempt checks again).
    async fn update_build_checked(
        &self,
        name: &str,
        check: impl Fn(&BuildResource) -> Result<(), KubeError>,
        mut change: impl FnMut(&mut model::Build) -> bool,
    ) -> Result<model::Build, KubeError> {
        for _ in 0..CONFLICT_RETRIES {
            let read = self.get_build_resource(name).await?;
            check(&read)?;
            let mut build = read.to_model()?;
            if !change(&mut build) {
                return Ok(build);
            }
            let mut next = read.clone();
            next.apply_model(&build);
            if let Some(stored) = self.write_build(&read, next).await? {
                return stored.to_model();
            }
        }
        Err(KubeError::Conflict {
            kind: "build",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }

    /// Writes `next`, a changed copy of the Build resource `read`, as one compare-and-swap on
    /// `read`'s `resourceVersion`: first the annotations that changed (a merge patch that
    /// names that version, so it is refused if the Build moved on), then the status at the
    /// version the patch left. Publishes the Event of a phase change. `Ok(None)` on a conflict
    /// (nothing written, or only the annotations when another writer slipped in between the
    /// two calls: the caller reads again and reapplies its idempotent change).
    pub(crate) async fn write_build(
        &self,
        read: &BuildResource,
        mut next: BuildResource,
    ) -> Result<Option<BuildResource>, KubeError> {
        let name = read.name_any();
        let (before, after) = (read.annotations(), next.annotations());
        if before != after {
            let mut changed = serde_json::Map::new();
            for key in before.keys().filter(|k| !after.contains_key(*k)) {
                changed.insert(key.clone(), serde_json::Value::Null);
            }
            for (key, value) in after.iter().filter(|(k, v)| before.get(*k) != Some(*v)) {
                changed.insert(key.clone(), json!(value));
            }
            let patch = json!({"metadata": {
                "resourceVersion": read.metadata.resource_version,
                "annotations": changed,
            }});
            match self
                .builds()
                .patch(&name, &patch_params(), &Patch::Merge(&patch))
                .await
            {
                Ok(patched) => next.metadata.resource_version = patched.metadata.resource_version,
                Err(e) if is_conflict(&e) => return Ok(None),
                Err(e) => return Err(self.error("patch", BUILDS, "build", &name)(e)),
            }
        }
        if next.status == read.status {
            return Ok(Some(next));
        }
        match self
            .builds()
            .replace_status(&name, &post_params(), &next)
            .await
        {
            Ok(stored) => {
                if stored.phase() != read.phase()
                    && let Ok(build) = stored.to_model()
                {
                    self.publish_phase_event(&stored, &build).await;
                }
                Ok(Some(stored))
            }
            Err(e) if is_conflict(&e) => Ok(None),
            Err(e) => Err(self.error("update", BUILD_STATUS, "build", &name)(e)),
        }
    }

    /// Fails with [`KubeError::Fenced`] unless the Build `name` still names `lease` as its
    /// run's lease.
    ///
    /// # Errors
    ///
    /// [`KubeError::Fenced`], or the failed read.
    pub async fn check_lease(&self, name: &str, lease: &str) -> Result<(), KubeError> {
        check_lease(&self.get_build_resource(name).await?, lease)
    }

    /// Sets the Pod name in the Build's status (retried on conflict).
    pub async fn set_build_pod(&self, name: &str, pod: &str) -> Result<(), KubeError> {
        for _ in 0..CONFLICT_RETRIES {
            let mut resource = self.get_build_resource(name).await?;
            let status = resource.status.get_or_insert_with(Default::default);
            if status.pod_name.as_deref() == Some(pod) {
                return Ok(());
            }
            status.pod_name = Some(pod.to_owned());
            match self
                .builds()
                .replace_status(name, &post_params(), &resource)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(self.error("update", BUILD_STATUS, "build", name)(e)),
            }
        }
        Err(KubeError::Conflict {
            kind: "build",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }

    /// Asks the controller to cancel a running Build (`spec.cancelRequested`).
    pub async fn request_cancel(&self, name: &str) -> Result<model::Build, KubeError> {
        let patch = json!({"spec": {"cancelRequested": true}});
        self.builds()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(self.error("patch", BUILDS, "build", name))?
            .to_model()
    }

    // ---- BuildConfigs ----

    /// One BuildConfig resource, if it exists.
    pub async fn get_build_config_resource(
        &self,
        name: &str,
    ) -> Result<Option<BuildConfigResource>, KubeError> {
        self.build_configs().get_opt(name).await.map_err(self.error(
            "get",
            CONFIGS,
            "build config",
            name,
        ))
    }

    /// The error for a missing object of `kind` (`build config`, `image stream`) in this
    /// namespace.
    fn not_found(&self, kind: &'static str, name: &str) -> KubeError {
        KubeError::NotFound {
            kind,
            name: name.to_owned(),
            namespace: self.namespace.clone(),
        }
    }

    /// One BuildConfig.
    pub async fn get_build_config(&self, name: &str) -> Result<model::BuildConfig, KubeError> {
        match self.get_build_config_resource(name).await? {
            Some(resource) => Ok(resource.to_model()),
            None => Err(self.not_found("build config", name)),
        }
    }

    /// Every BuildConfig resource.
    pub async fn list_build_config_resources(&self) -> Result<Vec<BuildConfigResource>, KubeError> {
        Ok(self
            .build_configs()
            .list(&ListParams::default())
            .await
            .map_err(self.error("list", CONFIGS, "build config", ""))?
            .items)
    }

    /// Every BuildConfig, by name.
    pub async fn list_build_configs(&self) -> Result<Vec<model::BuildConfig>, KubeError> {
        let mut configs: Vec<model::BuildConfig> = self
            .list_build_config_resources()
            .await?
            .iter()
            .map(BuildConfigResource::to_model)
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(configs)
    }

    /// Creates the BuildConfig `initial` unless one of that name exists (then it is kept).
    pub async fn ensure_build_config(
        &self,
        initial: &BuildConfigResource,
    ) -> Result<(), KubeError> {
        let name = initial.name_any();
        match self.build_configs().create(&post_params(), initial).await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(self.error("create", CONFIGS, "build config", &name)(e)),
        }
    }

    /// Reads the BuildConfig `name`, lets `change` alter its resource (the spec; the
    /// counter is changed only by [`OsbsApi::queue_build`] and
    /// [`OsbsApi::raise_build_counters`]), and writes it back, retrying on conflict.
    pub async fn update_build_config(
        &self,
        name: &str,
        mut change: impl FnMut(&mut BuildConfigResource) -> bool,
    ) -> Result<BuildConfigResource, KubeError> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut resource) = self.get_build_config_resource(name).await? else {
                return Err(self.not_found("build config", name));
            };
            if !change(&mut resource) {
                return Ok(resource);
            }
            match self
                .build_configs()
                .replace(name, &post_params(), &resource)
                .await
            {
                Ok(stored) => return Ok(stored),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(self.error("update", CONFIGS, "build config", name)(e)),
            }
        }
        Err(KubeError::Conflict {
            kind: "build config",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }

    /// Queues a new Build of the BuildConfig `name` as the controller does: `make` turns the
    /// BuildConfig (whose counter it takes with `Build::queued` or
    /// `AutorebuildRequest::into_build`) into the build. The counter is bumped in the
    /// BuildConfig's status with its `resourceVersion`, then the Build is created, owned by the
    /// BuildConfig; a 409 on either (another writer took the number) starts over with a fresh
    /// read, counting from the highest number in use after a taken name. Users, who may not
    /// write the status, queue with [`OsbsApi::submit_build`].
    pub async fn queue_build(
        &self,
        name: &str,
        mut make: impl FnMut(&mut model::BuildConfig) -> model::Build,
    ) -> Result<model::Build, KubeError> {
        // Users' Builds (`submit_build`) do not move the counter: after a taken name, count
        // from the highest number in use.
        let mut in_use = 0;
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut resource) = self.get_build_config_resource(name).await? else {
                return Err(self.not_found("build config", name));
            };
            let mut config = resource.to_model();
            config.build_counter = config.build_counter.max(in_use);
            let build = make(&mut config);
            resource.apply_model(&config);
            let stored = match self
                .build_configs()
                .replace_status(name, &post_params(), &resource)
                .await
            {
                Ok(stored) => stored,
                Err(e) if is_conflict(&e) => continue,
                Err(e) => {
                    return Err(self.error("update", CONFIG_STATUS, "build config", name)(e));
                }
            };
            let new = BuildResource::from_model(&build, Some(&stored));
            match self.builds().create(&post_params(), &new).await {
                Ok(_) => return Ok(build),
                Err(e) if is_conflict(&e) => {
                    in_use = self.highest_build_number(name).await?;
                }
                Err(e) => return Err(self.error("create", BUILDS, "build", &build.name)(e)),
            }
        }
        Err(KubeError::Conflict {
            kind: "build config",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }

    /// Queues a new Build of the BuildConfig `name` as a user may, writing no status: `make`
    /// turns the BuildConfig into the build, with a counter one short of the next free number
    /// (the highest of the BuildConfig's counter and its Builds' numbers). The Build is created
    /// owned by the BuildConfig; a taken name starts over with a fresh read. The counter stays
    /// where it is until the controller raises it ([`OsbsApi::raise_build_counters`]).
    pub async fn submit_build(
        &self,
        name: &str,
        mut make: impl FnMut(&mut model::BuildConfig) -> model::Build,
    ) -> Result<model::Build, KubeError> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(resource) = self.get_build_config_resource(name).await? else {
                return Err(self.not_found("build config", name));
            };
            let mut config = resource.to_model();
            config.build_counter = config
                .build_counter
                .max(self.highest_build_number(name).await?);
            let build = make(&mut config);
            let new = BuildResource::from_model(&build, Some(&resource));
            match self.builds().create(&post_params(), &new).await {
                Ok(_) => return Ok(build),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => return Err(self.error("create", BUILDS, "build", &build.name)(e)),
            }
        }
        Err(KubeError::Conflict {
            kind: "build config",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }

    /// The highest number among the Builds of the BuildConfig `name` (0 without any).
    async fn highest_build_number(&self, name: &str) -> Result<u64, KubeError> {
        Ok(self
            .list_build_resources(Some(name))
            .await?
            .iter()
            .filter_map(|b| u64::try_from(b.spec.number).ok())
            .max()
            .unwrap_or(0))
    }

    /// Raises the counter of every BuildConfig below the highest number among `builds` (the
    /// Builds users created, which do not move it), so that a number stays taken after its
    /// Build is pruned. Each write is at the `resourceVersion` read; a conflict leaves that
    /// BuildConfig to the next call. Returns the BuildConfigs raised.
    pub async fn raise_build_counters(
        &self,
        builds: &[BuildResource],
    ) -> Result<Vec<String>, KubeError> {
        let mut highest: BTreeMap<&str, i64> = BTreeMap::new();
        for build in builds {
            let top = highest.entry(build.spec.build_config.as_str()).or_default();
            *top = (*top).max(build.spec.number);
        }
        let mut raised = Vec::new();
        if highest.is_empty() {
            return Ok(raised);
        }
        for mut config in self.list_build_config_resources().await? {
            let name = config.name_any();
            let Some(&top) = highest.get(name.as_str()) else {
                continue;
            };
            let status = config.status.get_or_insert_with(Default::default);
            if status.last_version >= top {
                continue;
            }
            status.last_version = top;
            match self
                .build_configs()
                .replace_status(&name, &post_params(), &config)
                .await
            {
                Ok(_) => raised.push(name),
                Err(e) if is_conflict(&e) => {}
                Err(e) => {
                    return Err(self.error("update", CONFIG_STATUS, "build config", &name)(
                        e,
                    ));
                }
            }
        }
        Ok(raised)
    }

    // ---- ImageStreams ----

    /// One ImageStream resource, if it exists.
    pub async fn get_image_stream_resource(
        &self,
        name: &str,
    ) -> Result<Option<ImageStreamResource>, KubeError> {
        self.image_streams().get_opt(name).await.map_err(self.error(
            "get",
            STREAMS,
            "image stream",
            name,
        ))
    }

    /// One ImageStream.
    pub async fn get_image_stream(&self, name: &str) -> Result<ImageStream, KubeError> {
        match self.get_image_stream_resource(name).await? {
            Some(resource) => resource.to_model(),
            None => Err(self.not_found("image stream", name)),
        }
    }

    /// Every ImageStream resource.
    pub async fn list_image_stream_resources(&self) -> Result<Vec<ImageStreamResource>, KubeError> {
        Ok(self
            .image_streams()
            .list(&ListParams::default())
            .await
            .map_err(self.error("list", STREAMS, "image stream", ""))?
            .items)
    }

    /// Every ImageStream, by name.
    pub async fn list_image_streams(&self) -> Result<Vec<ImageStream>, KubeError> {
        let mut streams = self
            .list_image_stream_resources()
            .await?
            .iter()
            .map(ImageStreamResource::to_model)
            .collect::<Result<Vec<_>, _>>()?;
        streams.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(streams)
    }

    /// Creates the ImageStream `name` (without tags) unless it exists.
    pub async fn ensure_image_stream(
        &self,
        name: &str,
        docker_image_repository: Option<String>,
    ) -> Result<(), KubeError> {
        let resource = ImageStreamResource::new(
            name,
            ImageStreamSpec {
                docker_image_repository,
            },
        );
        match self.image_streams().create(&post_params(), &resource).await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(self.error("create", STREAMS, "image stream", name)(e)),
        }
    }

    /// Applies `import` (by the build `by`, or a user's `import-image` when `None`) with
    /// `osbs_core::import::apply_import`, creating the ImageStream if needed, and records each
    /// changed tag as a pending trigger (with the importing build's causal chain) for the
    /// controller to fan out. Retried on conflict.
    pub async fn import(
        &self,
        import: &ImageImport,
        by: Option<&model::Build>,
        now: Timestamp,
    ) -> Result<Imported, KubeError> {
        self.record_import(import, by, true, now).await
    }

    /// [`OsbsApi::import`]; without `fire` the changed tags are only recorded, no pending
    /// trigger (the first read of an external image: its baseline).
    pub async fn record_import(
        &self,
        import: &ImageImport,
        by: Option<&model::Build>,
        fire: bool,
        now: Timestamp,
    ) -> Result<Imported, KubeError> {
        let name = import.image_stream.as_str();
        let chain = by.map(model::Build::downstream_chain).unwrap_or_default();
        // The importing build's variant decides (SPEC §3): a scratch build records nothing,
        // an isolated one records without firing triggers.
        let fire = match import_policy(by, fire) {
            ImportPolicy::Skip => {
                let stream = match self.get_image_stream_resource(name).await? {
                    Some(resource) => resource.to_model()?,
                    None => ImageStream::new(name.to_owned()),
                };
                return Ok(Imported {
                    stream,
                    changes: Vec::new(),
                });
            }
            ImportPolicy::Record => false,
            ImportPolicy::Fire => true,
        };
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut resource) = self.get_image_stream_resource(name).await? else {
                self.ensure_image_stream(name, Some(import.docker_image_repository.clone()))
                    .await?;
                continue;
            };
            let mut stream = resource.to_model()?;
            let changes = apply_import(&mut stream, import, by.map(|b| b.name.as_str()), now)
                .map_err(|source| KubeError::Import {
                    stream: name.to_owned(),
                    source: Box::new(source),
                })?;
            resource.apply_model(&stream);
            if let Some(status) = resource.status.as_mut().filter(|_| fire) {
                status
                    .pending_triggers
                    .extend(changes.iter().map(|c| PendingTrigger {
                        tag: c.tag.clone(),
                        old: c.old.clone(),
                        new: c.new.clone(),
                        chain: chain.clone(),
                    }));
            }
            match self
                .image_streams()
                .replace_status(name, &post_params(), &resource)
                .await
            {
                Ok(_) => return Ok(Imported { stream, changes }),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => {
                    return Err(self.error("update", STREAM_STATUS, "image stream", name)(e));
                }
            }
        }
        Err(KubeError::Conflict {
            kind: "image stream",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }

    /// Asks the controller to import into the ImageStream `name` (`osbs import-image`; a user
    /// may not write the stream's status): records `request` in its annotations, replacing
    /// any earlier request.
    pub async fn request_import(
        &self,
        name: &str,
        request: &ImportRequest,
    ) -> Result<(), KubeError> {
        self.annotate_stream(name, IMPORT_REQUEST_ANNOTATION, request)
            .await
    }

    /// Records the controller's answer `done` to an import request on the ImageStream `name`.
    pub async fn answer_import(&self, name: &str, done: &ImportDone) -> Result<(), KubeError> {
        self.annotate_stream(name, IMPORT_DONE_ANNOTATION, done)
            .await
    }

    async fn annotate_stream(
        &self,
        name: &str,
        key: &str,
        value: &impl serde::Serialize,
    ) -> Result<(), KubeError> {
        let text = serde_json::to_string(value).map_err(|e| KubeError::Invalid {
            kind: "image stream",
            name: name.to_owned(),
            problem: e.to_string(),
        })?;
        let patch = json!({"metadata": {"annotations": {key: text}}});
        self.image_streams()
            .patch(name, &patch_params(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(self.error("patch", STREAMS, "image stream", name))
    }

    /// Removes `done` from the ImageStream's pending triggers once the controller queued their
    /// builds. Retried on conflict; triggers recorded meanwhile are kept.
    pub async fn clear_pending_triggers(
        &self,
        name: &str,
        done: &[PendingTrigger],
    ) -> Result<(), KubeError> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut resource) = self.get_image_stream_resource(name).await? else {
                return Ok(());
            };
            let Some(status) = resource.status.as_mut() else {
                return Ok(());
            };
            let before = status.pending_triggers.len();
            status.pending_triggers.retain(|p| !done.contains(p));
            if status.pending_triggers.len() == before {
                return Ok(());
            }
            match self
                .image_streams()
                .replace_status(name, &post_params(), &resource)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_conflict(&e) => continue,
                Err(e) => {
                    return Err(self.error("update", STREAM_STATUS, "image stream", name)(e));
                }
            }
        }
        Err(KubeError::Conflict {
            kind: "image stream",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }

    // ---- ConfigMaps ----

    /// The PEM CA certificates of the `registry_ca` ConfigMap `name` of this namespace: its
    /// key [`crate::REGISTRY_CA_KEY`], as the build Pods mount it. Needs `get` on that
    /// ConfigMap.
    ///
    /// # Errors
    ///
    /// [`KubeError::NotFound`], [`KubeError::Forbidden`] as for any object;
    /// [`KubeError::Invalid`] when the key is missing or holds no PEM certificate.
    pub async fn registry_ca(&self, name: &str) -> Result<String, KubeError> {
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let config_map = config_maps.get(name).await.map_err(self.error(
            "get",
            "configmaps",
            "configmap",
            name,
        ))?;
        let key = crate::REGISTRY_CA_KEY;
        let pem = config_map
            .data
            .unwrap_or_default()
            .remove(key)
            .ok_or_else(|| KubeError::Invalid {
                kind: "configmap",
                name: name.to_owned(),
                problem: format!("no key {key}"),
            })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(KubeError::Invalid {
                kind: "configmap",
                name: name.to_owned(),
                problem: format!("key {key} holds no PEM certificate"),
            });
        }
        Ok(pem)
    }

    // ---- Secrets ----

    /// The registry credentials in the Secret `name` of this namespace: a
    /// `kubernetes.io/dockerconfigjson` Secret (`.dockerconfigjson`) or a legacy
    /// `kubernetes.io/dockercfg` one (`.dockercfg`), as the build Pod mounts them. Needs `get`
    /// on that Secret; errors name the Secret and the key, never the content.
    ///
    /// # Errors
    ///
    /// [`KubeError::NotFound`], [`KubeError::Forbidden`] as for any object;
    /// [`KubeError::Invalid`] when it holds no docker config or an invalid one.
    pub async fn registry_credentials(&self, name: &str) -> Result<DockerConfig, KubeError> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let secret = secrets
            .get(name)
            .await
            .map_err(self.error("get", "secrets", "secret", name))?;
        let data = secret.data.unwrap_or_default();
        let invalid = |problem: String| KubeError::Invalid {
            kind: "secret",
            name: name.to_owned(),
            problem,
        };
        let (key, bytes) = [".dockerconfigjson", ".dockercfg"]
            .into_iter()
            .find_map(|key| data.get(key).map(|bytes| (key, bytes)))
            .ok_or_else(|| invalid("no .dockerconfigjson or .dockercfg key".to_owned()))?;
        let text = std::str::from_utf8(&bytes.0)
            .map_err(|_| invalid(format!("key {key} is not UTF-8 text")))?;
        DockerConfig::parse(text).map_err(|e| invalid(format!("key {key}: {e}")))
    }
}
