//! [`KubeStore`]: `osbs_engine::Store` over the custom resources of one namespace, what
//! `osbs-controller` runs the engine on.
//!
//! - **Versions.** A `RunRecord`'s version is the Build's `metadata.resourceVersion`
//!   ([`version_of`]: the number it is, or a hash of it should a server hand out another
//!   form). `start_run` and `update_build` are compare-and-swaps: they read the Build, give up
//!   (`false`) unless it is still at the version the engine saw, and write at the
//!   `resourceVersion` they read, so a 409 means `false` too.
//! - **Leases.** The run lease lives in the Build's status (`lease`, `leaseGranted`), written
//!   by `start_run` in the same write that makes the Build `Pending`, and removed by the
//!   `update_build` that ends it: the build Pod's host checks it before each write.
//! - **Imports.** `import` applies `apply_import` and records the changed tags as pending
//!   triggers on the ImageStream in one write, then fans them out ([`KubeStore::fan_out`]):
//!   `TriggerGraph::fan_out` through [`plan_triggers`], the Builds queued, the triggers
//!   cleared. A fan-out cut short (a restart) is replayed from the pending triggers without
//!   queueing anything twice; the controller replays every stream's each round, which also
//!   fans out the imports of build Pods and `osbs import-image`.
//! - **Notifications.** A Build is born with [`NOTIFIED_ANNOTATION`] `"false"`; once it has
//!   ended, `queue_deliveries` sets it to `"true"` and keeps the deliveries in
//!   [`NOTIFY_PENDING_ANNOTATION`] (module `outbox`) in one conditional patch. A Build without
//!   the marker was created by a release before notifications: if it was created before
//!   `notify_since` (the controller's start) it counts as notified, so an upgrade sends no
//!   flood of old news; one created later (by an older `osbs` client) is notified like any.

use kube::api::{DeleteParams, Patch, Preconditions};
use kube::{Api, ResourceExt};
use osbs_core::build::{BuildPhase, ImageImport};
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStream};
use osbs_core::time::Timestamp;
use osbs_core::trigger::SkippedTrigger;
use osbs_core::variant::{BuildVariant, ImportPolicy, import_policy};
use osbs_engine::{Delivery, Imported, RunRecord, RunnerState, StoreError, StoreResult};
use serde_json::{Value, json};

use crate::api::patch_params;
use crate::error::is_conflict;
use crate::outbox::{self, fnv1a};
use crate::triggers::plan_triggers;
use crate::{
    BuildResource, CONFLICT_RETRIES, KubeError, NOTIFIED_ANNOTATION, NOTIFY_PENDING_ANNOTATION,
    OsbsApi,
};

const BUILDS: &str = "builds.osbs.dev";

/// The engine's version of a Build read at `resource_version`: the number itself, or a
/// 64-bit hash for a version that is not one (Kubernetes calls it opaque); 0 when absent.
pub fn version_of(resource_version: Option<&str>) -> u64 {
    resource_version.map_or(0, |v| v.parse().unwrap_or_else(|_| fnv1a(v)))
}

fn boxed(error: KubeError) -> StoreError {
    Box::new(error)
}

/// What a fan-out of one ImageStream's pending triggers did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FiredTriggers {
    /// The autorebuilds it queued.
    pub queued: Vec<Build>,
    /// Triggered BuildConfigs that got no build, and why.
    pub skipped: Vec<SkippedTrigger>,
    /// BuildConfigs that already had their build (a replay).
    pub already_queued: Vec<String>,
}

/// `osbs_engine::Store` over the OSBS resources of one namespace (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct KubeStore {
    api: OsbsApi,
    notify_since: Timestamp,
    webhooks: Vec<String>,
}

impl KubeStore {
    /// A store over `api`. Ended Builds without the notified marker that were created before
    /// `notify_since` (the controller's start) count as notified.
    pub fn new(api: OsbsApi, notify_since: Timestamp) -> Self {
        KubeStore {
            api,
            notify_since,
            webhooks: Vec::new(),
        }
    }

    /// Resolves the webhook fingerprints of the outbox against `webhooks` (the configured
    /// `notify_webhook` URLs), and keeps them out of stored errors.
    #[must_use]
    pub fn with_webhooks(mut self, webhooks: &[String]) -> Self {
        self.webhooks = webhooks.to_vec();
        self
    }

    /// The API the store works through.
    pub fn api(&self) -> &OsbsApi {
        &self.api
    }

