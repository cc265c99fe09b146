//! The persisted entities of SPEC §2 as plain serde structs: [`BuildConfig`], [`Build`] and
//! [`ImageStream`]. The local backend stores them as JSON in SQLite, the Kubernetes backend as
//! the specs and statuses of its custom resources; both change them only through the functions
//! of this crate ([`crate::policy`], [`crate::trigger`], [`crate::import`]).
//!
//! A [`Build`] serialises to the `--output json` build object of SPEC §7.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::build::{
    BuildOutcome, BuildPhase, DEFAULT_REPO_CONFIG_NAME, PluginsMetadata, PushedDigest, Repositories,
};
use crate::naming;
use crate::reference::{self, DEFAULT_TAG, ImageReference};
use crate::time::Timestamp;

/// BuildConfig label: the repository name of the git URL.
pub const LABEL_GIT_REPO_NAME: &str = "git-repo-name";
/// BuildConfig label: the git branch.
pub const LABEL_GIT_BRANCH: &str = "git-branch";
/// BuildConfig label: `"true"` once a user build ran `check_and_set_rebuild`, so that the
/// builds its trigger starts are autorebuilds; a user submission resets it to `"false"`.
pub const LABEL_IS_AUTOREBUILD: &str = "is_autorebuild";

/// The longest ImageStream name accepted (a repository path's limit).
const STREAM_NAME_MAX_LEN: usize = 255;

/// Why a model value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// Text that is not `stream[:tag]`.
    #[error("invalid image stream tag `{input}`: {problem}")]
    InvalidStreamTag {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// A tag of an ImageStream, `stream:tag`: what an image-change trigger watches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImageStreamTag {
    /// The ImageStream's name, e.g. `osbs-busybox`.
    pub stream: String,
    /// The tag, e.g. `latest`.
    pub tag: String,
}

impl ImageStreamTag {
    /// `stream:tag`, unchecked.
    pub fn new(stream: impl Into<String>, tag: impl Into<String>) -> Self {
        ImageStreamTag {
            stream: stream.into(),
            tag: tag.into(),
        }
    }

    /// Parses `stream[:tag]`; the tag defaults to `latest`. The stream is an ImageStream name
    /// (`[a-z0-9._-]`, as [`naming::image_stream_name`] makes them), the tag a Docker tag.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidStreamTag`] naming the problem.
    pub fn parse(input: &str) -> Result<Self, ModelError> {
        let invalid = |problem| ModelError::InvalidStreamTag {
            input: input.to_owned(),
            problem,
        };
        let (stream, tag) = input.split_once(':').unwrap_or((input, DEFAULT_TAG));
        if stream.is_empty() {
            return Err(invalid("the stream name is empty"));
        }
        if stream.len() > STREAM_NAME_MAX_LEN {
            return Err(invalid("the stream name is longer than 255 characters"));
        }
        if !stream.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        }) {
            return Err(invalid(
                "a stream name has only lowercase letters, digits, `.`, `_` and `-`",
            ));
        }
        if reference::validate_tag(tag).is_err() {
            return Err(invalid(
                "a tag is 1 to 128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`",
            ));
        }
        Ok(ImageStreamTag::new(stream, tag))
    }

    /// The trigger of a build FROM `base`: the ImageStream of its repository (registry
    /// stripped, `/` replaced by `-`) at its tag, `latest` by default. `None` for a base pinned
    /// by digest, which no import can change.
    pub fn for_base_image(base: &ImageReference) -> Option<Self> {
        if base.digest().is_some() {
            return None;
        }
        Some(ImageStreamTag::new(
            naming::image_stream_name(base.repository()),
            base.tag_or_latest(),
        ))
    }
}

impl fmt::Display for ImageStreamTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.stream, self.tag)
    }
}

impl FromStr for ImageStreamTag {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// How the builds of one BuildConfig may overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RunPolicy {
    /// At most one build `Pending` or `Running`; the others wait `New`, in order, and queued
    /// autorebuilds coalesce ([`crate::policy::schedule`]).
    #[default]
    Serial,
}

fn default_repo_config_name() -> String {
    DEFAULT_REPO_CONFIG_NAME.to_owned()
}

