//! [`KubeError`]: the one error type of this crate, with the verb and resource of every failed
//! API call so that a 403 says exactly which permission is missing.

use osbs_core::import::ImportError;

/// What went wrong talking to the Kubernetes API.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The API refused the call for lack of permission (HTTP 403).
    #[error(
        "forbidden: cannot {verb} {resource} in namespace {namespace} (grant the RBAC verb \
         `{verb}` on `{resource}` to this identity): {message}"
    )]
    Forbidden {
        /// The RBAC verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`.
        verb: &'static str,
        /// The resource, e.g. `builds.osbs.dev` or `pods/log`.
        resource: String,
        /// The namespace.
        namespace: String,
        /// The API server's message.
        message: String,
    },
    /// The object does not exist (HTTP 404).
    #[error("{kind} {name:?} not found in namespace {namespace}")]
    NotFound {
        /// `build`, `build config`, `image stream`, `pod`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// An update kept conflicting with other writers (HTTP 409 every time).
    #[error("cannot update {kind} {name:?}: still conflicting after {attempts} attempts")]
    Conflict {
        /// The object's kind.
        kind: &'static str,
        /// Its name.
        name: String,
        /// How often it was tried.
        attempts: usize,
    },
    /// The API server cannot be reached, or the client cannot be configured.
    #[error("the Kubernetes API server is unreachable ({context})")]
    Unreachable {
        /// What was being done.
        context: String,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
    /// Any other failed API call.
    #[error("cannot {verb} {resource} {name:?}")]
    Api {
        /// The RBAC verb.
        verb: &'static str,
        /// The resource.
        resource: String,
        /// The object's name, empty for lists.
        name: String,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
    /// An import that `osbs-core` refused.
    #[error("cannot import into image stream {stream}")]
    Import {
        /// The ImageStream.
        stream: String,
        /// Why.
        #[source]
        source: Box<ImportError>,
    },
    /// A write of a build's run that no longer holds the run's lease: the engine declared
    /// the run dead (or started another), so nothing the run does takes effect any more.
    #[error("build {build} lost its run lease (the run was declared dead); the write is refused")]
    Fenced {
        /// The build.
        build: String,
    },
    /// An object whose content is not what this version understands.
    #[error("invalid {kind} {name:?}: {problem}")]
    Invalid {
        /// The object's kind.
        kind: &'static str,
        /// Its name.
        name: String,
        /// What is wrong.
        problem: String,
    },
}

impl KubeError {
    /// Whether the API server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, KubeError::Unreachable { .. })
    }

    /// Maps a failed call `verb resource/name` in `namespace`.
    pub(crate) fn from_kube(
        source: kube::Error,
        verb: &'static str,
        resource: &str,
        kind: &'static str,
        name: &str,
        namespace: &str,
    ) -> KubeError {
        match &source {
            kube::Error::Api(status) if status.is_forbidden() || status.code == 403 => {
                KubeError::Forbidden {
                    verb,
                    resource: resource.to_owned(),
                    namespace: namespace.to_owned(),
                    message: status.message.clone(),
                }
            }
            kube::Error::Api(status) if status.code == 404 && !name.is_empty() => {
                KubeError::NotFound {
                    kind,
                    name: name.to_owned(),
                    namespace: namespace.to_owned(),
                }
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => KubeError::Unreachable {
                context: format!("{verb} {resource}"),
                source: Box::new(source),
            },
            _ => KubeError::Api {
                verb,
                resource: resource.to_owned(),
                name: name.to_owned(),
                source: Box::new(source),
            },
        }
    }
}

/// Whether `error` is an HTTP 409 (a stale `resourceVersion`, or a name already taken).
pub(crate) fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}
