//! `copy_image` against the real registries: a docker-built multi-layer image and an OCI
//! index arrive with identical digests and `docker pull` works from the destination; a second
//! copy is a no-op; a copy within one registry mounts instead of uploading.

use osbs_registry_sync::{CopyOptions, ImageStatus, copy_image};
use osbs_testkit::{base_image, push_registry, sync_registry};

use crate::support::{
    Proxy, client, docker, oci_image, oci_index, push_image, services, small_image, tar_with,
    unique,
};

/// The config and layer digests of a schema 2 / OCI image manifest.
fn blob_digests(manifest: &[u8]) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let mut digests = vec![json["config"]["digest"].as_str().unwrap().to_owned()];
    for layer in json["layers"].as_array().unwrap() {
        digests.push(layer["digest"].as_str().unwrap().to_owned());
    }
    digests
}

fn assert_success(output: &std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_layer_image_copies_with_identical_digests_and_pulls() {
    services();
    let (push, sync) = (push_registry(), sync_registry());
    let name = unique("layers");
    let source = format!("{push}/{name}:v1");

    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN dd if=/dev/urandom of=/a bs=1k count=300\n\
             RUN dd if=/dev/urandom of=/b bs=1k count=200\nRUN dd if=/dev/urandom of=/c bs=1k count=100\n",
            base_image()
        ),
    )
    .unwrap();
    let context_arg = context.path().display().to_string();
    assert_success(
        &docker(&["build", "-q", "-t", &source, &context_arg]),
        "docker build",
    );
    assert_success(&docker(&["push", &source]), "docker push");
    assert_success(&docker(&["rmi", &source]), "docker rmi");

    let src = client(&push).repository(&name);
    let dst = client(&sync).repository(&name);
    let summary = copy_image(&src, "v1", &dst, Some("v1"), &CopyOptions::default())
        .await
        .unwrap();

    let src_manifest = src.manifest("v1").await.unwrap();
    let blobs = blob_digests(&src_manifest.bytes);
    assert_eq!(blobs.len(), 5, "config, base layer and three RUN layers");
    assert_eq!(summary.images_copied, 1);
    assert_eq!(summary.blobs_copied, 5);
    assert_eq!(summary.images[0].digest, src_manifest.digest);
    assert_eq!(
        dst.manifest_digest("v1").await.unwrap(),
        Some(src_manifest.digest.clone())
    );
    assert_eq!(dst.manifest("v1").await.unwrap().bytes, src_manifest.bytes);
    for digest in &blobs {
        assert!(dst.blob_exists(digest).await.unwrap(), "{digest}");
    }

    let destination = format!("{sync}/{name}:v1");
    assert_success(&docker(&["pull", &destination]), "docker pull");
    let repo_digests = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &destination,
    ]);
    assert!(
        String::from_utf8_lossy(&repo_digests.stdout).contains(&src_manifest.digest),
        "pulled image has the source digest"
    );
    let _ = docker(&["rmi", &destination]);

    let again = copy_image(&src, "v1", &dst, Some("v1"), &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(again.images_skipped, 1);
    assert_eq!(again.images[0].status, ImageStatus::Skipped);
    assert_eq!(
        (again.blobs_copied, again.blobs_skipped, again.bytes_copied),
        (0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_index_copies_children_first_with_identical_digests() {
    services();
    let (push, sync) = (push_registry(), sync_registry());
    let name = unique("index");
    // Content unique to this run, so nothing is at the destination yet.
    let shared = tar_with("shared.txt", name.as_bytes());
    let amd64 = oci_image("amd64", &[shared.clone(), tar_with("arch.txt", b"amd64")]);
    let arm64 = oci_image("arm64", &[shared.clone(), tar_with("arch.txt", b"arm64")]);
    let index = oci_index(&[("amd64", &amd64), ("arm64", &arm64)]);
    let src = client(&push).repository(&name);
    push_image(&src, &amd64.manifest.digest, &amd64).await;
    push_image(&src, &arm64.manifest.digest, &arm64).await;
    src.put_manifest("multi", &index).await.unwrap();

    let proxy = Proxy::start(&sync).await;
    let dst = client(&proxy.addr).repository(&name);
    let summary = copy_image(&src, "multi", &dst, Some("multi"), &CopyOptions::default())
        .await
        .unwrap();

    assert_eq!(summary.images_copied, 1);
    assert_eq!(summary.images[0].digest, index.digest);
    assert_eq!(
        summary.blobs_copied, 5,
        "two configs, the shared layer once, two arch layers"
    );
    assert_eq!(
        dst.manifest_digest("multi").await.unwrap(),
        Some(index.digest.clone())
    );
    for child in [&amd64.manifest, &arm64.manifest] {
        assert_eq!(
            dst.manifest_digest(&child.digest).await.unwrap(),
            Some(child.digest.clone())
        );
    }

    // Children first: every blob before the manifest that needs it, children before the index.
    let puts: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.path)
        .collect();
    let position = |needle: &str| {
        let found: Vec<usize> = puts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.contains(needle))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(found.len(), 1, "exactly one PUT for {needle}: {puts:#?}");
        found[0]
    };
    let index_put = position("/manifests/multi");
    assert_eq!(index_put, puts.len() - 1);
    for child in [&amd64, &arm64] {
        let child_put = position(&format!("/manifests/{}", child.manifest.digest));
        assert!(child_put < index_put);
        for blob in &child.blobs {
            let digest = osbs_registry_sync::sha256_digest(blob).replace(':', "%3A");
            assert!(
                position(&digest) < child_put,
                "blob {digest} before its manifest"
            );
        }
    }

    let destination = format!("{sync}/{name}:multi");
    assert_success(&docker(&["pull", &destination]), "docker pull of the index");
    let _ = docker(&["rmi", &destination]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_by_digest_without_a_tag() {
    services();
    let name = unique("by-digest");
    let image = small_image(&name);
    let src = client(&push_registry()).repository(&name);
    push_image(&src, "v1", &image).await;
    let dst = client(&sync_registry()).repository(&name);

    let summary = copy_image(
        &src,
        &image.manifest.digest,
        &dst,
        None,
        &CopyOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary.images_copied, 1);
    assert!(
        summary.images[0]
            .destination
            .ends_with(&format!("@{}", image.manifest.digest))
    );
    assert_eq!(
        dst.manifest_digest(&image.manifest.digest).await.unwrap(),
        Some(image.manifest.digest.clone())
    );
    assert_eq!(
        dst.manifest_digest("v1").await.unwrap(),
        None,
        "no tag was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_registry_copy_mounts_instead_of_uploading() {
    services();
    let push = push_registry();
    let from = unique("mount-src");
    let to = unique("mount-dst");
    let image = oci_image(
        "amd64",
        &[
            tar_with("a", from.as_bytes()),
            tar_with("b", b"second layer"),
        ],
    );
    push_image(&client(&push).repository(&from), "v1", &image).await;

    let proxy = Proxy::start(&push).await;
    let registry = client(&proxy.addr);
    let summary = copy_image(
        &registry.repository(&from),
        "v1",
        &registry.repository(&to),
        Some("v1"),
        &CopyOptions::default(),
    )
    .await
    .unwrap();

    assert_eq!(summary.blobs_mounted, 3);
    assert_eq!((summary.blobs_copied, summary.bytes_copied), (0, 0));
    let requests = proxy.requests();
    let mounts = requests
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path.contains("mount=")
                && r.path
                    .contains(&format!("from={}", from.replace('/', "%2F")))
        })
        .count();
    assert_eq!(mounts, 3, "{requests:#?}");
    assert!(
        !requests
            .iter()
            .any(|r| r.path.contains("/blobs/") && r.method != "POST"),
        "no blob GET, HEAD or upload PUT: {requests:#?}"
    );
    assert_eq!(
        proxy.bytes_to_registry(),
        image.manifest.bytes.len() as u64,
        "only the manifest was sent"
    );
    assert_eq!(
        registry
            .repository(&to)
            .manifest_digest("v1")
            .await
            .unwrap(),
        Some(image.manifest.digest.clone())
    );
}
