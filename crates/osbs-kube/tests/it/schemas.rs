//! What we send to a Kubernetes API server, checked offline against its schemas (no cluster
//! here): the build Pods `render_pod` makes in each configuration and every manifest of
//! `deploy/` with kubernetes-validate (`--strict`: an unknown field fails), and BuildConfig,
//! Build and ImageStream resources against the openAPIV3Schema of `deploy/crds.yaml` with
//! `cr_validate.py` (kubernetes-validate only warns that it has no schema for a custom kind).
//! `cargo xtask services up` installs both into the tools venv
//! (`osbs_testkit::kubernetes_validate`). Each check also runs once on a resource with a bogus
//! field, which must fail, so that a checker that passes everything fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use osbs_kube::{
    BuildConfigResource, BuildResource, DockerMode, ImageStreamResource, PodSecrets, PodSettings,
    render_pod,
};
use serde_json::{Value, json};

/// The Kubernetes version the objects are checked against: the oldest the service supports
/// (docs/kubernetes.md). 1.29 is the first release with native sidecars on by default (an init
/// container with `restartPolicy: Always`, how the dind sidecar runs; 1.28 had them behind the
/// off-by-default `SidecarContainers` gate). Checking against the oldest also catches a field
/// only newer servers know.
const KUBERNETES_VERSION: &str = "1.29.0";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The build Pods worth checking: each way the Engine is reached and each kind of mount.
fn pods() -> Vec<(&'static str, Pod)> {
    let owner = sample_build()
        .controller_owner_ref(&())
        .expect("a Build with a uid has an owner reference");
    let lease = Some("app-main-1a2b3-4/1714564800000-0000beef");
    let dind = PodSettings::default();
    let host_socket = PodSettings {
        docker: DockerMode::HostSocket {
            path: "/var/run/docker.sock".into(),
        },
        ..PodSettings::default()
    };
    let build_secrets = [
        ("npmrc".to_owned(), "app-npmrc".to_owned()),
        ("pip.conf".to_owned(), "app-pip-conf".to_owned()),
    ];
    let extra = [Some("mirror-push".to_owned()), None];
    let hosts = [
        "registry.example:5000".to_owned(),
        "mirror.example:8443".to_owned(),
        "backup.example".to_owned(),
    ];
    let pod = |owner: Option<_>, secrets, lease, settings: &PodSettings| {
        render_pod(
            "app-main-1a2b3-4",
            "app-main-1a2b3",
            owner,
            secrets,
            lease,
            settings,
        )
    };
    vec![
        (
            "pod-dind-lease-owner",
            pod(
                Some(owner.clone()),
                PodSecrets {
                    registry: Some("push-secret"),
                    sync: Some("stage-secret"),
                    ..PodSecrets::default()
                },
                lease,
                &dind,
            ),
        ),
        (
            "pod-dind-bare",
            pod(None, PodSecrets::default(), None, &dind),
        ),
        (
            "pod-host-socket",
            pod(
                Some(owner.clone()),
                PodSecrets {
                    registry: Some("push-secret"),
                    build: &build_secrets,
                    ..PodSecrets::default()
                },
                lease,
                &host_socket,
            ),
        ),
        (
            "pod-build-secrets",
            pod(
                Some(owner.clone()),
                PodSecrets {
                    build: &build_secrets,
                    engine_registries: &hosts[..1],
                    ..PodSecrets::default()
                },
                lease,
                &dind,
            ),
        ),
        (
            "pod-registry-ca-extra-registries",
            pod(
                Some(owner),
                PodSecrets {
                    registry: Some("push-secret"),
                    sync: Some("stage-secret"),
                    extra_registries: &extra,
                    registry_ca: Some("osbs-registry-ca"),
                    engine_registries: &hosts,
                    skip_tls_verify: true,
                    ..PodSecrets::default()
                },
                lease,
                &dind,
            ),
        ),
    ]
}

