//! The sans-I/O core of OSBS in Rust: plain data and pure functions shared by the local and the
//! Kubernetes backends.
//!
//! Nothing in this crate touches the network, the file system or other processes; it only
//! works on what it is handed. [`ImageReference`] (module [`reference`](mod@reference)) is the normalised
//! `registry/repository:tag@digest` with Docker's parsing rules.
//!
//! ```
//! use osbs_core::ImageReference;
//!
//! let base: ImageReference = "127.0.0.1:5000/osbs/busybox".parse()?;
//! assert_eq!(base.registry(), "127.0.0.1:5000");
//! assert!(base.is_loopback_registry());
//! assert_eq!(base.with_default_tag().to_string(), "127.0.0.1:5000/osbs/busybox:latest");
//! # Ok::<(), osbs_core::ReferenceError>(())
//! ```

pub mod auth;
pub mod build;
pub mod dockerfile;
pub mod git;
pub mod import;
pub mod model;
pub mod naming;
pub mod notify;
pub mod policy;
pub mod prune;
pub mod reference;
pub mod release;
pub mod repo_file;
pub mod submission;
pub mod target;
pub mod terminal;
pub mod text;
pub mod time;
pub mod trigger;
pub mod variant;

pub use reference::{DigestProblem, ImageReference, ReferenceError};

/// Compiles and runs the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
