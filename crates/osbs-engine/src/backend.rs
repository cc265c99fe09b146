//! The seam between the `osbs` commands and where builds run: the [`Backend`] trait, the
//! requests and answers that cross it, and [`ClientError`].
//!
//! The local backend (SQLite state, builds run by this machine's Docker Engine) and the
//! Kubernetes backend implement it; the commands in `cli` only ever see this trait, and the
//! semantics (run policy, triggers, naming, release) come from `osbs-core` on both sides.

use std::future::Future;
use std::path::PathBuf;

use osbs_core::ImageReference;
use osbs_core::model::{Build, BuildConfig, ImageStream};
use osbs_core::trigger::RebuildPlan;
use osbs_core::variant::BuildVariant;

/// What `osbs build` / `create_build` asks for (SPEC §3 step 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSubmission {
    /// `-g/--git-url`.
    pub git_url: String,
    /// `-b/--git-branch`.
    pub git_branch: String,
    /// `--git-commit`: a commit or ref to build instead of the branch head.
    pub git_commit: Option<String>,
    /// `-c/--component`: the image name when the Dockerfile has no `name` label.
    pub component: Option<String>,
    // Build variants.
    /// `--scratch`, `--isolated`, `--release`, `-A/--tag`, `--build-arg`: checked with
    /// `BuildVariant::validate` at submission (a usage error).
    pub variant: BuildVariant,
}

impl BuildSubmission {
    /// `--skip-build` only updates a BuildConfig, which a scratch or isolated build never
    /// does.
    ///
    /// # Errors
    ///
    /// [`ClientError::Usage`] for a scratch or isolated submission.
    pub fn check_skip_build(&self) -> Result<()> {
        match self.variant.kind() {
            "regular" => Ok(()),
            kind => Err(ClientError::Usage(format!(
                "--skip-build cannot be used with --{kind}: it updates the build config, which \
                 a {kind} build leaves alone"
            ))),
        }
    }
}

/// The answer to a submission: the queued build and what it waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The new build, phase `New` (or already further along).
    pub build: Build,
    /// The build of the same BuildConfig it waits behind, if any (SPEC §3 step 3).
    pub queued_behind: Option<String>,
    /// Warnings found while reading the repository (e.g. unknown keys in its repo config).
    pub warnings: Vec<String>,
}

/// What a submission found in the repository (SPEC §3 step 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionFacts {
    /// The resolved commit.
    pub commit: String,
    /// The final stage's base image; `None` for `FROM scratch`.
    pub base_image: Option<ImageReference>,
    /// The Dockerfile's `name` label.
    pub image_name: Option<String>,
    /// Warnings (unknown repo config keys).
    pub warnings: Vec<String>,
}

/// Which builds `list-builds` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFilter {
    /// Only builds of this BuildConfig.
    pub build_config: Option<String>,
    /// Only builds that are `New`, `Pending` or `Running`.
    pub running: bool,
}

/// One chunk of a build log, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    /// A line of the log (without its newline).
    Line(String),
    /// The build reached a final phase; no more lines follow.
    Finished(Box<Build>),
}

/// Everything that can go wrong in a client call. Each variant maps to one exit code of SPEC
/// §7 ([`ClientError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad input from the user: a malformed repo config, a missing branch, an unknown build.
    /// Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A build, BuildConfig or ImageStream that does not exist. Exit code 2.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// `build`, `build config` or `image stream`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The backend, git server, Docker Engine or a registry cannot be reached. Exit code 3.
    #[error("{what} is unreachable")]
    Unreachable {
        /// What could not be reached, e.g. `registry 127.0.0.1:5000` or `git repository URL`.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Anything else that failed inside the backend (its state store, a process). Exit code 3.
    #[error("{context}")]
    Backend {
        /// What was being done.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ClientError {
    /// The process exit code of SPEC §7: 2 for usage and configuration errors, 3 for an
    /// unreachable backend or registry.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Usage(_) | ClientError::NotFound { .. } => 2,
            ClientError::Unreachable { .. } | ClientError::Backend { .. } => 3,
        }
    }
}

/// A short alias for results of client calls.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Where builds run and state lives. Every `osbs` command is one or two calls of this trait.
///
/// Methods are `async` and take `&self`; implementations keep no state between calls that
/// another `osbs` process could not see (two processes may act on the same builds at once).
pub trait Backend {
    /// Starts a user build (SPEC §3 steps 2–5): resolves the commit, reads the Dockerfile and
    /// repo config at it, finds or creates the BuildConfig, updates it and queues the build;
    /// a runner starts it as soon as the run policy allows.
    fn create_build(&self, submission: &BuildSubmission)
    -> impl Future<Output = Result<Submitted>>;

