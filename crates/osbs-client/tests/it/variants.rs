//! Build variants (SPEC §3, last paragraph) end to end on the local backend: `--scratch`,
//! `--isolated --release R`, `--release`, `-A/--tag`, `--build-arg` and `--skip-build`, with
//! the real reactor, Docker Engine and registry; and the CLI's usage errors for them, which need
//! no Docker at all.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::collections::BTreeMap;
use std::process::Command;

use osbs_client::backend::{Backend as _, BuildFilter, BuildSubmission};
use osbs_core::build::BuildPhase;
use osbs_core::model::Build;
use osbs_core::variant::BuildVariant;

use crate::cli::{run_command, snapshot_settings};
use crate::local::support::{World, build, registry_digest, wait_finished};

/// The variant flags' usage errors: exit code 2 before any repository is read or service
/// asked (the git URL does not exist, Docker is not needed), one snapshot per case.
#[test]
fn variant_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("osbs.conf");
    std::fs::write(
        &config,
        format!(
            "[default]\nbackend = local\nstate_dir = {}\n",
            tmp.path().join("state").display()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let cases: &[(&str, &[&str])] = &[
        ("isolated-without-release", &["--isolated"]),
        (
            "scratch-and-isolated",
            &["--scratch", "--isolated", "--release", "2"],
        ),
        ("scratch-and-release", &["--scratch", "--release", "2"]),
        ("scratch-and-tag", &["--scratch", "-A", "extra"]),
        ("bad-tag", &["-A", "v1 final"]),
        (
            "tag-latest",
            &["--isolated", "--release", "2", "-A", "latest"],
        ),
        ("bad-release", &["--release", "1/2"]),
        ("bad-build-arg-name", &["--build-arg", "1BASE=x"]),
        ("build-arg-without-value", &["--build-arg", "BASE"]),
        ("skip-build-scratch", &["--skip-build", "--scratch"]),
        ("skip-build-tag", &["--skip-build", "-A", "extra"]),
    ];
    let settings = snapshot_settings();
    settings.bind(|| {
        for (name, flags) in cases {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_osbs"));
            cmd.args(["--config", &config, "build", "-g"])
                .arg("file:///nonexistent/repo.git")
                .args(["-b", "main"])
                .args(*flags)
                .env("HOME", tmp.path())
                .env_remove("OSBS_CONFIG")
                .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
            let run = run_command(&mut cmd);
            assert_eq!(run.code, 2, "{name}: {}", run.stderr);
            assert!(run.stdout.is_empty(), "{name}: {}", run.stdout);
            insta::assert_snapshot!(format!("variant-error-{name}"), run.stderr);
        }
    });
}

/// A submission of `repo` with `variant`.
fn with(submission: BuildSubmission, variant: BuildVariant) -> BuildSubmission {
    BuildSubmission {
        variant,
        ..submission
    }
}

/// Submits and waits for the end.
async fn run(backend: &osbs_client::local::LocalBackend, submission: BuildSubmission) -> Build {
    let submitted = backend.create_build(&submission).await.unwrap();
    wait_finished(backend, &submitted.build.name).await
}

/// Every pushed tag of `build` is served with the digest the build recorded.
async fn assert_digests_served(build: &Build) {
    assert!(!build.digests.is_empty(), "{build:#?}");
    for pushed in &build.digests {
        let served = registry_digest(&pushed.registry, &pushed.repository, &pushed.tag).await;
        assert_eq!(
            served.as_deref(),
            Some(pushed.digest.as_str()),
            "{pushed:?}"
        );
    }
}

/// The tags `build` pushed, without registry and repository.
fn tags(build: &Build) -> Vec<&str> {
    build.digests.iter().map(|d| d.tag.as_str()).collect()
}

/// Scratch, isolated, explicit release, extra tags, build args and skip-build on one base and
/// one app FROM it: what each variant pushes (digests checked against the registry), what it
/// leaves alone (primary tags, the ImageStream, the BuildConfig) and what it fires (nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_push_what_they_promise_and_move_nothing_else() {
    osbs_testkit::require_services();
    let world = World::new(false);
    let backend = world.backend();
    let registry = osbs_testkit::push_registry();
    let base = world.repo("base");
    let app = world.repo("app");
    let base_repository = world.repository("base");

    let base1 = build(&backend, &base).await;
    assert_eq!(base1.phase, BuildPhase::Complete, "{base1:#?}");
    let app1 = build(&backend, &app).await;
    assert_eq!(app1.phase, BuildPhase::Complete, "{app1:#?}");
    assert!(base1.variant.is_default() && app1.variant.is_default());
    let app_builds = |all: Vec<Build>| -> Vec<String> {
        all.into_iter()
            .filter(|b| b.build_config == app1.build_config)
            .map(|b| b.name)
            .collect()
    };
    let app_before = app_builds(backend.list_builds(&BuildFilter::default()).await.unwrap());
    let digest = |tag: &'static str| registry_digest(&registry, &base_repository, tag);
    let latest_before = digest("latest").await.expect("latest pushed");
    let version_before = digest("1").await.expect("version pushed");
    let stream_before = backend
        .get_image_stream(&world.stream("base"))
        .await
        .unwrap();
    let config_before = backend.get_build_config(&base1.build_config).await.unwrap();

    // A scratch build of a newer commit: only its unique tag, no release, no import, no
    // trigger, the BuildConfig's commit and trigger as they were.
    let newer = base.change("extra.txt", "a scratch change\n");
    let scratch = run(
        &backend,
        with(
            base.submission(),
            BuildVariant {
                scratch: true,
                ..BuildVariant::default()
            },
        ),
    )
    .await;
    assert_eq!(scratch.phase, BuildPhase::Complete, "{scratch:#?}");
    assert!(scratch.variant.scratch);
    assert_eq!(scratch.commit.as_deref(), Some(newer.as_str()));
    assert_eq!(scratch.release, None);
    assert!(scratch.repositories.primary.is_empty(), "{scratch:#?}");
    assert_eq!(scratch.repositories.unique.len(), 1, "{scratch:#?}");
    assert_eq!(tags(&scratch).len(), 1, "only the unique tag: {scratch:#?}");
    assert!(
        scratch.repositories.unique[0].ends_with(&format!(":{}", tags(&scratch)[0])),
        "{scratch:#?}"
    );
    assert_digests_served(&scratch).await;
    assert_eq!(
        digest("latest").await.as_deref(),
        Some(latest_before.as_str())
    );
    assert_eq!(digest("1").await.as_deref(), Some(version_before.as_str()));
    assert_eq!(
        backend
            .get_image_stream(&world.stream("base"))
            .await
            .unwrap(),
        stream_before,
        "a scratch build is not imported"
    );
    assert!(backend.triggered_by(&scratch).await.unwrap().is_empty());
    // `get-build` shows the variant, in text and JSON.
    let get = |format: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_osbs"));
        cmd.arg("--config")
            .arg(&world.config)
            .args(["-o", format, "get-build", &scratch.name])
            .env_remove("OSBS_CONFIG");
        let run = run_command(&mut cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    };
    let text = get("text");
    assert!(
        text.lines()
            .any(|l| l.starts_with("variant:") && l.ends_with(" scratch")),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&get("json")).unwrap();
    assert_eq!(json["variant"]["scratch"], true, "{json}");
    let config = backend.get_build_config(&base1.build_config).await.unwrap();
    assert_eq!(config.last_user_commit, config_before.last_user_commit);
    assert_eq!(config.trigger, config_before.trigger);

    // `start-build --from-build` re-runs a scratch build as a scratch build.
    let again = backend
        .start_build(&base1.build_config, None, Some(&scratch.name))
        .await
        .unwrap();
    assert!(again.variant.scratch, "{again:#?}");
    let again = wait_finished(&backend, &again.name).await;
    assert_eq!(again.phase, BuildPhase::Complete, "{again:#?}");
    assert!(again.repositories.primary.is_empty(), "{again:#?}");
    assert_eq!(
        digest("latest").await.as_deref(),
        Some(latest_before.as_str())
    );

    // An isolated rebuild of version 1 as release 1.1: `1-1.1` pushed, `1` and `latest` not
    // moved, the BuildConfig left alone, nothing triggered.
    let isolated = run(
        &backend,
        with(
            base.submission(),
            BuildVariant {
                isolated: true,
                release: Some("1.1".to_owned()),
                ..BuildVariant::default()
            },
        ),
    )
    .await;
    assert_eq!(isolated.phase, BuildPhase::Complete, "{isolated:#?}");
    assert_eq!(isolated.release.as_deref(), Some("1.1"));
    assert_eq!(
        isolated.repositories.primary,
        [format!("{registry}/{base_repository}:1-1.1")]
    );
    assert!(tags(&isolated).contains(&"1-1.1"), "{isolated:#?}");
    assert!(!tags(&isolated).contains(&"latest"), "{isolated:#?}");
    assert_digests_served(&isolated).await;
    assert_ne!(
        digest("1-1.1").await.as_deref(),
        Some(latest_before.as_str())
    );
    assert_eq!(
        digest("latest").await.as_deref(),
        Some(latest_before.as_str())
    );
    assert_eq!(digest("1").await.as_deref(), Some(version_before.as_str()));
    let config = backend.get_build_config(&base1.build_config).await.unwrap();
    assert_eq!(config.last_user_commit, config_before.last_user_commit);
    assert!(backend.triggered_by(&isolated).await.unwrap().is_empty());
    assert_eq!(
        app_builds(backend.list_builds(&BuildFilter::default()).await.unwrap()),
        app_before,
        "neither the scratch nor the isolated build autorebuilt the app"
    );

    // A release that exists fails the build, naming the tag.
    let taken = run(
        &backend,
        with(
            base.submission(),
            BuildVariant {
                isolated: true,
                release: Some("1".to_owned()),
                ..BuildVariant::default()
            },
        ),
    )
    .await;
    assert_eq!(taken.phase, BuildPhase::Failed, "{taken:#?}");
    let error = taken.error.clone().unwrap_or_default();
    assert!(error.contains("`1-1`"), "{error}");

    // An explicit release with extra tags, built with a build arg that names the base: the
    // extra tags are pushed and digest-checked, the release is the one given, the base is the
    // argument's, and the BuildConfig keeps the argument (its trigger on that base).
    let busybox = osbs_testkit::base_image();
    let tagged = run(
        &backend,
        with(
            app.submission(),
            BuildVariant {
                release: Some("7".to_owned()),
                tags: vec!["stable".to_owned(), "candidate".to_owned()],
                build_args: BTreeMap::from([("BASE".to_owned(), busybox.clone())]),
                ..BuildVariant::default()
            },
        ),
    )
    .await;
    assert_eq!(tagged.phase, BuildPhase::Complete, "{tagged:#?}");
    assert_eq!(tagged.release.as_deref(), Some("7"));
    assert_eq!(tagged.base_image_name.as_deref(), Some(busybox.as_str()));
    for tag in ["1-7", "1", "latest", "stable", "candidate"] {
        assert!(tags(&tagged).contains(&tag), "{tag}: {tagged:#?}");
    }
    assert_digests_served(&tagged).await;
    let image_digests: Vec<&str> = tagged.digests.iter().map(|d| d.digest.as_str()).collect();
    assert!(image_digests.windows(2).all(|w| w[0] == w[1]), "one image");
    let app_config = backend.get_build_config(&app1.build_config).await.unwrap();
    assert_eq!(
        app_config.build_args.get("BASE").map(String::as_str),
        Some(busybox.as_str())
    );
    assert_ne!(app_config.trigger, Some(stream_tag(&world, "base")));

    // --skip-build: the BuildConfig follows a newer commit and the default base again
    // (trigger, commit, no build args), and no build is queued.
    let before = backend.list_builds(&BuildFilter::default()).await.unwrap();
    let head = app.change("hello.txt", "skip-build change\n");
    let (updated, _) = backend
        .update_build_config(&app.submission())
        .await
        .unwrap();
    assert_eq!(updated.last_user_commit.as_deref(), Some(head.as_str()));
    assert_eq!(updated.trigger, Some(stream_tag(&world, "base")));
    assert!(updated.build_args.is_empty(), "{updated:#?}");
    assert_eq!(
        backend.get_build_config(&app1.build_config).await.unwrap(),
        updated
    );
    let after = backend.list_builds(&BuildFilter::default()).await.unwrap();
    assert_eq!(after.len(), before.len(), "--skip-build queues nothing");
}

/// The ImageStream tag `STREAM:latest` of fixture image `local-NAME`.
fn stream_tag(world: &World, name: &str) -> osbs_core::model::ImageStreamTag {
    osbs_core::model::ImageStreamTag::new(world.stream(name), "latest")
}
