//! Authentication: a real registry with htpasswd Basic auth (started by the test), and the
//! Bearer token flow against a wiremock registry and token server. Credentials only ever go
//! to their own registry, and errors never contain them.

use base64::Engine as _;
use osbs_core::auth::DockerConfig;
use osbs_registry_sync::{CopyOptions, Error, RegistryClient, copy_image};
use osbs_testkit::push_registry;
use osbs_testkit::registry::TestRegistry;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    Proxy, basic, cli, client, client_with, fast_options, push_image, render, services,
    small_image, unique,
};

fn basic_header(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_registry_accepts_the_right_credentials_and_rejects_wrong_ones() {
    services();
    let registry = TestRegistry::builder()
        .htpasswd("builder", "s3cret-pass")
        .start();
    let name = unique("auth");
    let image = small_image(&name);
    push_image(&client(&push_registry()).repository(&name), "v1", &image).await;

    // A docker config with a credential for the protected registry only.
    let config = DockerConfig::parse(&format!(
        r#"{{"auths": {{"http://{}/v2/": {{"auth": "{}"}}}}}}"#,
        registry.addr,
        base64::engine::general_purpose::STANDARD.encode("builder:s3cret-pass")
    ))
    .unwrap();
    let src_proxy = Proxy::start(&push_registry()).await;
    let src = RegistryClient::new(
        src_proxy.addr.parse().unwrap(),
        Some(&config),
        &fast_options(),
    )
    .unwrap();
    let dst = RegistryClient::new(
        registry.addr.parse().unwrap(),
        Some(&config),
        &fast_options(),
    )
    .unwrap();
    assert!(dst.has_credential() && !src.has_credential());

    let summary = copy_image(
        &src.repository(&name),
        "v1",
        &dst.repository(&name),
        Some("v1"),
        &CopyOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary.images_copied, 1);
    assert_eq!(
        dst.repository(&name).manifest_digest("v1").await.unwrap(),
        Some(image.manifest.digest.clone())
    );
    assert!(
        src_proxy.requests().iter().all(|r| !r.authorization),
        "no credential went to the source registry"
    );

    let wrong = client_with(&registry.addr, Some(basic("builder", "not-the-password")));
    let err = wrong
        .repository(&name)
        .manifest_digest("v1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                sent_credentials: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "registry {} denied access to repository {name} (401 unauthorized): the credentials were rejected",
            registry.addr
        )
    );
    assert!(!format!("{err:?}").contains("not-the-password"));

    let anonymous = client(&registry.addr);
    let err = anonymous
        .repository(&name)
        .manifest("v1")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "registry {} denied access to repository {name} (401 unauthorized): no credentials for this registry in the docker config",
            registry.addr
        )
    );

    // The same through the command line, with an authfile holding the wrong password.
    let authfile = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        authfile.path(),
        format!(
            r#"{{"{}": {{"auth": "{}", "email": "ci@example.com"}}}}"#,
            registry.addr,
            base64::engine::general_purpose::STANDARD.encode("builder:wrong-pass")
        ),
    )
    .unwrap();
    let authfile_arg = authfile.path().display().to_string();
    let source = format!("{}/{name}:v1", push_registry());
    let target = format!("{}/{name}:v2", registry.addr);
    let out = tokio::task::spawn_blocking(move || {
        cli(&[
            "--authfile",
            &authfile_arg,
            "--quiet",
            "copy",
            &source,
            &target,
        ])
    })
    .await
    .unwrap();
    let mut settings = insta::Settings::clone_current();
    for (from, to) in crate::support::filters() {
        settings.add_filter(from, to);
    }
    settings.bind(|| insta::assert_snapshot!("cli_wrong_password", render(&out)));
    assert!(!render(&out).contains("wrong-pass"));
}

/// A wiremock registry whose token server wants `robot:hunter2` and issues `tok-123`.
async fn token_registry(image_bytes: &[u8], digest: &str) -> MockServer {
    let server = MockServer::start().await;
    let challenge = format!(
        r#"Bearer realm="{}/token",service="wiremock-registry""#,
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/token"))
        .and(header(
            "authorization",
            basic_header("robot", "hunter2").as_str(),
        ))
        .and(query_param("service", "wiremock-registry"))
        .and(query_param("scope", "repository:team/app:pull"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"token": "tok-123"})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(401).set_body_string("bad credentials"))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/team/app/manifests/v1"))
        .and(header("authorization", "Bearer tok-123"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .insert_header("docker-content-digest", digest)
                .set_body_bytes(image_bytes.to_vec()),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", challenge.as_str())
                .set_body_json(serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})),
        )
        .with_priority(20)
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow_against_a_token_server() {
    osbs_registry_sync::install_crypto_provider();
    let image = small_image("bearer");
    let server = token_registry(&image.manifest.bytes, &image.manifest.digest).await;
    let addr = server.address().to_string();

    let repo = client_with(&addr, Some(basic("robot", "hunter2"))).repository("team/app");
    let manifest = repo.manifest("v1").await.unwrap();
    assert_eq!(manifest.digest, image.manifest.digest);
    let again = repo.manifest("v1").await.unwrap();
    assert_eq!(again.bytes, manifest.bytes);

    let requests = server.received_requests().await.unwrap();
    let tokens = requests.iter().filter(|r| r.url.path() == "/token").count();
    assert_eq!(tokens, 1, "the token is cached for the repository");
    let token_request = requests.iter().find(|r| r.url.path() == "/token").unwrap();
    assert!(token_request.headers.get("authorization").is_some());
    for request in requests
        .iter()
        .filter(|r| r.url.path().starts_with("/v2/team"))
    {
        let auth = request
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            auth.is_none() || auth.as_deref() == Some("Bearer tok-123"),
            "the registry only ever sees the token, not the password: {auth:?}"
        );
    }

    let wrong = client_with(&addr, Some(basic("robot", "guess"))).repository("team/app");
    let err = wrong.manifest("v1").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                sent_credentials: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("guess"));

    let anonymous = client(&addr).repository("team/app");
    let err = anonymous.manifest("v1").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                sent_credentials: false,
                ..
            }
        ),
        "{err:?}"
    );
}
