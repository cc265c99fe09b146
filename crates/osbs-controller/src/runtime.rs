//! The I/O edge: the kube runtime controllers that feed [`crate::reconcile()`] and
//! [`crate::plan_triggers`] and apply what they decide.
//!
//! - BuildConfigs are the reconciled objects (the serial policy is per BuildConfig, and
//!   kube-runtime never runs two reconciles of one object at once). A change of any of its
//!   Builds (mapped by `spec.buildConfig`) or build Pods (by label) requeues it.
//! - ImageStreams with pending triggers are fanned out against the cached BuildConfigs, the
//!   builds queued with `OsbsApi::queue_build`, then the triggers cleared.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use osbs_core::time::Timestamp;
use osbs_kube::{
    BuildConfigResource, BuildResource, ImageStreamResource, KubeError, LABEL_BUILD_CONFIG, OsbsApi,
};

use crate::ControllerError;
use crate::pod::{PodSecrets, PodSettings, render_pod};
use crate::reconcile::{Effect, PodPhase, PodView, Settings, reconcile};
use crate::triggers::plan_triggers;

/// Everything the controller is configured with.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    /// The namespace it manages.
    pub namespace: String,
    /// How build Pods look.
    pub pod: PodSettings,
    /// Timeouts of the reconcile rules.
    pub reconcile: Settings,
    /// This replica's name (its Pod's) as the reporting instance of the Events it records.
    pub identity: String,
}

struct Ctx {
    api: OsbsApi,
    pods: Api<Pod>,
    settings: ControllerSettings,
    configs: Store<BuildConfigResource>,
}

/// The current time.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// What the controller sees of a Pod.
pub fn pod_view(pod: &Pod) -> PodView {
    let status = pod.status.as_ref();
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .next();
    PodView {
        name: pod.name_any(),
        phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
        created: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or_else(now, |t| Timestamp::from_unix_millis(t.0.as_millisecond())),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        message: waiting.or_else(|| status.and_then(|s| s.message.clone())),
    }
}

/// Runs the controllers until the watches end (they do not, short of a fatal error).
///
/// # Errors
///
/// [`ControllerError`] when the controllers cannot start.
pub async fn run(client: Client, settings: ControllerSettings) -> Result<(), ControllerError> {
    let namespace = settings.namespace.clone();
    let api = OsbsApi::new(client.clone(), &namespace)
        .reporting_events_as("osbs-controller", Some(settings.identity.clone()));
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let configs_controller = Controller::new(api.build_configs(), watcher::Config::default());
    let ctx = Arc::new(Ctx {
        api: api.clone(),
        pods: pods.clone(),
        settings,
        configs: configs_controller.store(),
    });
    let ns = namespace.clone();
    let ns2 = namespace.clone();
    let configs = configs_controller
        .watches(
            api.builds(),
            watcher::Config::default(),
            move |b: BuildResource| Some(ObjectRef::new(&b.spec.build_config).within(&ns)),
        )
        .watches(
            pods,
            watcher::Config::default().labels("app.kubernetes.io/name=osbs-build"),
            move |p: Pod| {
                p.labels()
                    .get(LABEL_BUILD_CONFIG)
                    .map(|bc| ObjectRef::new(bc).within(&ns2))
            },
        )
        .shutdown_on_signal()
        .run(reconcile_config, config_error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!("build config reconcile: {e}");
            }
        });
    let streams = Controller::new(api.image_streams(), watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile_stream, stream_error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!("image stream reconcile: {e}");
            }
        });
    futures_util::future::join(configs, streams).await;
    Ok(())
}

async fn reconcile_config(
    config: Arc<BuildConfigResource>,
    ctx: Arc<Ctx>,
) -> Result<Action, ControllerError> {
    let name = config.name_any();
    let resources = ctx.api.list_build_resources(Some(&name)).await?;
    let mut builds = Vec::with_capacity(resources.len());
    let mut cancel = BTreeSet::new();
    for resource in &resources {
        let build = resource.to_model()?;
        if resource.spec.cancel_requested {
            cancel.insert(build.name.clone());
        }
        builds.push(build);
    }
    let pods = ctx
        .pods
        .list(&ListParams::default().labels(&format!("{LABEL_BUILD_CONFIG}={name}")))
        .await
        .map_err(ctx.api.error("list", "pods", "pod", ""))?;
    let pods: BTreeMap<String, PodView> = pods
        .items
        .iter()
        .map(|p| (p.name_any(), pod_view(p)))
        .collect();
    let effects = reconcile(&builds, &cancel, &pods, now(), &ctx.settings.reconcile);
    for effect in effects {
        tracing::info!(build_config = %name, ?effect, "applying");
        apply(&ctx, &config, &resources, effect).await?;
    }
    let busy = builds.iter().any(|b| !b.phase.is_finished());
    Ok(Action::requeue(Duration::from_secs(if busy {
        15
    } else {
        300
    })))
}

