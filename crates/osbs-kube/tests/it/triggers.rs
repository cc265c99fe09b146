//! Scenarios of `plan_triggers`: fan-out over a dependency graph, cycle protection, and replay
//! after a restart.

use osbs_core::model::{Build, BuildConfig, ImageStreamTag, UserSubmission};
use osbs_core::time::Timestamp;
use osbs_core::trigger::SkipReason;
use osbs_kube::{PendingTrigger, plan_triggers};

fn config(repo: &str, base: &str, image: &str) -> BuildConfig {
    let mut bc = BuildConfig::new(&format!("https://git.example.com/ns/{repo}.git"), "main");
    bc.record_user_build(UserSubmission {
        commit: format!("{repo}-commit"),
        trigger: Some(ImageStreamTag::new(base, "latest")),
        repo_config_name: ".osbs-repo-config".into(),
        image_name: Some(image.into()),
    });
    bc
}

fn pending(chain: &[&str]) -> PendingTrigger {
    PendingTrigger {
        tag: "latest".into(),
        old: Some("sha256:old".into()),
        new: "sha256:new".into(),
        chain: chain.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn fan_out_queues_every_triggered_config_once_with_its_recorded_commit() {
    let configs = vec![
        config("app1", "osbs-base", "osbs/app1"),
        config("app2", "osbs-base", "osbs/app2"),
        config("other", "osbs-other", "osbs/other"),
    ];
    let plan = plan_triggers("osbs-base", &[pending(&["base-main-00000"])], &configs, &[]);
    let names: Vec<_> = plan.requests.iter().map(|r| r.commit.as_str()).collect();
    assert_eq!(names, ["app1-commit", "app2-commit"]);
    assert!(plan.skipped.is_empty());
}

#[test]
fn a_trigger_cycle_is_not_refired() {
    // a FROM b FROM a: an import of a's image by a build caused by b does not rebuild b again.
    let a = config("a", "osbs-b", "osbs/a");
    let b = config("b", "osbs-a", "osbs/b");
    let plan = plan_triggers(
        "osbs-a",
        &[pending(&[&b.name, &a.name])],
        &[a.clone(), b.clone()],
        &[],
    );
    assert!(plan.requests.is_empty());
    assert!(matches!(plan.skipped[0].reason, SkipReason::Cycle { .. }));
}

#[test]
fn a_replay_after_a_restart_queues_nothing_twice() {
    let mut configs = vec![
        config("app1", "osbs-base", "osbs/app1"),
        config("app2", "osbs-base", "osbs/app2"),
    ];
    let trigger = pending(&[]);
    let first = plan_triggers("osbs-base", std::slice::from_ref(&trigger), &configs, &[]);
    // The controller queued app1's build, then restarted before clearing the trigger.
    let queued: Build = first.requests[0]
        .clone()
        .into_build(&mut configs[0], Timestamp::UNIX_EPOCH);
    let replay = plan_triggers("osbs-base", &[trigger], &configs, &[queued]);
    assert_eq!(replay.already_queued, [configs[0].name.clone()]);
    assert_eq!(replay.requests.len(), 1);
    assert_eq!(replay.requests[0].build_config, configs[1].name);
}
