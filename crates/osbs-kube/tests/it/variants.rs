//! Build variants on Kubernetes: the variant is written once into the Build's spec (and the
//! build arguments into the BuildConfig's) and read back unchanged, and `KubeStore` applies
//! `osbs_core::variant::import_policy` to a build's import: a scratch build records nothing,
//! an isolated one records without firing triggers, a regular one fires (against
//! osbs-testkit's stateful fake API server).

use std::collections::BTreeMap;

use osbs_core::build::ImageImport;
use osbs_core::model::{Build, BuildCause};
use osbs_core::time::Timestamp;
use osbs_core::variant::BuildVariant;
use osbs_engine::Store as _;
use osbs_kube::{BuildConfigResource, BuildResource, KubeStore, OsbsApi};
use osbs_testkit::kube_fake::{self as fake, Cluster, NS};
use serde_json::json;

use crate::engine::{config_triggered_by as config, now};

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const DIGEST_C: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn isolated() -> BuildVariant {
    BuildVariant {
        isolated: true,
        release: Some("1.1".into()),
        tags: vec!["hotfix".into()],
        build_args: BTreeMap::from([("BASE".into(), "registry.example.com/base:2".into())]),
        ..BuildVariant::default()
    }
}

#[test]
fn the_variant_and_build_args_round_trip_through_the_resources() -> anyhow::Result<()> {
    let mut bc = config("app", "osbs-base");
    bc.build_args = BTreeMap::from([("BASE".into(), "registry.example.com/base:2".into())]);
    let resource = BuildConfigResource::from_model(&bc, None, None);
    assert_eq!(
        serde_json::to_value(&resource)?["spec"]["buildArgs"],
        json!({"BASE": "registry.example.com/base:2"})
    );
    assert_eq!(resource.to_model(), bc);

    // A build of it carries its build args; one of a BuildConfig without any has no variant.
    let mut build = Build::queued(&mut bc, BuildCause::User, None, Timestamp::UNIX_EPOCH);
    assert_eq!(build.variant.build_args, bc.build_args);
    let mut plain = config("plain", "osbs-base");
    let regular = Build::queued(&mut plain, BuildCause::User, None, Timestamp::UNIX_EPOCH);
    let regular = serde_json::to_value(BuildResource::from_model(&regular, None))?;
    assert!(
        regular["spec"].get("variant").is_none(),
        "a regular build's spec has no variant: {regular}"
    );
    build.variant = isolated();
    let resource = BuildResource::from_model(&build, None);
    assert_eq!(
        serde_json::to_value(&resource)?["spec"]["variant"],
        json!({
            "isolated": true, "release": "1.1", "tags": ["hotfix"],
            "buildArgs": {"BASE": "registry.example.com/base:2"}
        })
    );
    assert_eq!(resource.to_model()?.variant, isolated());
    Ok(())
}

/// An import of `osbs-base:latest` at `digest` by `by`.
fn import(digest: &str) -> ImageImport {
    ImageImport {
        image_stream: "osbs-base".into(),
        docker_image_repository: "registry.example.com/osbs/base".into(),
        tags: vec![("latest".into(), digest.into())],
    }
}

#[tokio::test]
async fn the_store_honours_scratch_and_isolated_on_import() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let store = KubeStore::new(OsbsApi::new(fake::client(&server), NS), now());
    let app = config("app", "osbs-base");
    cluster.insert(
        &fake::path("buildconfigs"),
        serde_json::to_value(BuildConfigResource::from_model(&app, None, None))?,
    );
    let mut base = config("base", "osbs-busybox");
    let mut by = |variant: BuildVariant| {
        let mut build = Build::queued(&mut base, BuildCause::User, None, now());
        build.variant = variant;
        build
    };
    let err = |e: osbs_engine::StoreError| anyhow::anyhow!(e);
    let digest_of = |cluster: &Cluster| {
        cluster
            .get(&fake::path("imagestreams"), "osbs-base")
            .map(|s| s["status"]["tags"]["latest"]["digest"].clone())
    };

    // The base as a regular build pushed it first: a baseline.
    store
        .import(&import(DIGEST_A), None, false, now())
        .await
        .map_err(err)?;
    assert_eq!(digest_of(&cluster), Some(json!(DIGEST_A)));

    // A scratch build's import records nothing and fires nothing.
    let scratch = by(BuildVariant {
        scratch: true,
        ..BuildVariant::default()
    });
    let imported = store
        .import(&import(DIGEST_B), Some(&scratch), true, now())
        .await
        .map_err(err)?;
    assert!(imported.queued.is_empty());
    assert_eq!(digest_of(&cluster), Some(json!(DIGEST_A)));

    // An isolated build's import records its digest and fires no trigger.
    let imported = store
        .import(&import(DIGEST_B), Some(&by(isolated())), true, now())
        .await
        .map_err(err)?;
    assert!(imported.queued.is_empty(), "{:?}", imported.queued);
    assert_eq!(digest_of(&cluster), Some(json!(DIGEST_B)));
    let stream = cluster
        .get(&fake::path("imagestreams"), "osbs-base")
        .expect("stream");
    assert!(stream["status"]["pendingTriggers"].is_null(), "{stream}");
    assert!(cluster.list(&fake::path("builds")).is_empty());

    // A regular build's import of a new digest autorebuilds the app.
    let imported = store
        .import(
            &import(DIGEST_C),
            Some(&by(BuildVariant::default())),
            true,
            now(),
        )
        .await
        .map_err(err)?;
    assert_eq!(imported.queued.len(), 1, "{:?}", imported.queued);
    assert_eq!(imported.queued[0].build_config, app.name);
    assert!(imported.queued[0].variant.is_default());
    Ok(())
}
