//! The controller's decisions for one BuildConfig as a pure function: [`reconcile`] takes the
//! BuildConfig's builds, their Pods and the time, and returns [`Effect`]s for the I/O edge to
//! apply. It never re-implements the run policy: liveness is read from the Pods and handed to
//! `osbs_core::policy::schedule`, whose `Action`s are applied with `Action::apply`.
//!
//! The Pod of a Build has the fixed name `osbs_kube::pod_name(build)`, so a controller that
//! restarts mid-build finds it again; every effect is idempotent (creating an existing Pod,
//! deleting a gone one, applying an action to a build that moved on are all no-ops).

use std::collections::{BTreeMap, BTreeSet};

use osbs_core::build::BuildPhase;
use osbs_core::model::Build;
use osbs_core::policy::{self, Action, CancelDecision, Liveness, StaleRules};
use osbs_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The phase of a build Pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    /// Scheduled or pulling images, not running yet.
    Pending,
    /// The reactor runs.
    Running,
    /// The reactor exited 0.
    Succeeded,
    /// The reactor exited non-zero or was killed.
    Failed,
    /// The kubelet lost track of it.
    Unknown,
}

impl PodPhase {
    /// Parses `status.phase` (anything unknown is [`PodPhase::Unknown`]).
    pub fn parse(phase: Option<&str>) -> PodPhase {
        match phase {
            Some("Pending") | None => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some(_) => PodPhase::Unknown,
        }
    }

    /// Whether the Pod's containers have stopped for good.
    pub fn is_terminated(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// What the controller knows of a build Pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodView {
    /// The Pod's name.
    pub name: String,
    /// Its phase.
    pub phase: PodPhase,
    /// When it was created.
    pub created: Timestamp,
    /// Whether it is being deleted (`metadata.deletionTimestamp` is set).
    pub deleting: bool,
    /// The kubelet's reason or message, e.g. `ImagePullBackOff`.
    pub message: Option<String>,
}

/// Tunables of [`reconcile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// A Pod still `Pending` after this long is stuck: its Build ends `Error`.
    pub pending_timeout_ms: u64,
    /// The grace period of a Pod deleted to cancel its build: the time the reactor has for its
    /// exit plugins after SIGTERM.
    pub cancel_grace_seconds: i64,
}

