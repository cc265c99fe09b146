//! Integration tests of osbs-kube: the CRDs against the committed YAML, and the API layer and
//! the reactor's host against a wiremock API server (no cluster here).

mod api;
mod crds;
mod fake;
mod host;
