//! The build Pod: [`render_pod`], a pure function of the Build, its run's lease and the
//! controller's settings, and [`PodView`], what the executor and the controller read back.
//!
//! The Pod runs the reactor (`osbs-reactor-pod`, osbs-kube-pod's binary) as the main container
//! with the run's lease in `$OSBS_LEASE` ([`crate::LEASE_ENV`]), a Docker Engine beside it (a
//! Docker-in-Docker native sidecar by default ([`DEFAULT_DIND_IMAGE`]), or the node's socket), the registry Secrets mounted
//! where osbs-kube-pod's `KubeHost` looks ([`crate::REGISTRY_SECRET_MOUNT`],
//! [`crate::SYNC_SECRET_MOUNT`], [`crate::extra_registry_secret_mount`]), the `registry_ca`
//! ConfigMap ([`crate::REGISTRY_CA_MOUNT`]), the build secrets (each Secret's key at
//! [`build_secret_path`], the ids in [`BUILD_SECRETS_ENV`]), and an owner reference to the
//! Build so that deleting the Build deletes the Pod. This crate names the binary but does not
//! link it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, HostPathVolumeSource,
    KeyToPath, ObjectFieldSelector, Pod, PodSpec, Probe, ResourceRequirements, SecretVolumeSource,
    SecurityContext, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use osbs_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The label selector of every build Pod.
pub const BUILD_POD_SELECTOR: &str = "app.kubernetes.io/name=osbs-build";

/// The Docker-in-Docker sidecar image build Pods use unless told otherwise: pinned to a
/// release, never a moving `docker:dind`. To pin the digest as well, append the one
/// `docker buildx imagetools inspect docker:27.5.1-dind` prints (`…-dind@sha256:…`), here and
/// in `deploy/controller.yaml` (`OSBS_DIND_IMAGE`).
pub const DEFAULT_DIND_IMAGE: &str = "docker:27.5.1-dind";

/// Where the build Pod's reactor finds a Docker Engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DockerMode {
    /// A privileged Docker-in-Docker native sidecar (an init container with
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
    // Build secrets (issue 12).
    /// The Secrets a BuildConfig's `buildSecrets` may name (the controller's
    /// `--allowed-build-secrets`): people who may write BuildConfigs read no Secret, so a
    /// build that names any other one ends `Error` instead of getting it mounted. Empty: none.
    #[serde(default)]
    pub allowed_build_secrets: Vec<String>,
}

