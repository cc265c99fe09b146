//! Build variants in the build Pod: the variant written into the Build's spec at submission is
//! what `KubeHost` hands the reactor in its `BuildRequest`, and the host's import honours it (a
//! scratch build records nothing, an isolated one records without pending triggers), against
//! osbs-testkit's stateful fake API server.

use std::collections::BTreeMap;

use osbs_core::build::ImageImport;
use osbs_core::variant::BuildVariant;
use osbs_kube_pod::KubeHost;
use osbs_reactor::BuildHost;
use serde_json::json;

use osbs_testkit::kube_fake::{self as fake, Cluster, NS};

const DIGEST: &str = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

/// A `Pending` Build of `app-main-1a2b3` whose spec carries `variant` (as the client writes
/// it), in a fresh fake cluster, and a host for it.
async fn host_for(
    variant: serde_json::Value,
) -> anyhow::Result<(wiremock::MockServer, Cluster, KubeHost)> {
    let (server, cluster) = Cluster::start().await;
    let name = "app-main-1a2b3-1";
    let bc = "app-main-1a2b3";
    cluster.insert(&fake::path("buildconfigs"), fake::build_config(bc, 1, "1"));
    let mut build = fake::build(name, bc, "Pending", "1");
    build["spec"]["variant"] = variant;
    cluster.insert(&fake::path("builds"), build);
    let host = KubeHost::with_config(fake::config(&server), NS, name, "fallback:5000")?
        .with_secret_path("/nonexistent/.dockerconfigjson");
    Ok((server, cluster, host))
}

fn import() -> ImageImport {
    ImageImport {
        image_stream: "osbs-app".into(),
        docker_image_repository: "registry.osbs.svc:5000/osbs/app".into(),
        tags: vec![("1-1.1".into(), DIGEST.into())],
    }
}

#[tokio::test]
async fn the_variant_reaches_the_request_and_the_isolated_import_fires_nothing()
-> anyhow::Result<()> {
    let (_server, cluster, host) = host_for(json!({
        "isolated": true, "release": "1.1", "tags": ["hotfix"],
        "buildArgs": {"BASE": "registry.example.com/base:2"}
    }))
    .await?;
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    assert_eq!(
        request.variant,
        BuildVariant {
            isolated: true,
            release: Some("1.1".into()),
            tags: vec!["hotfix".into()],
            build_args: BTreeMap::from([("BASE".into(), "registry.example.com/base:2".into())]),
            ..BuildVariant::default()
        }
    );
    host.import_image(&import())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let stream = cluster
        .get(&fake::path("imagestreams"), "osbs-app")
        .expect("recorded");
    assert_eq!(stream["status"]["tags"]["1-1.1"]["digest"], DIGEST);
    assert!(stream["status"]["pendingTriggers"].is_null(), "{stream}");
    Ok(())
}

#[tokio::test]
async fn a_scratch_builds_import_records_nothing() -> anyhow::Result<()> {
    let (_server, cluster, host) = host_for(json!({"scratch": true})).await?;
    let request = host.build_request().await.map_err(|e| anyhow::anyhow!(e))?;
    assert!(request.variant.scratch);
    host.import_image(&import())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    assert!(
        cluster
            .get(&fake::path("imagestreams"), "osbs-app")
            .is_none()
    );
    Ok(())
}
