//! The `osbs-controller` command line: `run` (the controller, with leader election) and
//! `crds` (the CustomResourceDefinitions as YAML, what `deploy/crds.yaml` holds).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};

use crate::ControllerError;
use crate::leader::LeaderElector;
use crate::pod::{DockerMode, PodSettings};
use crate::reconcile::Settings;
use crate::runtime::{self, ControllerSettings};

/// The OSBS Kubernetes controller.
#[derive(Debug, Parser)]
#[command(name = "osbs-controller", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `osbs-controller` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
}

/// Options of `osbs-controller run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The namespace to manage.
    #[arg(long, env = "OSBS_NAMESPACE", default_value = "osbs")]
    pub namespace: String,
    /// The reactor image of build Pods.
    #[arg(long, env = "OSBS_REACTOR_IMAGE", default_value = "osbs-reactor:dev")]
    pub reactor_image: String,
    /// The Docker-in-Docker sidecar image.
    #[arg(long, env = "OSBS_DIND_IMAGE", default_value = "docker:dind")]
    pub dind_image: String,
    /// Use the node's Docker socket at this path instead of a dind sidecar.
    #[arg(long, env = "OSBS_DOCKER_SOCKET")]
    pub docker_socket: Option<String>,
    /// The service account of build Pods.
    #[arg(
        long,
        env = "OSBS_BUILDER_SERVICE_ACCOUNT",
        default_value = "osbs-builder"
    )]
    pub builder_service_account: String,
    /// The registry builds push to when their BuildConfig names none.
    #[arg(
        long,
        env = "OSBS_DEFAULT_REGISTRY",
        default_value = "registry.osbs.svc:5000"
    )]
    pub default_registry: String,
    /// Seconds a build Pod may stay Pending before its build ends Error.
    #[arg(long, default_value_t = 600)]
    pub pending_timeout: u64,
    /// Seconds a cancelled build's reactor gets for its exit plugins.
    #[arg(long, default_value_t = 60)]
    pub cancel_grace: i64,
    /// The Lease used for leader election.
    #[arg(long, default_value = "osbs-controller")]
    pub lease_name: String,
    /// This replica's identity in the Lease (the Pod name).
    #[arg(long, env = "POD_NAME", default_value = "osbs-controller")]
    pub identity: String,
    /// Run without leader election (a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
}

/// Runs the command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match osbs_kube::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("osbs-controller: error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("osbs-controller: error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        text.push_str(&format!(": {s}"));
                        source = s.source();
                    }
                    eprintln!("osbs-controller: error: {text}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(args: Box<RunArgs>) -> Result<(), ControllerError> {
    let args = *args;
    let client = Client::try_default()
        .await
        .map_err(|e| ControllerError::Config(format!("cannot reach the API server: {e}")))?;
    let settings = ControllerSettings {
        namespace: args.namespace.clone(),
        pod: PodSettings {
            reactor_image: args.reactor_image,
            docker: match args.docker_socket {
                Some(path) => DockerMode::HostSocket { path },
                None => DockerMode::Dind {
                    image: args.dind_image,
                },
            },
            service_account: args.builder_service_account,
            default_registry: args.default_registry,
            grace_seconds: args.cancel_grace,
        },
        reconcile: Settings {
            pending_timeout_ms: args.pending_timeout.saturating_mul(1000),
            cancel_grace_seconds: args.cancel_grace,
        },
        identity: args.identity.clone(),
    };
    if args.no_leader_election {
        return runtime::run(client, settings).await;
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), &args.namespace);
    let elector = LeaderElector::new(leases, &args.lease_name, &args.identity, 15);
    elector
        .run_while_leader(runtime::run(client, settings))
        .await
}
