//! `KubeHost`, the reactor's host in a build Pod, against wiremock: it is called synchronously
//! (as the reactor does) while the API server runs on another runtime.

use osbs_core::build::{BuildOutcome, BuildPhase, BuildResults};
use osbs_kube_pod::KubeHost;
use osbs_reactor::BuildHost;
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use osbs_testkit::kube_fake::{self as fake, NS};

#[test]
fn host_reads_the_request_marks_running_and_stores_results() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let server = runtime.block_on(MockServer::start());
    let bc = "app-main-1a2b3";
    let name = "app-main-1a2b3-1";
    let build_path = format!("{}/{name}", fake::path("builds"));
    runtime.block_on(async {
        Mock::given(method("GET"))
            .and(path(build_path.clone()))
            .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Pending", "7")))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(build_path.clone()))
            .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Running", "8")))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("{build_path}/status")))
            .and(body_partial_json(json!({"status": {"phase": "Running"}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Running", "8")))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{}/{bc}", fake::path("buildconfigs"))))
            .respond_with(ResponseTemplate::new(200).set_body_json(fake::build_config(bc, 1, "3")))
            .mount(&server)
            .await;
        // Results first (annotations, each under 64 KiB), then the phase.
        Mock::given(method("PATCH"))
            .and(path(build_path.clone()))
            .and(body_partial_json(json!({"metadata": {"annotations": {
                "osbs.example.dev/release": "\"7\"",
                "osbs.example.dev/image-id": "\"sha256:abc\""
            }}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Running", "9")))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("{build_path}/status")))
            .and(body_partial_json(json!({"metadata": {"resourceVersion": "9"}, "status": {"phase": "Complete", "release": "7"}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Complete", "10")))
            .expect(1)
            .mount(&server)
            .await;
    });
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_secret_path("/nonexistent/.dockerconfigjson");
    let request = host.build_request().map_err(|e| anyhow::anyhow!(e))?;
    assert_eq!(request.build_name, name);
    assert_eq!(request.registry_uri, "registry.osbs.svc:5000");
    assert_eq!(request.image_name.as_deref(), Some("osbs/app"));
    assert_eq!(
        request.registry_secret, None,
        "the secret is not mounted here"
    );
    assert_eq!(
        request.sync_target,
        Some(osbs_core::build::SyncTarget {
            name: "stage".to_owned(),
            registry_uri: "http://stage.osbs.svc:5000".to_owned(),
            registry_secret: None,
        }),
        "the sync target comes from the BuildConfig; its secret is not mounted here"
    );
    assert!(!host.cancel_requested());
    host.store_results(&BuildOutcome {
        phase: BuildPhase::Complete,
        error: None,
        reason: None,
        results: BuildResults {
            release: Some("7".into()),
            image_id: Some("sha256:abc".into()),
            ..BuildResults::default()
        },
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    drop(host);
    runtime.block_on(server.verify());
    Ok(())
}
