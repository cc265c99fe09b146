//! Every manifest under `deploy/` deserialises into its k8s-openapi type, the CRDs in it are the
//! ones the Rust types generate, and `kubectl kustomize deploy/` renders offline.

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
