//! Integration tests of osbs-controller: reconcile scenarios as pure functions, the
//! controller's rounds against a fake API server, the command line, the Lease rule, and every
//! manifest under `deploy/`.

mod cli;
mod leader;
mod manifests;
mod reconcile_scenarios;
mod service;
