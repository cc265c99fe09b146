//! Scenarios of `reconcile`: the Builds (with cancel requests, leases, recorded Pods) and the
//! build Pods in, the controller's own effects out. Starting builds, stale runs and the cap are
//! the engine's (osbs-kube's `engine` tests).

use std::collections::BTreeMap;

use osbs_controller::{BuildView, Change, Effect, Settings, reconcile};
use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::policy::Action;
use osbs_core::time::Timestamp;
use osbs_kube::{PodPhase, PodView};

const MIN: i64 = 60_000;

fn t(minutes: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_714_564_800_000 + minutes * MIN)
}

fn config() -> BuildConfig {
    BuildConfig::new("https://git.example.com/ns/app.git", "main")
}

/// A build in `phase`; an active one holds a lease and its Pod was created.
fn build(config: &mut BuildConfig, phase: BuildPhase) -> BuildView {
    let mut b = Build::queued(config, BuildCause::User, Some("c0ffee".into()), t(0));
    b.phase = phase;
    let started = phase != BuildPhase::New;
    BuildView {
        lease: started.then(|| format!("{}/lease", b.name)),
        pod_recorded: started,
        cancel_requested: false,
        build: b,
    }
}

fn pod(build: &BuildView, phase: PodPhase) -> (String, PodView) {
    let name = osbs_kube::pod_name(&build.build.name);
    (
        name.clone(),
        PodView {
            name,
            phase,
            created: t(0),
            deleting: false,
            message: None,
        },
    )
}

fn run(builds: &[BuildView], pods: &[(String, PodView)]) -> Vec<Effect> {
    let pods: BTreeMap<_, _> = pods.iter().cloned().collect();
    reconcile(builds, &pods, &Settings::default())
}

#[test]
fn a_pending_build_becomes_running_with_its_pod() {
    let mut bc = config();
    let builds = vec![
        build(&mut bc, BuildPhase::Pending),
        build(&mut bc, BuildPhase::New),
    ];
    // Scheduled, not running yet: nothing to do (the queued build is the engine's).
    assert_eq!(run(&builds, &[pod(&builds[0], PodPhase::Pending)]), []);
    let effects = run(&builds, &[pod(&builds[0], PodPhase::Running)]);
    assert_eq!(
        effects,
        [Effect::UpdateBuild {
            build: builds[0].build.name.clone(),
            change: Change::MarkRunning
        }]
    );
    let mut b = builds[0].build.clone();
    assert!(Change::MarkRunning.apply(&mut b, t(3)));
    assert_eq!((b.phase, b.started), (BuildPhase::Running, Some(t(3))));
    // Already running: a replay changes nothing.
    assert!(!Change::MarkRunning.apply(&mut b, t(4)));
}

#[test]
fn a_restart_between_the_start_and_the_pod_creates_it_under_the_same_lease() {
    let mut bc = config();
    // The engine started the build (lease in its status), then the controller died before
    // the Pod was created.
    let mut started = build(&mut bc, BuildPhase::Pending);
    started.pod_recorded = false;
    let effects = run(std::slice::from_ref(&started), &[]);
    assert_eq!(
        effects,
        [Effect::CreatePod {
            build: started.build.name.clone(),
            lease: started.lease.clone(),
        }]
    );
    // Created but not yet in the status: nothing twice.
    assert_eq!(
        run(
            std::slice::from_ref(&started),
            &[pod(&started, PodPhase::Pending)]
        ),
        []
    );
    // A Pod that was recorded and then vanished is not created again: the engine ends the
    // build (`Error`, the run is gone).
    started.pod_recorded = true;
    assert_eq!(run(&[started], &[]), []);
}

#[test]
fn cancel_stops_a_queued_build_at_once_and_a_running_one_through_its_pod() {
    let mut bc = config();
    let mut builds = vec![
        build(&mut bc, BuildPhase::Running),
        build(&mut bc, BuildPhase::New),
    ];
    for b in &mut builds {
        b.cancel_requested = true;
    }
    let effects = run(&builds, &[pod(&builds[0], PodPhase::Running)]);
    assert_eq!(
        effects,
        [
            Effect::DeletePod {
                pod: osbs_kube::pod_name(&builds[0].build.name),
                grace_seconds: 60,
                why: format!("cancel of {}", builds[0].build.name)
            },
            Effect::UpdateBuild {
                build: builds[1].build.name.clone(),
                change: Change::Policy(Action::Cancel {
                    build: builds[1].build.name.clone(),
                    reason: "cancelled by user".into()
                })
            },
        ]
    );
    // The Pod is terminating: its reactor runs the exit plugins and stores `Cancelled`.
    let (name, mut terminating) = pod(&builds[0], PodPhase::Running);
    terminating.deleting = true;
    assert_eq!(run(&builds[..1], &[(name, terminating)]), []);
    // The Pod is gone and the reactor stored nothing: Cancelled, not Error.
    assert_eq!(
        run(&builds[..1], &[]),
        [Effect::UpdateBuild {
            build: builds[0].build.name.clone(),
            change: Change::Cancelled {
                reason: "cancelled by user".into()
            }
        }]
    );
    // A cancel of a build that ended meanwhile does nothing.
    let mut done = build(&mut bc, BuildPhase::Complete);
    done.cancel_requested = true;
    assert_eq!(run(&[done], &[]), []);
}

#[test]
fn a_pod_still_running_for_an_ended_build_is_deleted_with_grace() {
    let mut bc = config();
    let ended = build(&mut bc, BuildPhase::Cancelled);
    let effects = run(
        std::slice::from_ref(&ended),
        &[pod(&ended, PodPhase::Running)],
    );
    assert_eq!(
        effects,
        [Effect::DeletePod {
            pod: osbs_kube::pod_name(&ended.build.name),
            grace_seconds: 60,
            why: format!("{} already ended Cancelled", ended.build.name),
        }]
    );
    // Ended Pods stay (with the build log) until the build is pruned.
    assert_eq!(
        run(
            std::slice::from_ref(&ended),
            &[pod(&ended, PodPhase::Succeeded)]
        ),
        []
    );
}
