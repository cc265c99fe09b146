//! The kubernetes backend against a wiremock API server (no cluster here): get/list, create
//! through the conflict-retried writes, watch with a 410 Gone → re-read, cancel of a queued
//! build, and a 403 that names verb and resource with exit code 2.

use osbs_client::backend::SubmissionFacts;
use osbs_client::backend::{Backend, BuildFilter, BuildSubmission, ClientError};
use osbs_client::config::Instance;
use osbs_client::kubernetes::KubeBackend;
use osbs_core::build::BuildPhase;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NS: &str = "osbs";
const BC: &str = "app-main-86708";

fn api(resource: &str) -> String {
    format!("/apis/osbs.example.dev/v1alpha1/namespaces/{NS}/{resource}")
}

fn build(name: &str, phase: &str, rv: &str, created: &str) -> Value {
    json!({
        "apiVersion": "osbs.example.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": rv,
                     "labels": {"osbs.example.dev/build-config": BC}},
        "spec": {"buildConfig": BC, "number": 1, "cause": {"type": "User"},
                 "gitUrl": "https://git.example.com/ns/app.git", "gitBranch": "main",
                 "commit": "c0ffee", "created": created},
        "status": {"phase": phase}
    })
}

fn build_config(last: i64, rv: &str) -> Value {
    json!({
        "apiVersion": "osbs.example.dev/v1alpha1", "kind": "BuildConfig",
        "metadata": {"name": BC, "namespace": NS, "resourceVersion": rv, "uid": "uid-bc"},
        "spec": {"gitUrl": "https://git.example.com/ns/app.git", "gitBranch": "main", "labels": {}},
        "status": {"lastVersion": last}
    })
}

fn backend(server: &MockServer) -> KubeBackend {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(server.uri().parse().expect("uri"));
    config.default_namespace = NS.to_owned();
    let client = kube::Client::try_from(config).expect("client");
    let mut instance = Instance::defaults();
    instance.namespace = NS.to_owned();
    KubeBackend::new(
        client,
        &instance,
        Box::new(|_| {
            Ok(SubmissionFacts {
                commit: "c0ffee".into(),
                base_image: Some("127.0.0.1:5000/osbs/busybox".parse().expect("ref")),
                image_name: Some("osbs/app".into()),
                warnings: vec![],
            })
        }),
    )
}

#[tokio::test]
async fn list_builds_newest_first() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("builds")))
        .and(query_param(
            "labelSelector",
            format!("osbs.example.dev/build-config={BC}"),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.example.dev/v1alpha1", "kind": "BuildList", "metadata": {},
            "items": [
                build(&format!("{BC}-1"), "Complete", "1", "2024-05-01T12:00:00.000Z"),
                build(&format!("{BC}-2"), "Running", "2", "2024-05-01T13:00:00.000Z"),
            ]
        })))
        .mount(&server)
        .await;
    let builds = backend(&server)
        .list_builds(&BuildFilter {
            build_config: Some(BC.into()),
            running: false,
        })
        .await?;
    let names: Vec<_> = builds.iter().map(|b| (b.name.as_str(), b.phase)).collect();
    assert_eq!(
        names,
        [
            (format!("{BC}-2").as_str(), BuildPhase::Running),
            (format!("{BC}-1").as_str(), BuildPhase::Complete)
        ]
    );
    Ok(())
}