/// One per (git repository, branch): what to build, what triggers it, and its build counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BuildConfig {
    /// [`naming::build_config_name`] of the git URL and branch.
    pub name: String,
    /// The git URL as the user gave it.
    pub git_url: String,
    /// The branch.
    pub git_branch: String,
    /// The commit of the last user build: what autorebuilds rebuild (never the branch head).
    #[serde(default)]
    pub last_user_commit: Option<String>,
    /// `git-repo-name`, `git-branch` and `is_autorebuild` (see the `LABEL_*` constants).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The image-change trigger: the ImageStream tag of the base image. `None` for
    /// `FROM scratch`, a digest-pinned base, or before the first user build.
    #[serde(default)]
    pub trigger: Option<ImageStreamTag>,
    /// The run policy.
    #[serde(default)]
    pub run_policy: RunPolicy,
    /// The number of the last build created; the next build is `<name>-<build_counter + 1>`.
    #[serde(default)]
    pub build_counter: u64,
    /// The repo config file at the top of the repository that `stop_autorebuild_if_disabled`
    /// reads.
    #[serde(default = "default_repo_config_name")]
    pub repo_config_name: String,
    /// The repository the image is pushed to (the Dockerfile's `name` label, e.g.
    /// `osbs/app`), once known; its ImageStream is [`BuildConfig::image_stream`].
    #[serde(default)]
    pub image_name: Option<String>,
    // Build variants (`osbs build --build-arg`).
    /// The Docker build arguments of the last regular user build (`--build-arg`), which its
    /// autorebuilds build with too (as OpenShift keeps `buildArgs` on the BuildConfig).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
}

impl BuildConfig {
    /// A fresh BuildConfig for `(git_url, git_branch)`: its name, the `git-repo-name` and
    /// `git-branch` labels, `is_autorebuild=false`, no trigger, counter 0.
    pub fn new(git_url: &str, git_branch: &str) -> Self {
        let labels = BTreeMap::from([
            (
                LABEL_GIT_REPO_NAME.to_owned(),
                naming::git_repo_name(git_url).to_owned(),
            ),
            (LABEL_GIT_BRANCH.to_owned(), git_branch.to_owned()),
            (LABEL_IS_AUTOREBUILD.to_owned(), "false".to_owned()),
        ]);
        BuildConfig {
            name: naming::build_config_name(git_url, git_branch),
            git_url: git_url.to_owned(),
            git_branch: git_branch.to_owned(),
            last_user_commit: None,
            labels,
            trigger: None,
            run_policy: RunPolicy::Serial,
            build_counter: 0,
            repo_config_name: default_repo_config_name(),
            image_name: None,
            build_args: BTreeMap::new(),
        }
    }

    /// Whether the `is_autorebuild` label is `true` (case-insensitive): the builds its
    /// trigger starts are marked autorebuilds.
    pub fn is_autorebuild(&self) -> bool {
        self.labels
            .get(LABEL_IS_AUTOREBUILD)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The ImageStream the images of this BuildConfig are imported into, once the image name
    /// is known.
    pub fn image_stream(&self) -> Option<String> {
        self.image_name.as_deref().map(naming::image_stream_name)
    }

    /// Takes the next build number (and counts it).
    pub fn next_build_number(&mut self) -> u64 {
        self.build_counter = self.build_counter.saturating_add(1);
        self.build_counter
    }

    /// SPEC §3 step 4, before a user build starts: records the commit autorebuilds will
    /// rebuild, the trigger on the base image's ImageStream tag, the repo config file and the
    /// image name, and sets `is_autorebuild=false`.
    pub fn record_user_build(&mut self, submission: UserSubmission) {
        self.last_user_commit = Some(submission.commit);
        self.trigger = submission.trigger;
        self.repo_config_name = submission.repo_config_name;
        if submission.image_name.is_some() {
            self.image_name = submission.image_name;
        }
        self.labels
            .insert(LABEL_IS_AUTOREBUILD.to_owned(), "false".to_owned());
    }
}

/// What a user submission determined (SPEC §3 steps 2 and 4), for
/// [`BuildConfig::record_user_build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSubmission {
    /// The resolved commit of the build.
    pub commit: String,
    /// The base image's ImageStream tag; `None` for `FROM scratch`.
    pub trigger: Option<ImageStreamTag>,
    /// The repo config file's name.
    pub repo_config_name: String,
    /// The Dockerfile's `name` label, when it has one.
    pub image_name: Option<String>,
}

