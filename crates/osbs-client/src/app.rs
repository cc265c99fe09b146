//! The `osbs` program: parse the command line, load the config, pick the backend, run the
//! command, print the whole error chain once, and turn the result into the exit code of SPEC §7.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use osbs_core::terminal::{safe_line, safe_text};

use crate::backend::ClientError;
use crate::cli::{Cli, Command};
use crate::commands::{self, Io, Outcome};
use crate::config::{self, Backend as BackendKind, Instance};

/// Exit code: the build ended, but not `Complete`.
pub const EXIT_BUILD_NOT_COMPLETE: u8 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: backend or registry unreachable.
pub const EXIT_UNREACHABLE: u8 = 3;

/// Runs `osbs` with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        format: cli.global.output,
        quiet: cli.global.quiet,
    };
    let code = match run(&cli, &mut io) {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::BuildNotComplete) => EXIT_BUILD_NOT_COMPLETE,
        Err(err) => {
            // Messages quote repositories, registries and processes: shown escaped.
            let _ = writeln!(io.err, "error: {}", safe_text(&chain(&err)));
            err.exit_code()
        }
    };
    let _ = io.out.flush();
    ExitCode::from(code)
}

/// `error: a: b: c` — the error and its sources, once, each only once.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn run(cli: &Cli, io: &mut Io<'_>) -> Result<Outcome, ClientError> {
    match &cli.command {
        Command::Completions(args) => {
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "osbs", io.out);
            return Ok(Outcome::Success);
        }
        Command::CheckRepoConfig(args) => {
            return commands::check_repo_config(args.path.as_deref(), io);
        }
        _ => {}
    }
    let instance = load_instance(cli)?;
    if cli.global.verbose > 0 {
        let file = instance.file.as_deref().map_or_else(
            || "none (local defaults)".to_owned(),
            |p| p.display().to_string(),
        );
        let line = format!(
            "config: {file}; instance: {}; backend: {}; registry: {}",
            instance.name,
            instance.backend,
            instance.registry.base_url()
        );
        let _ = writeln!(io.err, "{}", safe_line(&line));
    }
    if !io.quiet {
        for warning in &instance.warnings {
            let _ = writeln!(io.err, "warning: {}", safe_line(warning));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Backend {
            context: "cannot start the async runtime".to_owned(),
            source: Box::new(e),
        })?;
    runtime.block_on(async {
        match instance.backend {
            BackendKind::Local => {
                let backend = crate::local::open(&instance, cli_passthrough(cli))?;
                // Told once, by the process that noticed it; even with -q, since it is never
                // told again.
                if let Some(recreated) = backend.state_recreated() {
                    let _ = writeln!(
                        io.err,
                        "warning: {}: {}",
                        safe_line(&backend.state_dir().display().to_string()),
                        safe_line(&recreated.to_string())
                    );
                }
                match &cli.command {
                    Command::RunBuild(args) => {
                        return backend
                            .run_build_process(&args.name, &args.lease)
                            .await
                            .map(|()| Outcome::Success);
                    }
                    Command::Serve => return crate::service::serve(&backend, io).await,
                    Command::StartBuild(args) => {
                        return crate::service::start_build(&backend, args, io).await;
                    }
                    Command::Prune(args) => return crate::service::prune(&backend, args, io).await,
                    _ => {}
                }
                commands::run(&backend, &cli.command, io).await
            }
            BackendKind::Kubernetes => kubernetes(&instance, &cli.command, io).await,
        }
    })
}

/// Runs `command` against the Kubernetes backend of `instance`.
#[cfg(feature = "kubernetes")]
async fn kubernetes(
    instance: &Instance,
    command: &Command,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    match command {
        Command::RunBuild(_) | Command::Serve => {
            return Err(ClientError::Usage(
                "this runs the local backend's service; on Kubernetes, osbs-controller runs \
                 the engine and builds in Pods"
                    .to_owned(),
            ));
        }
        Command::StartBuild(_) | Command::Prune(_) => {
            return Err(ClientError::Usage(
                "start-build and prune are not available on the kubernetes backend yet; \
                 osbs-controller prunes by keep_builds"
                    .to_owned(),
            ));
        }
        _ => {}
    }
    osbs_registry_sync::install_crypto_provider();
    // Submissions read the repository here, as the local backend does, with git mirrors in
    // the local state directory.
    let mirrors = instance
        .state_dir
        .clone()
        .or_else(crate::local::default_state_dir)
        .unwrap_or_else(std::env::temp_dir);
    let repo_config_file = instance.repo_config_file.clone();
    let resolver: crate::kubernetes::Resolver = Box::new(move |submission| {
        crate::local::resolve_submission(&mirrors, submission, &repo_config_file)
    });
    let client = kube_client(instance).await?;
    let backend = crate::kubernetes::KubeBackend::new(client, instance, resolver);
    commands::run(&backend, command, io).await
}

/// The client of the cluster `backend = kubernetes` talks to: the current kubeconfig context
/// (`$KUBECONFIG`, else `~/.kube/config`), else the in-cluster configuration of a Pod. Having
/// neither is the configuration's problem (exit code 2), not an unreachable cluster; a cluster
/// that does not answer is found out by the first call (exit code 3).
#[cfg(feature = "kubernetes")]
async fn kube_client(instance: &Instance) -> Result<kube::Client, ClientError> {
    let looked_at = || match std::env::var_os("KUBECONFIG") {
        Some(path) => format!("KUBECONFIG={}", path.to_string_lossy()),
        None => "no KUBECONFIG, ~/.kube/config".to_owned(),
    };
    let config = kube::Config::infer().await.map_err(|e| {
        ClientError::Usage(format!(
            "instance {:?} uses backend = kubernetes, but there is no cluster configuration \
             ({}; not in a Pod; set KUBECONFIG to a kubeconfig file): {}",
            instance.name,
            looked_at(),
            chain(&e)
        ))
    })?;
    kube::Client::try_from(config).map_err(|e| {
        ClientError::Usage(format!(
            "instance {:?} uses backend = kubernetes, but its cluster configuration ({}) cannot \
             be used: {}",
            instance.name,
            looked_at(),
            chain(&e)
        ))
    })
}

/// Without the `kubernetes` feature, `backend = kubernetes` is a configuration error.
#[cfg(not(feature = "kubernetes"))]
async fn kubernetes(
    instance: &Instance,
    _command: &Command,
    _io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    Err(ClientError::Usage(format!(
        "instance {:?} uses backend = kubernetes, but this osbs was built without the \
         `kubernetes` feature",
        instance.name
    )))
}

/// The global flags a runner process needs to find the same instance.
fn cli_passthrough(cli: &Cli) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(path) = &cli.global.config {
        args.push("--config".to_owned());
        args.push(path.display().to_string());
    }
    args.push("--instance".to_owned());
    args.push(cli.global.instance.clone());
    args
}

fn load_instance(cli: &Cli) -> Result<Instance, ClientError> {
    let env = std::env::var_os(config::CONFIG_ENV);
    let usage = |e: config::ConfigError| ClientError::Usage(chain(&e));
    let file = config::locate(
        cli.global.config.as_deref(),
        env.as_deref(),
        config::user_config_dir().as_deref(),
    )
    .map_err(usage)?;
    config::load(file.as_deref(), &cli.global.instance).map_err(usage)
}
