//! `KubeHost`, the reactor's host in a build Pod, against wiremock: it is awaited (as the
//! reactor does) on the one-thread test runtime that also serves the fake API, so a host call
//! that blocked its thread would hang the test. Its writes, and `check_lease`, are fenced by
//! the run's lease (against osbs-testkit's stateful fake).

use osbs_core::build::{BuildOutcome, BuildPhase, BuildResults, ImageImport};
use osbs_kube_pod::{CANCEL_POLL, KubeHost};
use osbs_reactor::BuildHost;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use osbs_testkit::kube_fake::{self as fake, Cluster, NS};

#[tokio::test]
async fn host_reads_the_request_marks_running_and_stores_results() -> anyhow::Result<()> {
    let server = MockServer::start().await;
    let bc = "app-main-1a2b3";
    let name = "app-main-1a2b3-1";
    let build_path = format!("{}/{name}", fake::path("builds"));
    {
        Mock::given(method("GET"))
            .and(path(build_path.clone()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Pending", "7")),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(build_path.clone()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Running", "8")),
            )
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("{build_path}/status")))
            .and(body_partial_json(json!({"status": {"phase": "Running"}})))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Running", "8")),
            )
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
                "osbs.dev/release": "\"7\"",
                "osbs.dev/image-id": "\"sha256:abc\""
            }}})))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(fake::build(name, bc, "Running", "9")),
            )
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
    }
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_secret_path("/nonexistent/.dockerconfigjson");
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
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
    assert!(!host.cancel_requested().await);
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
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    drop(host);
    server.verify().await;
    Ok(())
}

/// A `Pending` Build of `app-main-1a2b3` whose run holds `lease`, in a fresh fake cluster.
async fn cluster_with_run(name: &str, lease: &str) -> (MockServer, Cluster) {
    let (server, cluster) = Cluster::start().await;
    let bc = "app-main-1a2b3";
    cluster.insert(&fake::path("buildconfigs"), fake::build_config(bc, 1, "1"));
    let mut build = fake::build(name, bc, "Pending", "1");
    build["status"]["lease"] = json!(lease);
    cluster.insert(&fake::path("builds"), build);
    (server, cluster)
}

fn outcome(phase: BuildPhase) -> BuildOutcome {
    BuildOutcome {
        phase,
        error: None,
        reason: None,
        results: BuildResults {
            release: Some("7".into()),
            ..BuildResults::default()
        },
    }
}

#[tokio::test]
async fn a_run_that_lost_its_lease_writes_nothing_more() -> anyhow::Result<()> {
    let name = "app-main-1a2b3-1";
    let (server, cluster) = cluster_with_run(name, "lease-1").await;
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_secret_path("/nonexistent/.dockerconfigjson")
        .with_lease(Some("lease-1".to_owned()));

    // While the run holds its lease, its writes go through.
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    assert_eq!(request.build_name, name);
    let build = cluster.get(&fake::path("builds"), name).expect("build");
    assert_eq!(build["status"]["phase"], "Running");
    assert_eq!(
        build["status"]["lease"], "lease-1",
        "kept by the run's writes"
    );
    host.check_lease().await.map_err(|e| anyhow::anyhow!(e))?;
    assert!(!host.cancel_requested().await, "the run holds its lease");
    host.set_build_config_label("is_autorebuild", "true")
        .await
        .map_err(|e| anyhow::anyhow!(e))?;

    // The engine declares the run dead: the build ends Error and the lease is gone.
    cluster.update(&fake::path("builds"), name, |b| {
        b["status"]["phase"] = json!("Error");
        b["status"]["error"] = json!("build runner gone: test");
        b["status"]["lease"] = Value::Null;
    });
    let writes = cluster.writes().len();
    let refused = host.check_lease().await.expect_err("the lease is gone");
    assert_eq!(
        refused.to_string(),
        "build app-main-1a2b3-1 lost its run lease (the run was declared dead); the write is refused"
    );
    assert!(
        host.set_build_config_label("is_autorebuild", "false")
            .await
            .is_err()
    );
    let import = ImageImport {
        image_stream: "osbs-app".into(),
        docker_image_repository: "registry.osbs.svc:5000/osbs/app".into(),
        tags: vec![("latest".into(), format!("sha256:{}", "c".repeat(64)))],
    };
    assert!(host.import_image(&import).await.is_err());
    assert!(
        host.store_results(&outcome(BuildPhase::Complete))
            .await
            .is_err()
    );
    assert_eq!(cluster.writes().len(), writes, "{:?}", cluster.writes());
    let build = cluster.get(&fake::path("builds"), name).expect("build");
    assert_eq!(build["status"]["phase"], "Error");
    assert!(
        cluster
            .get(&fake::path("imagestreams"), "osbs-app")
            .is_none()
    );
    let config = cluster
        .get(&fake::path("buildconfigs"), "app-main-1a2b3")
        .expect("bc");
    assert_eq!(config["spec"]["labels"]["is_autorebuild"], "true");

    // The run is told to stop: its next read of the Build (at most one every CANCEL_POLL)
    // sees the lease gone.
    let deadline = tokio::time::Instant::now() + CANCEL_POLL * 3;
    while !host.cancel_requested().await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(host.cancel_requested().await);
    Ok(())
}

