//! Smoke tests of the local services themselves: the base image is in the push registry, Docker
//! can pull it by digest and run it, and a pushed image is served back under the digest Docker
//! reported. If these fail, every other service-backed test would fail for the same reason.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use osbs_testkit as kit;

/// Runs `docker args...` and returns stdout; panics with stderr when it fails.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI runs");
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The `Docker-Content-Digest` the registry at `addr` reports for `repo:reference`.
fn registry_digest(addr: &str, repo: &str, reference: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("registry answers");
    write!(
        stream,
        "HEAD /v2/{repo}/manifests/{reference} HTTP/1.1\r\nHost: {addr}\r\n\
         Accept: application/vnd.docker.distribution.manifest.v2+json\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "HEAD {repo}:{reference} on {addr}: {response}"
    );
    response
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("docker-content-digest")
                .then(|| value.trim().to_owned())
        })
        .expect("registry sends Docker-Content-Digest")
}

#[test]
fn base_image_pulls_by_digest_and_runs() {
    kit::require_services();
    let registry = kit::push_registry();
    let digest = registry_digest(&registry, kit::BASE_IMAGE_REPOSITORY, kit::BASE_IMAGE_TAG);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "digest {digest}"
    );
    let by_digest = format!("{registry}/{}@{digest}", kit::BASE_IMAGE_REPOSITORY);
    docker(&["pull", "-q", &by_digest]);
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &by_digest,
        "/bin/sh",
        "-c",
        "echo $((6*7))",
    ]);
    assert_eq!(out, "42");
}

#[test]
fn pushed_image_is_served_under_the_reported_digest() {
    kit::require_services();
    for registry in [kit::push_registry(), kit::sync_registry()] {
        let image = format!("{registry}/osbs-tests/smoke:push");
        docker(&["tag", &kit::base_image(), &image]);
        let pushed = docker(&["push", &image]);
        let reported = pushed
            .lines()
            .find_map(|l| l.split("digest: ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("docker push printed no digest: {pushed}"))
            .to_owned();
        let served = registry_digest(&registry, "osbs-tests/smoke", "push");
        assert_eq!(served, reported, "registry {registry}");
        docker(&["rmi", &image]);
    }
}
