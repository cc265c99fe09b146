//! What a build is asked to do and what it reports: the reactor's request, the build phases, and
//! the results of SPEC §5 with their wire names.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::variant::BuildVariant;

/// The phase of a Build, as OpenShift names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum BuildPhase {
    /// Queued behind another build of the same BuildConfig.
    New,
    /// Accepted, about to run.
    Pending,
    /// The reactor runs it.
    Running,
    /// Built, pushed and imported.
    Complete,
    /// A plugin that was not allowed to fail failed.
    Failed,
    /// The build could not run at all (its runner died, the backend broke).
    Error,
    /// Cancelled by a user, superseded, or stopped by `.osbs-repo-config`.
    Cancelled,
}

impl BuildPhase {
    /// Whether the phase is final (`Complete`, `Failed`, `Error` or `Cancelled`).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            BuildPhase::Complete | BuildPhase::Failed | BuildPhase::Error | BuildPhase::Cancelled
        )
    }

    /// The phase's name, e.g. `"Complete"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildPhase::New => "New",
            BuildPhase::Pending => "Pending",
            BuildPhase::Running => "Running",
            BuildPhase::Complete => "Complete",
            BuildPhase::Failed => "Failed",
            BuildPhase::Error => "Error",
            BuildPhase::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for BuildPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-build switches for one plugin, overriding what the plugin declares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginOverride {
    /// Whether a failure of the plugin lets the build go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_to_fail: Option<bool>,
    /// Whether the plugin must run; a plugin that is not required may be disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// `false` disables a plugin that is not required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Everything the reactor needs to run one Build: the Build, the parts of its BuildConfig the
/// reactor reads, and where to push.
///
/// This is the JSON that `osbs-reactor build --request FILE` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    /// The Build's name, `<buildconfig>-<n>`.
    pub build_name: String,
    /// The BuildConfig's name.
    pub build_config: String,
    /// Git URL of the repository to build.
    pub git_url: String,
    /// Branch the build is from.
    pub git_branch: String,
    /// The exact commit to build; the branch head when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Whether the Build is an autorebuild (the Build's `is_autorebuild` label).
    #[serde(default)]
    pub is_autorebuild: bool,
    /// The push target, `host[:port]` with optional scheme and `/v2` suffix (SPEC §6).
    pub registry_uri: String,
    /// Path of a dockercfg (`.dockercfg` or `config.json` form) for the registries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<String>,
    /// The image's repository in the registry; the Dockerfile's `name` label when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// The registry pushed images are synced to (SPEC §6: `pulp_sync_registry_name`, else
    /// `pulp_registry_name`); no sync when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_target: Option<SyncTarget>,
    /// Name of the repo config file at the top of the repository.
    #[serde(default = "default_repo_config_name")]
    pub repo_config_name: String,
    /// Build without the Docker layer cache.
    #[serde(default)]
    pub no_cache: bool,
    /// Per-plugin overrides of `required`, `allowed_to_fail` and `enabled`, by plugin name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, PluginOverride>,
    // Build variants (`osbs build --scratch/--isolated/--release/-A/--build-arg`).
    /// How the build differs from a regular one: which tags it pushes, its release, whether
    /// it imports, and the Docker build arguments.
    #[serde(default, skip_serializing_if = "BuildVariant::is_default")]
    pub variant: BuildVariant,
    // The push path (osbs.conf `push_method`).
    /// How `tag_and_push` moves the image to the registry.
    #[serde(default, skip_serializing_if = "PushMethod::is_default")]
    pub push_method: PushMethod,
    // The buildstep's builder and its secrets (osbs.conf `builder`, `build_secrets`).
    /// Which builder `docker_api` uses; `None` picks BuildKit where the Engine supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<Builder>,
    /// The sources of `RUN --mount=type=secret,id=ID` (BuildKit only): id → file on the build
    /// host. The files' contents never enter the image, the log or the results.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_secrets: BTreeMap<String, String>,
    // Several registries and registry TLS (osbs.conf `registry_uri` lists, `verify_ssl`,
    // `registry_ca`; SPEC §6).
    /// The registries after the first of `registry_uri`: each receives every pushed tag (the
    /// first stays the primary: release numbering, ImageStream), and their digests are
    /// recorded in `digests` too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_registries: Vec<ExtraRegistry>,
    /// `verify_ssl = false`: registries' TLS certificates are not verified (every registry
    /// call of the build: push, tag listing, digest checks, sync).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_tls_verify: bool,
    /// `registry_ca`: a PEM file of CA certificates trusted for every registry call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_ca: Option<String>,
    // The base image as known before the clone (`pull_base_image` checks it while cloning).
    /// The base image the BuildConfig's trigger names (`registry/repository:tag`: the trigger
    /// ImageStream's `docker_image_repository` and the trigger's tag; the local backend fills
    /// it, the Kubernetes one does not yet), so the reactor can look it up in its registry and
    /// the Docker Engine while it clones. Only a hint: the result is used only when the cloned
    /// Dockerfile's `FROM` names the same image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image_hint: Option<String>,
}

