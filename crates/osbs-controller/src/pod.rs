//! The build Pod as a pure function of the Build and the controller's settings
//! ([`render_pod`]): the reactor (`osbs-reactor-pod`, osbs-kube-pod's binary) as the main
//! container, a Docker Engine beside it (a `docker:dind` native sidecar by default, or the
//! node's socket), the registry Secrets mounted where osbs-kube-pod's `KubeHost` looks
//! (`osbs_kube::REGISTRY_SECRET_MOUNT`, `osbs_kube::SYNC_SECRET_MOUNT`), and an owner reference
//! to the Build so that deleting the Build deletes the Pod. The controller names the binary but
//! does not link it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, HostPathVolumeSource, ObjectFieldSelector, Pod,
    PodSpec, Probe, ResourceRequirements, SecretVolumeSource, SecurityContext, TCPSocketAction,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

/// Where the build Pod's reactor finds a Docker Engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DockerMode {
    /// A privileged `docker:dind` native sidecar (an init container with
    /// `restartPolicy: Always`), reached on `tcp://127.0.0.1:2375`; the Pod completes when the
    /// reactor exits.
    Dind {
        /// The dind image.
        image: String,
    },
    /// The node's Docker socket at this path, mounted with a hostPath volume.
    HostSocket {
        /// The socket's path on the node, e.g. `/var/run/docker.sock`.
        path: String,
    },
}

/// What every build Pod shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSettings {
    /// The reactor image.
    pub reactor_image: String,
    /// Where the Docker Engine is.
    pub docker: DockerMode,
    /// The builder service account.
    pub service_account: String,
    /// The registry builds push to when their BuildConfig names none.
    pub default_registry: String,
    /// Seconds the reactor gets after SIGTERM (cancel).
    pub grace_seconds: i64,
}

impl Default for PodSettings {
    fn default() -> Self {
        PodSettings {
            reactor_image: "osbs-reactor:dev".to_owned(),
            docker: DockerMode::Dind {
                image: "docker:dind".to_owned(),
            },
            service_account: "osbs-builder".to_owned(),
            default_registry: "registry.osbs.svc:5000".to_owned(),
            grace_seconds: 60,
        }
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

/// The Secrets a build Pod mounts for the reactor: the push registry's and the sync
/// registry's (each optional).
#[derive(Debug, Clone, Copy, Default)]
pub struct PodSecrets<'a> {
    /// The push registry's dockerconfigjson Secret.
    pub registry: Option<&'a str>,
    /// The sync registry's dockerconfigjson Secret.
    pub sync: Option<&'a str>,
}

/// The Pod that runs `build` (of `build_config`), owned by `owner`, with the registry Secrets
/// (if any) mounted for the reactor.
pub fn render_pod(
    build: &str,
    build_config: &str,
    owner: Option<OwnerReference>,
    secrets: PodSecrets<'_>,
    settings: &PodSettings,
) -> Pod {
    let labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "osbs-build".to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "osbs-controller".to_owned(),
        ),
        (osbs_kube::LABEL_BUILD.to_owned(), build.to_owned()),
        (
            osbs_kube::LABEL_BUILD_CONFIG.to_owned(),
            build_config.to_owned(),
        ),
    ]);
    let mut volumes = vec![Volume {
        name: "workspace".to_owned(),
        empty_dir: Some(Default::default()),
        ..Volume::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: "workspace".to_owned(),
        mount_path: "/workspace".to_owned(),
        ..VolumeMount::default()
    }];
    let mut reactor_env = vec![
        EnvVar {
            name: "OSBS_NAMESPACE".to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: Some("v1".to_owned()),
                    field_path: "metadata.namespace".to_owned(),
                }),
                ..EnvVarSource::default()
            }),
        },
        env("OSBS_BUILD_NAME", build),
        env("OSBS_DEFAULT_REGISTRY", &settings.default_registry),
        env("TMPDIR", "/workspace"),
    ];
    let mut init_containers = Vec::new();
    match &settings.docker {
        DockerMode::Dind { image } => {
            reactor_env.push(env("DOCKER_HOST", "tcp://127.0.0.1:2375"));
            volumes.push(Volume {
                name: "docker-graph".to_owned(),
                empty_dir: Some(Default::default()),
                ..Volume::default()
            });
            init_containers.push(Container {
                name: "dind".to_owned(),
                image: Some(image.clone()),
                restart_policy: Some("Always".to_owned()),
                args: Some(vec![
                    "--host=tcp://127.0.0.1:2375".to_owned(),
                    format!("--insecure-registry={}", settings.default_registry),
                    "--insecure-registry=10.0.0.0/8".to_owned(),
                    "--insecure-registry=172.16.0.0/12".to_owned(),
                    "--insecure-registry=192.168.0.0/16".to_owned(),
                ]),
                env: Some(vec![env("DOCKER_TLS_CERTDIR", "")]),
                security_context: Some(SecurityContext {
                    privileged: Some(true),
                    ..SecurityContext::default()
                }),
                ports: Some(vec![ContainerPort {
                    container_port: 2375,
                    name: Some("docker".to_owned()),
                    ..ContainerPort::default()
                }]),
                startup_probe: Some(Probe {
                    tcp_socket: Some(TCPSocketAction {
                        port: IntOrString::Int(2375),
                        host: None,
                    }),
                    period_seconds: Some(1),
                    failure_threshold: Some(120),
                    ..Probe::default()
                }),
                volume_mounts: Some(vec![VolumeMount {
                    name: "docker-graph".to_owned(),
                    mount_path: "/var/lib/docker".to_owned(),
                    ..VolumeMount::default()
                }]),
                ..Container::default()
            });
        }
        DockerMode::HostSocket { path } => {
            reactor_env.push(env("DOCKER_HOST", "unix:///var/run/docker.sock"));
            volumes.push(Volume {
                name: "docker-socket".to_owned(),
                host_path: Some(HostPathVolumeSource {
                    path: path.clone(),
                    type_: Some("Socket".to_owned()),
                }),
                ..Volume::default()
            });
            mounts.push(VolumeMount {
                name: "docker-socket".to_owned(),
                mount_path: "/var/run/docker.sock".to_owned(),
                ..VolumeMount::default()
            });
        }
    }
    for (volume, secret, mount) in [
        (
            "registry-secret",
            secrets.registry,
            "/var/run/secrets/osbs/registry",
        ),
        ("sync-secret", secrets.sync, "/var/run/secrets/osbs/sync"),
    ] {
        let Some(secret) = secret else { continue };
        volumes.push(Volume {
            name: volume.to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.to_owned()),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(VolumeMount {
            name: volume.to_owned(),
            mount_path: mount.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    let reactor = Container {
        name: "reactor".to_owned(),
        image: Some(settings.reactor_image.clone()),
        command: Some(vec!["osbs-reactor-pod".to_owned()]),
        env: Some(reactor_env),
        volume_mounts: Some(mounts),
        working_dir: Some("/workspace".to_owned()),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("250m".to_owned())),
                ("memory".to_owned(), Quantity("256Mi".to_owned())),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            run_as_non_root: None,
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(osbs_kube::pod_name(build)),
            labels: Some(labels),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".to_owned()),
            service_account_name: Some(settings.service_account.clone()),
            termination_grace_period_seconds: Some(settings.grace_seconds),
            init_containers: (!init_containers.is_empty()).then_some(init_containers),
            containers: vec![reactor],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
        status: None,
    }
}
