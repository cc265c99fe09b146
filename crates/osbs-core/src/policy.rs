//! The serial run policy (SPEC §3 step 3) as decisions over plain data: which queued build
//! starts, which queued autorebuilds are superseded, which `Pending`/`Running` builds lost their
//! runner, and what a queued build waits for.
//!
//! The functions return [`Action`]s instead of changing anything; the local backend applies them
//! in one SQLite transaction, the Kubernetes controller as status updates (retried on
//! conflict). [`Action::apply`] is the one way to apply an action to a [`Build`] and is
//! idempotent, so a decision made on a stale view is harmless.
//!
//! The rules, per BuildConfig:
//! - a `Pending` or `Running` build whose runner is gone (or silent too long) ends `Error`;
//! - of the queued (`New`) builds caused by an image change, only the newest stays queued; the
//!   others end `Cancelled` with reason `superseded by <newest>`;
//! - when no build is `Pending` or `Running`, the oldest queued build (by number) starts: user
//!   builds and the surviving autorebuild run first in, first out.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::build::BuildPhase;
use crate::model::Build;
use crate::time::Timestamp;

/// The reason of a build a user cancelled.
pub const REASON_CANCELLED_BY_USER: &str = "cancelled by user";

/// What the backend knows about the runner of a `Pending` or `Running` build (the `osbs`
/// process or the Pod).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Liveness {
    /// The runner is known to be alive (the process or Pod exists).
    Alive,
    /// The runner is known to be gone; `detail` says how, e.g. `process 4242 exited` or
    /// `pod app-main-1a2b3-4-build was deleted`.
    Gone {
        /// How the runner went away.
        detail: String,
    },
    /// Only a heartbeat is known: milliseconds since the runner last reported.
    Heartbeat {
        /// Milliseconds since the last heartbeat.
        age_ms: u64,
    },
    /// Nothing is known (yet); the build is left alone.
    Unknown,
}

/// When a silent runner counts as gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleRules {
    /// A heartbeat older than this many milliseconds means the runner is gone.
    pub heartbeat_timeout_ms: u64,
}

impl Default for StaleRules {
    /// One minute.
    fn default() -> Self {
        StaleRules {
            heartbeat_timeout_ms: 60_000,
        }
    }
}

impl StaleRules {
    /// The error a build whose runner is in state `liveness` ends with, or `None` if it may go
    /// on.
    pub fn stale_error(&self, liveness: &Liveness) -> Option<String> {
        match liveness {
            Liveness::Alive | Liveness::Unknown => None,
            Liveness::Gone { detail } => Some(format!("build runner gone: {detail}")),
            Liveness::Heartbeat { age_ms } if *age_ms > self.heartbeat_timeout_ms => Some(format!(
                "build runner gone: no heartbeat for {} s (limit {} s)",
                age_ms / 1000,
                self.heartbeat_timeout_ms / 1000
            )),
            Liveness::Heartbeat { .. } => None,
        }
    }
}

/// A decision of the run policy about one build.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A `Pending`/`Running` build whose runner is gone ends `Error` with `error`.
    Error {
        /// The build.
        build: String,
        /// Why.
        error: String,
    },
    /// A queued build ends `Cancelled` with `reason`.
    Cancel {
        /// The build.
        build: String,
        /// Why, e.g. `superseded by app-main-1a2b3-7`.
        reason: String,
    },
    /// A queued build takes the run slot: `New` → `Pending`; the backend then runs it.
    Start {
        /// The build.
        build: String,
    },
}

impl Action {
    /// The build the action is about.
    pub fn build(&self) -> &str {
        match self {
            Action::Error { build, .. }
            | Action::Cancel { build, .. }
            | Action::Start { build } => build,
        }
    }

