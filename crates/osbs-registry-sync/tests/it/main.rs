//! Integration tests of osbs-registry-sync: against the two real registries of
//! `cargo xtask services up` (they fail, never skip, without them), the Pulp 3 of
//! `services up --pulp` (module `pulp`: fails in CI without it, skips elsewhere), an htpasswd
//! registry the tests start themselves, and wiremock for token servers, scope rules (the
//! token-checking fake of module `fake`) and faults.

#![allow(
    clippy::unwrap_used,
    reason = "test support fails loudly on a broken set-up, like the tests themselves"
)]

mod access;
mod auth;
mod cli;
mod copy;
mod fake;
mod faults;
mod progress;
mod pulp;
mod scopes;
mod support;
mod sync;
mod upload;
