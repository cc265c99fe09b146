//! The serial run policy in scenarios: queueing, FIFO, coalescing of autorebuilds, stale
//! runners, cancel, and decisions re-applied after a restart.

use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::policy::{
    self, Action, CancelDecision, Liveness, QueueStatus, REASON_CANCELLED_BY_USER, StaleRules,
};
use osbs_core::time::Timestamp;

use crate::world::{World, digest};

fn image_change(n: u8) -> BuildCause {
    BuildCause::ImageChange {
        stream: "osbs-base".into(),
        tag: "latest".into(),
        digest: digest(n),
        chain: vec![],
    }
}

/// Builds of one BuildConfig in the given causes and phases, numbered from 1.
fn builds(spec: &[(BuildCause, BuildPhase)]) -> Vec<Build> {
    let mut config = BuildConfig::new("https://git.example.com/osbs/app.git", "main");
    spec.iter()
        .map(|(cause, phase)| {
            let mut build = Build::queued(&mut config, cause.clone(), None, Timestamp::UNIX_EPOCH);
            build.phase = *phase;
            build
        })
        .collect()
}

fn alive(_: &Build) -> Liveness {
    Liveness::Alive
}

/// The actions as text, with the BuildConfig name shortened to `app`.
fn short(actions: &[Action]) -> Vec<String> {
    let config = BuildConfig::new("https://git.example.com/osbs/app.git", "main").name;
    actions
        .iter()
        .map(|a| a.to_string().replace(&config, "app"))
        .collect()
}

#[test]
fn a_second_user_build_waits_and_never_overlaps() {
    let mut w = World::new();
    let app = w.add_config("app", Some("osbs-base:latest"));
    let first = w.user_build(&app, "c1");
    assert_eq!(w.phase(&first), BuildPhase::Pending);
    let second = w.user_build(&app, "c2");
    assert_eq!(w.phase(&second), BuildPhase::New);
    assert_eq!(
        policy::queue_status(&w.builds, &second).to_string(),
        format!("queued behind {first}")
    );
    w.run(&first);
    // Nothing may start while the first runs, however often the policy is asked.
    assert!(w.schedule().is_empty());
    w.complete(&first, &digest(1));
    assert_eq!(w.phase(&second), BuildPhase::Pending);
    w.run(&second);
    w.complete(&second, &digest(2));
    w.assert_serial();
    assert_eq!(w.build(&second).commit.as_deref(), Some("c2"));
}

#[test]
fn user_builds_run_first_in_first_out() {
    let all = builds(&[
        (BuildCause::User, BuildPhase::Complete),
        (BuildCause::User, BuildPhase::New),
        (BuildCause::User, BuildPhase::New),
        (BuildCause::User, BuildPhase::New),
    ]);
    // Pass them in any order: the build number decides.
    let shuffled = vec![
        all[3].clone(),
        all[1].clone(),
        all[0].clone(),
        all[2].clone(),
    ];
    let actions = policy::schedule(&shuffled, alive, &StaleRules::default());
    let name = &all[1].name;
    assert_eq!(
        actions,
        [Action::Start {
            build: name.clone()
        }]
    );
    assert_eq!(
        policy::queue_status(&all, &all[3].name),
        QueueStatus::Behind {
            build: all[2].name.clone(),
            ahead: 2
        }
    );
    assert_eq!(
        policy::queue_status(&all, &all[1].name),
        QueueStatus::StartsNext
    );
    assert_eq!(
        policy::queue_status(&all, &all[0].name),
        QueueStatus::NotQueued
    );
    assert_eq!(policy::queue_status(&all, "nope"), QueueStatus::NotQueued);
}

