//! Integration tests of osbs-kube: the CRDs against the committed YAML, the build Pod, the
//! trigger fan-out and the executor's liveness rule as pure functions, and the API layer, the
//! engine's store and executor, and build secrets from BuildConfig to Pod against wiremock API
//! servers (osbs-testkit's `kube_fake`; no cluster here), and the Pods and manifests checked
//! offline against the Kubernetes API's schemas (kubernetes-validate).

mod api;
mod build_secrets;
mod connect;
mod crds;
mod engine;
mod liveness;
mod pod;
mod requests;
mod schemas;
mod triggers;
mod variants;