/// A BuildConfig as people write it, with every field the CRD has.
fn sample_build_config() -> Value {
    json!({
        "apiVersion": "osbs.dev/v1alpha1",
        "kind": "BuildConfig",
        "metadata": {"name": "app-main-1a2b3", "namespace": "osbs"},
        "spec": {
            "gitUrl": "https://git.example/app.git",
            "gitBranch": "main",
            "lastUserCommit": "0123456789abcdef0123456789abcdef01234567",
            "labels": {"com.example.team": "builds"},
            "trigger": {"stream": "base", "tag": "latest"},
            "runPolicy": "Serial",
            "repoConfigName": "container.yaml",
            "imageName": "apps/app",
            "registryUri": "registry.example:5000",
            "registrySecret": "push-secret",
            "sync": {
                "name": "stage",
                "registryUri": "stage.example:5000",
                "registrySecret": "stage-secret"
            },
            "extraRegistries": [
                {"registryUri": "mirror.example:8443", "registrySecret": "mirror-push"},
                {"registryUri": "backup.example"}
            ],
            "skipTlsVerify": true,
            "registryCa": "osbs-registry-ca",
            "buildSecrets": [{"id": "npmrc", "secret": "app-npmrc"}],
            "buildArgs": {"VERSION": "1.2"}
        },
        "status": {"lastVersion": 4}
    })
}

/// A running Build as the controller keeps it.
fn sample_build() -> BuildResource {
    serde_json::from_value(json!({
        "apiVersion": "osbs.dev/v1alpha1",
        "kind": "Build",
        "metadata": {
            "name": "app-main-1a2b3-4",
            "namespace": "osbs",
            "uid": "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",
            "labels": {"osbs.dev/build-config": "app-main-1a2b3"}
        },
        "spec": {
            "buildConfig": "app-main-1a2b3",
            "number": 4,
            "isAutorebuild": true,
            "cause": {
                "type": "ImageChange",
                "stream": "base",
                "tag": "latest",
                "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                "chain": ["base-main-1-1"]
            },
            "gitUrl": "https://git.example/app.git",
            "gitBranch": "main",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "created": "2024-05-01T12:00:00.000Z",
            "cancelRequested": true,
            "variant": {
                "scratch": true,
                "isolated": true,
                "release": "2",
                "tags": ["v1.2"],
                "buildArgs": {"FLAVOUR": "slim"}
            }
        },
        "status": {
            "phase": "Running",
            "started": "2024-05-01T12:00:05.000Z",
            "release": "2",
            "image": "registry.example:5000/apps/app:v1.2",
            "podName": "app-main-1a2b3-4-build",
            "lease": "app-main-1a2b3-4/1714564800000-0000beef",
            "leaseGranted": "2024-05-01T12:00:04.000Z"
        }
    }))
    .expect("the sample Build reads as a BuildResource")
}

/// An ImageStream after an import that fired a trigger.
fn sample_image_stream() -> Value {
    json!({
        "apiVersion": "osbs.dev/v1alpha1",
        "kind": "ImageStream",
        "metadata": {"name": "base", "namespace": "osbs"},
        "spec": {"dockerImageRepository": "registry.example:5000/base"},
        "status": {
            "dockerImageRepository": "registry.example:5000/base",
            "tags": {
                "latest": {
                    "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                    "history": [{
                        "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                        "time": "2024-05-01T12:00:00.000Z",
                        "build": "base-main-1-1"
                    }]
                }
            },
            "pendingTriggers": [{
                "tag": "latest",
                "old": null,
                "new": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                "chain": ["base-main-1-1"]
            }]
        }
    })
}

/// The custom resources to check: each sample as written, and as the Rust types write it back.
fn custom_resources() -> Vec<(&'static str, Value)> {
    let build_config = sample_build_config();
    let build = serde_json::to_value(sample_build()).expect("json");
    let image_stream = sample_image_stream();
    let round_trip = |value: &Value, kind: &str| -> Value {
        match kind {
            "BuildConfig" => serde_json::to_value(
                serde_json::from_value::<BuildConfigResource>(value.clone()).expect(kind),
            ),
            _ => serde_json::to_value(
                serde_json::from_value::<ImageStreamResource>(value.clone()).expect(kind),
            ),
        }
        .expect("json")
    };
    vec![
        ("cr-build-config-written", build_config.clone()),
        (
            "cr-build-config-from-rust",
            round_trip(&build_config, "BuildConfig"),
        ),
        ("cr-build-from-rust", build),
        ("cr-image-stream-written", image_stream.clone()),
        (
            "cr-image-stream-from-rust",
            round_trip(&image_stream, "ImageStream"),
        ),
    ]
}

fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
    path
}

