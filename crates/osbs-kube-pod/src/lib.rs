//! The build Pod of OSBS in Rust: [`KubeHost`], the reactor's `BuildHost` over the Kubernetes
//! API, and the `osbs-reactor-pod` binary that runs the reactor with it in the Pod the
//! controller creates for each Build.
//!
//! This is the only crate that joins `osbs-kube` and `osbs-reactor`: the controller and the
//! `osbs` client depend on `osbs-kube` alone and so never link the reactor, its Docker client
//! or its tar writer. The Pod's side of the contract with the controller (`pod_name`, where the
//! registry Secrets are mounted) lives in `osbs-kube`, which both sides share.

mod host;

pub use host::{CANCEL_POLL, KubeHost};
