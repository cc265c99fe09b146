//! Integration tests of osbs-client, one binary: `osbs.conf` handling first.

mod cli;
mod config;
#[cfg(feature = "kubernetes")]
mod kubernetes;
mod local;
