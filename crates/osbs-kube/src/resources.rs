//! The custom resources and their mapping to the `osbs-core` models.
//!
//! Each kind has a `spec` (what a user or the client asked for; immutable for Builds) and a
//! `status` subresource (what the controller and the reactor observed). The `to_model` /
//! `apply_model` pairs are the only translation between the wire and [`osbs_core::model`], so
//! the controller and the client see the same objects the local backend stores.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use osbs_core::build::{BuildPhase, DEFAULT_REPO_CONFIG_NAME};
use osbs_core::import::TagChange;
use osbs_core::model::{self, BuildCause, ImageStreamTag, RunPolicy, StreamTag, TagEvent};
use osbs_core::time::Timestamp;
use osbs_core::variant::BuildVariant;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::results;
use crate::{KubeError, LABEL_BUILD_CONFIG, LABEL_IS_AUTOREBUILD, NOTIFIED_ANNOTATION};

fn default_repo_config_name() -> String {
    DEFAULT_REPO_CONFIG_NAME.to_owned()
}

/// The image-change trigger of a BuildConfig: an ImageStream tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TriggerSpec {
    /// The ImageStream.
    pub stream: String,
    /// The tag.
    pub tag: String,
}

/// A BuildConfig: one per (git repository, branch). Its name is the `osbs-core` BuildConfig
/// name.
// kube-derive repeats `type_ = "string"` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "osbs.dev",
    version = "v1alpha1",
    kind = "BuildConfig",
    root = "BuildConfigResource",
    namespaced,
    status = "BuildConfigStatus",
    derive = "PartialEq",
    category = "osbs",
    printcolumn(name = "Git", type_ = "string", json_path = ".spec.gitUrl"),
    printcolumn(name = "Branch", type_ = "string", json_path = ".spec.gitBranch"),
    printcolumn(name = "Trigger", type_ = "string", json_path = ".spec.trigger.stream"),
    printcolumn(name = "Last", type_ = "integer", json_path = ".status.lastVersion"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BuildConfigSpec {
    /// The git URL as the user gave it.
    pub git_url: String,
    /// The branch.
    pub git_branch: String,
    /// The commit of the last user build: what autorebuilds rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_user_commit: Option<String>,
    /// The model's labels (`git-repo-name`, `git-branch`, `is_autorebuild`); kept here, not
    /// in `metadata.labels`, because a branch need not be a valid label value.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The image-change trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerSpec>,
    /// The run policy; only `Serial` exists.
    #[serde(default = "serial")]
    pub run_policy: String,
    /// The repo config file the reactor reads.
    #[serde(default = "default_repo_config_name")]
    pub repo_config_name: String,
    /// The image's repository (the Dockerfile's `name` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// The push target of its builds (SPEC §6 `registry_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_uri: Option<String>,
    /// The Secret (type `kubernetes.io/dockerconfigjson`) with the registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<String>,
    /// Where its builds sync their images to (SPEC §6); no sync when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncSpec>,
    // Several registries and registry TLS (SPEC §6: osbs.conf `registry_uri` lists,
    // `verify_ssl`, `registry_ca`), written by the client like `registry_uri`.
    /// The registries after the first of `registry_uri`: each receives every pushed tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_registries: Vec<ExtraRegistrySpec>,
    /// `verify_ssl = false`: its builds do not verify registries' TLS certificates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_tls_verify: bool,
    /// `registry_ca`: the ConfigMap whose key `ca.crt` (PEM certificates) its builds trust
    /// for every registry call, mounted into the build Pod at `/etc/osbs/registry-ca/ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_ca: Option<String>,
    // Build secrets (issue 12: osbs.conf `build_secrets`), written by the client like
    // `registry_uri`: names only, never contents.
    /// The sources of `RUN --mount=type=secret,id=ID`: each id with the Secret whose key `ID`
    /// holds it, mounted into the build Pod for the reactor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub build_secrets: Vec<BuildSecretSpec>,
    // Build variants.
    /// The Docker build arguments of the last regular user build; its autorebuilds use them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
}

/// How a Build differs from a regular user build (`osbs build --scratch`, `--isolated`,
/// `--release`, `-A/--tag`, `--build-arg`); the model's `osbs_core::variant::BuildVariant`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariantSpec {
    /// Push only the unique tag; no release, no import, no triggers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scratch: bool,
    /// Push `version-release` (and the unique tag) only; import without firing triggers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isolated: bool,
    /// The explicit release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Extra tags pushed besides the primary ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The Docker build arguments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
}