    /// `osbs build --skip-build`: resolves the submission and updates its BuildConfig exactly
    /// as [`Backend::create_build`] would (trigger, commit, build arguments; created if
    /// missing), but queues no build. Returns the BuildConfig as stored and the warnings.
    fn update_build_config(
        &self,
        submission: &BuildSubmission,
    ) -> impl Future<Output = Result<(BuildConfig, Vec<String>)>>;

    /// One build.
    fn get_build(&self, name: &str) -> impl Future<Output = Result<Build>>;

    /// Builds, newest first.
    fn list_builds(&self, filter: &BuildFilter) -> impl Future<Output = Result<Vec<Build>>>;

    /// The builds in `phase`, newest first: `rebuild-plan` reads the `Cancelled` ones to learn
    /// which repositories disabled autorebuilds. The default filters [`Backend::list_builds`];
    /// a backend with an index on the phase answers without reading every build.
    fn builds_in_phase(
        &self,
        phase: osbs_core::build::BuildPhase,
    ) -> impl Future<Output = Result<Vec<Build>>> {
        async move {
            let mut builds = self.list_builds(&BuildFilter::default()).await?;
            builds.retain(|b| b.phase == phase);
            Ok(builds)
        }
    }

    /// Waits until the build reaches a final phase, calling `on_change` whenever its phase
    /// changes; returns the final build.
    fn watch_build(
        &self,
        name: &str,
        on_change: &mut (dyn FnMut(&Build) + Send),
    ) -> impl Future<Output = Result<Build>>;

    /// The build's log so far; with `follow`, keeps calling `on_event` with new lines until
    /// the build finishes (ending with [`LogEvent::Finished`]).
    fn build_logs(
        &self,
        name: &str,
        follow: bool,
        on_event: &mut (dyn FnMut(LogEvent) + Send),
    ) -> impl Future<Output = Result<()>> {
        async move {
            self.build_logs_timed(name, follow, &mut |event, _| on_event(event))
                .await
        }
    }

    /// [`Backend::build_logs`] with the time each line was logged (`osbs build-logs
    /// --timestamps`), where the backend knows it: `None` for lines of logs kept before
    /// times were, and for [`LogEvent::Finished`].
    fn build_logs_timed(
        &self,
        name: &str,
        follow: bool,
        on_event: &mut (dyn FnMut(LogEvent, Option<osbs_core::time::Timestamp>) + Send),
    ) -> impl Future<Output = Result<()>>;

    /// Cancels a build: a queued one at once, a running one through its runner (exit plugins
    /// run). Returns the build as it is after the request.
    fn cancel_build(&self, name: &str) -> impl Future<Output = Result<Build>>;

    /// All BuildConfigs, by name.
    fn list_build_configs(&self) -> impl Future<Output = Result<Vec<BuildConfig>>>;

    /// One BuildConfig.
    fn get_build_config(&self, name: &str) -> impl Future<Output = Result<BuildConfig>>;

    /// All ImageStreams, by name.
    fn list_image_streams(&self) -> impl Future<Output = Result<Vec<ImageStream>>>;

    /// One ImageStream.
    fn get_image_stream(&self, name: &str) -> impl Future<Output = Result<ImageStream>>;

    /// Re-reads the registry for the ImageStream's image (one tag, or all of its tags) and
    /// records what changed; a changed digest fires the triggers on that tag. Returns the
    /// stream and the builds the triggers queued.
    fn import_image(
        &self,
        name: &str,
        tag: Option<&str>,
    ) -> impl Future<Output = Result<(ImageStream, Vec<Build>)>>;

    /// What an image change of `stream:tag` would autorebuild, transitively.
    fn rebuild_plan(&self, stream: &str, tag: &str) -> impl Future<Output = Result<RebuildPlan>>;

    /// The builds whose cause is an image change produced by `build` (what it triggered).
    fn triggered_by(&self, build: &Build) -> impl Future<Output = Result<Vec<Build>>>;

    /// Removes an ended build and its log. An active or queued build is refused with
    /// [`ClientError::Usage`] (cancel it first).
    fn delete_build(&self, name: &str) -> impl Future<Output = Result<()>>;

    /// Removes a BuildConfig and all its builds (and their logs). Refused with
    /// [`ClientError::Usage`] while one of its builds is queued or active.
    fn delete_build_config(&self, name: &str) -> impl Future<Output = Result<Vec<String>>>;

    /// Where this backend keeps its state, for messages (`None` when remote).
    fn state_location(&self) -> Option<PathBuf>;
}

/// The refusal of a delete while `build` is in `phase`.
pub fn delete_refused(what: &str, build: &Build) -> ClientError {
    ClientError::Usage(format!(
        "cannot delete {what}: build {} is {}; cancel it first (osbs cancel-build {}) or use \
         --force",
        build.name, build.phase, build.name
    ))
}
