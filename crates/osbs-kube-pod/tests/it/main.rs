//! Integration tests of osbs-kube-pod: the `osbs-reactor-pod` binary, and the reactor's host in
//! a build Pod against a wiremock API server (osbs-testkit's `kube_fake`; no cluster here).

mod bin;
mod host;
mod variants;
