//! The embedded local backend end to end: real git repositories made from `fixtures/local/`,
//! runner processes (the real `osbs` binary), the reactor against the local Docker Engine and
//! the push and sync registries that `cargo xtask services up` starts.

pub(crate) mod support;

use std::time::Duration;

use osbs_client::backend::{Backend as _, BuildFilter, BuildSubmission, LogEvent};
use osbs_core::build::BuildPhase;
use osbs_core::model::BuildCause;
use support::{
    World, build, registry_digest, start_sleeping, submit_err, wait_finished, wait_for,
    wait_running,
};

/// A malformed `.osbs-repo-config` fails the submission, naming file, line and value; nothing
/// is queued. A missing branch, commit or repository is a usage error (exit code 2), a push
/// registry that does not answer is exit code 3.
#[tokio::test]
async fn bad_submissions_fail_with_clear_messages() {
    let world = World::new(false);
    let backend = world.backend();

    let bad = world.repo("bad-repo-config");
    let err = submit_err(&backend, bad.submission()).await;
    let text = err.to_string();
    assert_eq!(err.exit_code(), 2, "{text}");
    assert!(text.contains(".osbs-repo-config:2:"), "{text}");
    assert!(text.contains("maybe"), "{text}");

    let app = world.repo("app");
    let err = submit_err(
        &backend,
        BuildSubmission {
            git_branch: "no-such-branch".to_owned(),
            ..app.submission()
        },
    )
    .await;
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("\"no-such-branch\""), "{err}");

    let err = submit_err(
        &backend,
        BuildSubmission {
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
            ..app.submission()
        },
    )
    .await;
    assert_eq!(err.exit_code(), 2, "{err}");

    let missing = format!("file://{}/nowhere", world.tmp.path().display());
    let err = submit_err(
        &backend,
        BuildSubmission {
            git_url: missing,
            ..app.submission()
        },
    )
    .await;
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("nowhere"), "{err}");

    let err = submit_err(
        &backend,
        BuildSubmission {
            git_url: "--upload-pack=touch /tmp/pwned".to_owned(),
            ..app.submission()
        },
    )
    .await;
    assert_eq!(err.exit_code(), 2, "{err}");

    let all = backend.list_builds(&BuildFilter::default()).await.unwrap();
    assert!(all.is_empty(), "nothing may be queued: {all:?}");

    // A push registry that does not answer: exit code 3, before anything is queued.
    let down = World::with_registry("127.0.0.1:9", false);
    let backend = down.backend();
    let app = down.repo("app");
    let err = submit_err(&backend, app.submission()).await;
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("registry 127.0.0.1:9"), "{err}");
    let all = backend.list_builds(&BuildFilter::default()).await.unwrap();
    assert!(all.is_empty(), "nothing may be queued: {all:?}");
}