    /// Applies the action to `build` at `now` if it still makes sense: `Error` only to a
    /// `Pending`/`Running` build, `Cancel` and `Start` only to a `New` one, and only to the
    /// build the action names. Returns whether the build changed.
    pub fn apply(&self, build: &mut Build, now: Timestamp) -> bool {
        if build.name != self.build() {
            return false;
        }
        match self {
            Action::Error { error, .. } if build.is_active() => {
                build.phase = BuildPhase::Error;
                build.error = Some(error.clone());
                build.finished = Some(now);
                true
            }
            Action::Cancel { reason, .. } if build.phase == BuildPhase::New => {
                build.phase = BuildPhase::Cancelled;
                build.reason = Some(reason.clone());
                build.finished = Some(now);
                true
            }
            Action::Start { .. } if build.phase == BuildPhase::New => {
                build.phase = BuildPhase::Pending;
                true
            }
            _ => false,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Error { build, error } => write!(f, "end {build} with Error: {error}"),
            Action::Cancel { build, reason } => write!(f, "cancel {build}: {reason}"),
            Action::Start { build } => write!(f, "start {build}"),
        }
    }
}

/// The builds of one BuildConfig, sorted out.
struct Group<'b> {
    /// `Pending`/`Running` builds that keep the slot.
    active: Vec<&'b Build>,
    /// Queued builds that stay queued, oldest first.
    queue: Vec<&'b Build>,
    /// Queued autorebuilds and the newer one that supersedes each.
    superseded: Vec<(&'b Build, &'b Build)>,
}

/// Sorts the builds of one BuildConfig; `stale` names active builds that lost their runner.
fn sort_group<'b>(builds: &[&'b Build], stale: &HashSet<&str>) -> Group<'b> {
    let active = builds
        .iter()
        .copied()
        .filter(|b| b.is_active() && !stale.contains(b.name.as_str()))
        .collect();
    let mut queued: Vec<&Build> = builds
        .iter()
        .copied()
        .filter(|b| b.phase == BuildPhase::New)
        .collect();
    queued.sort_by(|a, b| a.number.cmp(&b.number).then_with(|| a.name.cmp(&b.name)));
    let newest_autorebuild = queued
        .iter()
        .rev()
        .find(|b| b.cause.is_image_change())
        .copied();
    let mut queue = Vec::with_capacity(queued.len());
    let mut superseded = Vec::new();
    for build in queued {
        match newest_autorebuild {
            Some(newest) if build.cause.is_image_change() && !std::ptr::eq(build, newest) => {
                superseded.push((build, newest));
            }
            _ => queue.push(build),
        }
    }
    Group {
        active,
        queue,
        superseded,
    }
}

/// Groups builds by BuildConfig, in name order.
fn by_build_config(builds: &[Build]) -> BTreeMap<&str, Vec<&Build>> {
    let mut groups: BTreeMap<&str, Vec<&Build>> = BTreeMap::new();
    for build in builds {
        groups.entry(&build.build_config).or_default().push(build);
    }
    groups
}

/// The run policy's decisions for `builds` (of any number of BuildConfigs; finished builds may
/// be left out or not). `liveness` is asked about each `Pending`/`Running` build.
///
/// Per BuildConfig, in name order: `Error` for active builds whose runner is gone, `Cancel`
/// for superseded queued autorebuilds (oldest first), then at most one `Start`: the oldest
/// queued build, when no build keeps the run slot. An empty result means nothing to do.
pub fn schedule(
    builds: &[Build],
    liveness: impl FnMut(&Build) -> Liveness,
    rules: &StaleRules,
) -> Vec<Action> {
    schedule_capped(builds, liveness, rules, None)
}

/// [`schedule`] with a bound on running builds across all BuildConfigs
/// (`max_concurrent_builds`, SPEC §10): `builds` must then hold every unfinished build of the
/// instance. Of the BuildConfigs whose oldest queued build could start, at most
/// `cap - active` start: user builds before autorebuilds, then oldest first (creation time,
/// then name). `None` means no bound; a cap of 0 counts as 1.
pub fn schedule_capped(
    builds: &[Build],
    mut liveness: impl FnMut(&Build) -> Liveness,
    rules: &StaleRules,
    cap: Option<usize>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut candidates: Vec<&Build> = Vec::new();
    let mut active = 0usize;
    for (_, group) in by_build_config(builds) {
        let mut stale = HashSet::new();
        for build in group.iter().filter(|b| b.is_active()) {
            if let Some(error) = rules.stale_error(&liveness(build)) {
                stale.insert(build.name.as_str());
                actions.push(Action::Error {
                    build: build.name.clone(),
                    error,
                });
            }
        }
        let sorted = sort_group(&group, &stale);
        for (build, newest) in &sorted.superseded {
            actions.push(Action::Cancel {
                build: build.name.clone(),
                reason: format!("superseded by {}", newest.name),
            });
        }
        active += sorted.active.len();
        if sorted.active.is_empty()
            && let Some(next) = sorted.queue.first()
        {
            candidates.push(next);
        }
    }
    if let Some(cap) = cap {
        candidates.sort_by(|a, b| {
            (a.cause.is_image_change(), a.created, &a.name).cmp(&(
                b.cause.is_image_change(),
                b.created,
                &b.name,
            ))
        });
        candidates.truncate(cap.max(1).saturating_sub(active));
    }
    actions.extend(candidates.into_iter().map(|next| Action::Start {
        build: next.name.clone(),
    }));
    actions
}