    /// Fans out the pending triggers of the ImageStream `stream`: the autorebuilds
    /// [`plan_triggers`] asks for are queued (a BuildConfig gone meanwhile is skipped), then
    /// the triggers handled are cleared. Replay-safe: a build already queued for a change is
    /// not queued again.
    ///
    /// # Errors
    ///
    /// [`KubeError`] when a read or a write fails; the triggers then stay pending.
    pub async fn fan_out(&self, stream: &str, now: Timestamp) -> Result<FiredTriggers, KubeError> {
        let pending = self
            .api
            .get_image_stream_resource(stream)
            .await?
            .and_then(|r| r.status)
            .map(|s| s.pending_triggers)
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(FiredTriggers::default());
        }
        let configs = self.api.list_build_configs().await?;
        let builds = self.api.list_builds(None).await?;
        let plan = plan_triggers(stream, &pending, &configs, &builds);
        let mut fired = FiredTriggers {
            queued: Vec::new(),
            skipped: plan.skipped,
            already_queued: plan.already_queued,
        };
        for request in plan.requests {
            let config = request.build_config.clone();
            match self
                .api
                .queue_build(&config, |bc| request.clone().into_build(bc, now))
                .await
            {
                Ok(build) => fired.queued.push(build),
                Err(KubeError::NotFound { .. }) => {
                    tracing::info!(%stream, build_config = %config, "triggered build config is gone");
                }
                Err(e) => return Err(e),
            }
        }
        self.api.clear_pending_triggers(stream, &pending).await?;
        Ok(fired)
    }

    /// [`KubeStore::fan_out`] of every ImageStream with pending triggers, by name. One that
    /// fails does not stop the others; its error is in its place.
    ///
    /// # Errors
    ///
    /// [`KubeError`] when the ImageStreams cannot be listed.
    pub async fn fan_out_all(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, Result<FiredTriggers, KubeError>)>, KubeError> {
        let mut results = Vec::new();
        for resource in self.api.list_image_stream_resources().await? {
            let has_pending = resource
                .status
                .as_ref()
                .is_some_and(|s| !s.pending_triggers.is_empty());
            if has_pending {
                let name = resource.name_any();
                let fired = self.fan_out(&name, now).await;
                results.push((name, fired));
            }
        }
        Ok(results)
    }

    /// Whether the ended Build `resource` still owes its notifications.
    fn owes_notifications(&self, resource: &BuildResource) -> bool {
        match resource
            .annotations()
            .get(NOTIFIED_ANNOTATION)
            .map(String::as_str)
        {
            Some("false") => true,
            Some(_) => false,
            None => Timestamp::parse(&resource.spec.created).is_ok_and(|t| t >= self.notify_since),
        }
    }

    /// Every Build resource, as models; one this version cannot read is left out (logged).
    async fn models(&self) -> Result<Vec<(BuildResource, Build)>, KubeError> {
        Ok(self
            .api
            .list_build_resources(None)
            .await?
            .into_iter()
            .filter_map(|r| match r.to_model() {
                Ok(build) => Some((r, build)),
                Err(e) => {
                    tracing::warn!("skipping build {}: {e}", r.name_any());
                    None
                }
            })
            .collect())
    }

    /// One Build resource, if it exists.
    async fn get(&self, name: &str) -> Result<Option<BuildResource>, KubeError> {
        self.api
            .builds()
            .get_opt(name)
            .await
            .map_err(self.api.error("get", BUILDS, "build", name))
    }

    /// Patches the annotations of the Build `read` at its `resourceVersion`; `false` on a
    /// conflict.
    async fn patch_annotations(
        &self,
        read: &BuildResource,
        annotations: Value,
    ) -> Result<bool, KubeError> {
        let name = read.name_any();
        let patch = json!({"metadata": {
            "resourceVersion": read.metadata.resource_version,
            "annotations": annotations,
        }});
        match self
            .api
            .builds()
            .patch(&name, &patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(self.api.error("patch", BUILDS, "build", &name)(e)),
        }
    }

    fn conflict(name: &str) -> StoreError {
        boxed(KubeError::Conflict {
            kind: "build",
            name: name.to_owned(),
            attempts: CONFLICT_RETRIES,
        })
    }
}

