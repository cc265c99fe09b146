//! `osbs-reactor-pod`: the entry point of a build Pod. Runs the reactor for the Build named by
//! `$OSBS_BUILD_NAME` in `$OSBS_NAMESPACE` with `osbs_kube_pod::KubeHost` (the Build, its
//! BuildConfig, ImageStream imports and results all go through the API), fenced by the run's
//! lease in `$OSBS_LEASE` (a Pod without one, started before leases, is not fenced). SIGTERM
//! (the controller deleting the Pod to cancel) cancels the build; the exit plugins still run
//! and the outcome is stored before the grace period ends. Exit code 0 for `Complete`, 1
//! otherwise, 2 when the host cannot start.

use std::process::ExitCode;

use osbs_core::build::BuildPhase;
use osbs_kube_pod::KubeHost;
use osbs_reactor::run_build_until_signal;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("${name} is not set"))
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (namespace, build) = match (var("OSBS_NAMESPACE"), var("OSBS_BUILD_NAME")) {
        (Ok(namespace), Ok(build)) => (namespace, build),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("osbs-reactor-pod: error: {e}");
            return ExitCode::from(2);
        }
    };
    let registry = std::env::var("OSBS_DEFAULT_REGISTRY").unwrap_or_default();
    let lease = std::env::var(osbs_kube::LEASE_ENV)
        .ok()
        .filter(|l| !l.is_empty());
    if lease.is_none() {
        eprintln!(
            "osbs-reactor-pod: no ${} (a build Pod started before run leases): this run's \
             writes are not fenced",
            osbs_kube::LEASE_ENV
        );
    }
    let host = match KubeHost::infer(&namespace, &build, &registry) {
        Ok(host) => host.with_lease(lease),
        Err(e) => {
            eprintln!("osbs-reactor-pod: error: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match run_build_until_signal(&host, "osbs-reactor-pod") {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("osbs-reactor-pod: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(error) = &outcome.error {
        eprintln!("osbs-reactor-pod: {}: {error}", outcome.phase);
    }
    drop(host);
    if outcome.phase == BuildPhase::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
