//! The controller's imports and registry TLS (SPEC §6): `--registry-ca` names the same
//! ConfigMap (key `ca.crt`) as a kubernetes instance's `registry_ca`, and `--verify-ssl false`
//! is osbs.conf's `verify_ssl = false`. Against a TLS registry made at test time (behind a CA
//! of its own) holding the services' busybox, and osbs-testkit's stateful fake API server.

use std::time::Duration;

use osbs_controller::runtime::{ControllerSettings, Service};
use osbs_engine::EngineSettings;
use osbs_registry_sync::{ClientOptions, CopyOptions, RegistryClient, copy_image};
use osbs_testkit::kube_fake::{self as fake, Cluster};
use osbs_testkit::registry::TestRegistry;
use serde_json::json;

/// `service`'s settings, with the scheduled import due at once and the TLS settings given.
fn settings(registry_ca: Option<&str>, verify_tls: bool) -> ControllerSettings {
    let mut settings = crate::service::settings(EngineSettings::default());
    settings.engine.import_interval = Some(Duration::from_millis(1));
    settings.registry_ca = registry_ca.map(str::to_owned);
    settings.verify_tls = verify_tls;
    settings
}

/// A TLS registry holding the services' busybox as `library/busybox:latest`.
async fn tls_registry_with_busybox() -> anyhow::Result<TestRegistry> {
    osbs_testkit::require_services();
    osbs_registry_sync::install_crypto_provider();
    let registry = TestRegistry::builder().tls().start();
    let source = RegistryClient::new(
        osbs_testkit::push_registry().parse()?,
        None,
        &ClientOptions::default(),
    )?;
    let destination = RegistryClient::new(
        registry.uri().parse()?,
        None,
        &ClientOptions {
            ca_file: registry.ca_file().map(ToOwned::to_owned),
            ..ClientOptions::default()
        },
    )?;
    copy_image(
        &source.repository(osbs_testkit::BASE_IMAGE_REPOSITORY),
        osbs_testkit::BASE_IMAGE_TAG,
        &destination.repository("library/busybox"),
        Some("latest"),
        &CopyOptions::default(),
    )
    .await?;
    Ok(registry)
}

/// A fake cluster with the `osbs-registry-ca` ConfigMap (the registry's CA) and an
/// ImageStream of the registry's busybox.
async fn cluster_for(registry: &TestRegistry) -> anyhow::Result<(wiremock::MockServer, Cluster)> {
    let (server, cluster) = Cluster::start().await;
    let ca = std::fs::read_to_string(registry.ca_file().expect("a TLS registry"))?;
    cluster.insert(
        &fake::core_path("configmaps"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "osbs-registry-ca"}, "data": {"ca.crt": ca}}),
    );
    cluster.insert(
        &fake::path("imagestreams"),
        json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-busybox"},
            "spec": {"dockerImageRepository": format!("{}/library/busybox", tls_host(registry))}
        }),
    );
    Ok((server, cluster))
}

/// The registry's `host:port` as an image name gives it so that it is reached over TLS:
/// `127.0.0.1` would mean plain HTTP (SPEC §6, a loopback host), so its short form `127.1`,
/// which OSBS does not take for loopback but which connects to (and is verified as)
/// `127.0.0.1`, the address the test certificate is made for.
fn tls_host(registry: &TestRegistry) -> String {
    registry.addr.replacen("127.0.0.1", "127.1", 1)
}

/// The digest the scheduled import recorded for `osbs-busybox:latest`, if any.
fn recorded_digest(cluster: &Cluster) -> Option<String> {
    let stream = cluster.get(&fake::path("imagestreams"), "osbs-busybox")?;
    stream["status"]["tags"]["latest"]["digest"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_import_trusts_the_registry_ca_config_map() -> anyhow::Result<()> {
    let registry = tls_registry_with_busybox().await?;

    // Without the CA: the registry is refused, naming registry_ca and verify_ssl.
    let (server, cluster) = cluster_for(&registry).await?;
    let mut service = Service::new(fake::client(&server), settings(None, true))?;
    let report = service.round().await;
    let imported = report.imported.expect("the import was due");
    let error = imported[0]
        .result
        .as_ref()
        .err()
        .map(|e| osbs_engine::error_chain(e))
        .expect("refused without the CA");
    assert!(error.contains("registry_ca"), "{error}");
    assert_eq!(recorded_digest(&cluster), None);

    // With `--registry-ca osbs-registry-ca`: read and recorded.
    let (server, cluster) = cluster_for(&registry).await?;
    let mut service = Service::new(
        fake::client(&server),
        settings(Some("osbs-registry-ca"), true),
    )?;
    let report = service.round().await;
    assert_eq!(report.problems, Vec::<String>::new());
    let imported = report.imported.expect("the import was due");
    assert!(imported[0].result.is_ok(), "{:?}", imported[0].result);
    let digest = recorded_digest(&cluster).expect("a digest recorded");
    assert!(digest.starts_with("sha256:"), "{digest}");

    // With `--verify-ssl false` and no CA: read too.
    let (server, cluster) = cluster_for(&registry).await?;
    let mut service = Service::new(fake::client(&server), settings(None, false))?;
    let report = service.round().await;
    let imported = report.imported.expect("the import was due");
    assert!(imported[0].result.is_ok(), "{:?}", imported[0].result);
    assert_eq!(recorded_digest(&cluster).as_deref(), Some(digest.as_str()));

    // A ConfigMap without the key: the import goes on without it (and is refused).
    let (server, cluster) = cluster_for(&registry).await?;
    cluster.insert(
        &fake::core_path("configmaps"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "osbs-registry-ca"}, "data": {"other": "x"}}),
    );
    let mut service = Service::new(
        fake::client(&server),
        settings(Some("osbs-registry-ca"), true),
    )?;
    let report = service.round().await;
    let imported = report.imported.expect("the import was due");
    assert!(imported[0].result.is_err());
    Ok(())
}
