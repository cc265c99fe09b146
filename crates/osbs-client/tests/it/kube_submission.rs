//! The kubernetes backend's submission checks, before any API call (the mock server answers
//! nothing, so a call would fail the test): a git URL with a password is refused without
//! calling the resolver (a BuildConfig there is readable by the namespace and the build Pod
//! could not get the password), and an image name the reactor would refuse is a usage error.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use osbs_client::backend::{Backend as _, BuildSubmission, SubmissionFacts};
use osbs_client::config::Instance;
use osbs_client::kubernetes::KubeBackend;
use wiremock::MockServer;

/// A backend whose resolver answers `image_name` and counts its calls.
fn backend(server: &MockServer, image_name: &str, calls: Arc<AtomicUsize>) -> KubeBackend {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(server.uri().parse().expect("uri"));
    config.default_namespace = "osbs".to_owned();
    let client = kube::Client::try_from(config).expect("client");
    let mut instance = Instance::defaults();
    instance.namespace = Some("osbs".to_owned());
    let image_name = image_name.to_owned();
    KubeBackend::new(
        client,
        &instance,
        Box::new(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(SubmissionFacts {
                commit: "c0ffee".into(),
                base_image: None,
                image_name: Some(image_name.clone()),
                warnings: vec![],
            })
        }),
    )
}

fn submission(url: &str) -> BuildSubmission {
    BuildSubmission {
        git_url: url.to_owned(),
        git_branch: "main".to_owned(),
        git_commit: None,
        component: None,
        variant: Default::default(),
    }
}

#[tokio::test]
async fn a_password_in_the_git_url_is_refused_before_anything_is_read() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let backend = backend(&server, "osbs/app", Arc::clone(&calls));
    for url in [
        "https://builder:Hunter2Secret@git.example.com/ns/app.git",
        "https://builder:***@git.example.com/ns/app.git",
    ] {
        let err = backend
            .create_build(&submission(url))
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2, "{text}");
        assert!(!text.contains("Hunter2Secret"), "{text}");
        assert!(
            text.contains("https://builder:***@git.example.com/ns/app.git"),
            "{text}"
        );
        assert!(text.contains("stores no git passwords"), "{text}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the resolver was not asked"
    );
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn an_image_name_the_reactor_would_refuse_is_a_usage_error() {
    let server = MockServer::start().await;
    let long = format!("osbs/{}", "a".repeat(300));
    for (name, why) in [
        ("osbs/App", "must be lowercase"),
        (long.as_str(), "305 characters long"),
        ("osbs/app:1.0", "without tag or digest"),
    ] {
        let calls = Arc::new(AtomicUsize::new(0));
        let backend = backend(&server, name, Arc::clone(&calls));
        let err = backend
            .create_build(&submission("https://git.example.com/ns/app.git"))
            .await
            .expect_err("refused");
        assert_eq!(err.exit_code(), 2, "{name}: {err}");
        assert!(err.to_string().contains(why), "{name}: {err}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}
