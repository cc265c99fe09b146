//! The kubernetes backend's submission checks, before any API call (the mock server answers
//! nothing, so a call would fail the test): a git URL with a password is refused without
//! calling the resolver (a BuildConfig there is readable by the namespace and the build Pod
//! could not get the password), and an image name the reactor would refuse is a usage error.
//! Then, against the stateful fake, what a submission writes for several registries and a CA,
//! and for build secrets (a bad one is refused before any call).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use osbs_client::backend::{Backend as _, BuildSubmission, SubmissionFacts};
use osbs_client::config::Instance;
use osbs_client::kubernetes::KubeBackend;
use osbs_testkit::kube_fake::{self as fake, Cluster};
use wiremock::MockServer;

/// A client of the wiremock `server`, in namespace `osbs`.
fn mock_client(server: &MockServer) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(server.uri().parse().expect("uri"));
    config.default_namespace = "osbs".to_owned();
    kube::Client::try_from(config).expect("client")
}

/// What the resolver finds for a repository whose image is `image_name`.
fn facts(image_name: &str) -> SubmissionFacts {
    SubmissionFacts {
        commit: "c0ffee".into(),
        base_image: None,
        image_name: Some(image_name.to_owned()),
        warnings: vec![],
    }
}

/// A backend whose resolver answers `image_name` and counts its calls.
fn backend(server: &MockServer, image_name: &str, calls: Arc<AtomicUsize>) -> KubeBackend {
    let mut instance = Instance::defaults();
    instance.namespace = Some("osbs".to_owned());
    let image_name = image_name.to_owned();
    KubeBackend::new(
        mock_client(server),
        &instance,
        Box::new(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(facts(&image_name))
        }),
    )
}

/// A backend of `instance` on the stateful fake behind `server`, whose resolver finds the
/// image `osbs/app`.
fn app_backend(server: &MockServer, instance: &Instance) -> KubeBackend {
    let _ = rustls::crypto::ring::default_provider().install_default();
    KubeBackend::new(
        fake::client(server),
        instance,
        Box::new(|_| Ok(facts("osbs/app"))),
    )
}

/// The `[default]` instance of an osbs.conf holding `text`.
fn load_conf(text: &str) -> anyhow::Result<Instance> {
    let dir = tempfile::tempdir()?;
    let conf = dir.path().join("osbs.conf");
    std::fs::write(&conf, text)?;
    Ok(osbs_client::config::load(Some(&conf), "default")?)
}

/// The build Pod the controller's executor (with `settings`) renders for `build`.
async fn build_pod(
    server: &MockServer,
    cluster: &Cluster,
    settings: osbs_kube::PodSettings,
    build: &str,
) -> anyhow::Result<serde_json::Value> {
    let executor = osbs_kube::KubeExecutor::new(
        osbs_kube::OsbsApi::new(fake::client(server), fake::NS),
        settings,
        600_000,
    );
    executor.create_pod(build, Some("lease-1")).await?;
    Ok(cluster
        .get(&fake::core_path("pods"), &osbs_kube::pod_name(build))
        .expect("the build Pod"))
}

/// Asserts that `server` was sent no request.
async fn assert_no_requests(server: &MockServer) {
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
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
    assert_no_requests(&server).await;
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
    assert_no_requests(&server).await;
}

/// osbs.conf with two registries (Secrets by position), a CA ConfigMap and `verify_ssl =
/// false` on the kubernetes backend: the submission writes them into the BuildConfig, and the
/// build Pod the controller's executor renders from it mounts the second registry's Secret and
/// the CA for the reactor (against osbs-testkit's stateful fake API server).
#[tokio::test]
async fn two_registries_and_a_ca_reach_the_build_config_and_the_build_pod() -> anyhow::Result<()> {
    let instance = load_conf(
        "[default]\nbackend = kubernetes\nnamespace = osbs\n\
         registry_uri = registry.osbs.svc:5000, https://mirror.example:8443\n\
         registry_secret = push-secret, mirror-push\n\
         registry_ca = osbs-registry-ca\nverify_ssl = false\n",
    )?;
    let (server, cluster) = Cluster::start().await;
    let submitted = app_backend(&server, &instance)
        .create_build(&submission("https://git.example.com/ns/app.git"))
        .await?;
    let config = cluster
        .get(&fake::path("buildconfigs"), &submitted.build.build_config)
        .expect("the BuildConfig");
    let spec = &config["spec"];
    assert_eq!(spec["registryUri"], "https://registry.osbs.svc:5000");
    assert_eq!(spec["registrySecret"], "push-secret");
    assert_eq!(
        spec["extraRegistries"],
        serde_json::json!([{"registryUri": "https://mirror.example:8443", "registrySecret": "mirror-push"}])
    );
    assert_eq!(spec["skipTlsVerify"], true);
    assert_eq!(spec["registryCa"], "osbs-registry-ca");

    // What the controller's executor makes of it.
    let pod = build_pod(
        &server,
        &cluster,
        osbs_kube::PodSettings::default(),
        &submitted.build.name,
    )
    .await?;
    let volumes: Vec<(String, String)> = pod["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| {
            let source = v["secret"]["secretName"]
                .as_str()
                .or_else(|| v["configMap"]["name"].as_str())?;
            Some((v["name"].as_str()?.to_owned(), source.to_owned()))
        })
        .collect();
    assert_eq!(
        volumes,
        [
            (
                "registry-ca-engine".to_owned(),
                "osbs-registry-ca".to_owned()
            ),
            ("registry-secret".to_owned(), "push-secret".to_owned()),
            ("registry-secret-1".to_owned(), "mirror-push".to_owned()),
            ("registry-ca".to_owned(), "osbs-registry-ca".to_owned()),
        ]
    );
    // The Docker Engine sidecar: the CA for both registries (their hosts, without scheme),
    // and both taken as insecure.
    let engine_ca: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter(|v| v["name"] == "registry-ca-engine")
        .flat_map(|v| v["configMap"]["items"].as_array().into_iter().flatten())
        .filter_map(|item| item["path"].as_str())
        .collect();
    assert_eq!(
        engine_ca,
        [
            "registry.osbs.svc:5000/ca.crt",
            "mirror.example:8443/ca.crt"
        ]
    );
    let args = pod["spec"]["initContainers"][0]["args"].to_string();
    assert!(
        args.contains("--insecure-registry=mirror.example:8443"),
        "{args}"
    );
    Ok(())
}

