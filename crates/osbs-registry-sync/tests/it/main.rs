//! Integration tests of osbs-registry-sync: against the two real registries of
//! `cargo xtask services up` (they fail, never skip, without them), an htpasswd registry the
//! tests start themselves, and wiremock for token servers and faults.

#![allow(
    clippy::unwrap_used,
    reason = "test support fails loudly on a broken set-up, like the tests themselves"
)]

mod auth;
mod cli;
mod copy;
mod faults;
mod support;
mod sync;
