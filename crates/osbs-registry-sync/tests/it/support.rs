//! Shared test support: unique repository names, clients with fast retries, images built in
//! memory, a counting TCP proxy in front of a registry, and the CLI runner with snapshot
//! filters.

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use osbs_core::auth::{Credential, Secret};
use osbs_registry_sync::{
    ClientOptions, Manifest, RegistryClient, RegistryEndpoint, Repository, RetryPolicy,
    sha256_digest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Fails the test unless Docker and both registries answer; installs the TLS provider.
pub fn services() {
    osbs_testkit::require_services();
    osbs_registry_sync::install_crypto_provider();
}

/// A repository name no other test (or earlier run) uses.
pub fn unique(name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "registry-sync-tests/{name}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Client options with quick retries, so fault tests do not wait seconds.
pub fn fast_options() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        ..ClientOptions::default()
    }
}

/// A client for the registry at `addr` (`host:port`), without credentials.
pub fn client(addr: &str) -> RegistryClient {
    client_with(addr, None)
}

/// A client for the registry at `addr` with an explicit credential.
pub fn client_with(addr: &str, credential: Option<Credential>) -> RegistryClient {
    let endpoint: RegistryEndpoint = addr.parse().unwrap();
    RegistryClient::with_credential(endpoint, credential, &fast_options()).unwrap()
}

/// A Basic credential.
pub fn basic(user: &str, password: &str) -> Credential {
    let config = osbs_core::auth::DockerConfig::parse(&format!(
        r#"{{"auths": {{"x": {{"username": "{user}", "password": "{password}"}}}}}}"#
    ))
    .unwrap();
    let credential = config.credential_for("x").unwrap().clone();
    assert!(
        matches!(&credential, Credential::Basic { password: p, .. } if *p == Secret::new(password))
    );
    credential
}

/// An image made in memory: its blobs (config first) and manifest.
#[derive(Clone)]
pub struct TestImage {
    pub blobs: Vec<Bytes>,
    pub manifest: Manifest,
}

/// A tar archive holding one regular file.
pub fn tar_with(name: &str, content: &[u8]) -> Bytes {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, name, content).unwrap();
    Bytes::from(builder.into_inner().unwrap())
}

/// An OCI image for `linux/<arch>` whose layers are uncompressed tars of the given files.
pub fn oci_image(arch: &str, layers: &[Bytes]) -> TestImage {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| serde_json::json!({"created_by": "osbs-registry-sync test"})).collect::<Vec<_>>(),
    });
    let config = Bytes::from(serde_json::to_vec(&config).unwrap());
    let descriptor = |media_type: &str, blob: &Bytes| serde_json::json!({"mediaType": media_type, "digest": sha256_digest(blob), "size": blob.len()});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    });
    let mut blobs = vec![config];
    blobs.extend(layers.iter().cloned());
    TestImage {
        blobs,
        manifest: manifest_of("application/vnd.oci.image.manifest.v1+json", &manifest),
    }
}

/// An OCI index of `children` (an amd64 and an arm64 image, say).
pub fn oci_index(children: &[(&str, &TestImage)]) -> Manifest {
    let manifests: Vec<_> = children
        .iter()
        .map(|(arch, image)| {
            serde_json::json!({
                "mediaType": image.manifest.media_type,
                "digest": image.manifest.digest,
                "size": image.manifest.bytes.len(),
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    manifest_of(
        "application/vnd.oci.image.index.v1+json",
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }),
    )
}

fn manifest_of(media_type: &str, json: &serde_json::Value) -> Manifest {
    let bytes = Bytes::from(serde_json::to_vec_pretty(json).unwrap());
    Manifest {
        media_type: media_type.to_owned(),
        digest: sha256_digest(&bytes),
        bytes,
    }
}

/// Pushes `image` (blobs, then manifest under `tag`).
pub async fn push_image(repo: &Repository, tag: &str, image: &TestImage) {
    for blob in &image.blobs {
        repo.push_blob(blob.clone()).await.unwrap();
    }
    repo.put_manifest(tag, &image.manifest).await.unwrap();
}

/// A small, distinct image: one layer holding `content`.
pub fn small_image(content: &str) -> TestImage {
    oci_image("amd64", &[tar_with("content.txt", content.as_bytes())])
}

/// One request a [`Proxy`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: bool,
}

impl Seen {
    /// `METHOD /path` with the query string and digests cut short.
    pub fn short(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Default)]
struct ProxyState {
    requests: Mutex<Vec<Seen>>,
    bytes_to_registry: AtomicU64,
    bytes_from_registry: AtomicU64,
}

/// A TCP proxy in front of a registry that records every HTTP request and counts the bytes
/// in both directions, as an independent witness of what a client did.
pub struct Proxy {
    /// `127.0.0.1:PORT` to use as the registry.
    pub addr: String,
    state: Arc<ProxyState>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`host:port`) on a free loopback port.
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(ProxyState::default());
        let upstream = upstream.to_owned();
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, Arc::clone(&shared)));
            }
        });
        Proxy { addr, state }
    }

    /// The requests seen so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Request body bytes sent to the registry (uploads).
    pub fn bytes_to_registry(&self) -> u64 {
        self.state.bytes_to_registry.load(Ordering::SeqCst)
    }

    /// All bytes the registry sent back (headers included).
    pub fn bytes_from_registry(&self) -> u64 {
        self.state.bytes_from_registry.load(Ordering::SeqCst)
    }

    /// Forgets what was seen.
    pub fn reset(&self) {
        self.state.requests.lock().unwrap().clear();
        self.state.bytes_to_registry.store(0, Ordering::SeqCst);
        self.state.bytes_from_registry.store(0, Ordering::SeqCst);
    }
}

