//! The kubernetes backend against a wiremock API server (no cluster here): get/list, create
//! through the conflict-retried writes, watch with a 410 Gone → re-read, cancel of a queued
//! build, a 403 that names verb and resource with exit code 2, and `import-image` asking the
//! controller. None of them writes a status subresource (the `osbs-user` Role grants none).

use osbs_client::backend::SubmissionFacts;
use osbs_client::backend::{Backend, BuildFilter, BuildSubmission, ClientError};
use osbs_client::config::Instance;
use osbs_client::kubernetes::KubeBackend;
use osbs_core::build::BuildPhase;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NS: &str = "osbs";
const BC: &str = "app-main-86708";

fn api(resource: &str) -> String {
    format!("/apis/osbs.dev/v1alpha1/namespaces/{NS}/{resource}")
}

fn build(name: &str, phase: &str, rv: &str, created: &str) -> Value {
    json!({
        "apiVersion": "osbs.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": rv,
                     "labels": {"osbs.dev/build-config": BC}},
        "spec": {"buildConfig": BC, "number": 1, "cause": {"type": "User"},
                 "gitUrl": "https://git.example.com/ns/app.git", "gitBranch": "main",
                 "commit": "c0ffee", "created": created},
        "status": {"phase": phase}
    })
}

fn build_config(last: i64, rv: &str) -> Value {
    json!({
        "apiVersion": "osbs.dev/v1alpha1", "kind": "BuildConfig",
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
    instance.namespace = Some(NS.to_owned());
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
            format!("osbs.dev/build-config={BC}"),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "BuildList", "metadata": {},
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
            "message": "builds.osbs.dev \"x\" is forbidden", "reason": "Forbidden", "code": 403
        })))
        .mount(&server)
        .await;
    let err = backend(&server).get_build("x").await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(matches!(err, ClientError::Usage(_)));
    insta::assert_snapshot!(err.to_string(), @r#"forbidden: cannot get builds.osbs.dev in namespace osbs (grant the RBAC verb `get` on `builds.osbs.dev` to this identity): builds.osbs.dev "x" is forbidden"#);
    Ok(())
}

