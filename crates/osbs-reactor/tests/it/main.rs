//! Integration tests of the reactor against the real Docker Engine and registries that
//! `cargo xtask services up` starts. Every test that needs them calls `require_services()`;
//! `slow_host` needs neither.

#![allow(
    clippy::unwrap_used,
    reason = "test support fails loudly on a broken set-up, like the tests themselves"
)]

mod bad_input;
mod buildkit;
mod builds;
mod cli;
mod push;
mod repo_files;
mod slow_host;
mod support;
