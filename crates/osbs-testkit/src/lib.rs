//! Test support shared by xtask and the workspace's tests: the addresses of the local services
//! that `cargo xtask services up` starts, and a check that fails a test loudly when they are
//! missing instead of letting it pass or skip. The Pulp 3 registry of `services up --pulp` has
//! its own address, credentials and check ([`pulp_registry`], [`require_pulp`]), and so do the
//! offline checkers that `services up` installs into a venv ([`kubernetes_validate`]). With feature
//! `kube`, module `kube_fake` is a wiremock stand-in for the Kubernetes API server; with
//! feature `registry`, module `registry` starts registries with htpasswd auth or TLS.

pub mod fault_proxy;
pub mod fixture;
#[cfg(feature = "kube")]
pub mod kube_fake;
#[cfg(feature = "registry")]
pub mod registry;

use std::env;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default `host:port` of the push-target registry (SPEC §9).
pub const DEFAULT_PUSH_REGISTRY: &str = "127.0.0.1:5000";
/// Default `host:port` of the sync-target registry (SPEC §9).
pub const DEFAULT_SYNC_REGISTRY: &str = "127.0.0.1:5001";
/// Repository and tag of the busybox base image in the push registry.
pub const BASE_IMAGE_REPOSITORY: &str = "osbs/busybox";
/// Tag of the busybox base image.
pub const BASE_IMAGE_TAG: &str = "latest";
/// Default `host:port` of the Pulp 3 registry API (`cargo xtask services up --pulp`).
pub const DEFAULT_PULP_REGISTRY: &str = "127.0.0.1:24817";
/// The Pulp administrator the service is set up with (user name).
pub const PULP_USER: &str = "admin";
/// The Pulp administrator's password.
pub const PULP_PASSWORD: &str = "admin";
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

/// `host:port` of the Pulp 3 registry API (`OSBS_PULP_REGISTRY` overrides the default). Its
/// token server is `http://HOST:PORT/token/`; [`PULP_USER`] is its administrator.
pub fn pulp_registry() -> String {
    env::var("OSBS_PULP_REGISTRY").unwrap_or_else(|_| DEFAULT_PULP_REGISTRY.to_owned())
}

/// A docker `config.json` holding the Pulp administrator's credential for [`pulp_registry`]
/// (what an `osbs.conf` `[registry NAME] secret` or `--authfile` points at).
pub fn pulp_docker_config() -> String {
    pulp_docker_config_for(&pulp_registry())
}

