//! The JSON of the models: a Build is the `--output json` build object of SPEC §7, and every
//! model reads back what it writes.

use osbs_core::build::{
    BuildOutcome, BuildPhase, BuildResults, PluginsMetadata, PushedDigest, Repositories,
};
use osbs_core::model::{
    Build, BuildCause, BuildConfig, ImageStream, ImageStreamTag, UserSubmission,
};
use osbs_core::time::Timestamp;

use crate::world::digest;

/// A finished autorebuild with results.
fn finished_autorebuild() -> (BuildConfig, Build) {
    let mut config = BuildConfig::new("https://git.example.com/osbs/app.git", "main");
    config.record_user_build(UserSubmission {
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        trigger: Some(ImageStreamTag::new("osbs-base", "latest")),
        repo_config_name: ".osbs-repo-config".into(),
        image_name: Some("osbs/app".into()),
    });
    config.labels.insert("is_autorebuild".into(), "true".into());
    config.build_counter = 1;
    let cause = BuildCause::ImageChange {
        stream: "osbs-base".into(),
        tag: "latest".into(),
        digest: digest(0xab),
        chain: vec!["base-main-0e5c1".into()],
    };
    let commit = config.last_user_commit.clone();
    let mut build = Build::queued(
        &mut config,
        cause,
        commit,
        Timestamp::from_unix_millis(1_714_564_800_000),
    );
    build.phase = BuildPhase::Pending;
    assert!(build.mark_running(Timestamp::from_unix_millis(1_714_564_801_250)));
    let image = "127.0.0.1:5000/osbs/app";
    let outcome = BuildOutcome {
        phase: BuildPhase::Complete,
        error: None,
        reason: None,
        results: BuildResults {
            repositories: Repositories {
                primary: vec![
                    format!("{image}:1.0-2"),
                    format!("{image}:1.0"),
                    format!("{image}:latest"),
                ],
                unique: vec![format!("{image}:app-main-20240501120000")],
            },
            digests: ["1.0-2", "1.0", "latest", "app-main-20240501120000"]
                .iter()
                .map(|tag| PushedDigest {
                    registry: "127.0.0.1:5000".into(),
                    repository: "osbs/app".into(),
                    tag: (*tag).into(),
                    digest: digest(0xcd),
                })
                .collect(),
            sync: vec![PushedDigest {
                registry: "127.0.0.1:5001".into(),
                repository: "osbs/app".into(),
                tag: "1.0-2".into(),
                digest: digest(0xcd),
            }],
            image_id: Some(digest(0x11)),
            base_image_name: Some("127.0.0.1:5000/osbs/base".into()),
            base_image_id: Some(digest(0x22)),
            commit_id: build.commit.clone(),
            dockerfile: Some(
                "FROM 127.0.0.1:5000/osbs/base\nLABEL name=osbs/app version=1.0 release=2\n".into(),
            ),
            release: Some("2".into()),
            plugins_metadata: PluginsMetadata {
                errors: Default::default(),
                durations: [("docker_api".to_owned(), 12.5)].into(),
                timestamps: [(
                    "docker_api".to_owned(),
                    Timestamp::from_unix_millis(1_714_564_802_047),
                )]
                .into(),
            },
        },
    };
    assert!(build.record_outcome(&outcome, Timestamp::from_unix_millis(1_714_564_830_999)));
    (config, build)
}

#[test]
fn build_json_is_the_documented_object() {
    let (_, build) = finished_autorebuild();
    insta::assert_json_snapshot!(build);
}

#[test]
fn build_json_has_every_field_of_spec_section_7() {
    let mut config = BuildConfig::new("https://git.example.com/osbs/app.git", "main");
    let queued = Build::queued(&mut config, BuildCause::User, None, Timestamp::UNIX_EPOCH);
    let value = serde_json::to_value(&queued).unwrap();
    let object = value.as_object().unwrap();
    for key in [
        "name",
        "build_config",
        "phase",
        "is_autorebuild",
        "cause",
        "git_url",
        "git_branch",
        "commit",
        "release",
        "repositories",
        "digests",
        "base_image_name",
        "base_image_id",
        "image_id",
        "error",
        "reason",
        "created",
        "started",
        "finished",
    ] {
        assert!(object.contains_key(key), "missing {key}");
    }
    assert_eq!(value["phase"], "New");
    assert_eq!(value["cause"], serde_json::json!({"type": "User"}));
    assert_eq!(value["error"], serde_json::Value::Null);
    assert_eq!(value["created"], "1970-01-01T00:00:00.000Z");
    assert_eq!(
        value["repositories"],
        serde_json::json!({"primary": [], "unique": []})
    );
}

#[test]
fn models_read_back_what_they_write() {
    let (config, build) = finished_autorebuild();
    let json = serde_json::to_string(&build).unwrap();
    assert_eq!(serde_json::from_str::<Build>(&json).unwrap(), build);
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(serde_json::from_str::<BuildConfig>(&json).unwrap(), config);
    let mut stream = ImageStream::new("osbs-app");
    osbs_core::import::apply_import(
        &mut stream,
        &osbs_core::build::ImageImport {
            image_stream: "osbs-app".into(),
            docker_image_repository: "127.0.0.1:5000/osbs/app".into(),
            tags: vec![("latest".into(), digest(1))],
        },
        Some(&build.name),
        Timestamp::from_unix_millis(7),
    )
    .unwrap();
    let json = serde_json::to_string(&stream).unwrap();
    assert_eq!(serde_json::from_str::<ImageStream>(&json).unwrap(), stream);
}

#[test]
fn build_config_json() {
    let (config, _) = finished_autorebuild();
    insta::assert_json_snapshot!(config);
}

#[test]
fn a_build_finishes_once() {
    let (_, mut build) = finished_autorebuild();
    let before = build.clone();
    let again = BuildOutcome {
        phase: BuildPhase::Failed,
        error: Some("Error in plugin docker_api: boom".into()),
        reason: None,
        results: BuildResults::default(),
    };
    assert!(!build.record_outcome(&again, Timestamp::MAX));
    assert_eq!(build, before);
    assert!(!build.mark_running(Timestamp::MAX));
}

#[test]
fn an_unfinished_outcome_ends_error() {
    let mut config = BuildConfig::new("https://git.example.com/osbs/app.git", "main");
    let mut build = Build::queued(
        &mut config,
        BuildCause::User,
        Some("c".into()),
        Timestamp::UNIX_EPOCH,
    );
    let outcome = BuildOutcome {
        phase: BuildPhase::Running,
        error: None,
        reason: None,
        results: BuildResults::default(),
    };
    assert!(build.record_outcome(&outcome, Timestamp::UNIX_EPOCH));
    assert_eq!(build.phase, BuildPhase::Error);
    assert_eq!(
        build.error.as_deref(),
        Some("the reactor reported the unfinished phase Running")
    );
    assert_eq!(
        build.commit.as_deref(),
        Some("c"),
        "no commit_id in the results keeps the commit"
    );
}
