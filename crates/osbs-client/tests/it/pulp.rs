//! `osbs build` syncing to the Pulp 3 of `cargo xtask services up --pulp` (token auth; the
//! test fails in CI without it and skips elsewhere): `pulp_sync_registry_name` names a
//! `[registry pulp]` section whose `secret` is a dockercfg with Pulp's administrator. Every
//! pushed tag arrives with the push registry's digest, and a rebuild copies only the blobs
//! that changed.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken set-up, like its assertions"
)]

use std::collections::BTreeSet;

use osbs_client::backend::Backend as _;
use osbs_core::build::BuildPhase;
use osbs_core::model::Build;
use osbs_registry_sync::{ClientOptions, RegistryClient};

use crate::local::support::{World, build, registry_digest};

/// A client for Pulp with its administrator's credential.
fn pulp_client() -> RegistryClient {
    let config = osbs_core::auth::DockerConfig::parse(&osbs_testkit::pulp_docker_config()).unwrap();
    RegistryClient::new(
        osbs_testkit::pulp_registry().parse().unwrap(),
        Some(&config),
        &ClientOptions::default(),
    )
    .unwrap()
}

/// The blob digests (config and layers) of the manifest `digest` in the push registry.
async fn blobs_of(repository: &str, digest: &str) -> BTreeSet<String> {
    let registry = RegistryClient::new(
        osbs_testkit::push_registry().parse().unwrap(),
        None,
        &ClientOptions::default(),
    )
    .unwrap();
    let manifest = registry
        .repository(repository)
        .manifest(digest)
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let mut blobs = BTreeSet::new();
    blobs.insert(json["config"]["digest"].as_str().unwrap().to_owned());
    for layer in json["layers"].as_array().unwrap() {
        blobs.insert(layer["digest"].as_str().unwrap().to_owned());
    }
    blobs
}