/// The whole cascade: user builds of a base and two apps FROM it; the base rebuilt; the app
/// autorebuilt from its recorded commit (not the newer branch head) with release + 1 and synced
/// to the second registry, the app whose repo config disables autorebuilds ends `Cancelled`
/// with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autorebuild_cascade() {
    osbs_testkit::require_services();
    let world = World::new(true);
    let backend = world.backend();
    let base = world.repo("base");
    let app = world.repo("app");
    let disabled = world.repo("app-disabled");

    let base1 = build(&backend, &base).await;
    assert_eq!(base1.phase, BuildPhase::Complete, "{base1:#?}");
    let app1 = build(&backend, &app).await;
    assert_eq!(app1.phase, BuildPhase::Complete, "{app1:#?}");
    let disabled1 = build(&backend, &disabled).await;
    assert_eq!(disabled1.phase, BuildPhase::Complete, "{disabled1:#?}");

    // get_build carries the results of SPEC §5, the digests as the registry serves them.
    let app1 = backend.get_build(&app1.name).await.unwrap();
    let app_commit = app.head();
    assert_eq!(app1.commit.as_deref(), Some(app_commit.as_str()));
    assert_eq!(app1.release.as_deref(), Some("1"));
    assert!(!app1.is_autorebuild);
    assert_eq!(app1.cause, BuildCause::User);
    let base_ref = format!(
        "{}/{}:latest",
        osbs_testkit::push_registry(),
        world.repository("base")
    );
    assert_eq!(app1.base_image_name.as_deref(), Some(base_ref.as_str()));
    assert!(
        app1.base_image_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sha256:"))
    );
    assert!(app1.image_id.is_some());
    assert!(!app1.repositories.primary.is_empty(), "{app1:#?}");
    assert!(!app1.repositories.unique.is_empty(), "{app1:#?}");
    assert!(!app1.digests.is_empty());
    for pushed in &app1.digests {
        let served = registry_digest(&pushed.registry, &pushed.repository, &pushed.tag).await;
        assert_eq!(
            served.as_deref(),
            Some(pushed.digest.as_str()),
            "{pushed:?}"
        );
    }
    let config = backend.get_build_config(&app1.build_config).await.unwrap();
    assert_eq!(
        config.last_user_commit.as_deref(),
        Some(app_commit.as_str())
    );
    assert_eq!(
        config.trigger.as_ref().map(ToString::to_string),
        Some(format!("{}:latest", world.stream("base")))
    );
    assert!(
        config.is_autorebuild(),
        "check_and_set_rebuild sets the label"
    );
    let plan = backend
        .rebuild_plan(&world.stream("base"), "latest")
        .await
        .unwrap();
    let planned: Vec<&str> = plan.nodes.iter().map(|n| n.build_config.as_str()).collect();
    assert!(planned.contains(&app1.build_config.as_str()), "{planned:?}");
    assert!(
        planned.contains(&disabled1.build_config.as_str()),
        "{planned:?}"
    );

    // A newer commit on the app's branch must not be what the autorebuild builds.
    let newer = app.change("hello.txt", "a newer change nobody submitted\n");
    assert_ne!(newer, app_commit);

    // Follow the base's rebuild through its log: lines while it runs, then the final build.
    let submitted = backend.create_build(&base.submission()).await.unwrap();
    let mut lines = Vec::new();
    let mut finished = None;
    backend
        .build_logs(&submitted.build.name, true, &mut |event| match event {
            LogEvent::Line(line) => lines.push(line),
            LogEvent::Finished(build) => finished = Some(*build),
        })
        .await
        .unwrap();
    let base2 = finished.expect("build_logs --follow ends with the finished build");
    assert_eq!(base2.phase, BuildPhase::Complete, "{base2:#?}");
    let log = lines.join("\n");
    assert!(log.contains("pushing"), "{log}");
    assert!(
        log.contains("triggered "),
        "the log names the triggered builds: {log}"
    );
    assert_eq!(base2.release.as_deref(), Some("2"));
    let triggered = backend.triggered_by(&base2).await.unwrap();
    let names: Vec<&str> = triggered.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(triggered.len(), 2, "{names:?}");

    let app_auto = triggered
        .iter()
        .find(|b| b.build_config == app1.build_config)
        .expect("the app was triggered");
    let app2 = wait_finished(&backend, &app_auto.name).await;
    assert_eq!(app2.phase, BuildPhase::Complete, "{app2:#?}");
    assert!(app2.is_autorebuild);
    assert_eq!(app2.commit.as_deref(), Some(app_commit.as_str()));
    assert_eq!(app2.release.as_deref(), Some("2"));
    match &app2.cause {
        BuildCause::ImageChange {
            stream, tag, chain, ..
        } => {
            assert_eq!(stream, &world.stream("base"));
            assert_eq!(tag, "latest");
            assert_eq!(chain, std::slice::from_ref(&base2.build_config));
        }
        other => panic!("cause {other:?}"),
    }
    assert_eq!(app2.base_image_name.as_deref(), Some(base_ref.as_str()));
    assert_ne!(
        app2.base_image_id, app1.base_image_id,
        "built on the new base"
    );
    // Synced to the second registry: every pushed tag, digests preserved.
    assert!(!app2.sync.is_empty(), "{app2:#?}");
    assert_eq!(app2.sync.len(), app2.digests.len(), "{app2:#?}");
    for synced in &app2.sync {
        assert_eq!(synced.registry, osbs_testkit::sync_registry());
        let pushed = app2.digests.iter().find(|d| d.tag == synced.tag).unwrap();
        assert_eq!(synced.digest, pushed.digest);
        let served = registry_digest(&synced.registry, &synced.repository, &synced.tag).await;
        assert_eq!(
            served.as_deref(),
            Some(synced.digest.as_str()),
            "{synced:?}"
        );
    }

    let disabled_auto = triggered
        .iter()
        .find(|b| b.build_config == disabled1.build_config)
        .expect("the disabled app was triggered");
    let disabled2 = wait_finished(&backend, &disabled_auto.name).await;
    assert_eq!(disabled2.phase, BuildPhase::Cancelled, "{disabled2:#?}");
    assert_eq!(
        disabled2.reason.as_deref(),
        Some("autorebuild disabled in .osbs-repo-config")
    );

    // The ImageStream of the app moved to the autorebuild's digest.
    let stream = backend
        .get_image_stream(&world.stream("app"))
        .await
        .unwrap();
    let latest = app2.digests.iter().find(|d| d.tag == "latest").unwrap();
    assert_eq!(stream.digest("latest"), Some(latest.digest.as_str()));
}

