//! Scenarios of `reconcile`: one BuildConfig's builds and Pods in, effects out.

use std::collections::{BTreeMap, BTreeSet};

use osbs_controller::{Change, Effect, PodPhase, PodView, Settings, reconcile};
use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::policy::Action;
use osbs_core::time::Timestamp;

const MIN: i64 = 60_000;

fn t(minutes: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_714_564_800_000 + minutes * MIN)
}

fn config() -> BuildConfig {
    BuildConfig::new("https://git.example.com/ns/app.git", "main")
}

fn image_change(digest: &str) -> BuildCause {
    BuildCause::ImageChange {
        stream: "osbs-busybox".into(),
        tag: "latest".into(),
        digest: digest.into(),
        chain: vec![],
    }
}

fn build(config: &mut BuildConfig, cause: BuildCause, phase: BuildPhase) -> Build {
    let mut b = Build::queued(config, cause, Some("c0ffee".into()), t(0));
    b.phase = phase;
    b
}

fn pod(build: &Build, phase: PodPhase, created: Timestamp) -> (String, PodView) {
    let name = osbs_kube::pod_name(&build.name);
    (
        name.clone(),
        PodView {
            name,
            phase,
            created,
            deleting: false,
            message: None,
        },
    )
}

fn run(builds: &[Build], pods: &[(String, PodView)], now: Timestamp) -> Vec<Effect> {
    let pods: BTreeMap<_, _> = pods.iter().cloned().collect();
    reconcile(builds, &BTreeSet::new(), &pods, now, &Settings::default())
}

/// Applies the build changes of `effects` the way the I/O edge does.
fn apply(builds: &mut [Build], effects: &[Effect], now: Timestamp) {
    for effect in effects {
        if let Effect::UpdateBuild { build, change } = effect {
            for b in builds.iter_mut() {
                if &b.name == build {
                    change.apply(b, now);
                }
            }
        }
    }
}

#[test]
fn a_queued_build_starts_with_a_pod_and_the_next_one_waits() {
    let mut bc = config();
    let mut builds = vec![
        build(&mut bc, BuildCause::User, BuildPhase::New),
        build(&mut bc, BuildCause::User, BuildPhase::New),
    ];
    let effects = run(&builds, &[], t(1));
    let first = builds[0].name.clone();
    assert_eq!(
        effects,
        [
            Effect::UpdateBuild {
                build: first.clone(),
                change: Change::Policy(Action::Start {
                    build: first.clone()
                })
            },
            Effect::CreatePod {
                build: first.clone()
            },
        ]
    );
    apply(&mut builds, &effects, t(1));
    // Pod is scheduled but not running yet: nothing more to do; the second build waits.
    let pods = [pod(&builds[0], PodPhase::Pending, t(1))];
    assert_eq!(run(&builds, &pods, t(2)), []);
    // The Pod runs: the build is Running.
    let pods = [pod(&builds[0], PodPhase::Running, t(1))];
    let effects = run(&builds, &pods, t(3));
    assert_eq!(
        effects,
        [Effect::UpdateBuild {
            build: first.clone(),
            change: Change::MarkRunning
        }]
    );
    apply(&mut builds, &effects, t(3));
    assert_eq!(builds[0].phase, BuildPhase::Running);
    // The reactor stores Complete; the second build starts.
    builds[0].phase = BuildPhase::Complete;
    let pods = [pod(&builds[0], PodPhase::Succeeded, t(1))];
    let effects = run(&builds, &pods, t(9));
    assert!(effects.contains(&Effect::CreatePod {
        build: builds[1].name.clone()
    }));
}

