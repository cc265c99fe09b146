//! The rendered build Pod, pinned as snapshots (dind sidecar and host socket).

use osbs_controller::{DockerMode, PodSettings, render_pod};

#[test]
fn build_pod_with_a_dind_sidecar() {
    let pod = render_pod(
        "app-main-1a2b3-4",
        "app-main-1a2b3",
        None,
        Some("push-secret"),
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
    let pod = render_pod("app-main-1a2b3-4", "app-main-1a2b3", None, None, &settings);
    insta::assert_snapshot!(serde_saphyr::to_string(&pod).expect("yaml"));
}
