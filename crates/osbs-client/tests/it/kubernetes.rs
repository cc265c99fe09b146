//! The kubernetes backend against a wiremock API server (no cluster here): get/list, create
//! through the conflict-retried writes, watch with a 410 Gone → re-read, cancel of a queued
//! build, a 403 that names verb and resource with exit code 2, and `import-image` reading the
//! registry with the instance's registry Secret.

use osbs_client::backend::SubmissionFacts;
use osbs_client::backend::{Backend, BuildFilter, BuildSubmission, ClientError};
use osbs_client::config::Instance;
use osbs_client::kubernetes::KubeBackend;
use osbs_core::build::BuildPhase;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
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
    backend_with_secret(server, None)
}

fn backend_with_secret(server: &MockServer, registry_secret: Option<&str>) -> KubeBackend {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(server.uri().parse().expect("uri"));
    config.default_namespace = NS.to_owned();
    let client = kube::Client::try_from(config).expect("client");
    let mut instance = Instance::defaults();
    instance.namespace = NS.to_owned();
    instance.registry_secret = registry_secret.map(str::to_owned);
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
    mount_build_list(
        &server,
        json!([
            build(
                &format!("{BC}-4"),
                "Running",
                "3",
                "2024-05-01T11:00:00.000Z"
            ),
            build(&format!("{BC}-5"), "New", "23", "2024-05-01T12:00:00.000Z")
        ]),
    )
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

/// The ImageStream `osbs-app` of `registry_host/osbs/app`, without tags, with `pending`
/// triggers.
fn image_stream(registry_host: &str, pending: Value) -> Value {
    json!({
        "apiVersion": "osbs.example.dev/v1alpha1", "kind": "ImageStream",
        "metadata": {"name": "osbs-app", "namespace": NS, "resourceVersion": "7"},
        "spec": {},
        "status": {"dockerImageRepository": format!("{registry_host}/osbs/app"), "tags": {},
                   "pendingTriggers": pending}
    })
}

/// The stream `osbs-app` as read in turn: each body answers up to its count of reads (`None`:
/// all the rest), in this order.
async fn mount_stream_reads(server: &MockServer, reads: Vec<(Value, Option<u64>)>) {
    for (priority, (body, times)) in (1u8..).zip(reads) {
        let mock = Mock::given(method("GET"))
            .and(path(api("imagestreams/osbs-app")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .with_priority(priority);
        match times {
            Some(n) => mock.up_to_n_times(n),
            None => mock,
        }
        .mount(server)
        .await;
    }
}

/// Expects the one status write of an import of `osbs-app` that contains `partial`, and
/// stores it.
async fn expect_import_write(server: &MockServer, partial: Value) {
    Mock::given(method("PUT"))
        .and(path(api("imagestreams/osbs-app/status")))
        .and(body_partial_json(partial))
        .respond_with(|request: &wiremock::Request| {
            ResponseTemplate::new(200).set_body_bytes(request.body.clone())
        })
        .expect(1)
        .mount(server)
        .await;
}

/// The builds list `items` as the API server returns it.
async fn mount_build_list(server: &MockServer, items: Value) {
    Mock::given(method("GET"))
        .and(path(api("builds")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.example.dev/v1alpha1", "kind": "BuildList", "metadata": {},
            "items": items})))
        .mount(server)
        .await;
}

/// A registry's answer to a manifest `HEAD` for `digest`.
fn manifest_found(digest: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("Docker-Content-Digest", digest)
        .insert_header(
            "Content-Type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
}

/// A `kubernetes.io/dockerconfigjson` Secret named `name` with `data`.
fn secret(name: &str, data: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": NS}, "data": data
    })
}