/// A registry that receives every pushed tag besides the primary one (SPEC §6: several
/// `registry_uri`s, with `registry_secret`s by position).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraRegistry {
    /// Its URI, with the same rules as `registry_uri`.
    pub registry_uri: String,
    /// Path of a dockercfg for it; without one, the build's credentials (its own
    /// `registry_secret`, else the files docker, podman and skopeo read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<String>,
}

/// The builder of the buildstep (osbs.conf `builder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Builder {
    /// BuildKit through the Engine API: `RUN --mount`, parallel stages, build secrets.
    Buildkit,
    /// The Engine's classic builder (no `--mount`).
    Classic,
}

impl Builder {
    /// The osbs.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Builder::Buildkit => "buildkit",
            Builder::Classic => "classic",
        }
    }

    /// Parses the osbs.conf spelling (`buildkit` or `classic`, any case).
    pub fn parse(value: &str) -> Option<Builder> {
        match value.trim().to_ascii_lowercase().as_str() {
            "buildkit" => Some(Builder::Buildkit),
            "classic" => Some(Builder::Classic),
            _ => None,
        }
    }
}

impl fmt::Display for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the reactor pushes a built image (osbs.conf `push_method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushMethod {
    /// The reactor's own path: layers from the Engine's image export, gzipped on every core,
    /// uploaded with retries; one manifest `PUT` per tag.
    #[default]
    Reactor,
    /// `docker push` through the Engine for the first tag, one manifest `PUT` per further tag.
    Engine,
}

impl PushMethod {
    /// Whether this is the default (`reactor`).
    pub fn is_default(&self) -> bool {
        *self == PushMethod::default()
    }

    /// The osbs.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PushMethod::Reactor => "reactor",
            PushMethod::Engine => "engine",
        }
    }

    /// Parses the osbs.conf spelling (`reactor` or `engine`, any case).
    pub fn parse(value: &str) -> Option<PushMethod> {
        match value.trim().to_ascii_lowercase().as_str() {
            "reactor" => Some(PushMethod::Reactor),
            "engine" => Some(PushMethod::Engine),
            _ => None,
        }
    }
}

impl fmt::Display for PushMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a backend adds to a Build to make its [`BuildRequest`]: where it pushes and syncs, and
/// what the reactor reads of its BuildConfig.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunTarget {
    /// `registry_uri`.
    pub registry_uri: String,
    /// The `registry_secret` file, if any.
    pub registry_secret: Option<String>,
    /// Where `registry_sync` copies, if anywhere.
    pub sync_target: Option<SyncTarget>,
    /// The BuildConfig's image name (the Dockerfile's `name` label or `--component`).
    pub image_name: Option<String>,
    /// The BuildConfig's repo config file name.
    pub repo_config_name: String,
}

impl BuildRequest {
    /// The reactor's request for `build` under `target`: the one mapping both hosts use.
    pub fn for_build(build: crate::model::Build, target: RunTarget) -> BuildRequest {
        BuildRequest {
            build_name: build.name,
            build_config: build.build_config,
            git_url: build.git_url,
            git_branch: build.git_branch,
            git_commit: build.commit,
            is_autorebuild: build.is_autorebuild,
            registry_uri: target.registry_uri,
            registry_secret: target.registry_secret,
            image_name: target.image_name,
            sync_target: target.sync_target,
            repo_config_name: target.repo_config_name,
            no_cache: false,
            plugins: BTreeMap::new(),
            variant: build.variant,
            push_method: PushMethod::default(),
            builder: None,
            build_secrets: BTreeMap::new(),
            extra_registries: Vec::new(),
            skip_tls_verify: false,
            registry_ca: None,
            base_image_hint: None,
        }
    }
}

/// A named registry that `registry_sync` copies every pushed tag to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncTarget {
    /// The name of its `[registry NAME]` section.
    pub name: String,
    /// Its URI, with the same rules as `registry_uri`.
    pub registry_uri: String,
    /// Path of a dockercfg for it; anonymous when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<String>,
}

/// The default name of the repo config file.
pub const DEFAULT_REPO_CONFIG_NAME: &str = ".osbs-repo-config";

fn default_repo_config_name() -> String {
    DEFAULT_REPO_CONFIG_NAME.to_owned()
}

/// The tags an image was pushed under, as `registry/repository:tag`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Repositories {
    /// `version-release`, `version` and `latest`.
    pub primary: Vec<String>,
    /// The tag unique to this build.
    pub unique: Vec<String>,
}

/// One pushed tag and the manifest digest the registry serves for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PushedDigest {
    /// `host[:port]` of the registry.
    pub registry: String,
    /// Repository inside the registry, e.g. `osbs/small`.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest digest, `sha256:...`.
    pub digest: String,
}

/// Per-plugin bookkeeping: errors, durations and start times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginsMetadata {
    /// Error message of each plugin that failed.
    pub errors: BTreeMap<String, String>,
    /// Seconds each plugin that ran took.
    pub durations: BTreeMap<String, f64>,
    /// Start time of each plugin that ran (RFC 3339, UTC, with milliseconds; older records
    /// without them still read).
    pub timestamps: BTreeMap<String, crate::time::Timestamp>,
}

/// The results of a build (SPEC §5), stored on the Build and shown by `get-build`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildResults {
    /// Where the image was pushed.
    pub repositories: Repositories,
    /// Each pushed tag with its manifest digest.
    pub digests: Vec<PushedDigest>,
    /// Each tag `registry_sync` copied to the sync registry, with the digest verified there
    /// (equal to the pushed one); empty without a sync target.
    #[serde(default)]
    pub sync: Vec<PushedDigest>,
    /// The built image's ID in the Docker Engine.
    #[serde(rename = "image-id")]
    pub image_id: Option<String>,
    /// The base image as the Dockerfile names it (`null` for `FROM scratch`).
    #[serde(rename = "base-image-name")]
    pub base_image_name: Option<String>,
    /// The base image's ID in the Docker Engine.
    #[serde(rename = "base-image-id")]
    pub base_image_id: Option<String>,
    /// The commit that was built.
    pub commit_id: Option<String>,
    /// The Dockerfile as built (with the labels the reactor added).
    pub dockerfile: Option<String>,
    /// The release the image got.
    pub release: Option<String>,
    /// Per-plugin errors, durations and timestamps.
    #[serde(rename = "plugins-metadata")]
    pub plugins_metadata: PluginsMetadata,
}

/// How a build ended: the phase, why, and its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildOutcome {
    /// `Complete`, `Failed` or `Cancelled`.
    pub phase: BuildPhase,
    /// `"Error in plugin NAME: message"` when the build failed.
    pub error: Option<String>,
    /// Why the build was cancelled, if it was.
    pub reason: Option<String>,
    /// The results of SPEC §5.
    #[serde(flatten)]
    pub results: BuildResults,
}

/// Where a built image goes in an ImageStream: `import_image`'s request to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageImport {
    /// The ImageStream's name (the `name` label with `/` replaced by `-`).
    pub image_stream: String,
    /// The full repository the image was pushed to, `registry/repository`.
    pub docker_image_repository: String,
    /// Each tag with its manifest digest.
    pub tags: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_defaults() {
        let request: BuildRequest = serde_json::from_str(
            r#"{"build_name":"a-1","build_config":"a","git_url":"file:///x","git_branch":"main",
                "registry_uri":"127.0.0.1:5000"}"#,
        )
        .unwrap();
        assert_eq!(request.repo_config_name, ".osbs-repo-config");
        assert!(!request.is_autorebuild);
        assert!(request.plugins.is_empty());
    }

    #[test]
    fn results_wire_names() {
        let value = serde_json::to_value(BuildResults::default()).unwrap();
        let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "base-image-id",
                "base-image-name",
                "commit_id",
                "digests",
                "dockerfile",
                "image-id",
                "plugins-metadata",
                "release",
                "repositories",
                "sync"
            ]
        );
    }

    #[test]
    fn phases() {
        assert!(BuildPhase::Cancelled.is_finished());
        assert!(!BuildPhase::Running.is_finished());
        assert_eq!(BuildPhase::Complete.to_string(), "Complete");
    }
}