impl osbs_engine::Store for KubeStore {
    async fn unfinished(&self) -> StoreResult<Vec<RunRecord>> {
        Ok(self
            .models()
            .await
            .map_err(boxed)?
            .into_iter()
            .filter(|(_, build)| !build.phase.is_finished())
            .map(|(resource, build)| {
                let status = resource.status.unwrap_or_default();
                RunRecord {
                    build,
                    version: version_of(resource.metadata.resource_version.as_deref()),
                    lease: status.lease,
                    runner: RunnerState {
                        runner: status.pod_name,
                        heartbeat: status
                            .lease_granted
                            .as_deref()
                            .and_then(|t| Timestamp::parse(t).ok()),
                    },
                }
            })
            .collect())
    }

    async fn start_run(
        &self,
        build: &str,
        version: u64,
        lease: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let Some(read) = self.get(build).await.map_err(boxed)? else {
            return Ok(false);
        };
        if version_of(read.metadata.resource_version.as_deref()) != version
            || read.phase() != BuildPhase::New
        {
            return Ok(false);
        }
        let mut model = read.to_model().map_err(boxed)?;
        model.phase = BuildPhase::Pending;
        let mut next = read.clone();
        next.apply_model(&model);
        let status = next.status.get_or_insert_with(Default::default);
        status.lease = Some(lease.to_owned());
        status.lease_granted = Some(now.to_string());
        status.pod_name = None;
        Ok(self
            .api
            .write_build(&read, next)
            .await
            .map_err(boxed)?
            .is_some())
    }

    async fn update_build(&self, build: &Build, version: u64) -> StoreResult<bool> {
        let Some(read) = self.get(&build.name).await.map_err(boxed)? else {
            return Ok(false);
        };
        if version_of(read.metadata.resource_version.as_deref()) != version {
            return Ok(false);
        }
        let mut next = read.clone();
        next.apply_model(build);
        if build.phase.is_finished()
            && let Some(status) = next.status.as_mut()
        {
            // The run is over: whatever its runner still tries is refused.
            status.lease = None;
        }
        Ok(self
            .api
            .write_build(&read, next)
            .await
            .map_err(boxed)?
            .is_some())
    }

    async fn all_builds(&self) -> StoreResult<Vec<Build>> {
        Ok(self
            .models()
            .await
            .map_err(boxed)?
            .into_iter()
            .map(|(_, build)| build)
            .collect())
    }

    async fn delete_build(&self, name: &str) -> StoreResult<()> {
        let Some(read) = self.get(name).await.map_err(boxed)? else {
            return Ok(());
        };
        if !read.phase().is_finished() {
            return Ok(());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: read.metadata.resource_version.clone(),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        match self.api.builds().delete(name, &params).await {
            Ok(_) => {}
            // Gone already, or changed meanwhile: left for the next round to decide.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return Ok(()),
            Err(e) => return Err(boxed(self.api.error("delete", BUILDS, "build", name)(e))),
        }
        // Its Pod (and with it the build log) goes too, at once: it ended with the build. The
        // owner reference would have the garbage collector remove it as well, eventually.
        let pods: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(self.api.client().clone(), self.api.namespace());
        let pod = crate::pod_name(name);
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        match pods.delete(&pod, &now).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(boxed(self.api.error("delete", "pods", "pod", &pod)(e))),
        }
    }

    async fn build_config(&self, name: &str) -> StoreResult<Option<BuildConfig>> {
        Ok(self
            .api
            .get_build_config_resource(name)
            .await
            .map_err(boxed)?
            .map(|r| r.to_model()))
    }

    async fn queue_build(
        &self,
        config: &str,
        cause: BuildCause,
        commit: Option<String>,
        is_autorebuild: bool,
        variant: Option<BuildVariant>,
        now: Timestamp,
    ) -> StoreResult<Build> {
        self.api
            .queue_build(config, |bc| {
                let mut build = Build::queued(bc, cause.clone(), commit.clone(), now);
                build.is_autorebuild = is_autorebuild;
                if let Some(variant) = &variant {
                    build.variant.clone_from(variant);
                }
                build
            })
            .await
            .map_err(boxed)
    }

    async fn build(&self, name: &str) -> StoreResult<Option<Build>> {
        self.get(name)
            .await
            .map_err(boxed)?
            .map(|r| r.to_model())
            .transpose()
            .map_err(boxed)
    }

    async fn image_streams(&self) -> StoreResult<Vec<ImageStream>> {
        self.api.list_image_streams().await.map_err(boxed)
    }

