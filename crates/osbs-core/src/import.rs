//! Applying an image import to an [`ImageStream`]: each tag gets its new digest and a history
//! entry, and the tags whose digest changed are returned: exactly the ones whose image-change
//! triggers fire ([`crate::trigger::TriggerGraph::fan_out`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::DigestProblem;
use crate::build::ImageImport;
use crate::model::{ImageStream, MAX_TAG_HISTORY, StreamTag, TagEvent};
use crate::reference;
use crate::time::Timestamp;

/// Why an import was refused; the ImageStream is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    /// The import names another ImageStream.
    #[error("import into image stream `{import}` applied to image stream `{stream}`")]
    WrongStream {
        /// The ImageStream the import was applied to.
        stream: String,
        /// The ImageStream the import names.
        import: String,
    },
    /// A tag that Docker would not accept.
    #[error("image stream `{stream}`: invalid tag `{tag}`")]
    InvalidTag {
        /// The ImageStream.
        stream: String,
        /// The tag.
        tag: String,
    },
    /// A digest that is not `sha256:<64 hex>` (or sha384/sha512).
    #[error("image stream `{stream}`: tag `{tag}` has an invalid digest `{digest}`: {problem}")]
    InvalidDigest {
        /// The ImageStream.
        stream: String,
        /// The tag.
        tag: String,
        /// The digest.
        digest: String,
        /// What is wrong with it.
        problem: DigestProblem,
    },
    /// One tag listed twice with two digests.
    #[error("image stream `{stream}`: tag `{tag}` imported as both {first} and {second}")]
    ConflictingDigests {
        /// The ImageStream.
        stream: String,
        /// The tag.
        tag: String,
        /// The first digest listed.
        first: String,
        /// The other digest listed.
        second: String,
    },
}

/// A tag whose digest an import changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TagChange {
    /// The tag.
    pub tag: String,
    /// Its digest before; `None` for a new tag.
    pub old: Option<String>,
    /// Its digest now.
    pub new: String,
}

/// Applies `import` to `stream` at `time`, recording `build` (the importing build, `None` for
/// a manual `import-image`) in the history of each changed tag.
///
/// A tag imported with the digest it already has is unchanged: no history entry, no
/// [`TagChange`], so a rebuild that produces the same digest fires nothing. New tags are
/// changes (from `None`). Tags not in the import are kept. The changes come in tag order.
///
/// # Errors
///
/// [`ImportError`] when the import names another stream, or has an invalid tag or digest, or
/// one tag twice with different digests. Nothing is applied then.
pub fn apply_import(
    stream: &mut ImageStream,
    import: &ImageImport,
    build: Option<&str>,
    time: Timestamp,
) -> Result<Vec<TagChange>, ImportError> {
    if import.image_stream != stream.name {
        return Err(ImportError::WrongStream {
            stream: stream.name.clone(),
            import: import.image_stream.clone(),
        });
    }
    // Validate everything first so that a refused import changes nothing.
    let mut wanted: BTreeMap<&str, &str> = BTreeMap::new();
    for (tag, digest) in &import.tags {
        if reference::validate_tag(tag).is_err() {
            return Err(ImportError::InvalidTag {
                stream: stream.name.clone(),
                tag: tag.clone(),
            });
        }
        if let Err(problem) = reference::validate_digest(digest) {
            return Err(ImportError::InvalidDigest {
                stream: stream.name.clone(),
                tag: tag.clone(),
                digest: digest.clone(),
                problem,
            });
        }
        match wanted.insert(tag, digest) {
            Some(first) if first != digest => {
                return Err(ImportError::ConflictingDigests {
                    stream: stream.name.clone(),
                    tag: tag.clone(),
                    first: first.to_owned(),
                    second: digest.clone(),
                });
            }
            _ => {}
        }
    }
    stream.docker_image_repository = Some(import.docker_image_repository.clone());
    let mut changes = Vec::new();
    for (tag, digest) in wanted {
        let event = TagEvent {
            digest: digest.to_owned(),
            build: build.map(str::to_owned),
            time,
        };
        let old = match stream.tags.get_mut(tag) {
            Some(current) if current.digest == digest => continue,
            Some(current) => {
                let old = std::mem::replace(&mut current.digest, digest.to_owned());
                current.history.push(event);
                let excess = current.history.len().saturating_sub(MAX_TAG_HISTORY);
                current.history.drain(..excess);
                Some(old)
            }
            None => {
                stream.tags.insert(
                    tag.to_owned(),
                    StreamTag {
                        digest: digest.to_owned(),
                        history: vec![event],
                    },
                );
                None
            }
        };
        changes.push(TagChange {
            tag: tag.to_owned(),
            old,
            new: digest.to_owned(),
        });
    }
    Ok(changes)
}

/// Whether `stream` holds an image this instance does not build (an external base, SPEC §10):
/// it names where it lives and none of its tag events was made by a build. Only such streams
/// are re-read on a schedule; a stream built here changes only through its builds.
pub fn is_external(stream: &ImageStream) -> bool {
    stream.docker_image_repository.is_some()
        && stream
            .tags
            .values()
            .flat_map(|t| &t.history)
            .all(|event| event.build.is_none())
}

/// Which tags of an image an import reads (`osbs import-image`, the scheduled import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSelection {
    /// The one tag asked for; missing from the registry, it is an error.
    One(String),
    /// The tags the stream already has, one manifest `HEAD` each; one missing from the
    /// registry is skipped and keeps its last digest, as `oc import-image` keeps it.
    Known(Vec<String>),
    /// A stream without tags: every tag the registry lists.
    Listed,
}

/// The tags an import of `stream` reads: `tag` when given, else the stream's tags, else (a
/// stream never imported) whatever the registry lists.
pub fn tags_to_read(stream: &ImageStream, tag: Option<&str>) -> TagSelection {
    match tag {
        Some(tag) => TagSelection::One(tag.to_owned()),
        None if stream.tags.is_empty() => TagSelection::Listed,
        None => TagSelection::Known(stream.tags.keys().cloned().collect()),
    }
}