/// Two submissions of one BuildConfig at once, from two processes' worth of backends: both
/// complete, one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_never_overlap() {
    osbs_testkit::require_services();
    let world = World::new(false);
    world.push_base("base", 0).await;
    let app = world.repo("app");
    let submissions: Vec<_> = (0..2)
        .map(|_| {
            let backend = world.backend();
            let submission = app.submission();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(backend.create_build(&submission)).unwrap()
            })
        })
        .collect();
    let submitted: Vec<_> = submissions.into_iter().map(|h| h.join().unwrap()).collect();
    let behind: Vec<_> = submitted
        .iter()
        .filter_map(|s| s.queued_behind.clone())
        .collect();
    assert!(behind.len() <= 1, "{behind:?}");

    let backend = world.backend();
    let mut builds = Vec::new();
    for s in &submitted {
        // watch_build reports each phase once, in order, and returns the final build.
        let mut phases = Vec::new();
        let done = backend
            .watch_build(&s.build.name, &mut |b| phases.push(b.phase))
            .await
            .unwrap();
        assert_eq!(phases.last(), Some(&done.phase), "{phases:?}");
        assert!(phases.windows(2).all(|w| w[0] != w[1]), "{phases:?}");
        builds.push(done);
    }
    builds.sort_by_key(|b| b.number);
    for b in &builds {
        assert_eq!(b.phase, BuildPhase::Complete, "{b:#?}");
    }
    let (first, second) = (&builds[0], &builds[1]);
    let first_end = first.finished.expect("finished");
    let second_start = second.started.expect("started");
    assert!(
        first_end <= second_start,
        "{} ran until {first_end}, {} started at {second_start}",
        first.name,
        second.name
    );
    assert_eq!(second.release.as_deref(), Some("2"));
}

/// The queue on one BuildConfig: a queued user build waits behind the running one and is
/// cancelled at once; three queued autorebuilds coalesce to the newest; the running build is
/// cancelled through its runner; a runner killed with SIGKILL is noticed by the next command
/// (its build ends `Error`) and the queue moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_cancel_coalesce_and_kill_recovery() {
    osbs_testkit::require_services();
    let world = World::new(false);
    world.push_base("base", 0).await;
    let backend = world.backend();
    let slow = world.repo("slow");

    let s1 = start_sleeping(&backend, &slow).await;

    let s2 = backend.create_build(&slow.submission()).await.unwrap();
    assert_eq!(s2.queued_behind.as_deref(), Some(s1.name.as_str()));

    // Three base changes while the slot is taken: three queued autorebuilds.
    let mut autos = Vec::new();
    for generation in 1..=3 {
        world.push_base("base", generation).await;
        let (_, queued) = backend
            .import_image(&world.stream("base"), Some("latest"))
            .await
            .unwrap();
        assert_eq!(queued.len(), 1, "{queued:?}");
        autos.push(queued[0].clone());
    }
    let newest = &autos[2];
    for (i, older) in autos[..2].iter().enumerate() {
        let b = wait_finished(&backend, &older.name).await;
        assert_eq!(b.phase, BuildPhase::Cancelled, "{b:#?}");
        // Superseded by whichever newer autorebuild was queued when the policy looked.
        let reasons: Vec<String> = autos[i + 1..]
            .iter()
            .map(|newer| format!("superseded by {}", newer.name))
            .collect();
        let reason = b.reason.clone().unwrap_or_default();
        assert!(reasons.contains(&reason), "{reason:?} not in {reasons:?}");
    }
    assert_eq!(
        backend.get_build(&newest.name).await.unwrap().phase,
        BuildPhase::New
    );

    // Cancel of a queued build: at once.
    let c2 = backend.cancel_build(&s2.build.name).await.unwrap();
    assert_eq!(c2.phase, BuildPhase::Cancelled);
    assert_eq!(c2.reason.as_deref(), Some("cancelled by user"));

    // Cancel of the running build: through its runner, exit plugins run (the clean-up after
    // the store that made the build final; its timings are stored when it is done).
    backend.cancel_build(&s1.name).await.unwrap();
    let c1 = wait_finished(&backend, &s1.name).await;
    assert_eq!(c1.phase, BuildPhase::Cancelled, "{c1:#?}");
    let c1 = wait_for(
        &backend,
        &s1.name,
        Duration::from_secs(60),
        "cleaned up",
        |b| {
            b.plugins_metadata
                .durations
                .contains_key("remove_built_image")
        },
    )
    .await;
    assert_eq!(c1.phase, BuildPhase::Cancelled, "{c1:#?}");
    assert!(
        c1.plugins_metadata.durations.contains_key("store_metadata"),
        "{c1:#?}"
    );

    // The surviving autorebuild runs next; kill its runner.
    let auto = wait_running(&backend, &newest.name).await;
    assert_eq!(auto.phase, BuildPhase::Running, "{auto:#?}");
    let pid = backend.runner_pid(&auto.name).unwrap().expect("a runner");
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let dead = wait_for(
        &backend,
        &auto.name,
        Duration::from_secs(10),
        "errored",
        |b| b.phase.is_finished(),
    )
    .await;
    assert_eq!(dead.phase, BuildPhase::Error, "{dead:#?}");
    let error = dead.error.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("build process {pid} died")),
        "{error}"
    );

    // The BuildConfig is not blocked: the next build starts.
    let s3 = backend.create_build(&slow.submission()).await.unwrap();
    assert_eq!(s3.queued_behind, None);
    wait_running(&backend, &s3.build.name).await;
    backend.cancel_build(&s3.build.name).await.unwrap();
    let s3 = wait_finished(&backend, &s3.build.name).await;
    assert_eq!(s3.phase, BuildPhase::Cancelled, "{s3:#?}");

    let running = backend
        .list_builds(&BuildFilter {
            build_config: Some(s1.build_config.clone()),
            running: true,
        })
        .await
        .unwrap();
    assert!(running.is_empty(), "{running:#?}");
}