    async fn import(
        &self,
        import: &ImageImport,
        by: Option<&Build>,
        fire: bool,
        now: Timestamp,
    ) -> StoreResult<Imported> {
        let recorded = self
            .api
            .record_import(import, by, fire, now)
            .await
            .map_err(boxed)?;
        let mut imported = Imported {
            stream: recorded.stream,
            queued: Vec::new(),
            skipped: Vec::new(),
        };
        // Only what `record_import` recorded as pending triggers is fanned out: an isolated
        // build's import fires nothing (`osbs_core::variant::import_policy`).
        let fire = import_policy(by, fire) == ImportPolicy::Fire;
        if fire && !recorded.changes.is_empty() {
            let fired = self
                .fan_out(&import.image_stream, now)
                .await
                .map_err(boxed)?;
            imported.queued = fired.queued;
            imported.skipped = fired.skipped;
        }
        Ok(imported)
    }

    async fn unnotified(&self) -> StoreResult<Vec<Build>> {
        let mut ended: Vec<Build> = self
            .models()
            .await
            .map_err(boxed)?
            .into_iter()
            .filter(|(r, b)| b.phase.is_finished() && self.owes_notifications(r))
            .map(|(_, b)| b)
            .collect();
        ended.sort_by(|a, b| {
            (a.finished, a.created, &a.name).cmp(&(b.finished, b.created, &b.name))
        });
        Ok(ended)
    }

    async fn queue_deliveries(&self, build: &str, deliveries: &[Delivery]) -> StoreResult<()> {
        let entries = outbox::entries(deliveries, &self.webhooks);
        for _ in 0..CONFLICT_RETRIES {
            let Some(read) = self.get(build).await.map_err(boxed)? else {
                return Ok(());
            };
            if read
                .annotations()
                .get(NOTIFIED_ANNOTATION)
                .map(String::as_str)
                == Some("true")
            {
                // Queued already (by another engine, or before a restart).
                return Ok(());
            }
            let annotations = json!({
                NOTIFIED_ANNOTATION: "true",
                NOTIFY_PENDING_ANNOTATION: outbox::encode(&entries),
            });
            if self
                .patch_annotations(&read, annotations)
                .await
                .map_err(boxed)?
            {
                return Ok(());
            }
        }
        Err(Self::conflict(build))
    }

    async fn due_deliveries(&self, now: Timestamp) -> StoreResult<Vec<Delivery>> {
        let mut due = Vec::new();
        for (resource, build) in self.models().await.map_err(boxed)? {
            let entries = outbox::decode(resource.annotations().get(NOTIFY_PENDING_ANNOTATION));
            let count = entries.len();
            let mut kept = Vec::with_capacity(count);
            for entry in entries {
                match outbox::delivery(&entry, &build, &self.webhooks) {
                    Some(delivery) => {
                        if entry.next_attempt <= now {
                            due.push(delivery);
                        }
                        kept.push(entry);
                    }
                    None => tracing::warn!(
                        build = %build.name,
                        "dropping a queued notification to a webhook that is no longer configured"
                    ),
                }
            }
            if kept.len() != count {
                // Best effort: on a conflict the next round drops them again.
                let annotations = json!({ NOTIFY_PENDING_ANNOTATION: outbox::encode(&kept) });
                self.patch_annotations(&resource, annotations)
                    .await
                    .map_err(boxed)?;
            }
        }
        due.sort_by(|a, b| (a.next_attempt, &a.build, a.id).cmp(&(b.next_attempt, &b.build, b.id)));
        Ok(due)
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        next: Option<Timestamp>,
    ) -> StoreResult<()> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(read) = self.get(&delivery.build).await.map_err(boxed)? else {
                return Ok(());
            };
            let mut entries = outbox::decode(read.annotations().get(NOTIFY_PENDING_ANNOTATION));
            let Some(at) = entries.iter().position(|e| e.id == delivery.id) else {
                return Ok(());
            };
            match next {
                Some(next) => {
                    let entry = &mut entries[at];
                    entry.attempts = delivery.attempts;
                    entry.next_attempt = next;
                    entry.last_error = delivery
                        .last_error
                        .as_deref()
                        .map(|e| outbox::redact(e, &self.webhooks));
                }
                None => {
                    entries.remove(at);
                }
            }
            let annotations = json!({ NOTIFY_PENDING_ANNOTATION: outbox::encode(&entries) });
            if self
                .patch_annotations(&read, annotations)
                .await
                .map_err(boxed)?
            {
                return Ok(());
            }
        }
        Err(Self::conflict(&delivery.build))
    }
}