#[test]
fn queued_autorebuilds_coalesce_behind_a_running_build() {
    let mut bc = config();
    let builds = vec![
        build(&mut bc, BuildCause::User, BuildPhase::Running),
        build(&mut bc, image_change("sha256:1"), BuildPhase::New),
        build(&mut bc, image_change("sha256:2"), BuildPhase::New),
        build(&mut bc, image_change("sha256:3"), BuildPhase::New),
    ];
    let pods = [pod(&builds[0], PodPhase::Running, t(0))];
    let effects = run(&builds, &pods, t(1));
    let newest = &builds[3].name;
    assert_eq!(
        effects,
        [1, 2]
            .iter()
            .map(|&i| Effect::UpdateBuild {
                build: builds[i].name.clone(),
                change: Change::Policy(Action::Cancel {
                    build: builds[i].name.clone(),
                    reason: format!("superseded by {newest}"),
                }),
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_running_build_whose_pod_vanished_ends_error_and_the_queue_moves() {
    let mut bc = config();
    let builds = vec![
        build(&mut bc, BuildCause::User, BuildPhase::Running),
        build(&mut bc, BuildCause::User, BuildPhase::New),
    ];
    let effects = run(&builds, &[], t(5));
    let Effect::UpdateBuild {
        change: Change::Policy(Action::Error { error, .. }),
        ..
    } = &effects[0]
    else {
        panic!("{effects:?}")
    };
    insta::assert_snapshot!(error, @"build runner gone: pod app-main-86708-1-build vanished while the build was running");
    assert_eq!(
        effects[1..],
        [
            Effect::UpdateBuild {
                build: builds[1].name.clone(),
                change: Change::Policy(Action::Start {
                    build: builds[1].name.clone()
                })
            },
            Effect::CreatePod {
                build: builds[1].name.clone()
            }
        ]
    );
}

#[test]
fn a_pod_that_ended_without_an_outcome_or_is_stuck_pending_means_error() {
    let mut bc = config();
    let builds = vec![build(&mut bc, BuildCause::User, BuildPhase::Running)];
    let mut failed = pod(&builds[0], PodPhase::Failed, t(0));
    failed.1.message = Some("OOMKilled".into());
    let effects = run(&builds, &[failed], t(1));
    assert!(
        matches!(
            &effects[..],
            [Effect::UpdateBuild { change: Change::Policy(Action::Error { error, .. }), .. }]
                if error.contains("ended Failed without the reactor storing an outcome (OOMKilled)")
        ),
        "{effects:?}"
    );

    let builds = vec![build(&mut config(), BuildCause::User, BuildPhase::Pending)];
    let stuck = pod(&builds[0], PodPhase::Pending, t(0));
    assert_eq!(run(&builds, std::slice::from_ref(&stuck), t(9)), []);
    let effects = run(&builds, &[stuck], t(11));
    // The build ends Error and the stuck Pod is deleted.
    assert!(
        matches!(
            &effects[..],
            [
                Effect::UpdateBuild { change: Change::Policy(Action::Error { error, .. }), .. },
                Effect::DeletePod { pod, .. },
            ] if error.contains("stuck in Pending for 660 s (limit 600 s)") && pod.ends_with("-1-build")
        ),
        "{effects:?}"
    );
}

#[test]
fn a_restart_mid_build_recreates_nothing_twice() {
    let mut bc = config();
    // The controller set Pending, then died before creating the Pod.
    let builds = vec![build(&mut bc, BuildCause::User, BuildPhase::Pending)];
    let effects = run(&builds, &[], t(1));
    assert_eq!(
        effects,
        [Effect::CreatePod {
            build: builds[0].name.clone()
        }]
    );
    // After a restart with the build Running and its Pod alive: nothing to do at all.
    let mut running = builds.clone();
    running[0].phase = BuildPhase::Running;
    let pods = [pod(&running[0], PodPhase::Running, t(1))];
    assert_eq!(run(&running, &pods, t(2)), []);
    // Replaying old effects on the current state changes nothing (idempotent apply).
    let mut replay = running.clone();
    apply(&mut replay, &effects, t(3));
    let start = Change::Policy(Action::Start {
        build: running[0].name.clone(),
    });
    assert!(!start.apply(&mut replay[0], t(3)));
    assert_eq!(replay, running);
}

#[test]
fn cancel_stops_a_queued_build_at_once_and_a_running_one_through_its_pod() {
    let mut bc = config();
    let builds = vec![
        build(&mut bc, BuildCause::User, BuildPhase::Running),
        build(&mut bc, BuildCause::User, BuildPhase::New),
    ];
    let cancel: BTreeSet<String> = builds.iter().map(|b| b.name.clone()).collect();
    let pods: BTreeMap<_, _> = [pod(&builds[0], PodPhase::Running, t(0))]
        .into_iter()
        .collect();
    let effects = reconcile(&builds, &cancel, &pods, t(1), &Settings::default());
    assert_eq!(
        effects,
        [
            Effect::DeletePod {
                pod: osbs_kube::pod_name(&builds[0].name),
                grace_seconds: 60,
                why: format!("cancel of {}", builds[0].name)
            },
            Effect::UpdateBuild {
                build: builds[1].name.clone(),
                change: Change::Policy(Action::Cancel {
                    build: builds[1].name.clone(),
                    reason: "cancelled by user".into()
                })
            },
        ]
    );
    // The Pod is gone and the reactor stored nothing: Cancelled, not Error.
    let effects = reconcile(
        &builds[..1],
        &cancel,
        &BTreeMap::new(),
        t(2),
        &Settings::default(),
    );
    assert_eq!(
        effects,
        [Effect::UpdateBuild {
            build: builds[0].name.clone(),
            change: Change::Cancelled {
                reason: "cancelled by user".into()
            }
        }]
    );
}
