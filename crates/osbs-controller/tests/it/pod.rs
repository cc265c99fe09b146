//! The rendered build Pod, pinned as snapshots (dind sidecar and host socket).

use osbs_controller::{DockerMode, PodSecrets, PodSettings, render_pod};

#[test]
fn build_pod_with_a_dind_sidecar() {
    let pod = render_pod(
        "app-main-1a2b3-4",
        "app-main-1a2b3",
        None,
        PodSecrets {
            registry: Some("push-secret"),
            sync: None,
        },
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
        },
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
