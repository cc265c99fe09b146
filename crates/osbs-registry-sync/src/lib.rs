//! Fast, verified registry-to-registry copy of container images: the library behind the
//! `osbs-registry-sync` command and OSBS's `registry_sync` step.
//!
//! - [`copy_image`] copies one image by tag or digest, digests preserved: Docker schema 2 and
//!   OCI manifests, manifest lists and OCI indexes (children first), config and layer blobs.
//!   Blobs stream from the source `GET` into a single destination `PUT` (never a whole blob in
//!   memory) and are verified against their digest before the last byte is sent; blobs already
//!   at the destination are skipped, blobs within one registry are mounted, and several
//!   transfer at once.
//! - [`sync_repository`] does that for every tag of a repository (or those matching a regex),
//!   several images at once; a tag whose digest already matches costs one `HEAD` per side.
//! - [`RegistryClient`] and [`Repository`] are the registry API underneath (tags, manifest
//!   `HEAD`/`GET`/`PUT`, blob existence, mounts, and uploads of local files and bytes that
//!   resume or restart an interrupted blob), with anonymous, Basic and Bearer-token
//!   authentication from a Docker config (a token carries every scope an operation needs: a
//!   mount's asks for the source too), retries with backoff on connection errors, 429 and
//!   5xx, and errors that name registry, repository and digest. Manifest `PUT`s to one
//!   repository go one at a time (Pulp 3 needs that).
//!
//! ```no_run
//! # async fn demo() -> Result<(), osbs_registry_sync::Error> {
//! use osbs_registry_sync::{copy_image, ClientOptions, CopyOptions, RegistryClient};
//!
//! let options = ClientOptions::default();
//! let push = RegistryClient::new("127.0.0.1:5000".parse()?, None, &options)?;
//! let sync = RegistryClient::new("127.0.0.1:5001".parse()?, None, &options)?;
//! let summary = copy_image(
//!     &push.repository("osbs/app"),
//!     "1.0-1",
//!     &sync.repository("osbs/app"),
//!     Some("1.0-1"),
//!     &CopyOptions::default(),
//! )
//! .await?;
//! println!("{} bytes in {:?}", summary.bytes_copied, summary.duration);
//! # Ok(())
//! # }
//! ```

mod auth;
mod client;
mod copy;
mod credentials;
mod digest;
mod endpoint;
mod error;
mod inspect;
mod manifest;
mod progress;
mod repository;
mod request;
mod retry;
mod summary;
mod upload;

#[cfg(feature = "cli")]
pub mod cli;

pub use client::{ClientOptions, RegistryClient};
pub use copy::{CopyOptions, SyncOptions, copy_image, sync_repository};
pub use credentials::Credentials;
pub use digest::sha256_digest;
pub use endpoint::RegistryEndpoint;
pub use error::{Error, Result};
pub use inspect::{Inspection, PlannedTag, inspect_image, plan_sync};
pub use manifest::{Descriptor, Manifest, SUPPORTED_MEDIA_TYPES};
#[cfg(feature = "cli")]
pub use progress::LayerBars;
pub use progress::{BlobOutcome, Progress, format_bytes, format_rate, short_id};
pub use repository::Repository;
pub use retry::RetryPolicy;
pub use summary::{ImageResult, ImageStatus, Summary};
pub use upload::{Growth, UploadStats};

/// Installs rustls' `ring` crypto provider as the process default, once; a provider that is
/// already installed (by this crate or anyone else) is left alone.
///
/// [`RegistryClient`] calls this itself. It exists because oci-client and reqwest are built
/// without a provider of their own, so that this crate agrees with kube's `ring` in one
/// process (see the workspace's dependency notes).
pub fn install_crypto_provider() {
    // `Err` means a provider is already installed, which is all we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Compiles the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