impl VariantSpec {
    /// The spec of `variant`.
    pub fn from_model(variant: &BuildVariant) -> Self {
        VariantSpec {
            scratch: variant.scratch,
            isolated: variant.isolated,
            release: variant.release.clone(),
            tags: variant.tags.clone(),
            build_args: variant.build_args.clone(),
        }
    }

    /// The model's variant.
    pub fn to_model(&self) -> BuildVariant {
        BuildVariant {
            scratch: self.scratch,
            isolated: self.isolated,
            release: self.release.clone(),
            tags: self.tags.clone(),
            build_args: self.build_args.clone(),
        }
    }
}

/// A registry after the first of a BuildConfig's `registry_uri` list (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtraRegistrySpec {
    /// Its URI.
    pub registry_uri: String,
    /// The Secret (type `kubernetes.io/dockerconfigjson`) with its credentials: the
    /// `registry_secret` at its position; without one, the primary registry's Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<String>,
}

/// A build secret of a BuildConfig (osbs.conf `build_secrets = ID=SECRET`): the Secret `secret`
/// of the namespace, whose key `id` the build Pod mounts for `RUN --mount=type=secret,id=ID`.
/// The CRD's patterns are the rules `problem` checks, so the API server refuses what a build
/// Pod could not mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildSecretSpec {
    /// The id (`osbs_core::naming::is_build_secret_id`), also the Secret's key.
    #[schemars(length(min = 1, max = 253), pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]*$"))]
    pub id: String,
    /// The Secret's name (a DNS-1123 subdomain).
    #[schemars(
        length(min = 1, max = 253),
        pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub secret: String,
}

impl BuildSecretSpec {
    /// What is wrong with this entry, if anything: an id a build Pod cannot mount or list, or
    /// a name no Secret can have.
    pub fn problem(&self) -> Option<String> {
        if !osbs_core::naming::is_build_secret_id(&self.id) {
            Some(format!(
                "build secret id {:?} is not 1-253 letters, digits, '.', '_' or '-' starting \
                 with a letter or digit",
                self.id
            ))
        } else if !osbs_core::naming::is_dns1123_subdomain(&self.secret) {
            Some(format!(
                "build secret {:?} names Secret {:?}, which is not a DNS-1123 subdomain",
                self.id, self.secret
            ))
        } else {
            None
        }
    }
}

/// What is wrong with `secrets` (a BuildConfig's `buildSecrets`), if anything: an entry's
/// [`BuildSecretSpec::problem`], or an id given twice (the Pod would mount both at one path).
pub fn build_secrets_problem(secrets: &[BuildSecretSpec]) -> Option<String> {
    secrets.iter().enumerate().find_map(|(index, secret)| {
        secret.problem().or_else(|| {
            secrets[..index]
                .iter()
                .any(|earlier| earlier.id == secret.id)
                .then(|| format!("build secret id {:?} is given twice", secret.id))
        })
    })
}

/// A BuildConfig's sync target: a named registry every pushed tag is copied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// The registry's name (`pulp_sync_registry_name`).
    pub name: String,
    /// Its URI (`[registry NAME] uri`).
    pub registry_uri: String,
    /// The Secret (type `kubernetes.io/dockerconfigjson`) with its credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_secret: Option<String>,
}

fn serial() -> String {
    "Serial".to_owned()
}

/// What the service observed about a BuildConfig.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildConfigStatus {
    /// The number of the last build created (the model's `build_counter`).
    #[serde(default)]
    pub last_version: i64,
}

/// The phase of a Build, as OpenShift names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[allow(missing_docs)]
pub enum Phase {
    #[default]
    New,
    Pending,
    Running,
    Complete,
    Failed,
    Error,
    Cancelled,
}

