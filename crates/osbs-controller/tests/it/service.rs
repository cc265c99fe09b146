//! The controller's rounds (`runtime::Service::round`) against osbs-testkit's stateful fake API
//! server: a queued build gets its Pod under a lease, follows its Pod to `Running` (with the
//! `BuildStarted` Event), is cancelled through Pod deletion with a grace period; a build Pod's
//! import fans out into an autorebuild; the scheduled import reads a registry with the
//! credentials of the registry Secret and fires triggers; a user's import request is carried
//! out and answered; the counters are raised past the numbers users took.

use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use osbs_controller::runtime::{ControllerSettings, Service};
use osbs_controller::{Effect, Settings};
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStreamTag, UserSubmission};
use osbs_core::policy::Action;
use osbs_core::time::Timestamp;
use osbs_engine::EngineSettings;
use osbs_kube::{BuildConfigResource, BuildResource, ImportFailure, PodSettings};
use osbs_testkit::kube_fake::{self as fake, Cluster, NS};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

fn builds() -> String {
    fake::path("builds")
}

fn pods() -> String {
    fake::core_path("pods")
}

/// The controller's settings for these tests: no scheduled import unless a test sets one.
pub(crate) fn settings(engine: EngineSettings) -> ControllerSettings {
    ControllerSettings {
        namespace: NS.to_owned(),
        pod: PodSettings::default(),
        reconcile: Settings::default(),
        pending_timeout_ms: 600_000,
        engine: EngineSettings {
            import_interval: None,
            ..engine
        },
        registry_secret: None,
        registry_ca: None,
        verify_tls: true,
        tick: Duration::from_secs(10),
        identity: "osbs-controller-0".to_owned(),
    }
}

/// A BuildConfig triggered by `osbs-busybox:latest`, stored; returned for queueing.
fn insert_config(cluster: &Cluster) -> anyhow::Result<BuildConfig> {
    let mut bc = BuildConfig::new("https://git.example.com/ns/app.git", "main");
    bc.record_user_build(UserSubmission {
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        trigger: Some(ImageStreamTag::new("osbs-busybox", "latest")),
        repo_config_name: ".osbs-repo-config".into(),
        image_name: Some("osbs/app".into()),
    });
    cluster.insert(
        &fake::path("buildconfigs"),
        serde_json::to_value(BuildConfigResource::from_model(&bc, None, None))?,
    );
    Ok(bc)
}

fn insert_build(cluster: &Cluster, bc: &mut BuildConfig) -> anyhow::Result<Build> {
    let build = Build::queued(bc, BuildCause::User, bc.last_user_commit.clone(), now());
    cluster.insert(
        &builds(),
        serde_json::to_value(BuildResource::from_model(&build, None))?,
    );
    Ok(build)
}

fn status_of(cluster: &Cluster, build: &str) -> Value {
    cluster
        .get(&builds(), build)
        .map(|b| b["status"].clone())
        .unwrap_or_default()
}