/// Why a build exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type")]
pub enum BuildCause {
    /// `osbs build` or `create_build`.
    User,
    /// An import changed `stream:tag` to `digest`.
    ImageChange {
        /// The ImageStream.
        stream: String,
        /// The tag that changed.
        tag: String,
        /// Its new digest.
        digest: String,
        /// The BuildConfigs whose builds led to this one, oldest first: the one whose import
        /// fired the trigger is last. Empty when a user's `import-image` fired it. A trigger
        /// never fires a BuildConfig that is already in the chain (cycle protection).
        #[serde(default)]
        chain: Vec<String>,
    },
}

impl BuildCause {
    /// Whether a trigger, not a user, started the build.
    pub fn is_image_change(&self) -> bool {
        matches!(self, BuildCause::ImageChange { .. })
    }
}

impl fmt::Display for BuildCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildCause::User => f.write_str("user"),
            BuildCause::ImageChange {
                stream,
                tag,
                digest,
                ..
            } => write!(f, "image change of {stream}:{tag}@{digest}"),
        }
    }
}

/// One build of a BuildConfig, `<buildconfig>-<n>`: its request, phase and results.
///
/// The serde form is the build object of `--output json` (SPEC §7); every field is always
/// present (`null` when unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Build {
    /// `<buildconfig>-<n>`.
    pub name: String,
    /// The BuildConfig's name.
    pub build_config: String,
    /// `n`, increasing per BuildConfig: the queue order.
    pub number: u64,
    /// Where the build is in its life.
    pub phase: BuildPhase,
    /// Whether the reactor treats it as an autorebuild (the `is_autorebuild` label).
    pub is_autorebuild: bool,
    /// Who or what started it.
    pub cause: BuildCause,
    /// Git URL.
    pub git_url: String,
    /// Branch.
    pub git_branch: String,
    /// The commit built: the resolved commit of a user build, the BuildConfig's last user
    /// commit for an autorebuild.
    #[serde(default)]
    pub commit: Option<String>,
    /// The release chosen by `bump_release`.
    #[serde(default)]
    pub release: Option<String>,
    /// Where the image was pushed.
    #[serde(default)]
    pub repositories: Repositories,
    /// Each pushed tag with the registry's manifest digest.
    #[serde(default)]
    pub digests: Vec<PushedDigest>,
    /// Each tag copied to the sync registry, with its digest there.
    #[serde(default)]
    pub sync: Vec<PushedDigest>,
    /// The base image as the Dockerfile names it.
    #[serde(default)]
    pub base_image_name: Option<String>,
    /// The base image's ID.
    #[serde(default)]
    pub base_image_id: Option<String>,
    /// The built image's ID.
    #[serde(default)]
    pub image_id: Option<String>,
    /// `null`, or what went wrong (`Error in plugin NAME: message`, or why the runner was
    /// declared gone).
    #[serde(default)]
    pub error: Option<String>,
    /// Why it was cancelled, if it was.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it was queued.
    pub created: Timestamp,
    /// When it started running.
    #[serde(default)]
    pub started: Option<Timestamp>,
    /// When it reached a final phase.
    #[serde(default)]
    pub finished: Option<Timestamp>,
    /// The Dockerfile as built.
    #[serde(default)]
    pub dockerfile: Option<String>,
    /// Per-plugin errors, durations and start times.
    #[serde(default)]
    pub plugins_metadata: PluginsMetadata,
    // Build variants (`osbs build --scratch/--isolated/--release/-A/--build-arg`).
    /// How the build differs from a regular one; an autorebuild is regular with its
    /// BuildConfig's build arguments.
    #[serde(default)]
    pub variant: crate::variant::BuildVariant,
}

impl Build {
    /// A new `New` build of `config` (taking its next number). `is_autorebuild` is false for a
    /// user build and the BuildConfig's label for a triggered one.
    pub fn queued(
        config: &mut BuildConfig,
        cause: BuildCause,
        commit: Option<String>,
        created: Timestamp,
    ) -> Build {
        let number = config.next_build_number();
        Build {
            name: naming::build_name(&config.name, number),
            build_config: config.name.clone(),
            number,
            phase: BuildPhase::New,
            is_autorebuild: cause.is_image_change() && config.is_autorebuild(),
            cause,
            git_url: config.git_url.clone(),
            git_branch: config.git_branch.clone(),
            commit,
            release: None,
            repositories: Repositories::default(),
            digests: Vec::new(),
            sync: Vec::new(),
            base_image_name: None,
            base_image_id: None,
            image_id: None,
            error: None,
            reason: None,
            created,
            started: None,
            finished: None,
            dockerfile: None,
            plugins_metadata: PluginsMetadata::default(),
            variant: crate::variant::BuildVariant {
                build_args: config.build_args.clone(),
                ..Default::default()
            },
        }
    }

