//! Integration tests of osbs-client, one binary: `osbs.conf` handling first.

mod cli;
mod config;
mod engine;
#[cfg(feature = "kubernetes")]
mod kubernetes;
mod local;