async fn apply(
    ctx: &Ctx,
    config: &BuildConfigResource,
    resources: &[BuildResource],
    effect: Effect,
) -> Result<(), ControllerError> {
    match effect {
        Effect::UpdateBuild { build, change } => {
            ctx.api
                .update_build(&build, |b| change.apply(b, now()))
                .await?;
        }
        Effect::CreatePod { build } => {
            let owner = resources
                .iter()
                .find(|r| r.name_any() == build)
                .and_then(|r| r.controller_owner_ref(&()));
            let pod = render_pod(
                &build,
                &config.name_any(),
                owner,
                PodSecrets {
                    registry: config.spec.registry_secret.as_deref(),
                    sync: config
                        .spec
                        .sync
                        .as_ref()
                        .and_then(|s| s.registry_secret.as_deref()),
                },
                &ctx.settings.pod,
            );
            match ctx.pods.create(&PostParams::default(), &pod).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(e) => {
                    return Err(ctx.api.error("create", "pods", "pod", &pod.name_any())(e).into());
                }
            }
            ctx.api
                .set_build_pod(&build, &osbs_kube::pod_name(&build))
                .await?;
        }
        Effect::DeletePod {
            pod,
            grace_seconds,
            why,
        } => {
            tracing::info!(%pod, %why, "deleting pod");
            let params = DeleteParams {
                grace_period_seconds: u32::try_from(grace_seconds).ok(),
                ..DeleteParams::default()
            };
            match ctx.pods.delete(&pod, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(ctx.api.error("delete", "pods", "pod", &pod)(e).into()),
            }
        }
    }
    Ok(())
}

fn config_error_policy(
    _config: Arc<BuildConfigResource>,
    error: &ControllerError,
    _ctx: Arc<Ctx>,
) -> Action {
    tracing::warn!("{error}");
    Action::requeue(Duration::from_secs(10))
}

async fn reconcile_stream(
    stream: Arc<ImageStreamResource>,
    ctx: Arc<Ctx>,
) -> Result<Action, ControllerError> {
    let pending = stream
        .status
        .as_ref()
        .map(|s| s.pending_triggers.clone())
        .unwrap_or_default();
    if pending.is_empty() {
        return Ok(Action::await_change());
    }
    // Never plan against an empty cache: that would drop the triggers.
    ctx.configs
        .wait_until_ready()
        .await
        .map_err(|e| ControllerError::Config(format!("build config cache: {e}")))?;
    let configs: Vec<_> = ctx.configs.state().iter().map(|c| c.to_model()).collect();
    let builds = ctx.api.list_builds(None).await?;
    let name = stream.name_any();
    let plan = plan_triggers(&name, &pending, &configs, &builds);
    for skipped in &plan.skipped {
        tracing::info!(stream = %name, build_config = %skipped.build_config, reason = %skipped.reason, "not triggering");
    }
    for request in plan.requests {
        let config = request.build_config.clone();
        let queued = ctx
            .api
            .queue_build(&config, |bc| request.clone().into_build(bc, now()))
            .await;
        match queued {
            Ok(build) => tracing::info!(stream = %name, build = %build.name, "triggered"),
            Err(KubeError::NotFound { .. }) => {
                tracing::info!(stream = %name, %config, "triggered build config is gone");
            }
            Err(e) => return Err(e.into()),
        }
    }
    ctx.api.clear_pending_triggers(&name, &pending).await?;
    Ok(Action::await_change())
}

fn stream_error_policy(
    _stream: Arc<ImageStreamResource>,
    error: &ControllerError,
    _ctx: Arc<Ctx>,
) -> Action {
    tracing::warn!("{error}");
    Action::requeue(Duration::from_secs(5))
}
