//! Token scopes and manifest `PUT`s against the token-checking fake registry (module `fake`):
//! a mount's token asks for push on the destination and pull on the source in one request;
//! tokens are cached per scope set; `insufficient_scope` is reported as a scope problem, never
//! as rejected credentials; a refused mount falls back to an upload; manifest `PUT`s to one
//! repository go one at a time; a 400 `MANIFEST_INVALID`/`BLOB_UNKNOWN` on a `PUT` whose
//! content was confirmed is retried, a bounded number of times, and nothing else is.

use osbs_registry_sync::{CopyOptions, Error, SyncOptions, copy_image, sync_repository};

use crate::fake::{ADMIN, ADMIN_PASSWORD, FakeRegistry, PASSWORD, USER};
use crate::support::{basic, client, client_with, small_image};

fn robot(fake: &FakeRegistry) -> osbs_registry_sync::RegistryClient {
    client_with(&fake.addr, Some(basic(USER, PASSWORD)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mount_token_carries_push_on_the_destination_and_pull_on_the_source() {
    osbs_registry_sync::install_crypto_provider();
    let fake = FakeRegistry::start(&[]).await;
    let image = small_image("mount scopes");
    fake.seed("src/app", "v1", &image);
    let registry = robot(&fake);

    let summary = copy_image(
        &registry.repository("src/app"),
        "v1",
        &registry.repository("dst/app"),
        Some("v1"),
        &CopyOptions::default(),
    )
    .await
    .unwrap();

    assert_eq!(
        (summary.blobs_mounted, summary.blobs_copied),
        (image.blobs.len() as u64, 0),
        "{summary:?}"
    );
    let tokens = fake.token_requests();
    assert!(
        tokens.contains(&vec![
            "repository:dst/app:pull,push".to_owned(),
            "repository:src/app:pull".to_owned()
        ]),
        "one token request carries both scopes: {tokens:?}"
    );
    let mut distinct = tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        tokens.len(),
        "each scope set is asked for once, then cached: {tokens:?}"
    );
    assert_eq!(
        tokens.len(),
        3,
        "pull on src, pull on dst, the mount's set (which also covers the manifest PUT): {tokens:?}"
    );
    let requests = fake.requests();
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with("PUT /v2/dst/app/blobs/uploads/")),
        "nothing uploaded: {requests:#?}"
    );
    assert_eq!(
        registry
            .repository("dst/app")
            .manifest_digest("v1")
            .await
            .unwrap(),
        Some(image.manifest.digest.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_scope_is_a_scope_problem_not_rejected_credentials() {
    osbs_registry_sync::install_crypto_provider();
    let fake = FakeRegistry::start(&["private/app"]).await;
    fake.seed("private/app", "v1", &small_image("private"));

    let err = robot(&fake)
        .repository("private/app")
        .manifest("v1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientScope { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "registry {} refused GET manifest v1 in repository private/app (401 insufficient_scope): \
             the token does not grant all of repository:private/app:pull; the account lacks that access",
            fake.addr
        )
    );
    assert!(!err.to_string().contains("credentials were rejected"));
    assert!(!format!("{err:?}").contains(PASSWORD));
    assert_eq!(
        fake.token_requests().len(),
        1,
        "a token asked for every scope the registry named is not asked for again"
    );
    let gets = fake
        .requests()
        .iter()
        .filter(|r| r.as_str() == "GET /v2/private/app/manifests/v1")
        .count();
    assert_eq!(gets, 2, "the challenge, then the refused token");

    // Without credentials it is still a missing credential, not a scope problem.
    let err = client(&fake.addr)
        .repository("private/app")
        .manifest("v1")
        .await
        .unwrap_err();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mount_falls_back_to_an_upload() {
    osbs_registry_sync::install_crypto_provider();
    let fake = FakeRegistry::start(&["private/app"]).await;
    let image = small_image("refused mount");
    fake.seed("private/app", "v1", &image);
    // Both on the same registry, so the copy mounts; the destination's user may not read
    // the source, so the registry refuses the mount.
    let src = client_with(&fake.addr, Some(basic(ADMIN, ADMIN_PASSWORD)));
    let dst = robot(&fake);

    let summary = copy_image(
        &src.repository("private/app"),
        "v1",
        &dst.repository("team/app"),
        Some("v1"),
        &CopyOptions::default(),
    )
    .await
    .unwrap();

    assert_eq!(
        (summary.blobs_mounted, summary.blobs_copied),
        (0, image.blobs.len() as u64),
        "{summary:?}"
    );
    let requests = fake.requests();
    let mounts = requests.iter().filter(|r| r.contains("mount=")).count();
    assert!(
        (1..=image.blobs.len()).contains(&mounts),
        "mounts asked, refused, and not asked again once refused: {requests:#?}"
    );
    let uploads = requests
        .iter()
        .filter(|r| r.starts_with("PUT /v2/team/app/blobs/uploads/"))
        .count();
    assert_eq!(uploads, image.blobs.len(), "{requests:#?}");
    assert_eq!(
        dst.repository("team/app")
            .manifest_digest("v1")
            .await
            .unwrap(),
        Some(image.manifest.digest.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_put_races_are_retried_a_bounded_number_of_times() {
    osbs_registry_sync::install_crypto_provider();
    let fake = FakeRegistry::start(&[]).await;
    let registry = robot(&fake);
    let src = registry.repository("src/app");
    let dst = registry.repository("dst/app");
    let copy = |tag: &'static str| {
        let (src, dst) = (src.clone(), dst.clone());
        async move { copy_image(&src, tag, &dst, Some(tag), &CopyOptions::default()).await }
    };

    // Content confirmed present (mounted): MANIFEST_INVALID twice, then accepted.
    fake.seed("src/app", "a", &small_image("race a"));
    fake.fail_manifest_puts("MANIFEST_INVALID", 2);
    copy("a").await.unwrap();
    assert_eq!(fake.manifest_put_times().len(), 3);

    // BLOB_UNKNOWN once.
    fake.seed("src/app", "b", &small_image("race b"));
    fake.fail_manifest_puts("BLOB_UNKNOWN", 1);
    copy("b").await.unwrap();
    assert_eq!(fake.manifest_put_times().len(), 5);

    // Bounded: the client's retry policy allows 3 retries (support::fast_options).
    fake.seed("src/app", "c", &small_image("race c"));
    fake.fail_manifest_puts("MANIFEST_INVALID", 100);
    let err = copy("c").await.unwrap_err();
    assert!(matches!(err, Error::Status { status: 400, .. }), "{err:?}");
    assert!(err.to_string().contains("MANIFEST_INVALID"), "{err}");
    assert_eq!(fake.manifest_put_times().len(), 5 + 4);

    // Another 400 is not a race: not retried.
    fake.seed("src/app", "d", &small_image("race d"));
    fake.fail_manifest_puts("TAG_INVALID", 1);
    copy("d").await.unwrap_err();
    assert_eq!(fake.manifest_put_times().len(), 9 + 1);

    // A manifest pushed on its own (content not confirmed by a copy) is not retried either.
    let image = small_image("race e");
    fake.fail_manifest_puts("MANIFEST_INVALID", 1);
    let err = dst.put_manifest("e", &image.manifest).await.unwrap_err();
    assert!(matches!(err, Error::Status { status: 400, .. }), "{err:?}");
    assert_eq!(fake.manifest_put_times().len(), 10 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_puts_to_one_repository_go_one_at_a_time() {
    osbs_registry_sync::install_crypto_provider();
    let fake = FakeRegistry::start(&[]).await;
    let tags = ["t1", "t2", "t3", "t4"];
    for tag in tags {
        fake.seed(
            "src/app",
            tag,
            &small_image(&format!("one at a time {tag}")),
        );
    }
    let registry = robot(&fake);

    let summary = sync_repository(
        &registry.repository("src/app"),
        &registry.repository("dst/app"),
        &SyncOptions::default(),
    )
    .await
    .unwrap();

    assert_eq!(summary.images_copied, 4);
    let mut times = fake.manifest_put_times();
    times.sort();
    assert_eq!(times.len(), 4);
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= std::time::Duration::from_millis(140),
            "each PUT waits for the previous answer (150 ms): gap {gap:?}"
        );
    }
}
