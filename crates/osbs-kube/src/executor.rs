//! [`KubeExecutor`]: `osbs_engine::Executor` with build Pods.
//!
//! `start` creates the Build's Pod ([`render_pod`], fixed name [`crate::pod_name`], the run's
//! lease in `$OSBS_LEASE`, the BuildConfig's build secrets if the controller allows their
//! Secrets) and records its name in the Build's status; `clean_up` deletes the Pod of a run
//! declared dead at once (grace 0: its lease is gone, nothing it would still do takes effect).
//! `Executor::liveness` is synchronous, so it reads a snapshot of the build Pods that
//! [`KubeExecutor::refresh`] takes: the controller refreshes it at the start of each round,
//! *before* it reads the Builds, so a Pod seen ended without an outcome really ended without
//! one. Without a snapshot every run's liveness is unknown and nothing is declared dead.
//! [`liveness`] is the rule, a pure function.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Resource};
use osbs_core::build::BuildPhase;
use osbs_core::model::Build;
use osbs_core::policy::{Action, Liveness};
use osbs_core::time::Timestamp;
use osbs_engine::{RunRecord, StoreError, StoreResult};

use crate::pod::{BUILD_POD_SELECTOR, PodSecrets, PodSettings, PodView, render_pod};
use crate::{KubeError, OsbsApi, pod_name};

/// The build Pods of a namespace, by name, as one [`KubeExecutor::refresh`] saw them.
pub type PodSnapshot = BTreeMap<String, PodView>;

/// `osbs_engine::Executor` with build Pods (see the module documentation).
pub struct KubeExecutor {
    api: OsbsApi,
    pods: Api<Pod>,
    settings: PodSettings,
    pending_timeout_ms: u64,
    snapshot: Mutex<Option<PodSnapshot>>,
}

impl std::fmt::Debug for KubeExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeExecutor")
            .field("namespace", &self.api.namespace())
            .field("pending_timeout_ms", &self.pending_timeout_ms)
            .finish_non_exhaustive()
    }
}

impl KubeExecutor {
    /// An executor that runs builds in Pods shaped by `settings` in `api`'s namespace; a run
    /// whose Pod stays `Pending` (or is not created) for longer than `pending_timeout_ms` is
    /// declared gone.
    pub fn new(api: OsbsApi, settings: PodSettings, pending_timeout_ms: u64) -> Self {
        let pods = Api::namespaced(api.client().clone(), api.namespace());
        KubeExecutor {
            api,
            pods,
            settings,
            pending_timeout_ms,
            snapshot: Mutex::new(None),
        }
    }

    /// The Pod API of the namespace.
    pub fn pods(&self) -> &Api<Pod> {
        &self.pods
    }

    /// Lists the build Pods and keeps them as the snapshot `liveness` reads; returns it too.
    /// On failure the snapshot is dropped (every liveness is unknown until the next refresh).
    ///
    /// # Errors
    ///
    /// [`KubeError`] when the Pods cannot be listed.
    pub async fn refresh(&self, now: Timestamp) -> Result<PodSnapshot, KubeError> {
        let listed = self
            .pods
            .list(&ListParams::default().labels(BUILD_POD_SELECTOR))
            .await
            .map_err(self.api.error("list", "pods", "pod", ""));
        let snapshot = listed.map(|list| {
            list.items
                .iter()
                .map(|pod| {
                    let view = PodView::of(pod, now);
                    (view.name.clone(), view)
                })
                .collect::<PodSnapshot>()
        });
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = snapshot.as_ref().ok().cloned();
        snapshot
    }

