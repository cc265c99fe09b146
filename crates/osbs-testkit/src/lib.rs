//! Test support shared by xtask and the workspace's tests: the addresses of the local services
//! that `cargo xtask services up` starts, and a check that fails a test loudly when they are
//! missing instead of letting it pass or skip. With feature `kube`, module `kube_fake` is a
//! wiremock stand-in for the Kubernetes API server.

pub mod fixture;
#[cfg(feature = "kube")]
pub mod kube_fake;

use std::env;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Default `host:port` of the push-target registry (SPEC §9).
pub const DEFAULT_PUSH_REGISTRY: &str = "127.0.0.1:5000";
/// Default `host:port` of the sync-target registry (SPEC §9).
pub const DEFAULT_SYNC_REGISTRY: &str = "127.0.0.1:5001";
/// Repository and tag of the busybox base image in the push registry.
pub const BASE_IMAGE_REPOSITORY: &str = "osbs/busybox";
/// Tag of the busybox base image.
pub const BASE_IMAGE_TAG: &str = "latest";
/// Default path of the Docker Engine socket.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// `host:port` of the push-target registry (`OSBS_PUSH_REGISTRY` overrides the default).
pub fn push_registry() -> String {
    env::var("OSBS_PUSH_REGISTRY").unwrap_or_else(|_| DEFAULT_PUSH_REGISTRY.to_owned())
}

/// `host:port` of the sync-target registry (`OSBS_SYNC_REGISTRY` overrides the default).
pub fn sync_registry() -> String {
    env::var("OSBS_SYNC_REGISTRY").unwrap_or_else(|_| DEFAULT_SYNC_REGISTRY.to_owned())
}

/// Path of the Docker Engine socket (`DOCKER_HOST=unix://...` overrides the default).
pub fn docker_socket() -> String {
    match env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host["unix://".len()..].to_owned(),
        _ => DEFAULT_DOCKER_SOCKET.to_owned(),
    }
}

/// Full reference of the busybox base image, e.g. `127.0.0.1:5000/osbs/busybox:latest`.
pub fn base_image() -> String {
    format!(
        "{}/{BASE_IMAGE_REPOSITORY}:{BASE_IMAGE_TAG}",
        push_registry()
    )
}

/// Sends one HTTP/1.1 request over `stream` and returns the status code, or `None` when the
/// peer does not answer like an HTTP server.
fn http_status<S: Read + Write>(mut stream: S, request: &str) -> Option<u16> {
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut buf[read..]).ok()?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let head = std::str::from_utf8(&buf[..read]).ok()?;
    head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

/// HTTP status of `GET path` (with `accept` as the Accept header) on a plain-HTTP server at
/// `host:port`, or `None` when nothing answers.
pub fn http_get_status(addr: &str, path: &str, accept: &str) -> Option<u16> {
    let stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    http_status(stream, &request)
}

/// Whether a distribution registry answers `GET /v2/` at `host:port`.
pub fn registry_answers(addr: &str) -> bool {
    http_get_status(addr, "/v2/", "*/*") == Some(200)
}

/// Whether the Docker Engine answers `GET /_ping` on its unix socket.
pub fn docker_answers() -> bool {
    let Ok(stream) = UnixStream::connect(docker_socket()) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .is_err()
    {
        return false;
    }
    http_status(
        stream,
        "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
    ) == Some(200)
}

/// Fails the calling test with instructions when Docker or either registry is not answering.
///
/// Tests that need real services call this first. It never skips: a test that silently passes
/// without its service would hide a broken set-up (in CI and on a developer machine alike).
pub fn require_services() {
    let mut missing = Vec::new();
    if !docker_answers() {
        missing.push(format!("Docker Engine at {}", docker_socket()));
    }
    for addr in [push_registry(), sync_registry()] {
        if !registry_answers(&addr) {
            missing.push(format!("registry at {addr}"));
        }
    }
    assert!(
        missing.is_empty(),
        "services not answering: {}; run `cargo xtask services up` first",
        missing.join(", ")
    );
}