    /// Whether this build was queued by an import of `upstream`'s image: its cause is an image
    /// change whose chain ends in `upstream`'s BuildConfig and whose digest `upstream` pushed.
    /// What `osbs build` reports as "triggered".
    pub fn was_triggered_by(&self, upstream: &Build) -> bool {
        match &self.cause {
            BuildCause::ImageChange { digest, chain, .. } => {
                chain.last() == Some(&upstream.build_config)
                    && upstream.digests.iter().any(|d| &d.digest == digest)
            }
            BuildCause::User => false,
        }
    }

    /// Whether the build holds its BuildConfig's single run slot (`Pending` or `Running`).
    pub fn is_active(&self) -> bool {
        matches!(self.phase, BuildPhase::Pending | BuildPhase::Running)
    }

    /// The causal chain an import by this build carries on: its own cause's chain followed
    /// by its BuildConfig. The triggers that import fires never restart a BuildConfig in it.
    pub fn downstream_chain(&self) -> Vec<String> {
        let mut chain = match &self.cause {
            BuildCause::User => Vec::new(),
            BuildCause::ImageChange { chain, .. } => chain.clone(),
        };
        if !chain.contains(&self.build_config) {
            chain.push(self.build_config.clone());
        }
        chain
    }

    /// `Pending` → `Running` at `now`. Returns whether the build changed (it does nothing in
    /// any other phase, so a repeated call is harmless).
    pub fn mark_running(&mut self, now: Timestamp) -> bool {
        if self.phase != BuildPhase::Pending {
            return false;
        }
        self.phase = BuildPhase::Running;
        self.started.get_or_insert(now);
        true
    }

    /// Stores what the reactor reports, as both hosts do: the first report of a final phase
    /// ends the build ([`Build::record_outcome`]); a later report of the same phase (the
    /// reactor stores once in `store_metadata` and again at the very end) refreshes the
    /// results, never the phase or the finish time; a report of another phase than the one the
    /// build ended in (the engine ended it `Error` meanwhile) changes nothing. Returns whether
    /// the build changed.
    pub fn store_results(&mut self, outcome: &BuildOutcome, now: Timestamp) -> bool {
        if !self.phase.is_finished() {
            return self.record_outcome(outcome, now);
        }
        if self.phase != outcome.phase {
            return false;
        }
        let (phase, finished) = (self.phase, self.finished);
        self.phase = BuildPhase::Running;
        self.record_outcome(outcome, now);
        self.phase = phase;
        self.finished = finished;
        true
    }

    /// Records how the reactor ended the build: phase, error, reason and the results of
    /// SPEC §5. Returns whether the build changed: a build already in a final phase keeps it.
    pub fn record_outcome(&mut self, outcome: &BuildOutcome, now: Timestamp) -> bool {
        if self.phase.is_finished() {
            return false;
        }
        let results = &outcome.results;
        self.phase = if outcome.phase.is_finished() {
            outcome.phase
        } else {
            BuildPhase::Error
        };
        self.error.clone_from(&outcome.error);
        self.reason.clone_from(&outcome.reason);
        self.release.clone_from(&results.release);
        self.repositories.clone_from(&results.repositories);
        self.digests.clone_from(&results.digests);
        self.sync.clone_from(&results.sync);
        self.base_image_name.clone_from(&results.base_image_name);
        self.base_image_id.clone_from(&results.base_image_id);
        self.image_id.clone_from(&results.image_id);
        self.dockerfile.clone_from(&results.dockerfile);
        self.plugins_metadata.clone_from(&results.plugins_metadata);
        if results.commit_id.is_some() {
            self.commit.clone_from(&results.commit_id);
        }
        if self.phase == BuildPhase::Error && self.error.is_none() {
            self.error = Some(format!(
                "the reactor reported the unfinished phase {}",
                outcome.phase
            ));
        }
        self.finished = Some(now);
        true
    }
}

/// The most tag events an [`ImageStream`] keeps per tag; older ones are dropped.
pub const MAX_TAG_HISTORY: usize = 100;

/// One image per name: its tags, each with its current digest and history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImageStream {
    /// [`naming::image_stream_name`] of the image name.
    pub name: String,
    /// `registry/repository` of the last import.
    #[serde(default)]
    pub docker_image_repository: Option<String>,
    /// Tag name → status.
    #[serde(default)]
    pub tags: BTreeMap<String, StreamTag>,
}

