//! A wiremock stand-in for the Kubernetes API server (feature `kube`): the paths, objects and
//! `Status` errors that the tests of `osbs-kube` and `osbs-kube-pod` mount on a `MockServer`.

use kube::{Client, Config};
use serde_json::{Value, json};
use wiremock::MockServer;

/// The namespace every test uses.
pub const NS: &str = "osbs";

/// The collection path of an OSBS resource (`builds`, `buildconfigs`, `imagestreams`) in [`NS`].
pub fn path(resource: &str) -> String {
    format!("/apis/osbs.example.dev/v1alpha1/namespaces/{NS}/{resource}")
}

/// The configuration of a client for the mock server, with [`NS`] as default namespace (and
/// the `ring` crypto provider installed, which kube's rustls needs).
pub fn config(server: &MockServer) -> Config {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::new(server.uri().parse().expect("mock uri"));
    config.default_namespace = NS.to_owned();
    config
}

/// A client for the mock server.
pub fn client(server: &MockServer) -> Client {
    Client::try_from(config(server)).expect("client")
}

/// A `Status` failure body.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    })
}

/// A Build object as the API server returns it.
pub fn build(name: &str, config: &str, phase: &str, rv: &str) -> Value {
    json!({
        "apiVersion": "osbs.example.dev/v1alpha1",
        "kind": "Build",
        "metadata": {
            "name": name, "namespace": NS, "resourceVersion": rv, "uid": format!("uid-{name}"),
            "labels": {"osbs.example.dev/build-config": config}
        },
        "spec": {
            "buildConfig": config, "number": 1, "isAutorebuild": false,
            "cause": {"type": "User"},
            "gitUrl": "https://git.example.com/ns/app.git", "gitBranch": "main",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "created": "2024-05-01T12:00:00.000Z"
        },
        "status": {"phase": phase}
    })
}

/// A BuildConfig object: a push registry with a Secret, an image name, a trigger on
/// `osbs-busybox:latest` and a sync target `stage` with its own Secret.
pub fn build_config(name: &str, last_version: i64, rv: &str) -> Value {
    json!({
        "apiVersion": "osbs.example.dev/v1alpha1",
        "kind": "BuildConfig",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": rv, "uid": format!("uid-{name}")},
        "spec": {
            "gitUrl": "https://git.example.com/ns/app.git", "gitBranch": "main",
            "lastUserCommit": "0123456789abcdef0123456789abcdef01234567",
            "labels": {"is_autorebuild": "false"},
            "trigger": {"stream": "osbs-busybox", "tag": "latest"},
            "imageName": "osbs/app",
            "registryUri": "registry.osbs.svc:5000",
            "registrySecret": "push-secret",
            "sync": {"name": "stage", "registryUri": "http://stage.osbs.svc:5000", "registrySecret": "stage-secret"}
        },
        "status": {"lastVersion": last_version}
    })
}