/// The reasons of the Events posted so far.
fn event_reasons(cluster: &Cluster) -> Vec<String> {
    cluster
        .list(&format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"))
        .iter()
        .filter_map(|e| e["reason"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_build_runs_in_its_pod_and_is_cancelled_through_it() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let mut bc = insert_config(&cluster)?;
    let build = insert_build(&cluster, &mut bc)?;
    let pod = osbs_kube::pod_name(&build.name);
    let mut service = Service::new(fake::client(&server), settings(EngineSettings::default()))?;

    // Round 1: the engine starts it; its Pod carries the lease.
    let report = service.round().await;
    assert_eq!(report.problems, Vec::<String>::new());
    let pass = report.pass.expect("a pass");
    assert_eq!(
        pass.applied,
        [Action::Start {
            build: build.name.clone()
        }]
    );
    let status = status_of(&cluster, &build.name);
    assert_eq!(status["phase"], "Pending");
    let created = cluster.get(&pods(), &pod).expect("pod");
    assert!(
        created["spec"]["containers"][0]["env"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["name"] == "OSBS_LEASE" && e["value"] == status["lease"]),
        "{created}"
    );

    // The Pod runs: the build is Running, and the Event says so.
    cluster.update(&pods(), &pod, |p| p["status"] = json!({"phase": "Running"}));
    let report = service.round().await;
    assert!(
        report
            .effects
            .iter()
            .any(|e| matches!(e, Effect::UpdateBuild { build: b, .. } if *b == build.name))
    );
    assert_eq!(status_of(&cluster, &build.name)["phase"], "Running");
    assert_eq!(event_reasons(&cluster), ["BuildStarted"]);

    // A cancel request deletes the Pod with the grace period for the exit plugins.
    cluster.update(&builds(), &build.name, |b| {
        b["spec"]["cancelRequested"] = json!(true);
    });
    service.round().await;
    let deleting = cluster.get(&pods(), &pod).expect("terminating");
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(deleting["metadata"]["deletionGracePeriodSeconds"], 60);
    // Terminating: nothing more, the build is still Running (its reactor may store).
    let report = service.round().await;
    assert_eq!(report.effects, []);
    assert_eq!(status_of(&cluster, &build.name)["phase"], "Running");

    // Gone without an outcome: Cancelled (not Error), with its Event.
    cluster.remove(&pods(), &pod);
    service.round().await;
    let status = status_of(&cluster, &build.name);
    assert_eq!(status["phase"], "Cancelled");
    assert_eq!(status["reason"], "cancelled by user");
    assert_eq!(event_reasons(&cluster), ["BuildStarted", "BuildCancelled"]);
    Ok(())
}

#[tokio::test]
async fn a_build_pods_import_fans_out_into_an_autorebuild() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let bc = insert_config(&cluster)?;
    // What a build Pod's `import_image` leaves: the new digest and a pending trigger.
    cluster.insert(
        &fake::path("imagestreams"),
        json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-busybox"},
            "spec": {},
            "status": {
                "dockerImageRepository": "registry.osbs.svc:5000/osbs/busybox",
                "tags": {"latest": {"digest": DIGEST_B, "history": [
                    {"digest": DIGEST_B, "build": "busybox-main-00000-1", "time": "2024-05-01T12:00:00.000Z"}
                ]}},
                "pendingTriggers": [{"tag": "latest", "old": DIGEST_A, "new": DIGEST_B,
                                     "chain": ["busybox-main-00000"]}]
            }
        }),
    );
    let mut service = Service::new(fake::client(&server), settings(EngineSettings::default()))?;
    let report = service.round().await;
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.fired.len(), 1);
    let queued = &report.fired[0].1.queued;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].build_config, bc.name);
    assert!(
        matches!(&queued[0].cause, BuildCause::ImageChange { digest, chain, .. }
        if digest == DIGEST_B && chain == &["busybox-main-00000".to_owned()])
    );
    let stream = cluster
        .get(&fake::path("imagestreams"), "osbs-busybox")
        .expect("stream");
    assert!(stream["status"]["pendingTriggers"].is_null());
    // The next round starts it.
    let report = service.round().await;
    assert_eq!(
        report.pass.expect("pass").applied,
        [Action::Start {
            build: queued[0].name.clone()
        }]
    );
    Ok(())
}

#[tokio::test]
async fn the_scheduled_import_reads_with_the_registry_secret_and_fires() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let registry = MockServer::start().await;
    let host = registry.address().to_string();
    let digest = std::sync::Arc::new(std::sync::Mutex::new(DIGEST_A.to_owned()));
    {
        let digest = digest.clone();
        Mock::given(method("HEAD"))
            .and(path("/v2/library/busybox/manifests/latest"))
            .and(header("authorization", "Basic b3NiczpzM2NyM3Q="))
            .respond_with(move |_: &wiremock::Request| {
                ResponseTemplate::new(200)
                    .insert_header(
                        "content-type",
                        "application/vnd.docker.distribution.manifest.v2+json",
                    )
                    .insert_header(
                        "docker-content-digest",
                        digest.lock().expect("lock").as_str(),
                    )
            })
            .with_priority(1)
            .mount(&registry)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v2/library/busybox/tags/list"))
        .and(header("authorization", "Basic b3NiczpzM2NyM3Q="))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"name": "library/busybox", "tags": ["latest"]})),
        )
        .with_priority(1)
        .mount(&registry)
        .await;
    // Without the Secret's credentials the registry answers nothing.
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401).insert_header("www-authenticate", "Basic realm=\"test\""),
        )
        .mount(&registry)
        .await;
    let secret = Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("osbs-registry".into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(
            [(
                ".dockerconfigjson".to_owned(),
                ByteString(
                    json!({"auths": {host.clone(): {"username": "osbs", "password": "s3cr3t"}}})
                        .to_string()
                        .into_bytes(),
                ),
            )]
            .into(),
        ),
        ..Default::default()
    };
    cluster.insert(&fake::core_path("secrets"), serde_json::to_value(&secret)?);
    let bc = insert_config(&cluster)?;
    cluster.insert(
        &fake::path("imagestreams"),
        json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-busybox"},
            "spec": {"dockerImageRepository": format!("{host}/library/busybox")}
        }),
    );
    let mut controller_settings = settings(EngineSettings::default());
    controller_settings.engine.import_interval = Some(Duration::from_millis(1));
    controller_settings.registry_secret = Some("osbs-registry".into());
    let mut service = Service::new(fake::client(&server), controller_settings)?;

    // The first read records the baseline.
    let report = service.round().await;
    assert_eq!(report.problems, Vec::<String>::new());
    let imported = report.imported.expect("the import was due");
    assert!(imported[0].result.as_ref().expect("read").queued.is_empty());
    assert!(cluster.list(&builds()).is_empty());

    // The base image moves: its dependent is rebuilt, and started in the same round.
    *digest.lock().expect("lock") = DIGEST_B.to_owned();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = service.round().await;
    assert_eq!(report.problems, Vec::<String>::new());
    let imported = report.imported.expect("the import was due");
    let queued = &imported[0].result.as_ref().expect("read").queued;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].build_config, bc.name);
    assert_eq!(status_of(&cluster, &queued[0].name)["phase"], "Pending");
    Ok(())
}