impl From<BuildPhase> for Phase {
    fn from(phase: BuildPhase) -> Self {
        match phase {
            BuildPhase::New => Phase::New,
            BuildPhase::Pending => Phase::Pending,
            BuildPhase::Running => Phase::Running,
            BuildPhase::Complete => Phase::Complete,
            BuildPhase::Failed => Phase::Failed,
            BuildPhase::Error => Phase::Error,
            BuildPhase::Cancelled => Phase::Cancelled,
        }
    }
}

impl From<Phase> for BuildPhase {
    fn from(phase: Phase) -> Self {
        match phase {
            Phase::New => BuildPhase::New,
            Phase::Pending => BuildPhase::Pending,
            Phase::Running => BuildPhase::Running,
            Phase::Complete => BuildPhase::Complete,
            Phase::Failed => BuildPhase::Failed,
            Phase::Error => BuildPhase::Error,
            Phase::Cancelled => BuildPhase::Cancelled,
        }
    }
}

/// Why a Build exists: `type` is `User` or `ImageChange` (a flat object rather than a tagged
/// union, so the CRD schema stays structural).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CauseSpec {
    /// `User` or `ImageChange`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The ImageStream whose tag changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Its new digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The BuildConfigs whose builds led here, oldest first (cycle protection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
}

impl From<&BuildCause> for CauseSpec {
    fn from(cause: &BuildCause) -> Self {
        match cause {
            BuildCause::User => CauseSpec {
                type_: "User".to_owned(),
                stream: None,
                tag: None,
                digest: None,
                chain: Vec::new(),
            },
            BuildCause::ImageChange {
                stream,
                tag,
                digest,
                chain,
            } => CauseSpec {
                type_: "ImageChange".to_owned(),
                stream: Some(stream.clone()),
                tag: Some(tag.clone()),
                digest: Some(digest.clone()),
                chain: chain.clone(),
            },
        }
    }
}

impl CauseSpec {
    /// The model's cause; an unknown `type` is a user build.
    pub fn to_model(&self) -> BuildCause {
        match (self.type_.as_str(), &self.stream, &self.tag, &self.digest) {
            ("ImageChange", Some(stream), Some(tag), Some(digest)) => BuildCause::ImageChange {
                stream: stream.clone(),
                tag: tag.clone(),
                digest: digest.clone(),
                chain: self.chain.clone(),
            },
            _ => BuildCause::User,
        }
    }
}

/// One build of a BuildConfig, `<buildconfig>-<n>`. The spec is written once, at creation;
/// the phase and timestamps live in the status, the results of SPEC §5 in annotations.
// kube-derive repeats `type_ = "string"` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "osbs.dev",
    version = "v1alpha1",
    kind = "Build",
    root = "BuildResource",
    namespaced,
    status = "BuildStatus",
    derive = "PartialEq",
    category = "osbs",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Build Config",
        type_ = "string",
        json_path = ".spec.buildConfig"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(name = "Image", type_ = "string", json_path = ".status.image"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.reason",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BuildSpec {
    /// The BuildConfig.
    pub build_config: String,
    /// `n`: the queue order.
    pub number: i64,
    /// Whether the reactor treats it as an autorebuild.
    #[serde(default)]
    pub is_autorebuild: bool,
    /// Who or what started it.
    pub cause: CauseSpec,
    /// Git URL.
    pub git_url: String,
    /// Branch.
    pub git_branch: String,
    /// The commit to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When it was queued (RFC 3339).
    pub created: String,
    /// Set by `osbs cancel-build`: the controller cancels a queued build, or deletes the Pod
    /// of a running one with a grace period so the reactor's exit plugins run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
    // Build variants.
    /// How the build differs from a regular one; absent for a regular build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantSpec>,
}

/// What happened to a Build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatus {
    /// The phase.
    #[serde(default)]
    pub phase: Phase,
    /// `Error in plugin NAME: message`, or why the runner was declared gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it started running (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// When it reached a final phase (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// The release `bump_release` chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The first primary repository the image was pushed as (for `kubectl get builds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The Pod that runs it, once the Pod was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// The lease of its current run: given with the write that starts the run, taken away
    /// with the write that declares the run dead. The build Pod presents it (`OSBS_LEASE`)
    /// with each of its writes, and they are refused once it changed (fencing). Absent while
    /// queued, and on Builds started before run leases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
    /// When the lease was given (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_granted: Option<String>,
}

