//! What a copy or sync did: counts, bytes, duration, and one line per image (the `--output
//! json` of the CLI, and what the reactor records as sync results).

use std::time::Duration;

use serde::{Serialize, Serializer};

/// The outcome of [`copy_image`](crate::copy_image) or
/// [`sync_repository`](crate::sync_repository).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Images (tags, or references by digest) whose manifest was pushed.
    pub images_copied: u64,
    /// Images whose digest already matched at the destination (nothing moved).
    pub images_skipped: u64,
    /// Blobs streamed from source to destination.
    pub blobs_copied: u64,
    /// Blobs already present at the destination.
    pub blobs_skipped: u64,
    /// Blobs linked by cross-repository mount (same registry, no bytes moved).
    pub blobs_mounted: u64,
    /// Bytes of blob data streamed.
    pub bytes_copied: u64,
    /// Wall-clock time of the whole operation.
    #[serde(rename = "duration_seconds", serialize_with = "seconds")]
    pub duration: Duration,
    /// One entry per image (for a sync, in sorted tag order).
    pub images: Vec<ImageResult>,
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageResult {
    /// `registry/repository:tag` or `registry/repository@digest` read.
    pub source: String,
    /// `registry/repository:tag` or `registry/repository@digest` written.
    pub destination: String,
    /// The manifest digest, the same at both ends.
    pub digest: String,
    /// The manifest media type.
    pub media_type: String,
    /// Copied or skipped.
    pub status: ImageStatus,
}

/// Whether an image's manifest was pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageStatus {
    /// Pushed (some of its blobs may have been present already).
    Copied,
    /// The destination already had this digest under that reference.
    Skipped,
}

fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}
