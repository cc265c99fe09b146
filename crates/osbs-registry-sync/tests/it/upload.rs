//! The retry decisions of blob uploads from a file, against wiremock: a `PATCH` that fails
//! resumes at the offset the registry reports; a session the registry forgot restarts with a
//! new one; a commit whose answer was lost is recognised by the blob being there; a 429's
//! `Retry-After` is waited for; a refusal (403) is not retried. And against the real push
//! registry: a blob uploads while its file is still being written, also through a proxy that
//! fails a share of the requests.

use std::time::{Duration, Instant};

use osbs_registry_sync::{
    ClientOptions, Error, Growth, RegistryClient, RegistryEndpoint, Repository, RetryPolicy,
    UploadStats, sha256_digest,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const REPO: &str = "up/app";
const SESSION: &str = "/v2/up/app/blobs/uploads/s1";

fn repository(server: &MockServer, max_backoff: Duration) -> Repository {
    osbs_registry_sync::install_crypto_provider();
    let endpoint: RegistryEndpoint = server.address().to_string().parse().unwrap();
    let options = ClientOptions {
        retry: RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff,
        },
        ..ClientOptions::default()
    };
    RegistryClient::with_credential(endpoint, None, &options)
        .unwrap()
        .repository(REPO)
}

/// A file of `len` bytes and its digest.
fn blob(len: usize) -> (tempfile::NamedTempFile, Vec<u8>, String) {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let digest = sha256_digest(&data);
    (file, data, digest)
}

async fn session_opens(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(format!("/v2/{REPO}/blobs/uploads/")))
        .respond_with(ResponseTemplate::new(202).insert_header("location", SESSION))
        .mount(server)
        .await;
}

async fn patch_accepts(server: &MockServer) {
    Mock::given(method("PATCH"))
        .and(path(SESSION))
        .respond_with(ResponseTemplate::new(202).insert_header("location", SESSION))
        .with_priority(5)
        .mount(server)
        .await;
}

async fn commit_accepts(server: &MockServer, digest: &str) {
    Mock::given(method("PUT"))
        .and(path(SESSION))
        .respond_with(ResponseTemplate::new(201).insert_header("docker-content-digest", digest))
        .with_priority(5)
        .mount(server)
        .await;
}

async fn blob_absent(server: &MockServer, digest: &str) {
    Mock::given(method("HEAD"))
        .and(path(format!("/v2/{REPO}/blobs/{digest}")))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(5)
        .mount(server)
        .await;
}

/// The first `verb` request to `at` gets `response`; later ones go to the other mocks.
async fn first_answers(server: &MockServer, verb: &str, at: &str, response: ResponseTemplate) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(response)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
}

/// The upload session's status (`GET`) is answered with `response`.
async fn session_status(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(SESSION))
        .respond_with(response)
        .mount(server)
        .await;
}

fn requests_of(requests: &[Request], verb: &str) -> Vec<Request> {
    requests
        .iter()
        .filter(|r| r.method.as_str() == verb)
        .cloned()
        .collect()
}

