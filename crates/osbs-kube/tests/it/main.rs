//! Integration tests of osbs-kube: the CRDs against the committed YAML, and the API layer
//! against a wiremock API server (osbs-testkit's `kube_fake`; no cluster here).

mod api;
mod crds;