/// osbs.conf's `build_secrets` on the kubernetes backend names Secrets: the submission writes
/// the ids and names (never contents) into the BuildConfig, and the build Pod the controller's
/// executor renders from it mounts each Secret's key for the reactor and lists the ids.
#[tokio::test]
async fn build_secrets_reach_the_build_config_and_the_build_pod() -> anyhow::Result<()> {
    let instance = load_conf(
        "[default]\nbackend = kubernetes\nnamespace = osbs\n\
         build_secrets = npmrc=osbs-npmrc, pip.conf=osbs.pip-conf\n",
    )?;
    let (server, cluster) = Cluster::start().await;
    let submitted = app_backend(&server, &instance)
        .create_build(&submission("https://git.example.com/ns/app.git"))
        .await?;
    let config = cluster
        .get(&fake::path("buildconfigs"), &submitted.build.build_config)
        .expect("the BuildConfig");
    assert_eq!(
        config["spec"]["buildSecrets"],
        serde_json::json!([
            {"id": "npmrc", "secret": "osbs-npmrc"},
            {"id": "pip.conf", "secret": "osbs.pip-conf"}
        ])
    );

    let pod = build_pod(
        &server,
        &cluster,
        osbs_kube::PodSettings {
            // The controller's --allowed-build-secrets.
            allowed_build_secrets: vec!["osbs-npmrc".into(), "osbs.pip-conf".into()],
            ..osbs_kube::PodSettings::default()
        },
        &submitted.build.name,
    )
    .await?;
    let secrets: Vec<(&str, &str)> = pod["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| {
            let source = &v["secret"];
            Some((
                source["secretName"].as_str()?,
                source["items"][0]["key"].as_str()?,
            ))
        })
        .collect();
    assert_eq!(
        secrets,
        [("osbs-npmrc", "npmrc"), ("osbs.pip-conf", "pip.conf")]
    );
    let reactor = &pod["spec"]["containers"][0];
    let ids: Vec<&serde_json::Value> = reactor["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter(|e| e["name"] == osbs_kube::pod::BUILD_SECRETS_ENV)
        .map(|e| &e["value"])
        .collect();
    assert_eq!(ids, [&serde_json::json!("npmrc,pip.conf")]);

    // Removed from osbs.conf: the next submission takes them off the BuildConfig.
    let mut without = instance.clone();
    without.build_secrets.clear();
    app_backend(&server, &without)
        .create_build(&submission("https://git.example.com/ns/app.git"))
        .await?;
    let config = cluster
        .get(&fake::path("buildconfigs"), &submitted.build.build_config)
        .expect("the BuildConfig");
    assert!(
        config["spec"].get("buildSecrets").is_none(),
        "{}",
        config["spec"]
    );
    Ok(())
}

/// An instance made without osbs.conf's loader (which names the line) is held to the same
/// rule: a build secret no Pod could mount is a usage error before any API call.
#[tokio::test]
async fn a_build_secret_naming_no_possible_secret_is_refused_before_any_call() {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut instance = Instance::defaults();
    instance
        .build_secrets
        .insert("npmrc".to_owned(), "Osbs_Npmrc".to_owned());
    let counted = Arc::clone(&calls);
    let backend = KubeBackend::new(
        mock_client(&server),
        &instance,
        Box::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Err(osbs_client::backend::ClientError::Usage("not asked".into()))
        }),
    );
    let err = backend
        .create_build(&submission("https://git.example.com/ns/app.git"))
        .await
        .expect_err("refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert_eq!(
        err.to_string(),
        "build_secrets: build secret \"npmrc\" names Secret \"Osbs_Npmrc\", which is not a \
         DNS-1123 subdomain"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the resolver was not asked"
    );
    assert_no_requests(&server).await;
}