/// Refuses every write of a status subresource: users may write none.
async fn refuse_status_writes(server: &MockServer) {
    Mock::given(path_regex(r"/status$"))
        .respond_with(ResponseTemplate::new(403))
        .expect(0)
        .with_priority(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn cancel_of_a_queued_build_is_requested_and_carried_out_by_the_controller()
-> anyhow::Result<()> {
    let server = MockServer::start().await;
    refuse_status_writes(&server).await;
    let name = format!("{BC}-2");
    let queued = build(&name, "New", "5", "2024-05-01T12:00:00.000Z");
    // Read once before the request; the controller has cancelled it by the next read.
    Mock::given(method("GET"))
        .and(path(api(&format!("builds/{name}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(&queued))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let mut cancelled = build(&name, "Cancelled", "7", "2024-05-01T12:00:00.000Z");
    cancelled["status"]["reason"] = json!("cancelled by user");
    Mock::given(method("GET"))
        .and(path(api(&format!("builds/{name}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(cancelled))
        .with_priority(3)
        .mount(&server)
        .await;
    let mut requested = queued.clone();
    requested["spec"]["cancelRequested"] = json!(true);
    Mock::given(method("PATCH"))
        .and(path(api(&format!("builds/{name}"))))
        .and(body_partial_json(
            json!({"spec": {"cancelRequested": true}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(requested))
        .expect(1)
        .mount(&server)
        .await;
    let build = backend(&server).cancel_build(&name).await?;
    assert_eq!(build.phase, BuildPhase::Cancelled);
    Ok(())
}

#[tokio::test]
async fn cancel_of_a_queued_build_without_a_controller_stays_requested() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    refuse_status_writes(&server).await;
    let name = format!("{BC}-2");
    let queued = build(&name, "New", "5", "2024-05-01T12:00:00.000Z");
    Mock::given(method("GET"))
        .and(path(api(&format!("builds/{name}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(&queued))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(api(&format!("builds/{name}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(&queued))
        .expect(1)
        .mount(&server)
        .await;
    let build = backend(&server)
        .with_controller_wait(std::time::Duration::from_millis(300))
        .cancel_build(&name)
        .await?;
    assert_eq!(build.phase, BuildPhase::New);
    Ok(())
}

#[tokio::test]
async fn create_build_records_the_user_build_and_queues_it() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    // The counter (in the status) stays 4: the user's Build takes the number after it and
    // after every Build's number, and the controller raises the counter later.
    refuse_status_writes(&server).await;
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
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-busybox", "namespace": NS}, "spec": {}})))
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
            variant: Default::default(),
        })
        .await?;
    assert_eq!(submitted.build.name, format!("{BC}-5"));
    assert_eq!(
        submitted.queued_behind.as_deref(),
        Some(format!("{BC}-4").as_str())
    );
    Ok(())
}

/// The ImageStream `osbs-app` of `registry.example.com/osbs/app` with `annotations`.
fn image_stream(annotations: Value) -> Value {
    json!({
        "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
        "metadata": {"name": "osbs-app", "namespace": NS, "resourceVersion": "7",
                     "annotations": annotations},
        "spec": {},
        "status": {"dockerImageRepository": "registry.example.com/osbs/app",
                   "tags": {"latest": {"digest": format!("sha256:{}", "cd".repeat(32)),
                                       "history": []}}}
    })
}

/// The builds list `items` as the API server returns it.
async fn mount_build_list(server: &MockServer, items: Value) {
    Mock::given(method("GET"))
        .and(path(api("builds")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "BuildList", "metadata": {},
            "items": items})))
        .mount(server)
        .await;
}

/// What the fake controller answers to the request with the id given.
type Answer = fn(&str) -> Value;

/// A fake controller for `osbs-app`: it takes the import request the client patches in and,
/// from the next read on, serves the stream with `answer` (given the request's id) in the
/// import-done annotation; `None` plays no controller at all. Returns the request it saw.
async fn mount_controller(
    server: &MockServer,
    answer: Option<Answer>,
) -> std::sync::Arc<std::sync::Mutex<Option<Value>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None::<Value>));
    let recorded = seen.clone();
    Mock::given(method("PATCH"))
        .and(path(api("imagestreams/osbs-app")))
        .respond_with(move |request: &wiremock::Request| {
            let patch: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let text = patch["metadata"]["annotations"]["osbs.dev/import-request"]
                .as_str()
                .unwrap_or_default();
            let parsed: Value = serde_json::from_str(text).unwrap_or_default();
            *recorded.lock().expect("lock") = Some(parsed);
            ResponseTemplate::new(200).set_body_json(image_stream(json!({})))
        })
        .expect(1)
        .mount(server)
        .await;
    let requests = seen.clone();
    Mock::given(method("GET"))
        .and(path(api("imagestreams/osbs-app")))
        .respond_with(move |_: &wiremock::Request| {
            let request = requests.lock().expect("lock").clone();
            let annotations = match (request, answer) {
                (Some(request), Some(answer)) => {
                    let id = request["id"].as_str().unwrap_or_default().to_owned();
                    json!({
                        "osbs.dev/import-request": request.to_string(),
                        "osbs.dev/import-done": answer(&id).to_string(),
                    })
                }
                (Some(request), None) => json!({"osbs.dev/import-request": request.to_string()}),
                (None, _) => json!({}),
            };
            ResponseTemplate::new(200).set_body_json(image_stream(annotations))
        })
        .mount(server)
        .await;
    seen
}

#[tokio::test]
async fn import_image_asks_the_controller_and_reports_what_it_queued() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    refuse_status_writes(&server).await;
    let seen = mount_controller(
        &server,
        Some(|id| json!({"id": id, "changed": ["latest"], "queued": [format!("{BC}-6")]})),
    )
    .await;
    let mut queued = build(&format!("{BC}-6"), "New", "30", "2024-05-01T13:00:00.000Z");
    queued["spec"]["cause"] = json!({"type": "ImageChange", "stream": "osbs-app",
                                     "tag": "latest", "digest": format!("sha256:{}", "cd".repeat(32))});
    let older = build(
        &format!("{BC}-5"),
        "Complete",
        "20",
        "2024-05-01T12:00:00.000Z",
    );
    mount_build_list(&server, json!([older, queued])).await;

    let (stream, triggered) = backend(&server)
        .import_image("osbs-app", Some("latest"))
        .await?;
    let request = seen.lock().expect("lock").clone().expect("a request");
    assert_eq!(request["tag"], "latest");
    assert!(
        request["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("osbs-app/"))
    );
    assert_eq!(
        stream.tags["latest"].digest,
        format!("sha256:{}", "cd".repeat(32))
    );
    let names: Vec<&str> = triggered.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, [format!("{BC}-6")]);
    Ok(())
}

#[tokio::test]
async fn import_image_failures_keep_their_exit_codes() -> anyhow::Result<()> {
    let cases: [(Answer, u8, &str); 3] = [
        (
            |id| {
                json!({"id": id, "failure": {"kind": "missingTag",
                        "image": "registry.example.com/osbs/app", "tag": "latest"}})
            },
            2,
            "registry.example.com/osbs/app:latest",
        ),
        (
            |id| {
                json!({"id": id, "failure": {"kind": "unreachable",
                        "registry": "registry.example.com",
                        "message": "registry registry.example.com is unreachable: connection refused"}})
            },
            3,
            "registry.example.com",
        ),
        (
            |id| {
                json!({"id": id, "failure": {"kind": "invalid",
                        "message": "image stream osbs-app does not know its image repository yet; build it first"}})
            },
            2,
            "does not know its image repository",
        ),
    ];
    for (answer, code, text) in cases {
        let server = MockServer::start().await;
        mount_controller(&server, Some(answer)).await;
        let err = backend(&server)
            .import_image("osbs-app", Some("latest"))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), code, "{err}");
        assert!(err.to_string().contains(text), "{err}");
    }
    Ok(())
}

#[tokio::test]
async fn import_image_without_a_controller_says_the_import_is_requested() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    mount_controller(&server, None).await;
    let err = backend(&server)
        .with_controller_wait(std::time::Duration::from_millis(500))
        .import_image("osbs-app", Some("latest"))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert_eq!(
        err.to_string(),
        format!(
            "the import into image stream \"osbs-app\" is requested, but no osbs-controller \
             carried it out within 0.5 s; is one running in namespace \"{NS}\"?"
        )
    );
    Ok(())
}

/// `build-logs --timestamps` on Kubernetes: the Pod log is asked for with the kubelet's
/// timestamps, which come back split from the lines (nanoseconds kept to milliseconds).
#[tokio::test]
async fn build_logs_carry_the_kubelet_timestamps() -> anyhow::Result<()> {
    use osbs_client::backend::LogEvent;
    let server = MockServer::start().await;
    let name = format!("{BC}-1");
    Mock::given(method("GET"))
        .and(path(api(&format!("builds/{name}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(build(
            &name,
            "Complete",
            "3",
            "2024-05-01T12:00:00.000Z",
        )))
        .mount(&server)
        .await;
    let pod = osbs_kube::pod_name(&name);
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/namespaces/{NS}/pods/{pod}/log")))
        .and(query_param("container", "reactor"))
        .and(query_param("timestamps", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "2024-05-01T12:00:01.123456789Z running plugin fetch_source\n\
             2024-05-01T12:00:02.5Z running plugin docker_api\n",
        ))
        .mount(&server)
        .await;
    let backend = backend(&server);
    let mut seen = Vec::new();
    backend
        .build_logs_timed(&name, false, &mut |event, time| {
            if let LogEvent::Line(line) = event {
                seen.push((time.map(|t| t.to_string()), line));
            }
        })
        .await?;
    assert_eq!(
        seen,
        [
            (
                Some("2024-05-01T12:00:01.123Z".to_owned()),
                "running plugin fetch_source".to_owned()
            ),
            (
                Some("2024-05-01T12:00:02.500Z".to_owned()),
                "running plugin docker_api".to_owned()
            ),
        ]
    );
    // Without times asked for, the same lines.
    let mut plain = Vec::new();
    backend
        .build_logs(&name, false, &mut |event| {
            if let LogEvent::Line(line) = event {
                plain.push(line);
            }
        })
        .await?;
    assert_eq!(
        plain,
        ["running plugin fetch_source", "running plugin docker_api"]
    );
    Ok(())
}
