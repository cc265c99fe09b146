//! The executor's liveness rule (`osbs_kube::executor::liveness`): what a build Pod, or its
//! absence, says about the run of an active build.

use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::policy::{Liveness, StaleRules};
use osbs_core::time::Timestamp;
use osbs_engine::{RunRecord, RunnerState};
use osbs_kube::executor::liveness;
use osbs_kube::{PodPhase, PodView};

const MIN: i64 = 60_000;
const TIMEOUT_MS: u64 = 600_000;

fn t(minutes: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_714_564_800_000 + minutes * MIN)
}

/// The run of a build in `phase`, started at minute 0; `pod_recorded`: its Pod was created.
fn record(phase: BuildPhase, pod_recorded: bool) -> RunRecord {
    let mut config = BuildConfig::new("https://git.example.com/ns/app.git", "main");
    let mut build = Build::queued(&mut config, BuildCause::User, Some("c0ffee".into()), t(0));
    build.phase = phase;
    RunRecord {
        runner: RunnerState {
            runner: pod_recorded.then(|| osbs_kube::pod_name(&build.name)),
            heartbeat: Some(t(0)),
        },
        build,
        version: 1,
        lease: Some("lease".into()),
    }
}

fn pod(record: &RunRecord, phase: PodPhase) -> PodView {
    PodView {
        name: osbs_kube::pod_name(&record.build.name),
        phase,
        created: t(0),
        deleting: false,
        message: None,
    }
}

/// The error the engine ends the build with, if any.
fn verdict(record: &RunRecord, pod: Option<&PodView>, now: Timestamp) -> Option<String> {
    StaleRules::default().stale_error(&liveness(record, pod, now, TIMEOUT_MS))
}

#[test]
fn a_running_pod_is_alive_and_a_vanished_one_is_not() {
    let running = record(BuildPhase::Running, true);
    assert_eq!(
        liveness(
            &running,
            Some(&pod(&running, PodPhase::Running)),
            t(99),
            TIMEOUT_MS
        ),
        Liveness::Alive
    );
    insta::assert_snapshot!(
        verdict(&running, None, t(5)).unwrap_or_default(),
        @"build runner gone: pod app-main-86708-1-build vanished while the build was running"
    );
    let pending = record(BuildPhase::Pending, true);
    insta::assert_snapshot!(
        verdict(&pending, None, t(1)).unwrap_or_default(),
        @"build runner gone: pod app-main-86708-1-build vanished before it ran"
    );
}

#[test]
fn a_pod_that_ended_without_an_outcome_or_is_stuck_pending_means_error() {
    let running = record(BuildPhase::Running, true);
    let mut failed = pod(&running, PodPhase::Failed);
    failed.message = Some("OOMKilled".into());
    insta::assert_snapshot!(
        verdict(&running, Some(&failed), t(1)).unwrap_or_default(),
        @"build runner gone: pod app-main-86708-1-build ended Failed without the reactor storing an outcome (OOMKilled)"
    );

    let pending = record(BuildPhase::Pending, true);
    let mut stuck = pod(&pending, PodPhase::Pending);
    stuck.message = Some("ImagePullBackOff".into());
    assert_eq!(verdict(&pending, Some(&stuck), t(9)), None);
    insta::assert_snapshot!(
        verdict(&pending, Some(&stuck), t(11)).unwrap_or_default(),
        @"build runner gone: pod app-main-86708-1-build stuck in Pending for 660 s (limit 600 s) (ImagePullBackOff)"
    );
}

#[test]
fn a_pod_not_created_yet_has_until_the_pending_timeout() {
    // The engine started the run, and the Pod was not created (yet, or a restart came in
    // between): the controller creates it; only past the timeout is the run given up.
    let started = record(BuildPhase::Pending, false);
    assert_eq!(liveness(&started, None, t(9), TIMEOUT_MS), Liveness::Alive);
    insta::assert_snapshot!(
        verdict(&started, None, t(11)).unwrap_or_default(),
        @"build runner gone: pod app-main-86708-1-build was not created within 600 s of the start"
    );
    // A Build started before leases has no start time: its Pod is waited for.
    let mut old = started.clone();
    old.runner.heartbeat = None;
    assert_eq!(liveness(&old, None, t(99), TIMEOUT_MS), Liveness::Alive);
}

#[test]
fn a_pod_being_deleted_is_given_its_grace_and_an_unknown_one_is_left_alone() {
    let pending = record(BuildPhase::Pending, true);
    let mut deleting = pod(&pending, PodPhase::Pending);
    deleting.deleting = true;
    assert_eq!(
        liveness(&pending, Some(&deleting), t(99), TIMEOUT_MS),
        Liveness::Alive
    );
    let running = record(BuildPhase::Running, true);
    assert_eq!(
        liveness(
            &running,
            Some(&pod(&running, PodPhase::Unknown)),
            t(1),
            TIMEOUT_MS
        ),
        Liveness::Unknown
    );
}