#[tokio::test]
async fn import_image_reads_the_registry_with_the_instance_secret() -> anyhow::Result<()> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (api_server, registry) = (MockServer::start().await, MockServer::start().await);
    let registry_host = registry.address().to_string();
    let digest = format!("sha256:{}", "ab".repeat(32));

    // The registry wants Basic auth: it answers the manifest only with the right header.
    let manifest = "/v2/osbs/app/manifests/latest";
    Mock::given(method("HEAD"))
        .and(path(manifest))
        .and(header(
            "authorization",
            format!("Basic {}", b64("builder:s3cret")).as_str(),
        ))
        .respond_with(manifest_found(&digest))
        .with_priority(1)
        .expect(1)
        .mount(&registry)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", r#"Basic realm="test""#),
        )
        .with_priority(10)
        .mount(&registry)
        .await;

    let dockerconfig = format!(
        r#"{{"auths":{{"{registry_host}":{{"auth":"{}"}}}}}}"#,
        b64("builder:s3cret")
    );
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/namespaces/{NS}/secrets/push-creds")))
        .respond_with(ResponseTemplate::new(200).set_body_json(secret(
            "push-creds",
            json!({".dockerconfigjson": b64(&dockerconfig)}),
        )))
        .mount(&api_server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/namespaces/{NS}/secrets/empty")))
        .respond_with(ResponseTemplate::new(200).set_body_json(secret("empty", json!({}))))
        .mount(&api_server)
        .await;
    mount_stream_reads(
        &api_server,
        vec![(image_stream(&registry_host, json!([])), None)],
    )
    .await;
    mount_build_list(&api_server, json!([])).await;
    expect_import_write(
        &api_server,
        json!({"status": {"tags": {"latest": {"digest": digest}}}}),
    )
    .await;

    let (stream, _) = backend_with_secret(&api_server, Some("push-creds"))
        .import_image("osbs-app", Some("latest"))
        .await?;
    assert_eq!(stream.tags["latest"].digest, digest);

    // A Secret without a docker config is a usage error naming it, with nothing imported.
    let err = backend_with_secret(&api_server, Some("empty"))
        .import_image("osbs-app", Some("latest"))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "secret \"empty\" in namespace \"{NS}\" (registry_secret) has no .dockerconfigjson or \
             .dockercfg key"
        )
    );
    // Without the Secret the registry refuses, and the error names it.
    let err = backend(&api_server)
        .import_image("osbs-app", Some("latest"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&registry_host), "{err}");
    assert!(!format!("{err:?}").contains("s3cret"));
    Ok(())
}

/// A registry that serves `osbs/app:latest` with `digest` to anyone.
async fn open_registry(digest: &str) -> MockServer {
    let registry = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path("/v2/osbs/app/manifests/latest"))
        .respond_with(manifest_found(digest))
        .mount(&registry)
        .await;
    registry
}

#[tokio::test]
async fn import_image_reports_the_builds_the_controller_queued() -> anyhow::Result<()> {
    let api_server = MockServer::start().await;
    let digest = format!("sha256:{}", "cd".repeat(32));
    let registry = open_registry(&digest).await;
    let host = registry.address().to_string();
    let pending = json!([{"tag": "latest", "new": digest, "chain": []}]);
    // Before the import (read twice), right after it (the controller has not acted yet),
    // then fanned out.
    mount_stream_reads(
        &api_server,
        vec![
            (image_stream(&host, json!([])), Some(2)),
            (image_stream(&host, pending.clone()), Some(1)),
            (image_stream(&host, json!([])), None),
        ],
    )
    .await;
    expect_import_write(&api_server, json!({"status": {"pendingTriggers": pending}})).await;
    let mut queued = build(&format!("{BC}-6"), "New", "30", "2024-05-01T13:00:00.000Z");
    queued["spec"]["cause"] =
        json!({"type": "ImageChange", "stream": "osbs-app", "tag": "latest", "digest": digest});
    let mut older = build(
        &format!("{BC}-5"),
        "Complete",
        "20",
        "2024-05-01T12:00:00.000Z",
    );
    older["spec"]["cause"] = json!({"type": "ImageChange", "stream": "osbs-app", "tag": "latest",
                                    "digest": format!("sha256:{}", "00".repeat(32))});
    mount_build_list(&api_server, json!([older, queued])).await;

    let (_, triggered) = backend(&api_server)
        .import_image("osbs-app", Some("latest"))
        .await?;
    let names: Vec<&str> = triggered.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, [format!("{BC}-6")]);
    Ok(())
}

#[tokio::test]
async fn import_image_without_a_controller_says_the_import_is_recorded() -> anyhow::Result<()> {
    let api_server = MockServer::start().await;
    let digest = format!("sha256:{}", "ef".repeat(32));
    let registry = open_registry(&digest).await;
    let host = registry.address().to_string();
    let pending = json!([{"tag": "latest", "new": digest, "chain": []}]);
    mount_stream_reads(
        &api_server,
        vec![
            (image_stream(&host, json!([])), Some(2)),
            (image_stream(&host, pending), None),
        ],
    )
    .await;
    expect_import_write(&api_server, json!({})).await;
    let err = backend(&api_server)
        .with_fan_out_wait(std::time::Duration::from_millis(500))
        .import_image("osbs-app", Some("latest"))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert_eq!(
        err.to_string(),
        format!(
            "the import into image stream \"osbs-app\" is recorded, but no osbs-controller turned \
             it into builds within 0.5 s; is one running in namespace \"{NS}\"?"
        )
    );
    Ok(())
}
