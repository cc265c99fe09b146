//! The rendered build Pod, pinned as snapshots (dind sidecar and host socket), and what is
//! read back from a Pod.

use osbs_core::time::Timestamp;
use osbs_kube::{DockerMode, PodPhase, PodSecrets, PodSettings, PodView, render_pod};

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
