//! Kubernetes resources of OSBS in Rust: the `BuildConfig`, `Build` and `ImageStream` custom
//! resources of API group [`GROUP`], their mapping to and from the `osbs-core` models, the
//! results annotations of SPEC §5 (each under 64 KiB), conflict-retried updates
//! ([`OsbsApi`], which can also record Events of Build phase changes, [`events`]), the engine's
//! store and executor on Kubernetes ([`KubeStore`], [`KubeExecutor`]: Builds with their run
//! lease, build Pods), and what the controller and the build Pod agree on ([`pod_name`],
//! [`render_pod`], [`LEASE_ENV`], [`REGISTRY_SECRET_MOUNT`], [`SYNC_SECRET_MOUNT`]).
//!
//! The controller (`osbs-controller`), the build Pod (`osbs-kube-pod`, the reactor's host over
//! the API) and the `osbs` client's kubernetes backend all go through this crate, so there is
//! one wire format and one way to update each object. It knows nothing of the reactor.
//!
//! ```
//! use kube::{CustomResourceExt, Resource};
//! use osbs_kube::{BuildResource, GROUP, VERSION};
//!
//! assert_eq!(BuildResource::group(&()), GROUP);
//! assert_eq!(BuildResource::version(&()), VERSION);
//! assert_eq!(BuildResource::crd_name(), "builds.osbs.dev");
//! ```

mod api;
pub mod connect;
mod error;
pub mod events;
pub mod executor;
mod outbox;
pub mod pod;
pub mod requests;
mod resources;
pub mod results;
pub mod store;
mod triggers;

pub use api::{CONFLICT_RETRIES, Imported, OsbsApi};
pub use connect::{
    ConnectError, ConnectOptions, NamespaceSource, Target, choose_namespace, connect,
};
pub use error::KubeError;
pub use executor::{KubeExecutor, PodSnapshot};
pub use outbox::webhook_fingerprint;
pub use pod::{DockerMode, PodPhase, PodSecrets, PodSettings, PodView, render_pod};
pub use requests::{ImportDone, ImportFailure, ImportRequest};
pub use resources::{
    BuildConfigResource, BuildConfigSpec, BuildConfigStatus, BuildResource, BuildSecretSpec,
    BuildSpec, BuildStatus, CauseSpec, ExtraRegistrySpec, ImageStreamResource, ImageStreamSpec,
    ImageStreamStatus, PendingTrigger, Phase, SyncSpec, TagEventSpec, TagStatus, TriggerSpec,
    all_crds, build_secrets_problem, crds_yaml,
};
pub use store::{FiredTriggers, KubeStore};
pub use triggers::{TriggerPlan, plan_triggers};

/// The API group of every OSBS custom resource.
pub const GROUP: &str = "osbs.dev";
/// The API version of the custom resources.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of the custom resources, `GROUP/VERSION`.
pub const API_VERSION: &str = "osbs.dev/v1alpha1";

/// Label on Builds and build Pods: the BuildConfig's name.
pub const LABEL_BUILD_CONFIG: &str = "osbs.dev/build-config";
/// Label on build Pods: the Build's name.
pub const LABEL_BUILD: &str = "osbs.dev/build";
/// Label on Builds: `true` for an autorebuild (the model's `is_autorebuild`).
pub const LABEL_IS_AUTOREBUILD: &str = "osbs.dev/is-autorebuild";
/// The field manager name of every write.
pub const FIELD_MANAGER: &str = "osbs";

/// The build Pod's environment variable with the lease of its run (`osbs_engine::new_lease`),
/// set by the executor and presented by the Pod's host before each write.
pub const LEASE_ENV: &str = "OSBS_LEASE";

/// Annotation on Builds: `"false"` from creation until the engine has queued the
/// notifications of the build's end, then `"true"`. Builds without it predate notifications.
pub const NOTIFIED_ANNOTATION: &str = "osbs.dev/notified";

/// Annotation on Builds: the notification deliveries of the build's end still to be made
/// (the outbox, a JSON array; see `KubeStore`).
pub const NOTIFY_PENDING_ANNOTATION: &str = "osbs.dev/notify-pending";

/// Where the build Pod mounts the registry Secret's `.dockerconfigjson` (the controller mounts
/// it there, the Pod's host reads it from there).
pub const REGISTRY_SECRET_MOUNT: &str = "/var/run/secrets/osbs/registry/.dockerconfigjson";

/// Where the build Pod mounts the sync registry Secret's `.dockerconfigjson`.
pub const SYNC_SECRET_MOUNT: &str = "/var/run/secrets/osbs/sync/.dockerconfigjson";

/// Where the build Pod mounts the Secret of the `index`-th further registry of `registry_uri`
/// (0 for the second registry): its `.dockerconfigjson`.
pub fn extra_registry_secret_mount(index: usize) -> String {
    format!(
        "/var/run/secrets/osbs/registry-{}/.dockerconfigjson",
        index + 1
    )
}

/// The key of the `registry_ca` ConfigMap that holds the PEM CA certificates.
pub const REGISTRY_CA_KEY: &str = "ca.crt";

/// Where the build Pod mounts the `registry_ca` ConfigMap's [`REGISTRY_CA_KEY`] (the
/// request's `registry_ca`).
pub const REGISTRY_CA_MOUNT: &str = "/etc/osbs/registry-ca/ca.crt";

/// The Pod that runs a Build: `<build>-build`, so it is found again after a restart.
pub fn pod_name(build: &str) -> String {
    format!("{build}-build")
}