/// A tag event of an ImageStream tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TagEventSpec {
    /// The digest.
    pub digest: String,
    /// The importing build, if a build imported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// When (RFC 3339).
    pub time: String,
}

/// An ImageStream tag: its current digest and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TagStatus {
    /// The current digest.
    pub digest: String,
    /// Past and current digests, oldest first.
    #[serde(default)]
    pub history: Vec<TagEventSpec>,
}

/// A tag change an import recorded and the controller has not fanned out yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PendingTrigger {
    /// The tag.
    pub tag: String,
    /// Its old digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// Its new digest.
    pub new: String,
    /// The causal chain of the import (cycle protection).
    #[serde(default)]
    pub chain: Vec<String>,
}

impl PendingTrigger {
    /// The model's tag change.
    pub fn change(&self) -> TagChange {
        TagChange {
            tag: self.tag.clone(),
            old: self.old.clone(),
            new: self.new.clone(),
        }
    }
}

/// One image per name: its tags with digests and history.
// kube-derive repeats `type_ = "string"` per column, which clippy reads as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "osbs.dev",
    version = "v1alpha1",
    kind = "ImageStream",
    root = "ImageStreamResource",
    namespaced,
    status = "ImageStreamStatus",
    derive = "PartialEq",
    category = "osbs",
    printcolumn(
        name = "Repository",
        type_ = "string",
        json_path = ".status.dockerImageRepository"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamSpec {
    /// Where the image lives, for a stream created before any import (an external base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_repository: Option<String>,
}

/// The tags of an ImageStream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageStreamStatus {
    /// `registry/repository` of the last import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image_repository: Option<String>,
    /// Tag → digest and history.
    #[serde(default)]
    pub tags: BTreeMap<String, TagStatus>,
    /// Changes whose triggers the controller has yet to fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_triggers: Vec<PendingTrigger>,
}

fn parse_time(kind: &'static str, name: &str, text: &str) -> Result<Timestamp, KubeError> {
    Timestamp::parse(text).map_err(|e| KubeError::Invalid {
        kind,
        name: name.to_owned(),
        problem: e.to_string(),
    })
}

fn owner_reference<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    owner.controller_owner_ref(&())
}

impl BuildConfigResource {
    /// The model BuildConfig.
    pub fn to_model(&self) -> model::BuildConfig {
        let spec = &self.spec;
        model::BuildConfig {
            name: self.name_any(),
            git_url: spec.git_url.clone(),
            git_branch: spec.git_branch.clone(),
            last_user_commit: spec.last_user_commit.clone(),
            labels: spec.labels.clone(),
            trigger: spec
                .trigger
                .as_ref()
                .map(|t| ImageStreamTag::new(&t.stream, &t.tag)),
            run_policy: RunPolicy::Serial,
            build_counter: self
                .status
                .as_ref()
                .map_or(0, |s| u64::try_from(s.last_version).unwrap_or(0)),
            repo_config_name: spec.repo_config_name.clone(),
            image_name: spec.image_name.clone(),
            build_args: spec.build_args.clone(),
        }
    }

    /// A new resource for `config` (its counter goes to the status, which the API server sets
    /// only through the status subresource).
    pub fn from_model(
        config: &model::BuildConfig,
        registry_uri: Option<String>,
        registry_secret: Option<String>,
    ) -> Self {
        let mut resource = BuildConfigResource::new(
            &config.name,
            BuildConfigSpec {
                git_url: String::new(),
                git_branch: String::new(),
                last_user_commit: None,
                labels: BTreeMap::new(),
                trigger: None,
                run_policy: serial(),
                repo_config_name: default_repo_config_name(),
                image_name: None,
                registry_uri,
                registry_secret,
                sync: None,
                extra_registries: Vec::new(),
                skip_tls_verify: false,
                registry_ca: None,
                build_secrets: Vec::new(),
                build_args: BTreeMap::new(),
            },
        );
        resource.apply_model(config);
        resource
    }