fn content_range(request: &Request) -> String {
    request.headers["content-range"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_failed_patch_resumes_where_the_registry_got_to() {
    let server = MockServer::start().await;
    let (file, data, digest) = blob(1000);
    session_opens(&server).await;
    first_answers(&server, "PATCH", SESSION, ResponseTemplate::new(500)).await;
    patch_accepts(&server).await;
    session_status(
        &server,
        ResponseTemplate::new(204)
            .insert_header("range", "0-399")
            .insert_header("location", SESSION),
    )
    .await;
    blob_absent(&server, &digest).await;
    commit_accepts(&server, &digest).await;

    let stats = repository(&server, Duration::from_millis(50))
        .upload_blob_file(file.path(), &digest, 1000)
        .await
        .unwrap();
    assert_eq!(
        stats,
        UploadStats {
            bytes_sent: 1000 + 600,
            resumed: 1,
            restarted: 0,
            found_after_failure: false,
        }
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests_of(&requests, "POST").len(), 1, "one session");
    let patches = requests_of(&requests, "PATCH");
    assert_eq!(patches.len(), 2);
    assert_eq!(content_range(&patches[0]), "0-999");
    assert_eq!(content_range(&patches[1]), "400-999");
    assert_eq!(patches[1].body, &data[400..]);
    let commit = &requests_of(&requests, "PUT")[0];
    assert_eq!(
        commit.url.query(),
        Some(format!("digest={}", digest.replace(':', "%3A")).as_str())
    );
}

#[tokio::test]
async fn a_forgotten_session_restarts_from_the_first_byte() {
    let server = MockServer::start().await;
    let (file, data, digest) = blob(300);
    session_opens(&server).await;
    first_answers(&server, "PATCH", SESSION, ResponseTemplate::new(503)).await;
    patch_accepts(&server).await;
    session_status(&server, ResponseTemplate::new(404)).await;
    blob_absent(&server, &digest).await;
    commit_accepts(&server, &digest).await;

    let stats = repository(&server, Duration::from_millis(50))
        .upload_blob_file(file.path(), &digest, 300)
        .await
        .unwrap();
    assert_eq!((stats.resumed, stats.restarted), (0, 1));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests_of(&requests, "POST").len(), 2, "a new session");
    let patches = requests_of(&requests, "PATCH");
    assert_eq!(content_range(&patches[1]), "0-299");
    assert_eq!(patches[1].body, data);
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_found_in_the_registry() {
    let server = MockServer::start().await;
    let (file, _, digest) = blob(10);
    session_opens(&server).await;
    patch_accepts(&server).await;
    // The registry took the commit; the answer to it, and to the retry, is "no such upload".
    Mock::given(method("PUT"))
        .and(path(SESSION))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .and(path(format!("/v2/{REPO}/blobs/{digest}")))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;

    let stats = repository(&server, Duration::from_millis(50))
        .upload_blob_file(file.path(), &digest, 10)
        .await
        .unwrap();
    assert!(stats.found_after_failure, "{stats:?}");
}

#[tokio::test]
async fn too_many_requests_waits_as_long_as_retry_after_asks() {
    let server = MockServer::start().await;
    let (file, _, digest) = blob(10);
    first_answers(
        &server,
        "POST",
        &format!("/v2/{REPO}/blobs/uploads/"),
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
    )
    .await;
    session_opens(&server).await;
    patch_accepts(&server).await;
    commit_accepts(&server, &digest).await;

    let started = Instant::now();
    repository(&server, Duration::from_secs(5))
        .upload_blob_file(file.path(), &digest, 10)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let server = MockServer::start().await;
    let (file, _, digest) = blob(10);
    session_opens(&server).await;
    Mock::given(method("PATCH"))
        .and(path(SESSION))
        .and(header("content-range", "0-9"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;

    let err = repository(&server, Duration::from_millis(50))
        .upload_blob_file(file.path(), &digest, 10)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests_of(&requests, "PATCH").len(), 1);
}

/// Writes `data` to `path` in pieces, reporting each on `growth`, then the digest.
fn write_slowly(
    path: std::path::PathBuf,
    data: Vec<u8>,
    growth: tokio::sync::watch::Sender<Growth>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&path).unwrap();
        for (i, piece) in data.chunks(64 * 1024).enumerate() {
            file.write_all(piece).unwrap();
            growth.send_modify(|g| g.written += piece.len() as u64);
            if i % 8 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let digest = sha256_digest(&data);
        growth.send_modify(|g| g.complete = Some((digest, data.len() as u64)));
    })
}

/// A real registry (through a proxy failing `rate` of the requests) takes a blob uploaded while
/// its file is still being written, under its digest.
async fn growing_upload(rate: f64, seed: u64) -> (UploadStats, usize) {
    osbs_testkit::require_services();
    osbs_registry_sync::install_crypto_provider();
    let proxy =
        osbs_testkit::fault_proxy::FaultProxy::start(&osbs_testkit::push_registry(), rate, seed);
    let endpoint: RegistryEndpoint = proxy.addr().parse().unwrap();
    let options = ClientOptions {
        retry: RetryPolicy {
            max_retries: 6,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
        },
        ..ClientOptions::default()
    };
    let repo = RegistryClient::with_credential(endpoint, None, &options)
        .unwrap()
        .repository(&format!("upload-tests/growing-{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.gz");
    // Random bytes unique to this run, so the registry does not have them already.
    let mut data = vec![0; 3 * 1024 * 1024 + 17];
    fastrand::Rng::with_seed(seed ^ u64::from(std::process::id())).fill(&mut data);
    let digest = sha256_digest(&data);
    std::fs::File::create(&path).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(Growth::default());
    let writer = write_slowly(path.clone(), data, tx);
    let stats = repo.upload_blob_growing(&path, rx).await.unwrap();
    writer.join().unwrap();
    let failed = proxy
        .requests()
        .iter()
        .filter(|r| r.fault != osbs_testkit::fault_proxy::Fault::None)
        .count();
    proxy.set_rate(0.0);
    assert!(repo.blob_exists(&digest).await.unwrap(), "{stats:?}");
    (stats, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_uploads_while_its_file_is_written() {
    let (stats, _) = growing_upload(0.0, 7).await;
    assert_eq!((stats.resumed, stats.restarted), (0, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_upload_survives_a_flaky_proxy() {
    let mut failed = 0;
    let mut retried = 0;
    for seed in [3, 11, 23, 31] {
        let (stats, faults) = growing_upload(0.3, seed).await;
        failed += faults;
        retried += stats.resumed + stats.restarted;
    }
    assert!(
        failed > 0 && retried > 0,
        "{failed} faults, {retried} retries"
    );
}

#[tokio::test]
async fn a_registry_refusing_a_patch_of_unknown_length_gets_the_file_upload() {
    let server = MockServer::start().await;
    let (file, data, digest) = blob(2000);
    session_opens(&server).await;
    Mock::given(method("PATCH"))
        .and(path(SESSION))
        .and(wiremock::matchers::header_exists("content-range"))
        .respond_with(ResponseTemplate::new(202).insert_header("location", SESSION))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(SESSION))
        .respond_with(ResponseTemplate::new(411))
        .with_priority(5)
        .mount(&server)
        .await;
    blob_absent(&server, &digest).await;
    commit_accepts(&server, &digest).await;
    let size = data.len() as u64;
    let (tx, rx) = tokio::sync::watch::channel(Growth {
        written: size,
        complete: Some((digest.clone(), size)),
        failed: false,
    });
    let stats = repository(&server, Duration::from_millis(50))
        .upload_blob_growing(file.path(), rx)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(stats.restarted, 1, "{stats:?}");
    let requests = server.received_requests().await.unwrap();
    let patches = requests_of(&requests, "PATCH");
    assert_eq!(patches.len(), 2);
    assert_eq!(content_range(&patches[1]), "0-1999");
    assert_eq!(patches[1].body, data);
}

#[tokio::test]
async fn a_growing_upload_whose_writer_fails_is_never_committed() {
    // The reactor's layer store marks a layer file failed when its bytes do not hash to the
    // layer's `diff_id`: what was streamed by then must stay an uncommitted session, in a real
    // registry.
    osbs_testkit::require_services();
    let endpoint: RegistryEndpoint = osbs_testkit::push_registry().parse().unwrap();
    let repo = RegistryClient::with_credential(endpoint, None, &ClientOptions::default())
        .unwrap()
        .repository(&format!("upload-tests/failed-{}", std::process::id()));
    let data: Vec<u8> = format!("a layer of run {} {:?}", std::process::id(), Instant::now())
        .repeat(1000)
        .into_bytes();
    let digest = sha256_digest(&data);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &data).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(Growth {
        written: data.len() as u64,
        complete: None,
        failed: false,
    });
    let fail = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send_modify(|g| g.failed = true);
        tx
    });
    let result = repo.upload_blob_growing(file.path(), rx).await;
    drop(fail.await.unwrap());
    let err = result.expect_err("a failed writer fails the upload");
    assert!(format!("{err:?}").contains("writer failed"), "{err:?}");
    assert!(
        !repo.blob_exists(&digest).await.unwrap(),
        "nothing was committed"
    );
}
