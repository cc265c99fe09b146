//! Integration tests of osbs-controller: reconcile and trigger scenarios as pure functions, the
//! rendered build Pod, the Lease rule, and every manifest under `deploy/`.

mod leader;
mod manifests;
mod pod;
mod reconcile_scenarios;
mod trigger_scenarios;