    /// Writes `config` into the spec and status (keeping the registry settings).
    pub fn apply_model(&mut self, config: &model::BuildConfig) {
        let spec = &mut self.spec;
        spec.git_url.clone_from(&config.git_url);
        spec.git_branch.clone_from(&config.git_branch);
        spec.last_user_commit.clone_from(&config.last_user_commit);
        spec.labels.clone_from(&config.labels);
        spec.trigger = config.trigger.as_ref().map(|t| TriggerSpec {
            stream: t.stream.clone(),
            tag: t.tag.clone(),
        });
        spec.repo_config_name.clone_from(&config.repo_config_name);
        spec.image_name.clone_from(&config.image_name);
        spec.build_args.clone_from(&config.build_args);
        self.status = Some(BuildConfigStatus {
            last_version: i64::try_from(config.build_counter).unwrap_or(i64::MAX),
        });
    }
}

impl BuildResource {
    /// The model Build: spec, status and the results annotations.
    ///
    /// # Errors
    ///
    /// [`KubeError::Invalid`] for a timestamp that is not RFC 3339.
    pub fn to_model(&self) -> Result<model::Build, KubeError> {
        let name = self.name_any();
        let spec = &self.spec;
        let status = self.status.clone().unwrap_or_default();
        let results = results::decode(self.annotations());
        let time = |t: &Option<String>| {
            t.as_deref()
                .map(|t| parse_time("build", &name, t))
                .transpose()
        };
        Ok(model::Build {
            name: name.clone(),
            build_config: spec.build_config.clone(),
            number: u64::try_from(spec.number).unwrap_or(0),
            phase: status.phase.into(),
            is_autorebuild: spec.is_autorebuild,
            cause: spec.cause.to_model(),
            git_url: spec.git_url.clone(),
            git_branch: spec.git_branch.clone(),
            commit: results.commit_id.or_else(|| spec.commit.clone()),
            release: status.release.or(results.release),
            repositories: results.repositories,
            digests: results.digests,
            sync: results.sync,
            base_image_name: results.base_image_name,
            base_image_id: results.base_image_id,
            image_id: results.image_id,
            error: status.error,
            reason: status.reason,
            created: parse_time("build", &name, &spec.created)?,
            started: time(&status.started)?,
            finished: time(&status.finished)?,
            dockerfile: results.dockerfile,
            plugins_metadata: results.plugins_metadata,
            variant: spec
                .variant
                .as_ref()
                .map(VariantSpec::to_model)
                .unwrap_or_default(),
        })
    }

    /// A new resource for the queued `build` of `owner`: labels for selection, and an owner
    /// reference so that deleting the BuildConfig deletes its builds.
    pub fn from_model(build: &model::Build, owner: Option<&BuildConfigResource>) -> Self {
        let mut resource = BuildResource::new(
            &build.name,
            BuildSpec {
                build_config: build.build_config.clone(),
                number: i64::try_from(build.number).unwrap_or(i64::MAX),
                is_autorebuild: build.is_autorebuild,
                cause: CauseSpec::from(&build.cause),
                git_url: build.git_url.clone(),
                git_branch: build.git_branch.clone(),
                commit: build.commit.clone(),
                created: build.created.to_string(),
                cancel_requested: false,
                variant: (!build.variant.is_default())
                    .then(|| VariantSpec::from_model(&build.variant)),
            },
        );
        resource.metadata.labels = Some(BTreeMap::from([
            (LABEL_BUILD_CONFIG.to_owned(), build.build_config.clone()),
            (
                LABEL_IS_AUTOREBUILD.to_owned(),
                build.is_autorebuild.to_string(),
            ),
        ]));
        resource.metadata.owner_references = owner.and_then(owner_reference).map(|o| vec![o]);
        // Born unnotified: its end queues notifications (Builds without the marker predate
        // them and count as notified, see `KubeStore`).
        resource.metadata.annotations = Some(BTreeMap::from([(
            NOTIFIED_ANNOTATION.to_owned(),
            "false".to_owned(),
        )]));
        resource.apply_model(build);
        resource
    }

