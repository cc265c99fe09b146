//! Integration tests of osbs-core: one test binary with a module per area.

mod distribution;
mod exhaustive;
mod import_scenarios;
mod model_json;
mod policy_scenarios;
mod reference_api;
mod reference_errors;
mod service_rules;
mod support;
mod trigger_scenarios;
mod world;
