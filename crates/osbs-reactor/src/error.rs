//! The reactor's one error type. Messages are lowercase, carry their context (plugin, path,
//! registry, tag) and never contain credentials.

use std::path::PathBuf;

use thiserror::Error;

use crate::host::HostError;

/// Everything that can go wrong while running a build.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReactorError {
    /// The build host failed.
    #[error("build host cannot {action}")]
    Host {
        /// What the reactor asked of the host.
        action: &'static str,
        /// The host's error.
        #[source]
        source: HostError,
    },
    /// The build request is inconsistent.
    #[error("invalid build request: {reason}")]
    Request {
        /// What is wrong.
        reason: String,
    },
    /// A git URL, branch or commit that the reactor refuses to use.
    #[error(transparent)]
    GitInput(#[from] osbs_core::git::GitInputError),
    /// A git command failed.
    #[error("git {action} failed: {stderr}")]
    Git {
        /// What git was doing.
        action: &'static str,
        /// The last lines git printed.
        stderr: String,
    },
    /// A program could not be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What the reactor was doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The repository has no Dockerfile at its top level.
    #[error("no Dockerfile in the repository at commit {commit}")]
    MissingDockerfile {
        /// The commit that was checked out.
        commit: String,
    },
    /// The Dockerfile cannot be parsed.
    #[error("Dockerfile: {0}")]
    Dockerfile(#[from] osbs_core::dockerfile::DockerfileError),
    /// The Dockerfile's base image is not a valid image reference.
    #[error("Dockerfile line {line}: FROM `{value}` is not a valid image reference")]
    BaseImage {
        /// The line of the FROM.
        line: usize,
        /// The reference as written (after ARG substitution).
        value: String,
        /// Why it does not parse.
        #[source]
        source: osbs_core::ReferenceError,
    },
    /// A label the build needs is missing.
    #[error("the Dockerfile has no `{label}` label")]
    MissingLabel {
        /// The label.
        label: &'static str,
    },
    /// An image name that cannot be a repository.
    #[error("image name `{name}` is not a valid repository")]
    ImageName {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: osbs_core::ReferenceError,
    },
    /// No release could be chosen.
    #[error(transparent)]
    Release(#[from] osbs_core::release::ReleaseError),
    /// The repo config file is broken.
    #[error(transparent)]
    RepoConfig(#[from] osbs_repo_config::LoadError),
    /// A file of the repository (Dockerfile, repo config, `.dockerignore`) cannot be read
    /// from the commit or is not acceptable (`source_files`).
    #[error(transparent)]
    SourceFile(#[from] crate::source_files::SourceFileError),
    /// The image name or a label cannot make the repository and tags the build pushes.
    #[error(transparent)]
    Target(#[from] osbs_core::target::TargetError),
    /// The registry URI is not usable (SPEC §6).
    #[error("registry uri `{uri}` is not usable")]
    RegistryUri {
        /// The URI as configured.
        uri: String,
        /// What is wrong.
        #[source]
        source: Box<osbs_registry_sync::Error>,
    },
    /// The registry secret cannot be read or parsed.
    #[error("registry secret {path}: {reason}")]
    Secret {
        /// The dockercfg file.
        path: PathBuf,
        /// What is wrong (never its contents).
        reason: String,
    },
    /// A registry request failed.
    #[error("registry {registry}: {action} failed: {reason}")]
    Registry {
        /// `host[:port]` of the registry.
        registry: String,
        /// What the reactor asked.
        action: String,
        /// What went wrong.
        reason: String,
    },
    /// The Docker Engine API failed.
    #[error("docker {action} failed")]
    Docker {
        /// What the reactor asked.
        action: &'static str,
        /// Bollard's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The Docker build failed.
    #[error("build failed: {message}")]
    BuildFailed {
        /// The daemon's message (e.g. "The command '/bin/sh -c false' returned a non-zero code: 1").
        message: String,
    },
    /// Pushing a tag failed.
    #[error("push of {image} failed: {message}")]
    Push {
        /// `registry/repository:tag`.
        image: String,
        /// The daemon's message.
        message: String,
    },
    /// The Engine's image export cannot be read (the reactor's own push path).
    #[error("export of image {image} failed: {message}")]
    Export {
        /// The image id.
        image: String,
        /// What went wrong.
        message: String,
    },
    /// The pushed image would not be the built one: its config's `diff_ids` differ from the
    /// layers the Engine has.
    #[error("{image}: {problem}")]
    Verify {
        /// `registry/repository`.
        image: String,
        /// What differs.
        problem: String,
    },
    /// The registry serves another digest than the push reported.
    #[error("{image}: the push reported {pushed} but the registry serves {served}")]
    DigestMismatch {
        /// `registry/repository:tag`.
        image: String,
        /// Digest from the push.
        pushed: String,
        /// Digest from a manifest HEAD.
        served: String,
    },
    /// Pulling the base image failed.
    #[error("pull of {image} failed: {message}")]
    Pull {
        /// The base image.
        image: String,
        /// The daemon's message.
        message: String,
    },
    /// A plugin needs what an earlier plugin should have provided.
    #[error("{what} is not known (did an earlier plugin not run?)")]
    Missing {
        /// What is missing.
        what: &'static str,
    },
}

impl ReactorError {
    /// A [`ReactorError::Docker`] for `action`.
    pub(crate) fn docker(action: &'static str) -> impl FnOnce(bollard::errors::Error) -> Self {
        move |source| ReactorError::Docker { action, source }
    }

    /// A [`ReactorError::Host`] for `action`.
    pub(crate) fn host(action: &'static str) -> impl FnOnce(HostError) -> Self {
        move |source| ReactorError::Host { action, source }
    }
}

/// The error and the chain of its sources, joined with `: ` (as `anyhow`'s `{:#}` prints).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