impl Default for PodSettings {
    fn default() -> Self {
        PodSettings {
            reactor_image: "osbs-reactor:dev".to_owned(),
            docker: DockerMode::Dind {
                image: DEFAULT_DIND_IMAGE.to_owned(),
            },
            service_account: "osbs-builder".to_owned(),
            default_registry: "registry.osbs.svc:5000".to_owned(),
            grace_seconds: 60,
            allowed_build_secrets: Vec::new(),
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

/// A volume of the Secret `secret`, readable by its owner only; with `items`, only those keys.
fn secret_volume(name: &str, secret: &str, items: Option<Vec<KeyToPath>>) -> Volume {
    Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            default_mode: Some(0o400),
            items,
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// The read-only mount of volume `name` at `path`.
fn read_only_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// The Secrets a build Pod mounts for the reactor: the push registry's, the further
/// registries' and the sync registry's (each optional), the build's secrets, and the
/// registries' CA ConfigMap.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodSecrets<'a> {
    /// The push registry's dockerconfigjson Secret.
    pub registry: Option<&'a str>,
    /// The sync registry's dockerconfigjson Secret.
    pub sync: Option<&'a str>,
    /// The sources of `RUN --mount=type=secret,id=ID` (BuildKit): `(ID, Secret)`, the Secret's
    /// key `ID` mounted at [`build_secret_path`]`(ID)`.
    pub build: &'a [(String, String)],
    // Several registries and registry TLS (SPEC §6).
    /// The dockerconfigjson Secrets of the registries after the first of `registry_uri`, by
    /// position (`None`: that registry has none of its own), each mounted at
    /// [`crate::extra_registry_secret_mount`]`(position)`.
    pub extra_registries: &'a [Option<String>],
    /// The `registry_ca` ConfigMap: its key [`crate::REGISTRY_CA_KEY`] mounted at
    /// [`crate::REGISTRY_CA_MOUNT`] (not a secret, but mounted for the reactor the same way).
    pub registry_ca: Option<&'a str>,
    /// The build's registries (`host[:port]`: push, further and sync) as the Docker Engine
    /// sidecar (dind) is told of them: with `registry_ca` it trusts the CA for each
    /// (`/etc/docker/certs.d/HOST/ca.crt`), with `skip_tls_verify` it takes each as insecure
    /// (`--insecure-registry`), for its pulls of base images and `push_method = engine`.
    pub engine_registries: &'a [String],
    /// `verify_ssl = false`, for the Docker Engine sidecar (the reactor reads it from the
    /// BuildConfig).
    pub skip_tls_verify: bool,
}

/// The reactor's environment variable that lists the ids of the build secrets mounted into the
/// Pod, comma-separated (osbs-kube-pod's host reads them from [`build_secret_path`]).
pub const BUILD_SECRETS_ENV: &str = "OSBS_BUILD_SECRETS";

/// Where build secrets are mounted: one directory per id.
pub const BUILD_SECRETS_DIR: &str = "/var/run/secrets/osbs/build";

/// The ids of the build secrets of [`BUILD_SECRETS_ENV`]'s `value`, as the Pod lists them
/// (comma-separated); what is no build secret id (`osbs_core::naming::is_build_secret_id`,
/// which the executor requires before it renders a Pod) is left out, so no path leaves
/// [`BUILD_SECRETS_DIR`].
pub fn build_secret_ids(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter(|id| osbs_core::naming::is_build_secret_id(id))
        .map(str::to_owned)
        .collect()
}

/// The file of build secret `id` in the reactor container.
pub fn build_secret_path(id: &str) -> String {
    format!("{BUILD_SECRETS_DIR}/{id}/{id}")
}

/// The Pod that runs `build` (of `build_config`) under the run lease `lease` (`None` for a
/// run started before leases: its writes are not fenced), owned by `owner`, with the registry
/// Secrets (if any) mounted for the reactor.
pub fn render_pod(
    build: &str,
    build_config: &str,
    owner: Option<OwnerReference>,
    secrets: PodSecrets<'_>,
    lease: Option<&str>,
    settings: &PodSettings,
) -> Pod {
    let labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "osbs-build".to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "osbs-controller".to_owned(),
        ),
        (crate::LABEL_BUILD.to_owned(), build.to_owned()),
        (
            crate::LABEL_BUILD_CONFIG.to_owned(),
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
    if let Some(lease) = lease {
        reactor_env.push(env(crate::LEASE_ENV, lease));
    }
    let mut init_containers = Vec::new();
    match &settings.docker {
        DockerMode::Dind { image } => {
            reactor_env.push(env("DOCKER_HOST", "tcp://127.0.0.1:2375"));
            volumes.push(Volume {
                name: "docker-graph".to_owned(),
                empty_dir: Some(Default::default()),
                ..Volume::default()
            });
            let mut args = vec![
                "--host=tcp://127.0.0.1:2375".to_owned(),
                format!("--insecure-registry={}", settings.default_registry),
                "--insecure-registry=10.0.0.0/8".to_owned(),
                "--insecure-registry=172.16.0.0/12".to_owned(),
                "--insecure-registry=192.168.0.0/16".to_owned(),
            ];
            if secrets.skip_tls_verify {
                args.extend(
                    secrets
                        .engine_registries
                        .iter()
                        .map(|host| format!("--insecure-registry={host}")),
                );
            }
            let mut engine_mounts = vec![VolumeMount {
                name: "docker-graph".to_owned(),
                mount_path: "/var/lib/docker".to_owned(),
                ..VolumeMount::default()
            }];
            // The reactor reads the built image's layers in place from the Engine's data
            // root (its push path's layer store, each layer checked against its `diff_id`),
            // instead of waiting for the Engine's image export; read-only.
            mounts.push(read_only_mount("docker-graph", "/var/lib/docker"));
            // The CA where the Engine looks for each registry's: the ConfigMap's key once per
            // registry, as `HOST[:PORT]/ca.crt` of one volume mounted once (no mount path
            // carries a registry's name or the port's colon).
            if let Some(config_map) = secrets.registry_ca
                && !secrets.engine_registries.is_empty()
            {
                volumes.push(Volume {
                    name: "registry-ca-engine".to_owned(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: config_map.to_owned(),
                        default_mode: Some(0o444),
                        items: Some(
                            secrets
                                .engine_registries
                                .iter()
                                .map(|host| KeyToPath {
                                    key: crate::REGISTRY_CA_KEY.to_owned(),
                                    path: format!("{host}/ca.crt"),
                                    ..KeyToPath::default()
                                })
                                .collect(),
                        ),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                });
                engine_mounts.push(read_only_mount("registry-ca-engine", "/etc/docker/certs.d"));
            }
            init_containers.push(Container {
                name: "dind".to_owned(),
                image: Some(image.clone()),
                restart_policy: Some("Always".to_owned()),
                args: Some(args),
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
                volume_mounts: Some(engine_mounts),
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
        volumes.push(secret_volume(volume, secret, None));
        mounts.push(read_only_mount(volume, mount));
    }
    // The further registries' Secrets, by position.
    for (index, secret) in secrets.extra_registries.iter().enumerate() {
        let Some(secret) = secret else { continue };
        let volume = format!("registry-secret-{}", index + 1);
        let path = crate::extra_registry_secret_mount(index);
        volumes.push(secret_volume(&volume, secret, None));
        let dir = path.strip_suffix("/.dockerconfigjson").unwrap_or(&path);
        mounts.push(read_only_mount(&volume, dir));
    }
    // The registries' CA: the ConfigMap's one key, read-only. A ConfigMap without the key
    // keeps the Pod from starting (the kubelet's FailedMount), rather than a build that then
    // distrusts its registry.
    if let Some(config_map) = secrets.registry_ca {
        let (dir, file) = crate::REGISTRY_CA_MOUNT
            .rsplit_once('/')
            .unwrap_or((crate::REGISTRY_CA_MOUNT, crate::REGISTRY_CA_KEY));
        volumes.push(Volume {
            name: "registry-ca".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map.to_owned(),
                default_mode: Some(0o444),
                items: Some(vec![KeyToPath {
                    key: crate::REGISTRY_CA_KEY.to_owned(),
                    path: file.to_owned(),
                    ..KeyToPath::default()
                }]),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        mounts.push(read_only_mount("registry-ca", dir));
    }
    // Build secrets: only the key named by the id, read-only, readable by the reactor alone.
    for (index, (id, secret)) in secrets.build.iter().enumerate() {
        let volume = format!("build-secret-{index}");
        let only_id = KeyToPath {
            key: id.clone(),
            path: id.clone(),
            ..KeyToPath::default()
        };
        volumes.push(secret_volume(&volume, secret, Some(vec![only_id])));
        mounts.push(read_only_mount(
            &volume,
            &format!("{BUILD_SECRETS_DIR}/{id}"),
        ));
    }
    if !secrets.build.is_empty() {
        let ids: Vec<&str> = secrets.build.iter().map(|(id, _)| id.as_str()).collect();
        reactor_env.push(env(BUILD_SECRETS_ENV, &ids.join(",")));
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
            name: Some(crate::pod_name(build)),
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

/// The phase of a build Pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    /// Scheduled or pulling images, not running yet.
    Pending,
    /// The reactor runs.
    Running,
    /// The reactor exited 0.
    Succeeded,
    /// The reactor exited non-zero or was killed.
    Failed,
    /// The kubelet lost track of it.
    Unknown,
}

impl PodPhase {
    /// Parses `status.phase` (anything unknown is [`PodPhase::Unknown`]).
    pub fn parse(phase: Option<&str>) -> PodPhase {
        match phase {
            Some("Pending") | None => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            Some(_) => PodPhase::Unknown,
        }
    }

    /// Whether the Pod's containers have stopped for good.
    pub fn is_terminated(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// What the executor and the controller know of a build Pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodView {
    /// The Pod's name.
    pub name: String,
    /// Its phase.
    pub phase: PodPhase,
    /// When it was created.
    pub created: Timestamp,
    /// Whether it is being deleted (`metadata.deletionTimestamp` is set).
    pub deleting: bool,
    /// The kubelet's reason or message, e.g. `ImagePullBackOff`.
    pub message: Option<String>,
}

impl PodView {
    /// What `pod` shows; a Pod without a creation time counts as created `now`.
    pub fn of(pod: &Pod, now: Timestamp) -> PodView {
        let status = pod.status.as_ref();
        let waiting = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .next();
        PodView {
            name: pod.name_any(),
            phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
            created: pod
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(now, |t| Timestamp::from_unix_millis(t.0.as_millisecond())),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            message: waiting.or_else(|| status.and_then(|s| s.message.clone())),
        }
    }
}
