//! `osbs-reactor-pod`: the entry point of a build Pod. Runs the reactor for the Build named by
//! `$OSBS_BUILD_NAME` in `$OSBS_NAMESPACE` with `osbs_kube_pod::KubeHost` (the Build, its
//! BuildConfig, ImageStream imports and results all go through the API), fenced by the run's
//! lease in `$OSBS_LEASE` (a Pod without one, started before leases, is not fenced), with the
//! build secrets `$OSBS_BUILD_SECRETS` lists. SIGTERM (the controller deleting the Pod to
//! cancel) cancels the build; the exit plugins still run and the outcome is stored before the
//! grace period ends. Exit code 0 for `Complete`, 1 otherwise, 2 when the host cannot start.

use std::process::ExitCode;

use osbs_core::build::BuildPhase;
use osbs_kube_pod::KubeHost;
use osbs_reactor::run_build_with_signals;

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
    // The build secrets the Pod mounts, by id (`osbs_kube::pod::render_pod` lists them).
    let build_secrets = osbs_kube::pod::build_secret_ids(
        &std::env::var(osbs_kube::pod::BUILD_SECRETS_ENV).unwrap_or_default(),
    );
    // One runtime for the whole run: the host's API client lives on it, and the reactor
    // awaits the host there.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("osbs-reactor-pod: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        let host = KubeHost::infer(&namespace, &build, &registry)
            .await?
            .with_lease(lease)
            .with_build_secrets(build_secrets);
        Ok::<_, osbs_kube::KubeError>(run_build_with_signals(&host, "osbs-reactor-pod").await)
    });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("osbs-reactor-pod: error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(error) = &outcome.error {
        eprintln!("osbs-reactor-pod: {}: {error}", outcome.phase);
    }
    if outcome.phase == BuildPhase::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
