//! `OsbsApi` against wiremock: conflict-retried updates, the build-number race, imports that
//! record pending triggers, a 403 that names the verb and the resource, and the Events of
//! Build phase changes.

use osbs_core::build::{BuildPhase, ImageImport};
use osbs_core::model::{Build, BuildCause};
use osbs_core::time::Timestamp;
use osbs_kube::{KubeError, OsbsApi};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use osbs_testkit::kube_fake::{self as fake, NS};

#[tokio::test]
async fn update_build_rereads_and_retries_after_a_conflict() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    let name = "app-main-1a2b3-1";
    Mock::given(method("GET"))
        .and(path(format!("{}/{name}", fake::path("builds"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(
            name,
            "app-main-1a2b3",
            "Pending",
            "7",
        )))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{}/{name}/status", fake::path("builds"))))
        .respond_with(ResponseTemplate::new(409).set_body_json(fake::status(
            409,
            "Conflict",
            "the object has been modified",
        )))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{}/{name}/status", fake::path("builds"))))
        .and(body_partial_json(
            json!({"metadata": {"resourceVersion": "7"}, "status": {"phase": "Running"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(
            name,
            "app-main-1a2b3",
            "Running",
            "8",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let api = OsbsApi::new(fake::client(&server), NS);
    let build = api
        .update_build(name, |b| b.mark_running(Timestamp::from_unix_millis(1)))
        .await?;
    assert_eq!(build.phase, BuildPhase::Running);
    Ok(())
}

#[tokio::test]
async fn update_build_gives_up_after_persistent_conflicts() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    let name = "app-main-1a2b3-1";
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(
            name,
            "app-main-1a2b3",
            "Pending",
            "7",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(fake::status(409, "Conflict", "modified")),
        )
        .expect(osbs_kube::CONFLICT_RETRIES as u64)
        .mount(&server)
        .await;
    let api = OsbsApi::new(fake::client(&server), NS);
    let err = api
        .update_build(name, |b| b.mark_running(Timestamp::from_unix_millis(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, KubeError::Conflict { attempts: 8, .. }),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn forbidden_names_the_verb_and_the_resource() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(fake::path("builds")))
        .respond_with(ResponseTemplate::new(403).set_body_json(fake::status(
            403,
            "Forbidden",
            "builds.osbs.dev is forbidden: User \"alice\" cannot list resource \"builds\"",
        )))
        .mount(&server)
        .await;
    let api = OsbsApi::new(fake::client(&server), NS);
    let err = api.list_builds(None).await.unwrap_err();
    insta::assert_snapshot!(err.to_string());
    Ok(())
}

#[tokio::test]
async fn queue_build_takes_the_next_number_again_when_the_name_is_taken() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    let bc = "app-main-1a2b3";
    Mock::given(method("GET"))
        .and(path(format!("{}/{bc}", fake::path("buildconfigs"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(fake::build_config(bc, 1, "3")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{}/{bc}", fake::path("buildconfigs"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(fake::build_config(bc, 2, "5")))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{}/{bc}/status", fake::path("buildconfigs"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(fake::build_config(bc, 2, "4")))
        .expect(2)
        .mount(&server)
        .await;
    // Another writer created build 2 between our read and our create.
    Mock::given(method("POST"))
        .and(path(fake::path("builds")))
        .and(body_partial_json(
            json!({"metadata": {"name": format!("{bc}-2")}}),
        ))
        .respond_with(ResponseTemplate::new(409).set_body_json(fake::status(
            409,
            "AlreadyExists",
            "exists",
        )))
        .expect(1)
        .mount(&server)
        .await;
    // After the taken name, the numbers in use are read.
    let mut taken = fake::build(&format!("{bc}-2"), bc, "New", "4");
    taken["spec"]["number"] = json!(2);
    Mock::given(method("GET"))
        .and(path(fake::path("builds")))
        .and(query_param(
            "labelSelector",
            format!("osbs.dev/build-config={bc}"),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [taken], "metadata": {}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(fake::path("builds")))
        .and(body_partial_json(json!({
            "metadata": {
                "name": format!("{bc}-3"),
                "labels": {"osbs.dev/build-config": bc},
                "ownerReferences": [{"kind": "BuildConfig", "name": bc, "controller": true}]
            },
            "spec": {"number": 3, "cause": {"type": "User"}}
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(fake::build(
            &format!("{bc}-3"),
            bc,
            "New",
            "9",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let api = OsbsApi::new(fake::client(&server), NS);
    let build = api
        .queue_build(bc, |config| {
            Build::queued(config, BuildCause::User, None, Timestamp::UNIX_EPOCH)
        })
        .await?;
    assert_eq!(build.name, format!("{bc}-3"));
    Ok(())
}

#[tokio::test]
async fn import_creates_the_stream_and_records_pending_triggers() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    let stream_path = format!("{}/osbs-app", fake::path("imagestreams"));
    Mock::given(method("GET"))
        .and(path(stream_path.clone()))
        .respond_with(ResponseTemplate::new(404).set_body_json(fake::status(
            404,
            "NotFound",
            "not found",
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(fake::path("imagestreams")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-app", "namespace": NS, "resourceVersion": "1"},
            "spec": {"dockerImageRepository": "registry:5000/osbs/app"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(stream_path.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-app", "namespace": NS, "resourceVersion": "2"},
            "spec": {"dockerImageRepository": "registry:5000/osbs/app"}
        })))
        .mount(&server)
        .await;
    let digest = format!("sha256:{}", "b".repeat(64));
    Mock::given(method("PUT"))
        .and(path(format!("{stream_path}/status")))
        .and(body_partial_json(json!({
            "metadata": {"resourceVersion": "2"},
            "status": {
                "tags": {"latest": {"digest": digest}},
                "pendingTriggers": [{"tag": "latest", "new": digest, "chain": ["app-main-1a2b3"]}]
            }
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-app", "namespace": NS, "resourceVersion": "3"},
            "spec": {}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let api = OsbsApi::new(fake::client(&server), NS);
    let by: Build = serde_json::from_value(json!({
        "name": "app-main-1a2b3-1", "build_config": "app-main-1a2b3", "number": 1,
        "phase": "Running", "is_autorebuild": false, "cause": {"type": "User"},
        "git_url": "u", "git_branch": "main", "created": "2024-05-01T12:00:00.000Z"
    }))?;
    let imported = api
        .import(
            &ImageImport {
                image_stream: "osbs-app".into(),
                docker_image_repository: "registry:5000/osbs/app".into(),
                tags: vec![("latest".into(), digest.clone())],
            },
            Some(&by),
            Timestamp::UNIX_EPOCH,
        )
        .await?;
    assert_eq!(imported.changes.len(), 1);
    Ok(())
}

/// Answers the reads and writes of `update_build(name, …)`: the Build is read as `read` and
/// stored as `stored`.
async fn mount_update(server: &MockServer, name: &str, read: Value, stored: Value) {
    let build = format!("{}/{name}", fake::path("builds"));
    for (verb, at, body) in [
        ("GET", build.clone(), read.clone()),
        ("PATCH", build.clone(), read),
        ("PUT", format!("{build}/status"), stored),
    ] {
        Mock::given(method(verb))
            .and(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn a_phase_change_records_one_event_and_a_refused_event_fails_nothing() -> anyhow::Result<()>
{
    let server = MockServer::start().await;
    let name = "app-main-1a2b3-1";
    let config = "app-main-1a2b3";
    let mut failed = fake::build(name, config, "Failed", "8");
    failed["status"]["error"] = json!("Error in plugin docker_api: exit 1");
    mount_update(
        &server,
        name,
        fake::build(name, config, "Running", "7"),
        failed.clone(),
    )
    .await;
    let events = format!("/apis/events.k8s.io/v1/namespaces/{NS}/events");
    Mock::given(method("POST"))
        .and(path(events.as_str()))
        .and(body_partial_json(json!({
            "type": "Warning", "reason": "BuildFailed", "action": "UpdatePhase",
            "reportingController": "osbs-reactor", "reportingInstance": "pod-1",
            "regarding": {"kind": "Build", "name": name, "namespace": NS,
                          "apiVersion": "osbs.dev/v1alpha1", "uid": format!("uid-{name}")}
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": NS}, "eventTime": "2024-05-01T12:00:00.000000Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let api = OsbsApi::new(fake::client(&server), NS)
        .reporting_events_as("osbs-reactor", Some("pod-1".to_owned()));
    let fail = |b: &mut Build| {
        b.phase = BuildPhase::Failed;
        b.error = Some("Error in plugin docker_api: exit 1".to_owned());
        true
    };
    let build = api.update_build(name, fail).await?;
    assert_eq!(build.phase, BuildPhase::Failed);
    let received = server.received_requests().await.unwrap_or_default();
    let event = received
        .iter()
        .find(|r| r.url.path() == events)
        .expect("an Event was posted");
    let event: Value = serde_json::from_slice(&event.body)?;
    assert_eq!(
        event["note"],
        "Build app-main-1a2b3-1 failed: Error in plugin docker_api: exit 1"
    );
    server.verify().await;

    // A change that keeps the phase (a results refresh) records none.
    server.reset().await;
    let mut refreshed = failed.clone();
    refreshed["status"]["release"] = json!("2");
    mount_update(&server, name, failed, refreshed).await;
    Mock::given(method("POST"))
        .and(path(events.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    let refresh = |b: &mut Build| {
        b.release = Some("2".to_owned());
        true
    };
    api.update_build(name, refresh).await?;
    server.verify().await;

    // Without the right to write Events the update still succeeds.
    server.reset().await;
    mount_update(
        &server,
        name,
        fake::build(name, config, "Running", "7"),
        fake::build(name, config, "Complete", "8"),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(events.as_str()))
        .respond_with(ResponseTemplate::new(403).set_body_json(fake::status(
            403,
            "Forbidden",
            "events.events.k8s.io is forbidden",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let complete = |b: &mut Build| {
        b.phase = BuildPhase::Complete;
        true
    };
    assert_eq!(
        api.update_build(name, complete).await?.phase,
        BuildPhase::Complete
    );
    Ok(())
}

#[tokio::test]
async fn the_registry_ca_config_map_gives_its_ca_crt_or_names_what_is_wrong() -> anyhow::Result<()>
{
    let (server, cluster) = fake::Cluster::start().await;
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let config_map = |name: &str, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data});
    let configmaps = fake::core_path("configmaps");
    cluster.insert(&configmaps, config_map("good", json!({"ca.crt": pem})));
    cluster.insert(&configmaps, config_map("no-key", json!({"ca.pem": pem})));
    cluster.insert(
        &configmaps,
        config_map("not-pem", json!({"ca.crt": "hello"})),
    );
    let api = OsbsApi::new(fake::client(&server), NS);
    assert_eq!(api.registry_ca("good").await?, pem);
    for (name, problem) in [
        ("no-key", "no key ca.crt"),
        ("not-pem", "key ca.crt holds no PEM certificate"),
    ] {
        let err = api.registry_ca(name).await.expect_err(name);
        assert!(matches!(err, KubeError::Invalid { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("configmap {name:?}")) && text.contains(problem),
            "{text}"
        );
    }
    let err = api.registry_ca("missing").await.expect_err("missing");
    assert!(matches!(err, KubeError::NotFound { .. }), "{err:?}");
    Ok(())
}
