//! Faults injected with a wiremock source registry (the destination is the real sync
//! registry): 500/503 then success is retried and succeeds; a corrupt blob is detected and the
//! image is not pushed; a persistent failure ends with a clear error and a non-zero exit; 403
//! and 404 name the registry, the repository and the tag or digest.

use osbs_registry_sync::{CopyOptions, Error, copy_image, sha256_digest};
use osbs_testkit::sync_registry;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TestImage, cli, client, render, services, small_image, unique};

const REPO: &str = "fault/app";

/// Serves `image` as `fault/app:v1`; `layer_body` replaces the layer's bytes when given.
async fn serve_image(server: &MockServer, image: &TestImage, layer_body: Option<Vec<u8>>) {
    let manifest = &image.manifest;
    for verb in ["GET", "HEAD"] {
        Mock::given(method(verb))
            .and(path(format!("/v2/{REPO}/manifests/v1")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", manifest.media_type.as_str())
                    .insert_header("docker-content-digest", manifest.digest.as_str())
                    .set_body_bytes(manifest.bytes.to_vec()),
            )
            .with_priority(5)
            .mount(server)
            .await;
    }
    for (i, blob) in image.blobs.iter().enumerate() {
        let body = match (&layer_body, i) {
            (Some(body), 1) => body.clone(),
            _ => blob.to_vec(),
        };
        Mock::given(method("GET"))
            .and(path(format!("/v2/{REPO}/blobs/{}", sha256_digest(blob))))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
            .with_priority(5)
            .mount(server)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_they_succeed() {
    services();
    let server = MockServer::start().await;
    let image = small_image(&unique("retry"));
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/manifests/v1")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    let layer = sha256_digest(&image.blobs[1]);
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{layer}")))
        .respond_with(ResponseTemplate::new(500).set_body_string("storage hiccup"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    serve_image(&server, &image, None).await;

    let name = unique("retried");
    let src = client(&server.address().to_string()).repository(REPO);
    let dst = client(&sync_registry()).repository(&name);
    let summary = copy_image(&src, "v1", &dst, Some("v1"), &CopyOptions::default())
        .await
        .unwrap();

    assert_eq!(summary.images_copied, 1);
    assert_eq!(
        dst.manifest_digest("v1").await.unwrap(),
        Some(image.manifest.digest.clone())
    );
    let requests = server.received_requests().await.unwrap();
    let count = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
    assert_eq!(
        count(&format!("/v2/{REPO}/manifests/v1")),
        3,
        "two 503s, then 200"
    );
    assert_eq!(
        count(&format!("/v2/{REPO}/blobs/{layer}")),
        2,
        "one 500, then 200"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_blob_is_detected_and_the_image_is_not_pushed() {
    services();
    let server = MockServer::start().await;
    let image = small_image(&unique("corrupt"));
    let mut corrupted = image.blobs[1].to_vec();
    corrupted[600] ^= 0xff;
    serve_image(&server, &image, Some(corrupted.clone())).await;

    let name = unique("corrupt");
    let src = client(&server.address().to_string()).repository(REPO);
    let dst = client(&sync_registry()).repository(&name);
    let err = copy_image(&src, "v1", &dst, Some("v1"), &CopyOptions::default())
        .await
        .unwrap_err();

    let layer = sha256_digest(&image.blobs[1]);
    match &err {
        Error::BlobCorrupt {
            digest, problem, ..
        } => {
            assert_eq!(digest, &layer);
            assert!(problem.contains(&sha256_digest(&corrupted)), "{problem}");
        }
        other => panic!("expected a corrupt blob, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&format!(
        "blob {layer} from repository {REPO} at registry {} is corrupt: its bytes hash to sha256:",
        server.address()
    )));
    assert_eq!(dst.manifest_digest("v1").await.unwrap(), None);
    assert!(!dst.blob_exists(&layer).await.unwrap(), "nothing committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failure_ends_with_an_error_and_a_non_zero_exit() {
    services();
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(503).set_body_json(serde_json::json!(
            {"errors": [{"code": "UNAVAILABLE", "message": "service unavailable"}]}
        )))
        .mount(&server)
        .await;
    let source = format!("{}/{REPO}:v1", server.address());
    let target = format!("{}/{}:v1", sync_registry(), unique("never"));

    let out = tokio::task::spawn_blocking(move || {
        cli(&["--retries", "2", "--quiet", "copy", &source, &target])
    })
    .await
    .unwrap();

    assert_eq!(out.status.code(), Some(1));
    let manifest_requests = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == format!("/v2/{REPO}/manifests/v1"))
        .count();
    assert_eq!(manifest_requests, 3, "the first try and two retries");
    let mut settings = insta::Settings::clone_current();
    for (from, to) in crate::support::filters() {
        settings.add_filter(from, to);
    }
    settings.bind(|| insta::assert_snapshot!("cli_persistent_503", render(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_and_missing_content_are_named_precisely() {
    services();
    let server = MockServer::start().await;
    let image = small_image(&unique("missing-blob"));
    let layer = sha256_digest(&image.blobs[1]);
    Mock::given(method("GET"))
        .and(path(format!("/v2/{REPO}/blobs/{layer}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!(
            {"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]}
        )))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/locked/app/manifests/v1"))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!(
            {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}
        )))
        .mount(&server)
        .await;
    serve_image(&server, &image, None).await;
    let registry = client(&server.address().to_string());
    let dst = client(&sync_registry()).repository(&unique("missing-blob"));

    let err = copy_image(
        &registry.repository(REPO),
        "v1",
        &dst,
        Some("v1"),
        &CopyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "blob {layer} not found in repository {REPO} at registry {} (404)",
            server.address()
        )
    );
    assert_eq!(dst.manifest_digest("v1").await.unwrap(), None);

    let err = registry
        .repository("locked/app")
        .manifest("v1")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "registry {} forbids GET manifest v1 in repository locked/app (403 forbidden)",
            server.address()
        )
    );
}
