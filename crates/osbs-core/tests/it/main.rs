//! Integration tests of osbs-core: one test binary with a module per area.

mod distribution;
mod exhaustive;
mod reference_api;
mod reference_errors;
mod support;
