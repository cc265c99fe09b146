//! Integration tests of osbs-client, one binary: `osbs.conf` handling first.

mod cli;
mod config;
mod engine;
mod exit_codes;
#[cfg(feature = "kubernetes")]
mod kube_config;
#[cfg(feature = "kubernetes")]
mod kube_submission;
#[cfg(feature = "kubernetes")]
mod kube_variants;
#[cfg(feature = "kubernetes")]
mod kubernetes;
mod local;
mod local_hardening;
mod output;
mod progress;
mod pulp;
mod registries;
mod state;
mod terminal;
mod variants;
mod wake;
