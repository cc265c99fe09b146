//! The rendered build Pod, pinned as snapshots (dind sidecar and host socket), and what is
//! read back from a Pod.

use k8s_openapi::api::core::v1::Container;
use osbs_core::time::Timestamp;
use osbs_kube::{DockerMode, PodPhase, PodSecrets, PodSettings, PodView, render_pod};

/// The mounts of `container`'s volumes named `prefix…`: (mount path, read-only).
fn mounts<'a>(container: &'a Container, prefix: &str) -> Vec<(&'a str, Option<bool>)> {
    container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| m.name.starts_with(prefix))
        .map(|m| (m.mount_path.as_str(), m.read_only))
        .collect()
}

/// Asserts that none of `containers` mounts a volume named `prefix…`.
fn assert_mount_none<'a>(containers: impl Iterator<Item = &'a Container>, prefix: &str) {
    for container in containers {
        assert!(mounts(container, prefix).is_empty(), "{}", container.name);
    }
}

#[test]
fn build_pod_with_a_dind_sidecar() {
    let pod = render_pod(
        "app-main-1a2b3-4",
        "app-main-1a2b3",
        None,
        PodSecrets {
            registry: Some("push-secret"),
            ..PodSecrets::default()
        },
        Some("app-main-1a2b3-4/1714564800000-0000beef"),
        &PodSettings::default(),
    );
    insta::assert_snapshot!(serde_saphyr::to_string(&pod).expect("yaml"));
}

#[test]
fn build_pod_with_the_host_socket() {
    let settings = PodSettings {
        docker: DockerMode::HostSocket {
            path: "/var/run/docker.sock".into(),
        },
        ..PodSettings::default()
    };
    let pod = render_pod(
        "app-main-1a2b3-4",
        "app-main-1a2b3",
        None,
        PodSecrets::default(),
        None,
        &settings,
    );
    insta::assert_snapshot!(serde_saphyr::to_string(&pod).expect("yaml"));
}

#[test]
fn build_pod_mounts_the_sync_registry_secret() {
    let pod = render_pod(
        "app-main-1a2b3-4",
        "app-main-1a2b3",
        None,
        PodSecrets {
            registry: Some("push-secret"),
            sync: Some("stage-secret"),
            ..PodSecrets::default()
        },
        None,
        &PodSettings::default(),
    );
    let spec = pod.spec.expect("pod spec");
    let volumes = spec.volumes.expect("volumes");
    let secrets: Vec<_> = volumes
        .iter()
        .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
        .collect();
    assert_eq!(secrets, ["push-secret", "stage-secret"]);
    let reactor = &spec.containers[0];
    let mounts: Vec<_> = reactor
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert!(mounts.contains(&"/var/run/secrets/osbs/sync"), "{mounts:?}");
    assert_eq!(
        osbs_kube::SYNC_SECRET_MOUNT,
        "/var/run/secrets/osbs/sync/.dockerconfigjson"
    );
}

#[test]
fn the_run_lease_is_in_the_reactor_environment_and_only_with_a_lease() {
    let env_of = |lease: Option<&str>| {
        let pod = render_pod(
            "app-main-1a2b3-4",
            "app-main-1a2b3",
            None,
            PodSecrets::default(),
            lease,
            &PodSettings::default(),
        );
        let spec = pod.spec.expect("pod spec");
        spec.containers[0]
            .env
            .iter()
            .flatten()
            .find(|e| e.name == osbs_kube::LEASE_ENV)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(env_of(Some("lease-1")).as_deref(), Some("lease-1"));
    assert_eq!(env_of(None), None, "a run without a lease is not fenced");
}

#[test]
fn a_pod_is_read_back_with_its_phase_and_the_kubelet_reason() -> anyhow::Result<()> {
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "app-main-1a2b3-4-build",
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "deletionTimestamp": "2024-05-01T12:05:00Z"
        },
        "status": {
            "phase": "Pending",
            "containerStatuses": [{
                "name": "reactor", "image": "osbs-reactor:dev", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}
            }]
        }
    }))?;
    let view = PodView::of(&pod, Timestamp::UNIX_EPOCH);
    assert_eq!(
        view,
        PodView {
            name: "app-main-1a2b3-4-build".into(),
            phase: PodPhase::Pending,
            created: Timestamp::parse("2024-05-01T12:00:00.000Z")?,
            deleting: true,
            message: Some("ImagePullBackOff".into()),
        }
    );
    Ok(())
}