/// The `registry_sync` plugin's lines in the build log: per synced tag, the blobs copied,
/// present and mounted.
fn sync_counts(log: &str) -> Vec<(u64, u64, u64)> {
    log.lines()
        .filter(|line| line.contains("synced ") && line.contains(" blobs copied, "))
        .map(|line| {
            let counts = &line[line.rfind('(').unwrap() + 1..];
            let number = |word: &str| -> u64 {
                let before = &counts[..counts.find(word).unwrap()];
                before
                    .trim_end()
                    .rsplit([' ', ','])
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            (
                number(" blobs copied"),
                number(" present"),
                number(" mounted"),
            )
        })
        .collect()
}

/// Checks that every pushed tag of `build` is in Pulp with the push registry's digest.
async fn assert_synced(build: &Build, pulp: &RegistryClient) {
    let registry = osbs_testkit::pulp_registry();
    let pushed: BTreeSet<&str> = build.digests.iter().map(|d| d.tag.as_str()).collect();
    let synced: BTreeSet<&str> = build.sync.iter().map(|d| d.tag.as_str()).collect();
    assert!(!pushed.is_empty(), "{build:#?}");
    assert_eq!(synced, pushed, "every pushed tag is synced: {build:#?}");
    for synced in &build.sync {
        assert_eq!(synced.registry, registry, "{synced:?}");
        let in_push_registry = registry_digest(
            &osbs_testkit::push_registry(),
            &synced.repository,
            &synced.tag,
        )
        .await;
        let in_pulp = pulp
            .repository(&synced.repository)
            .manifest_digest(&synced.tag)
            .await
            .unwrap();
        assert_eq!(in_pulp, in_push_registry, "{synced:?}");
        assert_eq!(
            in_pulp.as_deref(),
            Some(synced.digest.as_str()),
            "{synced:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osbs_build_syncs_every_tag_to_pulp_and_a_rebuild_only_what_changed() {
    osbs_testkit::require_services();
    if !osbs_testkit::require_pulp() {
        return;
    }
    let world = World::new(false);
    let secret = world.tmp.path().join("pulp-dockercfg.json");
    std::fs::write(&secret, osbs_testkit::pulp_docker_config()).unwrap();
    let mut config = std::fs::read_to_string(&world.config).unwrap();
    config.push_str(&format!(
        "\n[registry pulp]\nuri = {}\nsecret = {}\n",
        osbs_testkit::pulp_registry(),
        secret.display()
    ));
    std::fs::write(&world.config, config).unwrap();
    world.set("pulp_sync_registry_name", "pulp");
    let backend = world.backend();
    let base = world.repo("base");
    let pulp = pulp_client();

    let first = build(&backend, &base).await;
    assert_eq!(first.phase, BuildPhase::Complete, "{first:#?}");
    let first = backend.get_build(&first.name).await.unwrap();
    assert_synced(&first, &pulp).await;
    let first_log = std::fs::read_to_string(backend.log_path(&first.name)).unwrap();
    let first_counts = sync_counts(&first_log);
    assert_eq!(first_counts.len(), first.sync.len(), "{first_log}");

    // The same source again: a new release, so new tags and a new config blob; the layers
    // come from the build cache and are already in Pulp.
    let second = build(&backend, &base).await;
    assert_eq!(second.phase, BuildPhase::Complete, "{second:#?}");
    let second = backend.get_build(&second.name).await.unwrap();
    assert_ne!(second.release, first.release);
    assert_synced(&second, &pulp).await;
    let second_log = std::fs::read_to_string(backend.log_path(&second.name)).unwrap();
    let second_counts = sync_counts(&second_log);
    assert_eq!(second_counts.len(), second.sync.len(), "{second_log}");

    let digest_of = |b: &Build| {
        b.digests
            .iter()
            .find(|d| d.tag == "latest")
            .map(|d| (d.repository.clone(), d.digest.clone()))
            .unwrap()
    };
    let (repository, first_digest) = digest_of(&first);
    let (_, second_digest) = digest_of(&second);
    let before = blobs_of(&repository, &first_digest).await;
    let after = blobs_of(&repository, &second_digest).await;
    let changed = after.difference(&before).count() as u64;
    let copied: u64 = second_counts.iter().map(|c| c.0).sum();
    let first_copied: u64 = first_counts.iter().map(|c| c.0).sum();
    eprintln!(
        "sync to Pulp, (copied, present, mounted) per tag: first build {first_counts:?}, \
         rebuild {second_counts:?}; {changed} of {} blobs changed",
        after.len()
    );
    assert_eq!(
        first_copied,
        before.len() as u64,
        "the first sync copies each blob once: {first_log}"
    );
    assert_eq!(
        copied,
        changed,
        "the rebuild's sync copies only the blobs that changed ({changed} of {}): {second_log}",
        after.len()
    );
    assert!(changed < after.len() as u64, "the layers are unchanged");
}

/// A `[registry pulp]` section without a `secret`: the instance's `registry_secret` holds the
/// credential for Pulp's host, and the sync uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_registry_secret_serves_a_sync_target_without_its_own() {
    osbs_testkit::require_services();
    if !osbs_testkit::require_pulp() {
        return;
    }
    let world = World::new(false);
    let secret = world.tmp.path().join("dockercfg.json");
    std::fs::write(&secret, osbs_testkit::pulp_docker_config()).unwrap();
    let mut config = std::fs::read_to_string(&world.config).unwrap();
    config.push_str(&format!(
        "\n[registry pulp]\nuri = {}\n",
        osbs_testkit::pulp_registry()
    ));
    std::fs::write(&world.config, config).unwrap();
    world.set("pulp_sync_registry_name", "pulp");
    world.set("registry_secret", &secret.display().to_string());
    let backend = world.backend();

    let built = build(&backend, &world.repo("base")).await;
    assert_eq!(built.phase, BuildPhase::Complete, "{built:#?}");
    let built = backend.get_build(&built.name).await.unwrap();
    assert_synced(&built, &pulp_client()).await;
}