/// Where a build stands in its BuildConfig's queue: what a request is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QueueStatus {
    /// Not queued: unknown, already `Pending`/`Running`, or finished.
    NotQueued,
    /// Nothing is ahead: the next [`schedule`] starts it.
    StartsNext,
    /// Waits for `build`: the build just ahead of it in the queue, or the running one.
    Behind {
        /// The build it waits for.
        build: String,
        /// How many builds run or wait before it.
        ahead: usize,
    },
    /// A newer queued autorebuild replaces it; the next [`schedule`] cancels it.
    SupersededBy {
        /// The newer autorebuild.
        build: String,
    },
}

impl fmt::Display for QueueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueStatus::NotQueued => f.write_str("not queued"),
            QueueStatus::StartsNext => f.write_str("starting"),
            QueueStatus::Behind { build, .. } => write!(f, "queued behind {build}"),
            QueueStatus::SupersededBy { build } => write!(f, "superseded by {build}"),
        }
    }
}

/// Where the build `name` stands among `builds` (its BuildConfig's builds; others are
/// ignored), assuming every active runner is alive.
pub fn queue_status(builds: &[Build], name: &str) -> QueueStatus {
    let Some(build) = builds.iter().find(|b| b.name == name) else {
        return QueueStatus::NotQueued;
    };
    if build.phase != BuildPhase::New {
        return QueueStatus::NotQueued;
    }
    let group: Vec<&Build> = builds
        .iter()
        .filter(|b| b.build_config == build.build_config)
        .collect();
    let sorted = sort_group(&group, &HashSet::new());
    if let Some((_, newest)) = sorted.superseded.iter().find(|(b, _)| b.name == name) {
        return QueueStatus::SupersededBy {
            build: newest.name.clone(),
        };
    }
    let position = sorted
        .queue
        .iter()
        .position(|b| b.name == name)
        .unwrap_or(0);
    let ahead_in_queue = sorted.queue.get(..position).unwrap_or_default();
    let running = sorted.active.iter().max_by_key(|b| b.number);
    match (ahead_in_queue.last(), running) {
        (Some(previous), _) => QueueStatus::Behind {
            build: previous.name.clone(),
            ahead: position + sorted.active.len(),
        },
        (None, Some(running)) => QueueStatus::Behind {
            build: running.name.clone(),
            ahead: sorted.active.len(),
        },
        (None, None) => QueueStatus::StartsNext,
    }
}

/// What `cancel-build` does to a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelDecision {
    /// A queued build: apply this `Cancel` at once.
    Now(Action),
    /// A `Pending`/`Running` build: stop its runner like SIGTERM (the reactor runs the exit
    /// plugins and ends it `Cancelled`).
    StopRunner,
    /// Nothing to cancel: the build already ended in this phase.
    AlreadyFinished(BuildPhase),
}

/// What cancelling `build` takes.
pub fn cancel(build: &Build) -> CancelDecision {
    match build.phase {
        BuildPhase::New => CancelDecision::Now(Action::Cancel {
            build: build.name.clone(),
            reason: REASON_CANCELLED_BY_USER.to_owned(),
        }),
        BuildPhase::Pending | BuildPhase::Running => CancelDecision::StopRunner,
        phase => CancelDecision::AlreadyFinished(phase),
    }
}