#[test]
fn build_pod_mounts_each_build_secret_key_for_the_reactor_only() {
    let build = [
        ("npmrc".to_owned(), "app-npmrc".to_owned()),
        ("token".to_owned(), "app-token".to_owned()),
    ];
    let pod = render_pod(
        "app-main-1a2b3-4",
        "app-main-1a2b3",
        None,
        PodSecrets {
            build: &build,
            ..PodSecrets::default()
        },
        None,
        &PodSettings::default(),
    );
    insta::assert_snapshot!(serde_saphyr::to_string(&pod).expect("yaml"));
    let spec = pod.spec.expect("pod spec");
    let volumes = spec.volumes.expect("volumes");
    let secrets: Vec<_> = volumes
        .iter()
        .filter_map(|v| {
            let secret = v.secret.as_ref()?;
            let items = secret.items.as_ref()?;
            Some((
                v.name.as_str(),
                secret.secret_name.as_deref()?,
                items[0].key.as_str(),
                items[0].path.as_str(),
                secret.default_mode,
            ))
        })
        .collect();
    assert_eq!(
        secrets,
        [
            ("build-secret-0", "app-npmrc", "npmrc", "npmrc", Some(0o400)),
            ("build-secret-1", "app-token", "token", "token", Some(0o400)),
        ]
    );
    // Mounted read-only in the reactor, where the host finds them; the ids in its environment.
    let reactor = &spec.containers[0];
    let mounts = mounts(reactor, "build-secret-");
    assert_eq!(
        mounts,
        [
            ("/var/run/secrets/osbs/build/npmrc", Some(true)),
            ("/var/run/secrets/osbs/build/token", Some(true)),
        ]
    );
    assert_eq!(
        osbs_kube::pod::build_secret_path("token"),
        "/var/run/secrets/osbs/build/token/token"
    );
    let env: Vec<_> = reactor
        .env
        .iter()
        .flatten()
        .filter(|e| e.name == osbs_kube::pod::BUILD_SECRETS_ENV)
        .filter_map(|e| e.value.as_deref())
        .collect();
    assert_eq!(env, ["npmrc,token"]);
    // The Docker Engine's containers see none of them: only the reactor mounts them.
    let others = spec.init_containers.iter().flatten();
    assert_mount_none(others.chain(&spec.containers[1..]), "build-secret-");
}

#[test]
fn build_pod_mounts_the_further_registries_secrets_and_the_ca_for_the_reactor() {
    // Three registries: the push one, one with a Secret of its own, one without.
    let extra = [Some("mirror-push".to_owned()), None];
    let hosts = [
        "registry.example:5000".to_owned(),
        "mirror.example:8443".to_owned(),
        "backup.example".to_owned(),
    ];
    let pod = render_pod(
        "app-main-1a2b3-4",
        "app-main-1a2b3",
        None,
        PodSecrets {
            registry: Some("push-secret"),
            extra_registries: &extra,
            registry_ca: Some("osbs-registry-ca"),
            engine_registries: &hosts,
            skip_tls_verify: true,
            ..PodSecrets::default()
        },
        None,
        &PodSettings::default(),
    );
    insta::assert_snapshot!(serde_saphyr::to_string(&pod).expect("yaml"));
    let spec = pod.spec.expect("pod spec");
    let volumes = spec.volumes.expect("volumes");
    let secrets: Vec<_> = volumes
        .iter()
        .filter_map(|v| Some((v.name.as_str(), v.secret.as_ref()?.secret_name.as_deref()?)))
        .collect();
    assert_eq!(
        secrets,
        [
            ("registry-secret", "push-secret"),
            ("registry-secret-1", "mirror-push")
        ],
        "a registry without a Secret of its own mounts none"
    );
    let ca = volumes
        .iter()
        .find(|v| v.name == "registry-ca")
        .and_then(|v| v.config_map.as_ref())
        .expect("the CA ConfigMap volume");
    assert_eq!(ca.name, "osbs-registry-ca");
    let items = ca.items.as_ref().expect("one key");
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        ("ca.crt", "ca.crt")
    );
    // The reactor finds them where osbs-kube-pod's host looks.
    let reactor = &spec.containers[0];
    let mounts = mounts(reactor, "registry-");
    assert_eq!(
        mounts,
        [
            ("/var/run/secrets/osbs/registry", Some(true)),
            ("/var/run/secrets/osbs/registry-1", Some(true)),
            ("/etc/osbs/registry-ca", Some(true)),
        ]
    );
    assert!(
        osbs_kube::extra_registry_secret_mount(0).starts_with(mounts[1].0),
        "{}",
        osbs_kube::extra_registry_secret_mount(0)
    );
    assert_eq!(
        osbs_kube::REGISTRY_CA_MOUNT,
        format!("{}/{}", mounts[2].0, osbs_kube::REGISTRY_CA_KEY)
    );
    // The Docker Engine's sidecar trusts the CA for each registry, where it looks for one,
    // and with verification off takes each as insecure.
    let engine_ca = volumes
        .iter()
        .find(|v| v.name == "registry-ca-engine")
        .and_then(|v| v.config_map.as_ref())
        .expect("the Engine's CA volume");
    let paths: Vec<_> = engine_ca
        .items
        .iter()
        .flatten()
        .map(|i| (i.key.as_str(), i.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("ca.crt", "registry.example:5000/ca.crt"),
            ("ca.crt", "mirror.example:8443/ca.crt"),
            ("ca.crt", "backup.example/ca.crt"),
        ]
    );
    let dind = &spec.init_containers.as_ref().expect("dind")[0];
    assert!(
        dind.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "registry-ca-engine"
                && m.mount_path == "/etc/docker/certs.d"
                && !m.mount_path.contains(':'))
    );
    let insecure: Vec<_> = dind
        .args
        .iter()
        .flatten()
        .filter(|a| a.contains(".example"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        insecure,
        [
            "--insecure-registry=registry.example:5000",
            "--insecure-registry=mirror.example:8443",
            "--insecure-registry=backup.example",
        ]
    );
    // No credential reaches the Docker Engine's sidecar.
    assert_mount_none(spec.init_containers.iter().flatten(), "registry-secret");
}
