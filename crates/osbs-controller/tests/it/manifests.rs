//! Every manifest under `deploy/` deserialises into its k8s-openapi type, the CRDs in it are the
//! ones the Rust types generate, `kubectl kustomize deploy/` renders offline, every image is
//! pinned to a version, and the controller's Deployment probes its endpoint.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("deploy/").flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml")
            && path.file_name().is_some_and(|n| n != "kustomization.yaml")
        {
            out.push(path);
        }
    }
}

/// Deserialises one document into the type its `kind` names; returns the kind.
fn check(doc: Value, origin: &str) -> String {
    let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
    let result = match kind.as_str() {
        "CustomResourceDefinition" => {
            serde_json::from_value::<CustomResourceDefinition>(doc).map(drop)
        }
        "Deployment" => serde_json::from_value::<Deployment>(doc).map(drop),
        "Namespace" => serde_json::from_value::<Namespace>(doc).map(drop),
        "Service" => serde_json::from_value::<Service>(doc).map(drop),
        "ServiceAccount" => serde_json::from_value::<ServiceAccount>(doc).map(drop),
        "Role" => serde_json::from_value::<Role>(doc).map(drop),
        "RoleBinding" => serde_json::from_value::<RoleBinding>(doc).map(drop),
        other => panic!("{origin}: no k8s-openapi type listed for kind {other:?}"),
    };
    if let Err(e) = result {
        panic!("{origin}: {kind} does not deserialise: {e}");
    }
    kind
}

fn docs(text: &str, origin: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{origin}: invalid YAML: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

#[test]
fn every_manifest_deserialises_into_its_type() {
    let mut files = Vec::new();
    yaml_files(&deploy(), &mut files);
    files.sort();
    let mut kinds = Vec::new();
    for file in &files {
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(file).expect("read");
        for doc in docs(&text, &origin) {
            kinds.push(check(doc, &origin));
        }
    }
    kinds.sort();
    insta::assert_debug_snapshot!(kinds);
}

#[test]
fn deployed_crds_are_the_generated_ones() {
    let text = std::fs::read_to_string(deploy().join("crds.yaml")).expect("crds.yaml");
    let committed: Vec<CustomResourceDefinition> = docs(&text, "crds.yaml")
        .into_iter()
        .map(|d| serde_json::from_value(d).expect("crd"))
        .collect();
    assert_eq!(
        committed,
        osbs_kube::all_crds(),
        "regenerate: cargo run -p osbs-controller -- crds > deploy/crds.yaml"
    );
}

#[test]
fn kustomize_renders_offline() {
    let output = Command::new("kubectl")
        .args(["kustomize"])
        .arg(deploy())
        .output()
        .expect(
            "kubectl is needed (Debian kubernetes-client; `cargo xtask services up` installs it)",
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let mut rendered = Vec::new();
    for doc in docs(&text, "kubectl kustomize deploy/") {
        let namespace = doc["metadata"]["namespace"].as_str().map(str::to_owned);
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let kind = check(doc, "kubectl kustomize deploy/");
        rendered.push(format!(
            "{kind}/{name} ns={}",
            namespace.as_deref().unwrap_or("-")
        ));
    }
    insta::assert_debug_snapshot!(rendered);
}

/// Whether `image` names a release: a digest, or a tag that starts with a version number
/// (`2.8.3`, `27.5.1-dind`, `12.11-slim`), never a bare name, `latest` or a moving `2`.
fn pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let Some((_, tag)) = last.split_once(':') else {
        return false;
    };
    let version = tag.split('-').next().unwrap_or_default();
    version.contains('.') && version.split('.').all(|n| n.parse::<u32>().is_ok())
}

/// The images a manifest runs: its containers' (and init containers') images, and the
/// `OSBS_DIND_IMAGE` it gives the build Pods.
fn images_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(image)) = map.get("image") {
                out.push(image.clone());
            }
            if map.get("name") == Some(&Value::String("OSBS_DIND_IMAGE".into()))
                && let Some(Value::String(image)) = map.get("value")
            {
                out.push(image.clone());
            }
            map.values().for_each(|v| images_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| images_in(v, out)),
        _ => {}
    }
}

#[test]
fn every_image_is_pinned_to_a_version() {
    // Built from this repository and tagged by kustomize (`images:`) or `cargo xtask e2e`.
    let own = ["osbs-controller", "osbs-reactor:dev"];
    let mut images = Vec::new();
    let mut files = Vec::new();
    yaml_files(&deploy(), &mut files);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for doc in docs(&text, &file.display().to_string()) {
            images_in(&doc, &mut images);
        }
    }
    for entry in std::fs::read_dir(deploy().join("docker")).expect("deploy/docker") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("FROM ") {
                images.push(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    }
    images.push(osbs_kube::pod::DEFAULT_DIND_IMAGE.to_owned());
    images.retain(|i| !own.contains(&i.as_str()));
    images.sort();
    images.dedup();
    let loose: Vec<&String> = images.iter().filter(|i| !pinned(i)).collect();
    assert!(loose.is_empty(), "not pinned to a version: {loose:?}");
    assert_eq!(
        images,
        [
            "debian:12.11-slim",
            "docker:27.5.1-dind",
            "registry:2.8.3",
            "rust:1.89.0-bookworm"
        ]
    );
    assert!(!pinned("docker:dind") && !pinned("registry:2") && !pinned("busybox"));
    assert!(pinned("docker:27.5.1-dind@sha256:0123") && pinned("host:5000/osbs/x:1.2"));
}

#[test]
fn the_controller_is_probed_on_its_endpoint() {
    let text = std::fs::read_to_string(deploy().join("controller.yaml")).expect("controller.yaml");
    let doc = docs(&text, "controller.yaml").remove(0);
    let deployment: Deployment = serde_json::from_value(doc).expect("Deployment");
    let pod = deployment.spec.template.spec.expect("pod spec");
    let container = &pod.containers[0];
    let port = container
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("metrics"))
        .expect("a metrics port");
    let env = |name: &str| {
        container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(
        env("OSBS_PROBE_ADDR"),
        Some(format!("0.0.0.0:{}", port.container_port))
    );
    assert_eq!(env("OSBS_LOG_FORMAT").as_deref(), Some("json"));
    for (probe, path) in [
        (&container.liveness_probe, "/healthz"),
        (&container.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.clone())
            .unwrap_or_else(|| panic!("no probe of {path}"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(
            serde_json::to_value(&get.port).expect("port"),
            serde_json::json!("metrics")
        );
    }
}