impl Default for Settings {
    /// Ten minutes to leave `Pending`, 60 s to cancel.
    fn default() -> Self {
        Settings {
            pending_timeout_ms: 600_000,
            cancel_grace_seconds: 60,
        }
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
    /// Create the build's Pod (an existing one is fine).
    CreatePod {
        /// The Build.
        build: String,
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

/// The liveness of an active build's runner, read from its Pod.
fn liveness(build: &Build, pod: Option<&PodView>, now: Timestamp, settings: &Settings) -> Liveness {
    let Some(pod) = pod else {
        return if build.phase == BuildPhase::Pending {
            // Not created yet (or the controller restarted before creating it): the same
            // reconcile creates it.
            Liveness::Alive
        } else {
            Liveness::Gone {
                detail: format!(
                    "pod {} vanished while the build was running",
                    osbs_kube::pod_name(&build.name)
                ),
            }
        };
    };
    let why = pod
        .message
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    match pod.phase {
        PodPhase::Running => Liveness::Alive,
        PodPhase::Pending if pod.deleting => Liveness::Gone {
            detail: format!("pod {} was deleted before it ran", pod.name),
        },
        PodPhase::Pending => {
            let age = now.millis_since(pod.created);
            if age > settings.pending_timeout_ms {
                Liveness::Gone {
                    detail: format!(
                        "pod {} stuck in Pending for {} s (limit {} s){why}",
                        pod.name,
                        age / 1000,
                        settings.pending_timeout_ms / 1000
                    ),
                }
            } else {
                Liveness::Alive
            }
        }
        PodPhase::Succeeded | PodPhase::Failed => Liveness::Gone {
            detail: format!(
                "pod {} ended {:?} without the reactor storing an outcome{why}",
                pod.name, pod.phase
            ),
        },
        PodPhase::Unknown => Liveness::Unknown,
    }
}

/// The decisions for the builds of one BuildConfig.
///
/// - `builds`: its builds (finished ones may be left out);
/// - `cancel_requested`: the builds whose `spec.cancelRequested` is set;
/// - `pods`: the build Pods that exist, by name.
///
/// In order: requested cancels (a queued build at once through `policy::cancel`, a running
/// one by deleting its Pod with the grace period, or `Cancelled` if its Pod is already gone);
/// then `policy::schedule` with liveness from the Pods (a vanished Pod of a `Running` build, a
/// Pod that ended without an outcome, or one stuck `Pending` means `Error`); a started build
/// gets its Pod; a `Pending` build whose Pod runs becomes `Running`; a `Pending` build without
/// a Pod gets one (restart mid-start); Pods of finished builds that still run are deleted.
pub fn reconcile(
    builds: &[Build],
    cancel_requested: &BTreeSet<String>,
    pods: &BTreeMap<String, PodView>,
    now: Timestamp,
    settings: &Settings,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut view: Vec<Build> = builds.to_vec();
    view.sort_by_key(|b| b.number);
    let pod_of = |b: &Build| pods.get(&osbs_kube::pod_name(&b.name));
    let mut handled: BTreeSet<String> = BTreeSet::new();

    for build in &mut view {
        if !cancel_requested.contains(&build.name) {
            continue;
        }
        match policy::cancel(build) {
            CancelDecision::Now(action) => {
                action.apply(build, now);
                effects.push(Effect::UpdateBuild {
                    build: build.name.clone(),
                    change: Change::Policy(action),
                });
            }
            CancelDecision::StopRunner => {
                handled.insert(build.name.clone());
                match pods.get(&osbs_kube::pod_name(&build.name)) {
                    Some(pod) if pod.deleting => {}
                    Some(pod) if !pod.phase.is_terminated() => effects.push(Effect::DeletePod {
                        pod: pod.name.clone(),
                        grace_seconds: settings.cancel_grace_seconds,
                        why: format!("cancel of {}", build.name),
                    }),
                    _ => effects.push(Effect::UpdateBuild {
                        build: build.name.clone(),
                        change: Change::Cancelled {
                            reason: policy::REASON_CANCELLED_BY_USER.to_owned(),
                        },
                    }),
                }
            }
            CancelDecision::AlreadyFinished(_) => {}
        }
    }

    let actions = policy::schedule(
        &view,
        |b| {
            if handled.contains(&b.name) {
                Liveness::Alive
            } else {
                liveness(b, pod_of(b), now, settings)
            }
        },
        &StaleRules::default(),
    );
    let mut started: BTreeSet<String> = BTreeSet::new();
    for action in actions {
        let name = action.build().to_owned();
        match &action {
            Action::Start { .. } => {
                started.insert(name.clone());
                effects.push(Effect::UpdateBuild {
                    build: name.clone(),
                    change: Change::Policy(action),
                });
                effects.push(Effect::CreatePod { build: name });
            }
            Action::Error { .. } => {
                if let Some(b) = view.iter_mut().find(|b| b.name == name) {
                    action.apply(b, now);
                }
                effects.push(Effect::UpdateBuild {
                    build: name,
                    change: Change::Policy(action),
                });
            }
            Action::Cancel { .. } => effects.push(Effect::UpdateBuild {
                build: name,
                change: Change::Policy(action),
            }),
        }
    }

    for build in &view {
        if started.contains(&build.name) || handled.contains(&build.name) {
            continue;
        }
        let pod = pod_of(build);
        match (build.phase, pod) {
            (BuildPhase::Pending, None) => effects.push(Effect::CreatePod {
                build: build.name.clone(),
            }),
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
