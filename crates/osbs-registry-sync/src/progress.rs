//! Progress events, so a front end (the CLI's progress bars, a build log) can follow a copy
//! without the library knowing about terminals.

use crate::summary::ImageResult;

/// How a blob reached the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Its bytes were streamed.
    Copied,
    /// It was already there.
    Skipped,
    /// It was linked from the source repository of the same registry.
    Mounted,
}

/// Receives progress events; every method has an empty default. Called from many tasks at
/// once, so implementations must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    /// A blob of `size` bytes (`None` when unknown) starts streaming.
    fn blob_started(&self, digest: &str, size: Option<u64>) {
        let _ = (digest, size);
    }

    /// `bytes` more bytes of a blob went through.
    fn blob_advanced(&self, digest: &str, bytes: u64) {
        let _ = (digest, bytes);
    }

    /// A blob is done.
    fn blob_finished(&self, digest: &str, outcome: BlobOutcome) {
        let _ = (digest, outcome);
    }

    /// An image is done.
    fn image_finished(&self, image: &ImageResult) {
        let _ = image;
    }
}