#[tokio::test]
async fn a_pod_without_a_lease_is_not_fenced() -> anyhow::Result<()> {
    let name = "app-main-1a2b3-1";
    let (server, cluster) = cluster_with_run(name, "someone-elses").await;
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_secret_path("/nonexistent/.dockerconfigjson")
        .with_lease(None);
    host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    host.check_lease().await.map_err(|e| anyhow::anyhow!(e))?;
    assert!(
        !host.cancel_requested().await,
        "not fenced, so no lost lease"
    );
    host.store_results(&outcome(BuildPhase::Complete))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let build = cluster.get(&fake::path("builds"), name).expect("build");
    assert_eq!(build["status"]["phase"], "Complete");
    assert_eq!(
        build["metadata"]["annotations"]["osbs.dev/release"],
        "\"7\""
    );
    Ok(())
}

#[tokio::test]
async fn the_further_registries_and_registry_tls_reach_the_request() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let (bc, name) = ("app-main-1a2b3", "app-main-1a2b3-1");
    let mut config = fake::build_config(bc, 1, "1");
    config["spec"]["extraRegistries"] = json!([
        {"registryUri": "mirror.example:5000", "registrySecret": "mirror-push"},
        {"registryUri": "https://backup.example"}
    ]);
    config["spec"]["skipTlsVerify"] = json!(true);
    config["spec"]["registryCa"] = json!("osbs-registry-ca");
    cluster.insert(&fake::path("buildconfigs"), config);
    cluster.insert(&fake::path("builds"), fake::build(name, bc, "Pending", "1"));
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_secret_path("/nonexistent/.dockerconfigjson");
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    // Outside a Pod no Secret is mounted, so none is passed on (as for registry_secret).
    assert_eq!(
        request.extra_registries,
        [
            osbs_core::build::ExtraRegistry {
                registry_uri: "mirror.example:5000".to_owned(),
                registry_secret: None,
            },
            osbs_core::build::ExtraRegistry {
                registry_uri: "https://backup.example".to_owned(),
                registry_secret: None,
            },
        ]
    );
    assert!(request.skip_tls_verify);
    assert_eq!(
        request.registry_ca.as_deref(),
        Some(osbs_kube::REGISTRY_CA_MOUNT)
    );
    assert_eq!(
        osbs_kube::extra_registry_secret_mount(0),
        "/var/run/secrets/osbs/registry-1/.dockerconfigjson"
    );

    // A BuildConfig without them: one registry, verification on, no CA.
    let (server, _cluster) = cluster_with_run(name, "lease-1").await;
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_secret_path("/nonexistent/.dockerconfigjson")
        .with_lease(Some("lease-1".to_owned()));
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    assert!(request.extra_registries.is_empty());
    assert!(!request.skip_tls_verify);
    assert_eq!(request.registry_ca, None);
    Ok(())
}

/// Build secrets: the ids the rendered Pod lists in `$OSBS_BUILD_SECRETS` (what
/// `osbs-reactor-pod` passes to `with_build_secrets`) become the request's `build_secrets`,
/// each the file the Pod mounts for it; the request holds paths, never contents.
#[tokio::test]
async fn the_pod_s_build_secrets_reach_the_request_as_mounted_files() -> anyhow::Result<()> {
    let name = "app-main-1a2b3-1";
    let secrets = [
        ("npmrc".to_owned(), "osbs-npmrc".to_owned()),
        ("pip.conf".to_owned(), "osbs.pip-conf".to_owned()),
    ];
    let pod = osbs_kube::render_pod(
        name,
        "app-main-1a2b3",
        None,
        osbs_kube::PodSecrets {
            build: &secrets,
            ..osbs_kube::PodSecrets::default()
        },
        Some("lease-1"),
        &osbs_kube::PodSettings::default(),
    );
    let reactor = &pod.spec.as_ref().expect("a spec").containers[0];
    let listed = reactor
        .env
        .iter()
        .flatten()
        .find(|e| e.name == osbs_kube::pod::BUILD_SECRETS_ENV)
        .and_then(|e| e.value.clone())
        .expect("the ids in the reactor's environment");
    let mounts: Vec<&str> = reactor
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();

    let (server, _cluster) = cluster_with_run(name, "lease-1").await;
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_lease(Some("lease-1".to_owned()))
        .with_build_secrets(osbs_kube::pod::build_secret_ids(&listed));
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    let want = std::collections::BTreeMap::from([
        (
            "npmrc".to_owned(),
            "/var/run/secrets/osbs/build/npmrc/npmrc".to_owned(),
        ),
        (
            "pip.conf".to_owned(),
            "/var/run/secrets/osbs/build/pip.conf/pip.conf".to_owned(),
        ),
    ]);
    assert_eq!(request.build_secrets, want);
    for path in request.build_secrets.values() {
        assert!(
            mounts.iter().any(|m| path.starts_with(&format!("{m}/"))),
            "{path} is under a mount of the reactor: {mounts:?}"
        );
    }

    // Without the variable there are none; an id that is no build secret id is ignored, so no
    // path leaves the build secrets' directory.
    assert!(osbs_kube::pod::build_secret_ids("").is_empty());
    assert_eq!(
        osbs_kube::pod::build_secret_ids("npmrc,,../etc,/abs,token"),
        ["npmrc", "token"]
    );
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_lease(Some("lease-1".to_owned()));
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    assert!(request.build_secrets.is_empty());
    Ok(())
}