#[tokio::test]
async fn watch_survives_410_gone_by_reading_the_build_again() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    let name = format!("{BC}-1");
    let one = api(&format!("builds/{name}"));
    Mock::given(method("GET"))
        .and(path(one.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(build(
            &name,
            "Pending",
            "10",
            "2024-05-01T12:00:00.000Z",
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // The re-read after 410: the build runs now.
    Mock::given(method("GET"))
        .and(path(one.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(build(
            &name,
            "Running",
            "50",
            "2024-05-01T12:00:00.000Z",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "too old resource version: 10 (40)", "reason": "Expired", "code": 410}});
    Mock::given(method("GET"))
        .and(path(api("builds")))
        .and(query_param("watch", "true"))
        .and(query_param("resourceVersion", "10"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!("{gone}\n")))
        .expect(1)
        .mount(&server)
        .await;
    let done = json!({"type": "MODIFIED", "object": build(&name, "Complete", "51", "2024-05-01T12:00:00.000Z")});
    Mock::given(method("GET"))
        .and(path(api("builds")))
        .and(query_param("watch", "true"))
        .and(query_param("resourceVersion", "50"))
        .and(query_param(
            "fieldSelector",
            format!("metadata.name={name}"),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!("{done}\n")))
        .expect(1)
        .mount(&server)
        .await;
    let mut phases = Vec::new();
    let finished = backend(&server)
        .watch_build(&name, &mut |b| phases.push(b.phase))
        .await?;
    assert_eq!(finished.phase, BuildPhase::Complete);
    assert_eq!(
        phases,
        [
            BuildPhase::Pending,
            BuildPhase::Running,
            BuildPhase::Complete
        ]
    );
    Ok(())
}

#[tokio::test]
async fn forbidden_is_a_usage_error_naming_verb_and_resource() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "builds.osbs.example.dev \"x\" is forbidden", "reason": "Forbidden", "code": 403
        })))
        .mount(&server)
        .await;
    let err = backend(&server).get_build("x").await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(matches!(err, ClientError::Usage(_)));
    insta::assert_snapshot!(err.to_string(), @r#"forbidden: cannot get builds.osbs.example.dev in namespace osbs (grant the RBAC verb `get` on `builds.osbs.example.dev` to this identity): builds.osbs.example.dev "x" is forbidden"#);
    Ok(())
}

#[tokio::test]
async fn cancel_of_a_queued_build_is_immediate() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    let name = format!("{BC}-2");
    Mock::given(method("GET"))
        .and(path(api(&format!("builds/{name}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(build(
            &name,
            "New",
            "5",
            "2024-05-01T12:00:00.000Z",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(api(&format!("builds/{name}/status"))))
        .and(body_partial_json(
            json!({"status": {"phase": "Cancelled", "reason": "cancelled by user"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(build(
            &name,
            "Cancelled",
            "6",
            "2024-05-01T12:00:00.000Z",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let build = backend(&server).cancel_build(&name).await?;
    assert_eq!(build.phase, BuildPhase::Cancelled);
    Ok(())
}

#[tokio::test]
async fn create_build_records_the_user_build_and_queues_it() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(api("buildconfigs")))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "exists", "reason": "AlreadyExists", "code": 409})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api(&format!("buildconfigs/{BC}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(build_config(4, "20")))
        .mount(&server)
        .await;
    // SPEC §3 step 4: trigger on the base's stream, the commit, is_autorebuild=false.
    Mock::given(method("PUT"))
        .and(path(api(&format!("buildconfigs/{BC}"))))
        .and(body_partial_json(json!({"spec": {
            "lastUserCommit": "c0ffee", "imageName": "osbs/app",
            "trigger": {"stream": "osbs-busybox", "tag": "latest"},
            "labels": {"is_autorebuild": "false"},
            "registryUri": "http://127.0.0.1:5000"
        }})))
        .respond_with(ResponseTemplate::new(200).set_body_json(build_config(4, "21")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(api("imagestreams")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "apiVersion": "osbs.example.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-busybox", "namespace": NS}, "spec": {}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(api(&format!("buildconfigs/{BC}/status"))))
        .and(body_partial_json(json!({"status": {"lastVersion": 5}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(build_config(5, "22")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(api("builds")))
        .and(body_partial_json(
            json!({"metadata": {"name": format!("{BC}-5")}, "spec": {"commit": "c0ffee"}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(build(
            &format!("{BC}-5"),
            "New",
            "23",
            "2024-05-01T12:00:00.000Z",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("builds")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.example.dev/v1alpha1", "kind": "BuildList", "metadata": {},
            "items": [build(&format!("{BC}-4"), "Running", "3", "2024-05-01T11:00:00.000Z"),
                      build(&format!("{BC}-5"), "New", "23", "2024-05-01T12:00:00.000Z")]
        })))
        .mount(&server)
        .await;
    let submitted = backend(&server)
        .create_build(&BuildSubmission {
            git_url: "https://git.example.com/ns/app.git".into(),
            git_branch: "main".into(),
            git_commit: None,
            component: None,
        })
        .await?;
    assert_eq!(submitted.build.name, format!("{BC}-5"));
    assert_eq!(
        submitted.queued_behind.as_deref(),
        Some(format!("{BC}-4").as_str())
    );
    Ok(())
}
