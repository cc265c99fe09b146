//! What users ask of the controller through annotations, since they may write no status
//! (deploy/rbac.yaml): `osbs import-image` records an [`ImportRequest`] on the ImageStream
//! ([`IMPORT_REQUEST_ANNOTATION`]); the controller reads the registry with its own
//! credentials, imports, fans the changed tags out, and answers with an [`ImportDone`]
//! ([`IMPORT_DONE_ANNOTATION`]) naming the request it answers. A user can so ask for an import
//! but never choose the digests it records, and so never fire triggers with a made-up image.
//!
//! A request is pending while the answer names another request (or there is none); a newer
//! request replaces an older one still pending, and both callers then see the newer answer
//! only (the older one times out).

use kube::ResourceExt;
use osbs_engine::error_chain;
use osbs_engine::import::{ImportError, ReadError};
use serde::{Deserialize, Serialize};

use crate::ImageStreamResource;

/// Annotation on ImageStreams: the pending [`ImportRequest`], as JSON.
pub const IMPORT_REQUEST_ANNOTATION: &str = "osbs.dev/import-request";

/// Annotation on ImageStreams: the controller's [`ImportDone`] answer to the last request it
/// handled, as JSON.
pub const IMPORT_DONE_ANNOTATION: &str = "osbs.dev/import-done";

/// A user's request to re-read an ImageStream's image from its registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    /// Names the request; the answer repeats it.
    pub id: String,
    /// The one tag to read; every tag the stream knows when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// The controller's answer to an [`ImportRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportDone {
    /// The request answered.
    pub id: String,
    /// The tags whose digest changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// The autorebuilds the changes queued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<String>,
    /// Why the import failed, when it did (nothing was recorded then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<ImportFailure>,
}

/// Why a requested import failed, as much as the client needs for its message and exit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ImportFailure {
    /// The registry has no such tag.
    MissingTag {
        /// `registry/repository`.
        image: String,
        /// The tag.
        tag: String,
    },
    /// The stream names no image, or no registry OSBS can use.
    Invalid {
        /// What is wrong.
        message: String,
    },
    /// The registry did not answer.
    Unreachable {
        /// The registry.
        registry: String,
        /// What happened.
        message: String,
    },
    /// The registry answered with an error, or the import could not be stored.
    Failed {
        /// What happened.
        message: String,
    },
}

impl ImportFailure {
    /// The failure of `error`.
    pub fn of(error: &ImportError) -> Self {
        match error {
            ImportError::Read(ReadError::MissingTag { image, tag }) => ImportFailure::MissingTag {
                image: image.clone(),
                tag: tag.clone(),
            },
            ImportError::Read(
                e @ (ReadError::NoRepository { .. } | ReadError::BadRegistry { .. }),
            ) => ImportFailure::Invalid {
                message: e.to_string(),
            },
            ImportError::Read(e @ ReadError::Unreachable { registry, .. }) => {
                ImportFailure::Unreachable {
                    registry: registry.clone(),
                    message: error_chain(e),
                }
            }
            other => ImportFailure::Failed {
                message: error_chain(other),
            },
        }
    }
}

impl std::fmt::Display for ImportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportFailure::MissingTag { image, tag } => write!(f, "image {image}:{tag} not found"),
            ImportFailure::Invalid { message }
            | ImportFailure::Unreachable { message, .. }
            | ImportFailure::Failed { message } => f.write_str(message),
        }
    }
}

fn annotation<T: for<'de> Deserialize<'de>>(stream: &ImageStreamResource, key: &str) -> Option<T> {
    let text = stream.annotations().get(key)?;
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(stream = %stream.name_any(), "ignoring annotation {key}: {e}");
            None
        }
    }
}

impl ImageStreamResource {
    /// The import request recorded on the stream, if any (answered or not).
    pub fn import_request(&self) -> Option<ImportRequest> {
        annotation(self, IMPORT_REQUEST_ANNOTATION)
    }

    /// The controller's last answer, if any.
    pub fn import_done(&self) -> Option<ImportDone> {
        annotation(self, IMPORT_DONE_ANNOTATION)
    }

    /// The import request the controller has yet to answer.
    pub fn pending_import_request(&self) -> Option<ImportRequest> {
        let request = self.import_request()?;
        let answered = self.import_done().is_some_and(|done| done.id == request.id);
        (!answered).then_some(request)
    }
}
