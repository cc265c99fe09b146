//! The controller's own decisions as a pure function, beside the engine's: [`reconcile`]
//! takes every Build (with its cancel request, run lease and whether its Pod was recorded) and
//! the build Pods, and returns [`Effect`]s for the I/O edge to apply. What it decides is what
//! only Kubernetes needs: requested cancels (`policy::cancel`: a queued build at once, a
//! running one by deleting its Pod with a grace period so the reactor's exit plugins run),
//! Pod fate to phase (`MarkRunning`), the Pod of a started build that was never created (a
//! restart between the engine's start and the Pod), and Pods left running by ended builds.
//! The run policy, the cap, stale runs and their clean-up are the engine's
//! (`osbs_engine::Engine::pass` over `osbs_kube::KubeStore` and `KubeExecutor`).
//!
//! The Pod of a Build has the fixed name `osbs_kube::pod_name(build)`, so a controller that
//! restarts mid-build finds it again; every effect is idempotent (creating an existing Pod,
//! deleting a gone one, applying a change to a build that moved on are all no-ops).

use std::collections::BTreeMap;

use osbs_core::build::BuildPhase;
use osbs_core::model::Build;
use osbs_core::policy::{self, Action, CancelDecision};
use osbs_core::time::Timestamp;
use osbs_kube::{BuildResource, KubeError, PodPhase, PodView};
use serde::{Deserialize, Serialize};

/// Tunables of [`reconcile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The grace period of a Pod deleted to cancel its build: the time the reactor has for its
    /// exit plugins after SIGTERM.
    pub cancel_grace_seconds: i64,
}

impl Default for Settings {
    /// 60 s to cancel.
    fn default() -> Self {
        Settings {
            cancel_grace_seconds: 60,
        }
    }
}

/// What the controller knows of one Build.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildView {
    /// The build.
    pub build: Build,
    /// `spec.cancelRequested`.
    pub cancel_requested: bool,
    /// The lease of its run, if it has one.
    pub lease: Option<String>,
    /// Whether its Pod was created (`status.podName`).
    pub pod_recorded: bool,
}

impl BuildView {
    /// The view of `resource`.
    ///
    /// # Errors
    ///
    /// [`KubeError::Invalid`] for a Build this version cannot read.
    pub fn of(resource: &BuildResource) -> Result<BuildView, KubeError> {
        let status = resource.status.as_ref();
        Ok(BuildView {
            build: resource.to_model()?,
            cancel_requested: resource.spec.cancel_requested,
            lease: resource.lease().map(str::to_owned),
            pod_recorded: status.is_some_and(|s| s.pod_name.is_some()),
        })
    }
}

/// A change of one Build's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A run policy decision, applied with `Action::apply`.
    Policy(Action),
    /// The Pod runs: `Pending` → `Running` (`Build::mark_running`).
    MarkRunning,
    /// The Pod of a build whose cancel was requested is gone: `Cancelled`, unless the reactor
    /// stored an outcome first.
    Cancelled {
        /// The reason.
        reason: String,
    },
}

impl Change {
    /// Applies the change to `build` at `now`; returns whether it changed.
    pub fn apply(&self, build: &mut Build, now: Timestamp) -> bool {
        match self {
            Change::Policy(action) => action.apply(build, now),
            Change::MarkRunning => build.mark_running(now),
            Change::Cancelled { reason } => {
                if !build.is_active() {
                    return false;
                }
                build.phase = BuildPhase::Cancelled;
                build.reason = Some(reason.clone());
                build.finished = Some(now);
                true
            }
        }
    }
}

/// What the I/O edge does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Change a Build's status (conflict-retried; the change is reapplied to a fresh read).
    UpdateBuild {
        /// The Build.
        build: String,
        /// The change.
        change: Change,
    },
    /// Create the Pod of a started build under its run's lease (an existing one is fine).
    CreatePod {
        /// The Build.
        build: String,
        /// Its run's lease (`None` for a run started before leases).
        lease: Option<String>,
    },
    /// Delete a Pod with a grace period.
    DeletePod {
        /// The Pod.
        pod: String,
        /// Seconds the reactor gets after SIGTERM.
        grace_seconds: i64,
        /// Why, for the log.
        why: String,
    },
}

/// The controller's decisions for `builds` (any BuildConfigs; finished ones may be left out)
/// whose build Pods are `pods` (by name), in queue order:
///
/// - a requested cancel stops a queued build at once (`policy::cancel`), and a running one by
///   deleting its Pod with the grace period, or ends it `Cancelled` when its Pod is gone or
///   ended without an outcome;
/// - a `Pending` build whose Pod runs (or already succeeded) becomes `Running`;
/// - a `Pending` build whose Pod was never created gets it, under the lease in its status;
/// - a Pod that still runs for an ended build is deleted with the grace period.
pub fn reconcile(
    builds: &[BuildView],
    pods: &BTreeMap<String, PodView>,
    settings: &Settings,
) -> Vec<Effect> {
    let mut view: Vec<&BuildView> = builds.iter().collect();
    view.sort_by(|a, b| {
        (&a.build.build_config, a.build.number).cmp(&(&b.build.build_config, b.build.number))
    });
    let mut effects = Vec::new();
    for entry in view {
        let build = &entry.build;
        let pod = pods.get(&osbs_kube::pod_name(&build.name));
        if entry.cancel_requested {
            match policy::cancel(build) {
                CancelDecision::Now(action) => {
                    effects.push(Effect::UpdateBuild {
                        build: build.name.clone(),
                        change: Change::Policy(action),
                    });
                    continue;
                }
                CancelDecision::StopRunner => {
                    match pod {
                        Some(pod) if pod.deleting => {}
                        Some(pod) if !pod.phase.is_terminated() => {
                            effects.push(Effect::DeletePod {
                                pod: pod.name.clone(),
                                grace_seconds: settings.cancel_grace_seconds,
                                why: format!("cancel of {}", build.name),
                            });
                        }
                        _ => effects.push(Effect::UpdateBuild {
                            build: build.name.clone(),
                            change: Change::Cancelled {
                                reason: policy::REASON_CANCELLED_BY_USER.to_owned(),
                            },
                        }),
                    }
                    continue;
                }
                CancelDecision::AlreadyFinished(_) => {}
            }
        }
        match (build.phase, pod) {
            (BuildPhase::Pending, None) if !entry.pod_recorded => {
                effects.push(Effect::CreatePod {
                    build: build.name.clone(),
                    lease: entry.lease.clone(),
                });
            }
            (BuildPhase::Pending, Some(pod))
                if matches!(pod.phase, PodPhase::Running | PodPhase::Succeeded) =>
            {
                effects.push(Effect::UpdateBuild {
                    build: build.name.clone(),
                    change: Change::MarkRunning,
                });
            }
            (phase, Some(pod))
                if phase.is_finished() && !pod.deleting && !pod.phase.is_terminated() =>
            {
                effects.push(Effect::DeletePod {
                    pod: pod.name.clone(),
                    grace_seconds: settings.cancel_grace_seconds,
                    why: format!("{} already ended {phase}", build.name),
                });
            }
            _ => {}
        }
    }
    effects
}
