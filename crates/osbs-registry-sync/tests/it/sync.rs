//! `sync_repository` against the real registries, watched through counting proxies: a re-sync
//! of an unchanged repository is one tag list plus one manifest `HEAD` per tag and side, and
//! moves no blob bytes; `--tags` filters.

use osbs_registry_sync::{ImageStatus, SyncOptions, sync_repository};
use osbs_testkit::{push_registry, sync_registry};

use crate::support::{Proxy, client, push_image, services, small_image, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_of_an_unchanged_repository_moves_no_blob_bytes() {
    services();
    let name = unique("resync");
    let first = small_image(&format!("{name} first"));
    let second = small_image(&format!("{name} second"));
    let seed = client(&push_registry()).repository(&name);
    push_image(&seed, "a", &first).await;
    push_image(&seed, "b", &second).await;
    push_image(&seed, "c", &first).await;

    let src_proxy = Proxy::start(&push_registry()).await;
    let dst_proxy = Proxy::start(&sync_registry()).await;
    let src = client(&src_proxy.addr).repository(&name);
    let dst = client(&dst_proxy.addr).repository(&name);

    let initial = sync_repository(&src, &dst, &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(initial.images_copied, 3);
    assert_eq!(
        initial.blobs_copied, 4,
        "two configs and two layers, each once although tags a and c share them"
    );

    src_proxy.reset();
    dst_proxy.reset();
    let again = sync_repository(&src, &dst, &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!((again.images_copied, again.images_skipped), (0, 3));
    assert!(
        again
            .images
            .iter()
            .all(|i| i.status == ImageStatus::Skipped)
    );
    assert_eq!(
        (
            again.blobs_copied,
            again.blobs_skipped,
            again.blobs_mounted,
            again.bytes_copied
        ),
        (0, 0, 0, 0)
    );

    let sorted = |proxy: &Proxy| {
        let mut seen: Vec<String> = proxy.requests().iter().map(|r| r.short()).collect();
        seen.sort();
        seen
    };
    assert_eq!(
        sorted(&src_proxy),
        [
            format!("GET /v2/{name}/tags/list"),
            format!("HEAD /v2/{name}/manifests/a"),
            format!("HEAD /v2/{name}/manifests/b"),
            format!("HEAD /v2/{name}/manifests/c"),
        ]
    );
    assert_eq!(
        sorted(&dst_proxy),
        [
            format!("HEAD /v2/{name}/manifests/a"),
            format!("HEAD /v2/{name}/manifests/b"),
            format!("HEAD /v2/{name}/manifests/c"),
        ]
    );
    assert_eq!(
        src_proxy.bytes_to_registry() + dst_proxy.bytes_to_registry(),
        0
    );
    let received = src_proxy.bytes_from_registry() + dst_proxy.bytes_from_registry();
    assert!(
        received < 8 * 1024,
        "only headers and a tag list came back: {received} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_copies_only_the_tags_the_filter_matches() {
    services();
    let name = unique("filter");
    let seed = client(&push_registry()).repository(&name);
    for tag in ["v1", "v2", "dev"] {
        push_image(&seed, tag, &small_image(&format!("{name} {tag}"))).await;
    }
    let dst = client(&sync_registry()).repository(&name);
    let options = SyncOptions::default().with_tag_filter("^v[0-9]+$").unwrap();

    let summary = sync_repository(&seed, &dst, &options).await.unwrap();

    assert_eq!(summary.images_copied, 2);
    let mut tags = dst.tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);
}