impl ImageStream {
    /// An ImageStream without tags.
    pub fn new(name: impl Into<String>) -> Self {
        ImageStream {
            name: name.into(),
            docker_image_repository: None,
            tags: BTreeMap::new(),
        }
    }

    /// The current digest of `tag`.
    pub fn digest(&self, tag: &str) -> Option<&str> {
        self.tags.get(tag).map(|t| t.digest.as_str())
    }
}

/// A tag of an ImageStream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StreamTag {
    /// The current manifest digest.
    pub digest: String,
    /// Every digest the tag had, oldest first; the last is the current one. At most
    /// [`MAX_TAG_HISTORY`] entries.
    #[serde(default)]
    pub history: Vec<TagEvent>,
}

/// A digest a tag got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TagEvent {
    /// The manifest digest.
    pub digest: String,
    /// The build that imported it; `None` for a manual `import-image`.
    #[serde(default)]
    pub build: Option<String>,
    /// When.
    pub time: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_tags_parse_with_latest_by_default() {
        assert_eq!(
            ImageStreamTag::parse("osbs-busybox").unwrap(),
            ImageStreamTag::new("osbs-busybox", "latest")
        );
        let t: ImageStreamTag = "app:1.0-3".parse().unwrap();
        assert_eq!(t.to_string(), "app:1.0-3");
        for bad in [
            "",
            ":x",
            "app:",
            "App:latest",
            "a/b:latest",
            "app:-x",
            "app:x:y",
            "a@b",
        ] {
            let err = ImageStreamTag::parse(bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid image stream tag `{bad}`"))
            );
        }
    }

    #[test]
    fn trigger_of_a_base_image() {
        let of =
            |s: &str| ImageStreamTag::for_base_image(&s.parse().unwrap()).map(|t| t.to_string());
        assert_eq!(
            of("127.0.0.1:5000/osbs/busybox").as_deref(),
            Some("osbs-busybox:latest")
        );
        assert_eq!(of("busybox:1.36").as_deref(), Some("library-busybox:1.36"));
        let pinned = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(of(&pinned), None);
    }

    #[test]
    fn build_config_labels_and_counter() {
        let mut bc = BuildConfig::new("https://git.example.com/ns/app.git", "main");
        assert_eq!(bc.labels[LABEL_GIT_REPO_NAME], "app");
        assert_eq!(bc.labels[LABEL_GIT_BRANCH], "main");
        assert!(!bc.is_autorebuild());
        bc.labels.insert(LABEL_IS_AUTOREBUILD.into(), "True".into());
        assert!(bc.is_autorebuild());
        assert_eq!(bc.next_build_number(), 1);
        assert_eq!(bc.next_build_number(), 2);
        bc.build_counter = u64::MAX;
        assert_eq!(bc.next_build_number(), u64::MAX);
        bc.record_user_build(UserSubmission {
            commit: "abc".into(),
            trigger: Some(ImageStreamTag::new("base", "latest")),
            repo_config_name: ".osbs-repo-config".into(),
            image_name: Some("osbs/app".into()),
        });
        assert!(!bc.is_autorebuild());
        assert_eq!(bc.image_stream().as_deref(), Some("osbs-app"));
        assert_eq!(bc.last_user_commit.as_deref(), Some("abc"));
    }

    #[test]
    fn minimal_build_config_json_gets_defaults() {
        let bc: BuildConfig =
            serde_json::from_str(r#"{"name":"a","git_url":"u","git_branch":"b"}"#).unwrap();
        assert_eq!(bc.repo_config_name, ".osbs-repo-config");
        assert_eq!(bc.run_policy, RunPolicy::Serial);
        assert_eq!(bc.trigger, None);
    }

    #[test]
    fn downstream_chain_appends_the_build_config_once() {
        let mut bc = BuildConfig::new("https://h/ns/app", "main");
        let t = Timestamp::UNIX_EPOCH;
        let user = Build::queued(&mut bc, BuildCause::User, None, t);
        assert_eq!(user.downstream_chain(), [bc.name.clone()]);
        let cause = BuildCause::ImageChange {
            stream: "base".into(),
            tag: "latest".into(),
            digest: "sha256:x".into(),
            chain: vec!["base-bc".into()],
        };
        let auto = Build::queued(&mut bc, cause, None, t);
        assert_eq!(
            auto.downstream_chain(),
            ["base-bc".to_owned(), bc.name.clone()]
        );
        assert_eq!(auto.name, format!("{}-2", bc.name));
    }
}