/// A docker `config.json` holding the Pulp administrator's credential for `registry` (a proxy
/// in front of Pulp, say), in the `auth` form every tool reads (skopeo does not read
/// `username`/`password`).
pub fn pulp_docker_config_for(registry: &str) -> String {
    let auth = base64(format!("{PULP_USER}:{PULP_PASSWORD}").as_bytes());
    format!(r#"{{"auths": {{"{registry}": {{"auth": "{auth}"}}}}}}"#)
}

/// Standard base64 with padding (this crate keeps its dependencies few).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let bytes = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
fn http_status<S: Read + Write>(stream: S, request: &str) -> Option<u16> {
    http_head(stream, request).map(|(status, _)| status)
}

/// Sends one HTTP/1.1 request over `stream` and returns the status code and the response's
/// head (status line and headers, up to 8 KiB), or `None` when the peer does not answer like
/// an HTTP server.
fn http_head<S: Read + Write>(mut stream: S, request: &str) -> Option<(u16, String)> {
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = vec![0u8; 8192];
    let mut read = 0;
    while read < buf.len() && !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf[read..]).ok()?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let head = String::from_utf8_lossy(&buf[..read]).into_owned();
    let status = head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
    Some((status, head))
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

/// Whether Pulp answers at `host:port` with token auth on: `GET /v2/` is a 401 with a Bearer
/// challenge.
pub fn pulp_answers(addr: &str) -> bool {
    let Ok(stream) = TcpStream::connect(addr) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .is_err()
    {
        return false;
    }
    let request =
        format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    http_head(stream, &request).is_some_and(|(status, head)| {
        status == 401
            && head.lines().any(|line| {
                let line = line.to_ascii_lowercase();
                line.starts_with("www-authenticate:") && line.contains("bearer realm=")
            })
    })
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

/// Whether the Pulp registry answers (with token auth), for a test that needs it: `true`
/// when it does. When it does not, the test fails in CI (`CI` set: `.ci/run` starts Pulp, so
/// a missing one is a broken set-up), and elsewhere this prints why and returns `false`, so
/// the test can return early: Pulp is a heavier service than the others
/// (`cargo xtask services up --pulp` starts it).
pub fn require_pulp() -> bool {
    let addr = pulp_registry();
    if pulp_answers(&addr) {
        return true;
    }
    assert!(
        env::var_os("CI").is_none(),
        "Pulp is not answering at {addr} with token auth (CI is set, so this fails); \
         run `cargo xtask services up --pulp` first"
    );
    eprintln!(
        "Pulp is not answering at {addr}: skipping this test; \
         `cargo xtask services up --pulp` starts it (in CI the test fails instead)"
    );
    false
}

/// The pinned requirements of the tools venv that `cargo xtask services up` installs
/// (`TOOLS_VENV` under [`services_dir`]): kubernetes-validate checks manifests against the
/// Kubernetes API's JSON schemas offline, and its jsonschema checks custom resources against
/// a CRD's `openAPIV3Schema`. A venv installed with anything else is installed again.
pub const TOOLS_REQUIREMENTS: &[&str] = &["kubernetes-validate==1.37.0", "jsonschema==4.26.0"];

/// The file in each venv of `cargo xtask services up` (the tools venv, Pulp's) that holds
/// the requirements it was installed with, one a line.
pub const VENV_MARKER: &str = "osbs-requirements.txt";

/// Whether the venv `venv` was installed with exactly `requirements` ([`VENV_MARKER`]).
pub fn venv_holds(venv: &Path, requirements: &[&str]) -> bool {
    std::fs::read_to_string(venv.join(VENV_MARKER))
        .is_ok_and(|have| have == requirements.join("\n"))
}

/// The tools venv's directory name under [`services_dir`].
pub const TOOLS_VENV: &str = "tools-venv";

/// Where `cargo xtask services up` keeps its state: `$OSBS_SERVICES_DIR`, else
/// `target/osbs-services` of the workspace.
pub fn services_dir() -> PathBuf {
    env::var_os("OSBS_SERVICES_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/osbs-services"
            ))
        },
        PathBuf::from,
    )
}

/// The tools venv's `kubernetes-validate` program, for a test that needs it: `Some(path)` when
/// the venv holds it, installed with [`TOOLS_REQUIREMENTS`] (its Python, with jsonschema, is
/// `python3` beside it). When not, the test fails in CI (`CI` set: `services up` installs it,
/// so a missing one is a broken set-up), and elsewhere this prints how to install it and
/// returns `None`, so the test can return early.
pub fn kubernetes_validate() -> Option<PathBuf> {
    let venv = services_dir().join(TOOLS_VENV);
    let program = venv.join("bin").join("kubernetes-validate");
    if venv_holds(&venv, TOOLS_REQUIREMENTS) && program.is_file() {
        return Some(program);
    }
    assert!(
        env::var_os("CI").is_none(),
        "kubernetes-validate is not installed in {} (CI is set, so this fails); \
         run `cargo xtask services up` first",
        venv.display()
    );
    eprintln!(
        "kubernetes-validate is not installed in {}: skipping this test; \
         `cargo xtask services up` installs it (python3 -m venv, then pip install {}; \
         in CI the test fails instead)",
        venv.display(),
        TOOLS_REQUIREMENTS.join(" ")
    );
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b"admin:admin"), "YWRtaW46YWRtaW4=");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"abc"), "YWJj");
        assert_eq!(super::base64(b""), "");
    }
}