#[tokio::test]
async fn a_requested_import_is_read_by_the_controller_and_answered() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let registry = MockServer::start().await;
    let host = registry.address().to_string();
    Mock::given(method("HEAD"))
        .and(path("/v2/library/busybox/manifests/latest"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "content-type",
                    "application/vnd.docker.distribution.manifest.v2+json",
                )
                .insert_header("docker-content-digest", DIGEST_B),
        )
        .mount(&registry)
        .await;
    let bc = insert_config(&cluster)?;
    let streams = fake::path("imagestreams");
    // What `osbs import-image osbs-busybox --tag latest` leaves: a request, no status change.
    cluster.insert(
        &streams,
        json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-busybox", "annotations": {
                "osbs.dev/import-request": r#"{"id":"osbs-busybox/1-a","tag":"latest"}"#
            }},
            "spec": {},
            "status": {
                "dockerImageRepository": format!("{host}/library/busybox"),
                "tags": {"latest": {"digest": DIGEST_A, "history": [
                    {"digest": DIGEST_A, "time": "2024-05-01T12:00:00.000Z"}
                ]}}
            }
        }),
    );
    let mut service = Service::new(fake::client(&server), settings(EngineSettings::default()))?;

    let report = service.round().await;
    assert_eq!(report.problems, Vec::<String>::new());
    let [(stream, done)] = &report.answered[..] else {
        panic!("one answer expected: {:?}", report.answered);
    };
    assert_eq!(stream, "osbs-busybox");
    assert_eq!(done.id, "osbs-busybox/1-a");
    assert_eq!(done.changed, ["latest"]);
    assert_eq!(done.failure, None);
    let [queued] = &done.queued[..] else {
        panic!("one autorebuild expected: {done:?}");
    };
    let build = cluster.get(&builds(), queued).expect("queued build");
    assert_eq!(build["spec"]["buildConfig"], bc.name.as_str());
    assert_eq!(build["spec"]["cause"]["digest"], DIGEST_B);
    let stored = cluster.get(&streams, "osbs-busybox").expect("stream");
    assert_eq!(stored["status"]["tags"]["latest"]["digest"], DIGEST_B);
    let answer: Value = serde_json::from_str(
        stored["metadata"]["annotations"]["osbs.dev/import-done"]
            .as_str()
            .expect("an answer"),
    )?;
    assert_eq!(answer["id"], "osbs-busybox/1-a");

    // Answered: the next round imports nothing; the autorebuild waits in the metrics.
    let report = service.round().await;
    assert!(report.answered.is_empty(), "{:?}", report.answered);
    let metrics = service.metrics().encode();
    for line in [
        "osbs_import_duration_seconds_count{kind=\"requested\"} 1",
        "osbs_builds{phase=\"New\"} 1",
        "osbs_queue_depth 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }

    // A tag the registry lacks: answered with the failure, nothing recorded.
    cluster.update(&streams, "osbs-busybox", |s| {
        s["metadata"]["annotations"]["osbs.dev/import-request"] =
            json!(r#"{"id":"osbs-busybox/2-b","tag":"nope"}"#);
    });
    let report = service.round().await;
    let [(_, done)] = &report.answered[..] else {
        panic!("one answer expected: {:?}", report.answered);
    };
    assert!(
        matches!(&done.failure, Some(ImportFailure::MissingTag { tag, .. }) if tag == "nope"),
        "{done:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_round_raises_the_counter_past_the_numbers_users_took() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let mut bc = insert_config(&cluster)?;
    // A user's `osbs build` created build 7 without moving the counter (still 0).
    bc.build_counter = 6;
    let build = insert_build(&cluster, &mut bc)?;
    assert_eq!(build.number, 7);
    let mut service = Service::new(fake::client(&server), settings(EngineSettings::default()))?;
    let report = service.round().await;
    assert_eq!(report.problems, Vec::<String>::new());
    let stored = cluster
        .get(&fake::path("buildconfigs"), &bc.name)
        .expect("bc");
    assert_eq!(stored["status"]["lastVersion"], 7);
    Ok(())
}