async fn pipe(client: TcpStream, server: TcpStream, state: Arc<ProxyState>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up_state = Arc::clone(&state);
    let up = async move {
        let mut parser = RequestParser::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            parser.feed(&buf[..n], &up_state);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            state
                .bytes_from_registry
                .fetch_add(n as u64, Ordering::SeqCst);
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Splits a client's byte stream into requests (heads with `Content-Length` bodies; the
/// clients under test never send chunked requests with a known size).
#[derive(Default)]
struct RequestParser {
    head: Vec<u8>,
    body_left: u64,
}

impl RequestParser {
    fn feed(&mut self, mut data: &[u8], state: &ProxyState) {
        while !data.is_empty() {
            if self.body_left > 0 {
                let take = (self.body_left as usize).min(data.len());
                self.body_left -= take as u64;
                state
                    .bytes_to_registry
                    .fetch_add(take as u64, Ordering::SeqCst);
                data = &data[take..];
                continue;
            }
            self.head.push(data[0]);
            data = &data[1..];
            if self.head.ends_with(b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.head).into_owned();
                self.head.clear();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap_or_default().split(' ');
                let method = first.next().unwrap_or_default().to_owned();
                let path = first.next().unwrap_or_default().to_owned();
                let mut authorization = false;
                for line in lines {
                    let Some((name, value)) = line.split_once(':') else {
                        continue;
                    };
                    match name.trim().to_ascii_lowercase().as_str() {
                        "content-length" => self.body_left = value.trim().parse().unwrap_or(0),
                        "authorization" => authorization = true,
                        "transfer-encoding" => panic!("the proxy does not parse chunked requests"),
                        _ => {}
                    }
                }
                state.requests.lock().unwrap().push(Seen {
                    method,
                    path,
                    authorization,
                });
            }
        }
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `docker args` and returns its output (not checked).
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("docker must be installed")
}

/// Runs the `osbs-registry-sync` binary with `args` (and `HOME` pointing at an empty
/// directory, so no real docker config is read).
pub fn cli(args: &[&str]) -> Output {
    cli_env(args, &[])
}

/// [`cli`] with extra environment variables (`REGISTRY_AUTH_FILE`, `PATH`, ...).
pub fn cli_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_osbs-registry-sync"));
    without_auth_files(&mut command, home.path())
        .args(args)
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// `command` with `HOME` at `home` (an empty directory) and none of the variables that name
/// auth files, so no real docker config is read.
pub fn without_auth_files<'a>(command: &'a mut Command, home: &Path) -> &'a mut Command {
    command
        .env("HOME", home)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG")
}

/// Exit code, stdout and stderr of a CLI run, for snapshots.
pub fn render(output: &Output) -> String {
    format!(
        "exit code: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or("signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

/// Snapshot filters for run-dependent text: ports, unique repository names, durations.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (
            r"registry-sync-tests/([a-z-]+?)-\d+-\d+-\d+",
            "registry-sync-tests/$1-[ID]",
        ),
        (
            r#""duration_seconds": [0-9.]+"#,
            r#""duration_seconds": [SECONDS]"#,
        ),
        (r"; [0-9]+\.[0-9]{2} s", "; [SECONDS] s"),
    ]
}
