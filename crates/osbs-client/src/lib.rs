//! The client side of OSBS in Rust: the `osbs` command and the library behind it.
//!
//! Today this crate reads `osbs.conf` ([`config`]); the build commands and the backends (the
//! embedded local one and Kubernetes) build on it.

pub mod app;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod completion;
pub mod config;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod local;
pub mod output;
pub mod progress;
pub mod schema;
pub mod service;