    /// The run lease in the status, if any.
    pub fn lease(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.lease.as_deref())
    }

    /// Writes the mutable part of `build` (phase, error, reason, times, results) into the
    /// status and the results annotations; the run's Pod name and lease are kept.
    pub fn apply_model(&mut self, build: &model::Build) {
        let previous = self.status.take().unwrap_or_default();
        let image = build
            .repositories
            .primary
            .first()
            .or(build.repositories.unique.first())
            .cloned();
        self.status = Some(BuildStatus {
            phase: build.phase.into(),
            error: build.error.clone(),
            reason: build.reason.clone(),
            started: build.started.map(|t| t.to_string()),
            finished: build.finished.map(|t| t.to_string()),
            release: build.release.clone(),
            image,
            pod_name: previous.pod_name,
            lease: previous.lease,
            lease_granted: previous.lease_granted,
        });
        let mut results = results::of_build(build);
        if results.commit_id == self.spec.commit {
            // The spec has it already; an annotation only when the reactor resolved another.
            results.commit_id = None;
        }
        let encoded = results::encode(&results);
        let annotations = self.metadata.annotations.get_or_insert_with(BTreeMap::new);
        annotations.retain(|k, _| !results::is_results_key(k));
        annotations.extend(encoded);
    }

    /// The model phase (a missing status is `New`).
    pub fn phase(&self) -> BuildPhase {
        self.status.as_ref().map_or(Phase::New, |s| s.phase).into()
    }
}

impl ImageStreamResource {
    /// The model ImageStream.
    pub fn to_model(&self) -> Result<model::ImageStream, KubeError> {
        let name = self.name_any();
        let status = self.status.clone().unwrap_or_default();
        let mut tags = BTreeMap::new();
        for (tag, t) in status.tags {
            let mut history = Vec::with_capacity(t.history.len());
            for event in t.history {
                history.push(TagEvent {
                    digest: event.digest,
                    build: event.build,
                    time: parse_time("image stream", &name, &event.time)?,
                });
            }
            tags.insert(
                tag,
                StreamTag {
                    digest: t.digest,
                    history,
                },
            );
        }
        Ok(model::ImageStream {
            name,
            docker_image_repository: status
                .docker_image_repository
                .or_else(|| self.spec.docker_image_repository.clone()),
            tags,
        })
    }

    /// Writes `stream`'s tags and repository into the status (pending triggers are kept).
    pub fn apply_model(&mut self, stream: &model::ImageStream) {
        let status = self.status.get_or_insert_with(ImageStreamStatus::default);
        status
            .docker_image_repository
            .clone_from(&stream.docker_image_repository);
        status.tags = stream
            .tags
            .iter()
            .map(|(tag, t)| {
                let history = t
                    .history
                    .iter()
                    .map(|e| TagEventSpec {
                        digest: e.digest.clone(),
                        build: e.build.clone(),
                        time: e.time.to_string(),
                    })
                    .collect();
                (
                    tag.clone(),
                    TagStatus {
                        digest: t.digest.clone(),
                        history,
                    },
                )
            })
            .collect();
    }
}

/// The CustomResourceDefinitions of the three kinds, in a fixed order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        BuildConfigResource::crd(),
        BuildResource::crd(),
        ImageStreamResource::crd(),
    ]
}

/// The CRDs as one multi-document YAML file: what `deploy/crds.yaml` holds.
///
/// # Errors
///
/// [`KubeError::Invalid`] if a CRD cannot be written as YAML (it always can).
pub fn crds_yaml() -> Result<String, KubeError> {
    let mut out = String::from(
        "# Generated from the Rust types in crates/osbs-kube (resources.rs); do not edit.\n\
         # Regenerate with: cargo run -p osbs-controller -- crds > deploy/crds.yaml\n",
    );
    for crd in all_crds() {
        let yaml = serde_saphyr::to_string(&crd).map_err(|e| KubeError::Invalid {
            kind: "custom resource definition",
            name: crd.name_any(),
            problem: e.to_string(),
        })?;
        out.push_str("---\n");
        out.push_str(&yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}
