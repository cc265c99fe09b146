//! Integration tests of osbs-controller: reconcile scenarios as pure functions, the
//! controller's rounds against a fake API server, the command line and its logs, the Lease
//! rule, the probe and metrics endpoint, every manifest under `deploy/` and the Roles in it.

mod cli;
mod leader;
mod logging;
mod manifests;
mod probes;
mod rbac;
mod reconcile_scenarios;
mod registry_tls;
mod service;