    /// Creates the Pod of the Build `build` under `lease` (an existing one is fine) and records
    /// its name in the Build's status. What `start` does, and what the controller does for a
    /// started Build whose Pod was never created (a restart between the two).
    ///
    /// The BuildConfig's build secrets are checked first: an entry no Pod could mount, or a
    /// Secret not in [`PodSettings::allowed_build_secrets`], ends the build `Error` (fenced by
    /// `lease`) and creates no Pod.
    ///
    /// # Errors
    ///
    /// [`KubeError`] when the Build or its BuildConfig cannot be read or the Pod not created;
    /// [`KubeError::Invalid`] naming the BuildConfig for a refused build secret.
    pub async fn create_pod(&self, build: &str, lease: Option<&str>) -> Result<(), KubeError> {
        let resource = self.api.get_build_resource(build).await?;
        let config_name = resource.spec.build_config.clone();
        let config = self.api.get_build_config_resource(&config_name).await?;
        let spec = config.as_ref().map(|c| &c.spec);
        let extra_registries: Vec<Option<String>> = spec
            .map(|s| {
                s.extra_registries
                    .iter()
                    .map(|r| r.registry_secret.clone())
                    .collect()
            })
            .unwrap_or_default();
        let engine_registries = spec.map(registry_hosts).unwrap_or_default();
        // Build secrets: an entry the Pod could not mount (a BuildConfig edited by hand past
        // the CRD's patterns) or a Secret the controller does not allow ends the build `Error`
        // naming the BuildConfig; no Pod is made.
        let build_secrets = spec.map_or(&[][..], |s| s.build_secrets.as_slice());
        let problem = crate::build_secrets_problem(build_secrets).or_else(|| {
            let allowed = &self.settings.allowed_build_secrets;
            build_secrets
                .iter()
                .find(|s| !allowed.contains(&s.secret))
                .map(|s| {
                    // The allowed list goes to the controller's log only: the message is
                    // stored in the Build, which more people read than the controller's
                    // settings.
                    tracing::warn!(
                        build,
                        build_config = %config_name,
                        secret = %s.secret,
                        allowed = %if allowed.is_empty() {
                            "none".to_owned()
                        } else {
                            allowed.join(", ")
                        },
                        "refusing build secret {:?}: Secret {:?} is not in --allowed-build-secrets",
                        s.id,
                        s.secret
                    );
                    format!(
                        "build secret {:?} names Secret {:?}, which osbs-controller does not \
                         allow build Pods to mount (its --allowed-build-secrets does not list it)",
                        s.id, s.secret
                    )
                })
        });
        if let Some(problem) = problem {
            let error = KubeError::Invalid {
                kind: "build config",
                name: config_name,
                problem,
            };
            self.end_with_error(build, lease, &error).await?;
            return Err(error);
        }
        let build_secrets: Vec<(String, String)> = build_secrets
            .iter()
            .map(|s| (s.id.clone(), s.secret.clone()))
            .collect();
        let pod = render_pod(
            build,
            &config_name,
            resource.controller_owner_ref(&()),
            PodSecrets {
                registry: spec.and_then(|s| s.registry_secret.as_deref()),
                sync: spec
                    .and_then(|s| s.sync.as_ref())
                    .and_then(|s| s.registry_secret.as_deref()),
                build: &build_secrets,
                extra_registries: &extra_registries,
                registry_ca: spec.and_then(|s| s.registry_ca.as_deref()),
                engine_registries: &engine_registries,
                skip_tls_verify: spec.is_some_and(|s| s.skip_tls_verify),
            },
            lease,
            &self.settings,
        );
        let name = pod_name(build);
        match self.pods.create(&PostParams::default(), &pod).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(self.api.error("create", "pods", "pod", &name)(e)),
        }
        self.api.set_build_pod(build, &name).await
    }

    /// Ends the Build `build` (still run under `lease`, if given) `Error` with `error`: a
    /// problem of its BuildConfig that no retry fixes.
    async fn end_with_error(
        &self,
        build: &str,
        lease: Option<&str>,
        error: &KubeError,
    ) -> Result<(), KubeError> {
        let action = Action::Error {
            build: build.to_owned(),
            error: error.to_string(),
        };
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let end = |b: &mut Build| action.apply(b, now);
        match lease {
            Some(lease) => self.api.update_build_fenced(build, lease, end).await?,
            None => self.api.update_build(build, end).await?,
        };
        Ok(())
    }

    /// Deletes the Pod `pod` with `grace_seconds` for its reactor after SIGTERM (a gone Pod
    /// is fine).
    ///
    /// # Errors
    ///
    /// [`KubeError`] when the API refuses.
    pub async fn delete_pod(&self, pod: &str, grace_seconds: u32) -> Result<(), KubeError> {
        let params = DeleteParams {
            grace_period_seconds: Some(grace_seconds),
            ..DeleteParams::default()
        };
        match self.pods.delete(pod, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(self.api.error("delete", "pods", "pod", pod)(e)),
        }
    }
}