/// `deploy/*.yaml` (but the kustomization, which is no resource) and `deploy/e2e/*.yaml`.
fn deploy_manifests() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["deploy", "deploy/e2e"] {
        for entry in std::fs::read_dir(root().join(dir)).expect(dir) {
            let path = entry.expect(dir).path();
            let is_yaml = path.extension().is_some_and(|e| e == "yaml");
            if is_yaml && !path.ends_with("kustomization.yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 5, "deploy manifests: {files:?}");
    files
}

/// How many resources `path` holds: one per top-level `kind:` line.
fn resources_in(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("manifest");
    let count = text.lines().filter(|l| l.starts_with("kind: ")).count();
    if path.extension().is_some_and(|e| e == "json") {
        1
    } else {
        count
    }
}

fn run(program: &Path, args: &[&str], files: &[PathBuf]) -> (Output, String) {
    let out = Command::new(program)
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// Asserts that the checker passed every resource of `files` and said nothing else.
fn assert_all_passed(what: &str, out: &Output, text: &str, files: &[PathBuf]) {
    assert!(out.status.success(), "{what} failed:\n{text}");
    let complaints: Vec<_> = text
        .lines()
        .filter(|l| !l.starts_with("INFO "))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(complaints.is_empty(), "{what}: warnings or errors:\n{text}");
    for file in files {
        let prefix = format!("INFO {} passed", file.display());
        let passed = text.lines().filter(|l| l.starts_with(&prefix)).count();
        assert_eq!(
            passed,
            resources_in(file),
            "{what}: resources of {} that passed:\n{text}",
            file.display()
        );
    }
}

#[test]
fn build_pods_and_deploy_manifests_match_the_kubernetes_api_schemas() {
    let Some(kubernetes_validate) = osbs_testkit::kubernetes_validate() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<PathBuf> = pods()
        .iter()
        .map(|(name, pod)| write_json(dir.path(), name, pod))
        .collect();
    files.extend(deploy_manifests());
    let args = ["--kubernetes-version", KUBERNETES_VERSION, "--strict"];
    let (out, text) = run(&kubernetes_validate, &args, &files);
    assert_all_passed("kubernetes-validate", &out, &text, &files);

    // The same check on a Pod with a field the API does not have must fail.
    let mut bogus = serde_json::to_value(&pods()[0].1).expect("json");
    bogus["spec"]["initContainers"][0]["restartPolicyy"] = json!("Always");
    let bogus = write_json(dir.path(), "pod-bogus", &bogus);
    let (out, text) = run(&kubernetes_validate, &args, &[bogus]);
    assert!(
        !out.status.success() && text.contains("'restartPolicyy' was unexpected"),
        "kubernetes-validate passed a Pod with an unknown field:\n{text}"
    );
}

#[test]
fn crds_are_structural_and_custom_resources_match_their_schemas() {
    let Some(kubernetes_validate) = osbs_testkit::kubernetes_validate() else {
        return;
    };
    let python = kubernetes_validate.with_file_name("python3");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/cr_validate.py");
    let crds = root().join("deploy/crds.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    let resources: Vec<PathBuf> = custom_resources()
        .iter()
        .map(|(name, value)| write_json(dir.path(), name, value))
        .collect();
    let mut args = vec![script.clone(), crds.clone()];
    args.extend(resources.iter().cloned());
    let (out, text) = run(&python, &[], &args);
    let mut files = vec![crds];
    files.extend(resources);
    assert_all_passed("cr_validate.py", &out, &text, &files);

    // A CRD field without a type (the API server refuses the CRD), a misspelt field (the API
    // server would drop it) and a wrong type must each fail.
    let mut typeless = osbs_kube::all_crds()
        .into_iter()
        .map(|crd| serde_json::to_value(crd).expect("json"))
        .find(|crd| crd["spec"]["names"]["kind"] == "BuildConfig")
        .expect("the BuildConfig CRD");
    let spec = &mut typeless["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"];
    spec["gitUrl"]
        .as_object_mut()
        .expect("gitUrl's schema")
        .remove("type");
    let mut misspelt = sample_build_config();
    misspelt["spec"]["registryURI"] = json!("registry.example:5000");
    let mut wrong_type = sample_build_config();
    wrong_type["spec"]["extraRegistries"][0]["registryUri"] = json!(5000);
    let args = vec![
        script,
        write_json(dir.path(), "crd-typeless", &typeless),
        write_json(dir.path(), "cr-misspelt", &misspelt),
        write_json(dir.path(), "cr-wrong-type", &wrong_type),
    ];
    let (out, text) = run(&python, &[], &args);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "is not structural: v1alpha1:.spec.gitUrl: no type",
        "'registryURI' was unexpected",
        "5000 is not of type 'string'",
    ] {
        assert!(
            text.contains(expected),
            "cr_validate.py did not say {expected:?}:\n{text}"
        );
    }
}
