//! The rules the engine applies for both stores, as tables: the concurrency cap, pruning, the
//! submission plan, the results refresh and the request assembly.

use osbs_core::ImageReference;
use osbs_core::build::{BuildOutcome, BuildPhase, BuildRequest, BuildResults, RunTarget};
use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::policy::{self, Action, Liveness, StaleRules};
use osbs_core::prune::{PruneRules, prune};
use osbs_core::submission::{self, PlanError, ResolvedSubmission};
use osbs_core::time::Timestamp;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_800_000_000_000 + seconds * 1000)
}

/// One build of BuildConfig `repo` in `phase`, created at `created` seconds.
fn build(config: &mut BuildConfig, auto: bool, phase: BuildPhase, created: i64) -> Build {
    let cause = if auto {
        BuildCause::ImageChange {
            stream: "osbs-base".into(),
            tag: "latest".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            chain: vec![],
        }
    } else {
        BuildCause::User
    };
    let mut b = Build::queued(config, cause, None, at(created));
    b.phase = phase;
    if phase.is_finished() {
        b.finished = Some(at(created + 10));
    }
    b
}

fn config(repo: &str) -> BuildConfig {
    BuildConfig::new(&format!("https://git.example.com/osbs/{repo}.git"), "main")
}

fn starts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { build } => Some(build.split('-').next().unwrap_or("").to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_cap_bounds_starts_across_build_configs_users_first_then_oldest() {
    use BuildPhase::{New, Running};
    // (repo, autorebuild, phase, created)
    type Row = (&'static str, bool, BuildPhase, i64);
    type Case = (
        &'static str,
        &'static [Row],
        Option<usize>,
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        (
            "no cap: every free BuildConfig starts",
            &[
                ("a", true, New, 1),
                ("b", true, New, 2),
                ("c", false, New, 3),
            ],
            None,
            &["a", "b", "c"],
        ),
        (
            "cap 2, none running: users first",
            &[
                ("a", true, New, 1),
                ("b", true, New, 2),
                ("c", false, New, 3),
            ],
            Some(2),
            &["c", "a"],
        ),
        (
            "cap 2, one running: one more",
            &[
                ("a", false, Running, 0),
                ("b", true, New, 2),
                ("c", true, New, 1),
            ],
            Some(2),
            &["c"],
        ),
        (
            "cap 2, two running: none",
            &[
                ("a", false, Running, 0),
                ("b", false, Running, 0),
                ("c", false, New, 1),
            ],
            Some(2),
            &[],
        ),
        (
            "cap 1, oldest autorebuild",
            &[
                ("a", true, New, 5),
                ("b", true, New, 4),
                ("c", true, New, 6),
            ],
            Some(1),
            &["b"],
        ),
        (
            "a cap of 0 counts as 1",
            &[("a", true, New, 1), ("b", true, New, 2)],
            Some(0),
            &["a"],
        ),
        (
            "the run policy still holds: one per BuildConfig",
            &[("a", false, Running, 0), ("a", false, New, 1)],
            Some(5),
            &[],
        ),
    ];
    for (what, rows, cap, expected) in cases {
        let mut configs: std::collections::BTreeMap<&str, BuildConfig> = Default::default();
        let builds: Vec<Build> = rows
            .iter()
            .map(|(repo, auto, phase, created)| {
                let c = configs.entry(repo).or_insert_with(|| config(repo));
                build(c, *auto, *phase, *created)
            })
            .collect();
        let actions =
            policy::schedule_capped(&builds, |_| Liveness::Alive, &StaleRules::default(), *cap);
        assert_eq!(starts(&actions), *expected, "{what}: {actions:?}");
    }
}

#[test]
fn a_stale_run_frees_its_slot_under_the_cap() {
    let mut a = config("a");
    let mut b = config("b");
    let builds = vec![
        build(&mut a, false, BuildPhase::Running, 0),
        build(&mut b, false, BuildPhase::New, 1),
    ];
    let gone = |x: &Build| {
        if x.build_config == a.name {
            Liveness::Gone {
                detail: "process 1 died".into(),
            }
        } else {
            Liveness::Alive
        }
    };
    let actions = policy::schedule_capped(&builds, gone, &StaleRules::default(), Some(1));
    assert!(matches!(actions[0], Action::Error { .. }), "{actions:?}");
    assert_eq!(starts(&actions), ["b"]);
}

#[test]
fn pruning_keeps_active_newest_complete_and_young_builds() {
    use BuildPhase::{Complete, Failed, New, Running};
    // Numbers 1..=7 of one BuildConfig; created at n*100 s, finished 10 s later.
    let phases = [Complete, Failed, Failed, Failed, Running, New, Failed];
    let mut c = config("app");
    let builds: Vec<Build> = phases
        .iter()
        .enumerate()
        .map(|(i, p)| build(&mut c, false, *p, i as i64 * 100))
        .collect();
    let names =
        |ns: &[u64]| -> Vec<String> { ns.iter().map(|n| format!("{}-{n}", c.name)).collect() };
    let cases: &[(&str, PruneRules, Vec<String>)] = &[
        (
            "keep 0: every ended build but the newest Complete",
            PruneRules {
                keep: 0,
                ended_before: None,
            },
            names(&[2, 3, 4, 7]),
        ),
        (
            "keep 2: the two newest ended builds stay",
            PruneRules {
                keep: 2,
                ended_before: None,
            },
            names(&[2, 3]),
        ),
        (
            "keep 10: nothing",
            PruneRules {
                keep: 10,
                ended_before: None,
            },
            vec![],
        ),
        (
            "older than: only builds ended before the limit",
            PruneRules {
                keep: 0,
                ended_before: Some(at(150)),
            },
            names(&[2]),
        ),
    ];
    for (what, rules, expected) in cases {
        assert_eq!(&prune(&builds, rules), expected, "{what}");
    }
}

#[test]
fn the_submission_plan_records_the_user_build_and_the_base_stream() {
    let resolved =
        |base: Option<&str>, name: Option<&str>, component: Option<&str>| ResolvedSubmission {
            git_url: "https://git.example.com/osbs/app.git".into(),
            git_branch: "main".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            base_image: base.map(|b| b.parse::<ImageReference>().unwrap()),
            image_name: name.map(str::to_owned),
            component: component.map(str::to_owned),
            repo_config_name: ".osbs-repo-config".into(),
            variant: Default::default(),
        };
    // A vendor base in another registry: its stream knows where the image lives.
    let plan = submission::plan(&resolved(
        Some("quay.example.com:5000/vendor/base:9"),
        Some("osbs/app"),
        None,
    ))
    .unwrap();
    assert_eq!(plan.build_config, config("app").name);
    let trigger = plan.record.trigger.clone().unwrap();
    assert_eq!(
        (trigger.stream.as_str(), trigger.tag.as_str()),
        ("vendor-base", "9")
    );
    assert_eq!(
        plan.base_stream,
        Some((
            "vendor-base".to_owned(),
            "quay.example.com:5000/vendor/base".to_owned()
        ))
    );
    let stream = plan.new_base_stream(None).unwrap();
    assert_eq!(
        stream.docker_image_repository.as_deref(),
        Some("quay.example.com:5000/vendor/base")
    );
    assert!(
        plan.new_base_stream(Some(&stream)).is_none(),
        "an existing stream is kept"
    );
    // The BuildConfig is created once, then updated; each build bumps its counter.
    let mut bc = plan.build_config(None, "https://git.example.com/osbs/app.git", "main");
    assert_eq!(
        bc.last_user_commit.as_deref(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(bc.image_name.as_deref(), Some("osbs/app"));
    let first = plan.queue(&mut bc, at(0));
    let mut bc = plan.build_config(Some(bc), "ignored", "ignored");
    let second = plan.queue(&mut bc, at(1));
    assert_eq!((first.number, second.number), (1, 2));
    assert_eq!(second.cause, BuildCause::User);
    assert!(!bc.is_autorebuild());
    // FROM scratch: no trigger, no stream. A digest-pinned base: no trigger either.
    let scratch = submission::plan(&resolved(None, Some("osbs/app"), None)).unwrap();
    assert_eq!((scratch.record.trigger, scratch.base_stream), (None, None));
    let pinned = submission::plan(&resolved(
        Some(&format!("r.example.com/b@sha256:{}", "c".repeat(64))),
        Some("osbs/app"),
        None,
    ))
    .unwrap();
    assert_eq!(pinned.base_stream, None);
    // --component names an image without a `name` label; neither is an error.
    let component = submission::plan(&resolved(None, None, Some("osbs/other"))).unwrap();
    assert_eq!(component.record.image_name.as_deref(), Some("osbs/other"));
    assert_eq!(
        submission::plan(&resolved(None, None, None)),
        Err(PlanError::NoImageName)
    );
}

#[test]
fn results_are_stored_once_then_refreshed_never_overriding_the_engine() {
    let mut c = config("app");
    let outcome = |phase: BuildPhase, release: &str| BuildOutcome {
        phase,
        error: None,
        reason: None,
        results: BuildResults {
            release: Some(release.to_owned()),
            ..BuildResults::default()
        },
    };
    let mut b = build(&mut c, false, BuildPhase::Running, 0);
    assert!(b.store_results(&outcome(BuildPhase::Complete, "1"), at(5)));
    assert_eq!((b.phase, b.finished), (BuildPhase::Complete, Some(at(5))));
    // The second report of the same phase refreshes results, not the finish time.
    assert!(b.store_results(&outcome(BuildPhase::Complete, "1.1"), at(9)));
    assert_eq!(
        (b.release.as_deref(), b.finished),
        (Some("1.1"), Some(at(5)))
    );
    // A build the engine ended Error is not turned Complete by a late runner.
    let mut e = build(&mut c, false, BuildPhase::Error, 0);
    assert!(!e.store_results(&outcome(BuildPhase::Complete, "2"), at(9)));
    assert_eq!(e.phase, BuildPhase::Error);
    assert_eq!(e.release, None);
}

#[test]
fn the_request_carries_the_build_and_its_run_target() {
    let mut c = config("app");
    let mut b = build(&mut c, true, BuildPhase::Pending, 0);
    b.commit = Some("abc".into());
    b.is_autorebuild = true;
    let request = BuildRequest::for_build(
        b.clone(),
        RunTarget {
            registry_uri: "http://127.0.0.1:5000".into(),
            registry_secret: Some("/etc/osbs/dockercfg".into()),
            sync_target: None,
            image_name: Some("osbs/app".into()),
            repo_config_name: ".osbs-repo-config".into(),
        },
    );
    assert_eq!(request.build_name, b.name);
    assert_eq!(request.build_config, c.name);
    assert_eq!(request.git_commit.as_deref(), Some("abc"));
    assert!(request.is_autorebuild);
    assert_eq!(request.registry_uri, "http://127.0.0.1:5000");
    assert_eq!(request.image_name.as_deref(), Some("osbs/app"));
    assert!(!request.no_cache);
}