/// The liveness of the run of `record` (a `Pending` or `Running` build) whose Pod is `pod`
/// (`None`: there is none) at `now`:
///
/// - a running Pod is alive, and so is one being deleted (its reactor may still store an
///   outcome in its grace period; it is judged once it is gone);
/// - a Pod that ended (`Succeeded`, `Failed`) while the build is still active ended without
///   the reactor storing an outcome: gone;
/// - a Pod `Pending` for longer than `pending_timeout_ms` is stuck: gone, with the kubelet's
///   reason (`ImagePullBackOff`, …);
/// - no Pod: for a `Pending` build whose Pod was never recorded, the Pod is still to be
///   created (alive) until `pending_timeout_ms` after the lease was given; otherwise it
///   vanished: gone.
pub fn liveness(
    record: &RunRecord,
    pod: Option<&PodView>,
    now: Timestamp,
    pending_timeout_ms: u64,
) -> Liveness {
    let build: &Build = &record.build;
    let limit_s = pending_timeout_ms / 1000;
    let Some(pod) = pod else {
        let name = pod_name(&build.name);
        return match (build.phase, &record.runner.runner, record.runner.heartbeat) {
            (BuildPhase::Pending, None, Some(granted))
                if now.millis_since(granted) > pending_timeout_ms =>
            {
                Liveness::Gone {
                    detail: format!("pod {name} was not created within {limit_s} s of the start"),
                }
            }
            (BuildPhase::Pending, None, _) => Liveness::Alive,
            (BuildPhase::Pending, Some(_), _) => Liveness::Gone {
                detail: format!("pod {name} vanished before it ran"),
            },
            _ => Liveness::Gone {
                detail: format!("pod {name} vanished while the build was running"),
            },
        };
    };
    let why = pod
        .message
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    match pod.phase {
        crate::PodPhase::Running => Liveness::Alive,
        crate::PodPhase::Pending if pod.deleting => Liveness::Alive,
        crate::PodPhase::Pending => {
            let age = now.millis_since(pod.created);
            if age > pending_timeout_ms {
                Liveness::Gone {
                    detail: format!(
                        "pod {} stuck in Pending for {} s (limit {limit_s} s){why}",
                        pod.name,
                        age / 1000,
                    ),
                }
            } else {
                Liveness::Alive
            }
        }
        crate::PodPhase::Succeeded | crate::PodPhase::Failed => Liveness::Gone {
            detail: format!(
                "pod {} ended {:?} without the reactor storing an outcome{why}",
                pod.name, pod.phase
            ),
        },
        crate::PodPhase::Unknown => Liveness::Unknown,
    }
}

impl osbs_engine::Executor for KubeExecutor {
    async fn start(&self, build: &Build, lease: &str) -> StoreResult<()> {
        self.create_pod(&build.name, Some(lease))
            .await
            .map_err(|e| -> StoreError { Box::new(e) })
    }

    fn liveness(&self, record: &RunRecord, now: Timestamp) -> Liveness {
        let snapshot = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        match snapshot.as_ref() {
            Some(pods) => liveness(
                record,
                pods.get(&pod_name(&record.build.name)),
                now,
                self.pending_timeout_ms,
            ),
            None => Liveness::Unknown,
        }
    }

    async fn clean_up(&self, record: &RunRecord) -> StoreResult<()> {
        self.delete_pod(&pod_name(&record.build.name), 0)
            .await
            .map_err(|e| -> StoreError { Box::new(e) })
    }
}

/// The `host[:port]` of every registry `spec` names (push, further, sync), once each, in that
/// order: a URI without its scheme and an optional `/v2` suffix.
fn registry_hosts(spec: &crate::BuildConfigSpec) -> Vec<String> {
    let uris = spec
        .registry_uri
        .iter()
        .chain(spec.extra_registries.iter().map(|r| &r.registry_uri))
        .chain(spec.sync.iter().map(|s| &s.registry_uri));
    let mut hosts: Vec<String> = Vec::new();
    for uri in uris {
        let rest = uri
            .strip_prefix("https://")
            .or_else(|| uri.strip_prefix("http://"))
            .unwrap_or(uri);
        let host = rest.trim_end_matches('/');
        let host = host.strip_suffix("/v2").unwrap_or(host);
        if !host.is_empty() && !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_owned());
        }
    }
    hosts
}