#[test]
fn queued_autorebuilds_coalesce_to_the_newest() {
    let all = builds(&[
        (BuildCause::User, BuildPhase::Running),
        (image_change(1), BuildPhase::New),
        (image_change(2), BuildPhase::New),
        (image_change(3), BuildPhase::New),
    ]);
    let actions = policy::schedule(&all, alive, &StaleRules::default());
    insta::assert_debug_snapshot!(short(&actions), @r#"
    [
        "cancel app-2: superseded by app-4",
        "cancel app-3: superseded by app-4",
    ]
    "#);
    assert_eq!(
        policy::queue_status(&all, &all[1].name),
        QueueStatus::SupersededBy {
            build: all[3].name.clone()
        }
    );
    assert_eq!(
        policy::queue_status(&all, &all[3].name).to_string(),
        format!("queued behind {}", all[0].name)
    );
}

#[test]
fn coalescing_keeps_user_builds_and_their_order() {
    let all = builds(&[
        (BuildCause::User, BuildPhase::Complete),
        (BuildCause::User, BuildPhase::New),
        (image_change(1), BuildPhase::New),
        (BuildCause::User, BuildPhase::New),
        (image_change(2), BuildPhase::New),
    ]);
    let actions = policy::schedule(&all, alive, &StaleRules::default());
    insta::assert_debug_snapshot!(short(&actions), @r#"
    [
        "cancel app-3: superseded by app-5",
        "start app-2",
    ]
    "#);
    // The survivor keeps its place: behind the user build queued before it.
    assert_eq!(
        policy::queue_status(&all, &all[4].name),
        QueueStatus::Behind {
            build: all[3].name.clone(),
            ahead: 2
        }
    );
}

#[test]
fn three_base_rebuilds_while_the_app_builds_give_one_autorebuild() {
    let mut w = World::new();
    let base = w.add_config("base", None);
    let app = w.add_config("app", Some("osbs-base:latest"));
    let app_1 = w.user_build(&app, "app-c1");
    w.run(&app_1);
    // The base is rebuilt three times while app-1 runs: three autorebuilds are requested.
    for n in 1..=3 {
        let b = w.user_build(&base, &format!("base-c{n}"));
        w.run(&b);
        let fan_out = w.complete(&b, &digest(n));
        assert_eq!(fan_out.requests.len(), 1);
    }
    let app_builds: Vec<&Build> = w.builds.iter().filter(|b| b.build_config == app).collect();
    let phases: Vec<_> = app_builds.iter().map(|b| b.phase).collect();
    assert_eq!(
        phases,
        [
            BuildPhase::Running,
            BuildPhase::Cancelled,
            BuildPhase::Cancelled,
            BuildPhase::New
        ]
    );
    // Coalescing happens as each request arrives: each is superseded by the next one.
    for pair in app_builds[1..].windows(2) {
        assert_eq!(
            pair[0].reason,
            Some(format!("superseded by {}", pair[1].name))
        );
        assert!(pair[0].finished.is_some());
    }
    let newest = app_builds[3].name.clone();
    w.complete(&app_1, &digest(10));
    assert_eq!(w.phase(&newest), BuildPhase::Pending);
    let build = w.build(&newest);
    assert!(build.is_autorebuild);
    assert_eq!(build.commit.as_deref(), Some("app-c1"));
    assert!(matches!(&build.cause, BuildCause::ImageChange { digest: d, .. } if *d == digest(3)));
    w.assert_serial();
}

#[test]
fn a_vanished_runner_ends_error_and_frees_the_build_config() {
    let all = builds(&[
        (BuildCause::User, BuildPhase::Running),
        (BuildCause::User, BuildPhase::New),
    ]);
    let gone = |b: &Build| {
        assert!(b.is_active(), "only active builds are asked about");
        Liveness::Gone {
            detail: "process 4242 exited".into(),
        }
    };
    let actions = policy::schedule(&all, gone, &StaleRules::default());
    insta::assert_debug_snapshot!(short(&actions), @r#"
    [
        "end app-1 with Error: build runner gone: process 4242 exited",
        "start app-2",
    ]
    "#);
    let mut first = all[0].clone();
    let now = Timestamp::from_unix_millis(5);
    assert!(actions[0].apply(&mut first, now));
    assert_eq!(first.phase, BuildPhase::Error);
    assert_eq!(first.finished, Some(now));
    assert_eq!(
        first.error.as_deref(),
        Some("build runner gone: process 4242 exited")
    );
}

#[test]
fn heartbeats_decide_staleness_at_the_limit() {
    let all = builds(&[
        (BuildCause::User, BuildPhase::Pending),
        (BuildCause::User, BuildPhase::New),
    ]);
    let rules = StaleRules {
        heartbeat_timeout_ms: 30_000,
    };
    let with_age = |age_ms| move |_: &Build| Liveness::Heartbeat { age_ms };
    assert!(policy::schedule(&all, with_age(30_000), &rules).is_empty());
    assert!(policy::schedule(&all, |_| Liveness::Unknown, &rules).is_empty());
    let actions = policy::schedule(&all, with_age(95_500), &rules);
    insta::assert_debug_snapshot!(short(&actions), @r#"
    [
        "end app-1 with Error: build runner gone: no heartbeat for 95 s (limit 30 s)",
        "start app-2",
    ]
    "#);
}

#[test]
fn kill_minus_nine_mid_build_is_recovered_by_the_next_command() {
    let mut w = World::new();
    let app = w.add_config("app", None);
    let first = w.user_build(&app, "c1");
    w.run(&first);
    let second = w.user_build(&app, "c2");
    // The process running `first` is killed; the next command sees its pid is gone.
    let killed = first.clone();
    let actions = w.schedule_with(|b| {
        if b.name == killed {
            Liveness::Gone {
                detail: "process 4242 exited".into(),
            }
        } else {
            Liveness::Alive
        }
    });
    assert_eq!(actions.len(), 2);
    assert_eq!(w.phase(&first), BuildPhase::Error);
    assert_eq!(w.phase(&second), BuildPhase::Pending);
    w.run(&second);
    w.complete(&second, &digest(1));
    w.assert_serial();
}

#[test]
fn decisions_are_idempotent_across_a_controller_restart() {
    let mut w = World::new();
    let app = w.add_config("app", None);
    let first = w.user_build(&app, "c1");
    let second = w.user_build(&app, "c2");
    w.run(&first);
    // The controller restarts mid-build: its Pod still runs, so nothing changes.
    assert!(w.schedule().is_empty());
    assert_eq!(w.phase(&first), BuildPhase::Running);
    // A decision taken on a stale cache is refused by the newer state.
    let stale = Action::Start {
        build: first.clone(),
    };
    let mut running = w.build(&first).clone();
    assert!(!stale.apply(&mut running, Timestamp::UNIX_EPOCH));
    assert_eq!(running, *w.build(&first));
    let cancel = Action::Cancel {
        build: second.clone(),
        reason: "superseded by x".into(),
    };
    let mut other = w.build(&first).clone();
    assert!(
        !cancel.apply(&mut other, Timestamp::UNIX_EPOCH),
        "wrong build"
    );
    // Applying the same Start twice changes the build once.
    w.complete(&first, &digest(1));
    let mut pending = w.build(&second).clone();
    let again = Action::Start { build: second };
    assert!(!again.apply(&mut pending, Timestamp::UNIX_EPOCH));
}

#[test]
fn build_configs_are_scheduled_independently() {
    let mut a = BuildConfig::new("https://git.example.com/osbs/a.git", "main");
    let mut b = BuildConfig::new("https://git.example.com/osbs/b.git", "main");
    let t = Timestamp::UNIX_EPOCH;
    let mut running_a = Build::queued(&mut a, BuildCause::User, None, t);
    running_a.phase = BuildPhase::Running;
    let all = vec![
        Build::queued(&mut b, BuildCause::User, None, t),
        running_a,
        Build::queued(&mut a, BuildCause::User, None, t),
        Build::queued(&mut b, BuildCause::User, None, t),
    ];
    let actions = policy::schedule(&all, alive, &StaleRules::default());
    assert_eq!(
        actions,
        [Action::Start {
            build: all[0].name.clone()
        }]
    );
}

#[test]
fn cancel_build_by_phase() {
    let all = builds(&[
        (BuildCause::User, BuildPhase::New),
        (BuildCause::User, BuildPhase::Running),
        (BuildCause::User, BuildPhase::Complete),
    ]);
    let CancelDecision::Now(action) = policy::cancel(&all[0]) else {
        panic!("a queued build is cancelled at once");
    };
    let mut queued = all[0].clone();
    assert!(action.apply(&mut queued, Timestamp::UNIX_EPOCH));
    assert_eq!(queued.phase, BuildPhase::Cancelled);
    assert_eq!(queued.reason.as_deref(), Some(REASON_CANCELLED_BY_USER));
    assert_eq!(policy::cancel(&all[1]), CancelDecision::StopRunner);
    assert_eq!(
        policy::cancel(&all[2]),
        CancelDecision::AlreadyFinished(BuildPhase::Complete)
    );
}

#[test]
fn actions_serialise_for_logs_and_events() {
    let action = Action::Cancel {
        build: "app-1".into(),
        reason: "superseded by app-3".into(),
    };
    insta::assert_snapshot!(
        serde_json::to_string(&action).unwrap(),
        @r#"{"action":"cancel","build":"app-1","reason":"superseded by app-3"}"#
    );
}
