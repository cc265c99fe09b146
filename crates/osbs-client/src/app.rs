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
    // `COMPLETE=bash osbs` prints the dynamic completion script; the shell then calls osbs
    // with COMPLETE set to complete a line, answered here before anything else runs.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = Cli::parse();
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        format: cli.global.output,
        quiet: cli.global.quiet,
        terminals: crate::progress::Terminals::detect(),
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
        Command::Schema(args) => return commands::schema(args.name.as_deref(), io),
        _ => {}
    }
    // A format the command cannot print is a usage error before anything is read.
    commands::check_format(&cli.command, io.format)?;
    if let Command::CheckRepoConfig(args) = &cli.command {
        return commands::check_repo_config(args.path.as_deref(), io);
    }
    if let Some(namespace) = &cli.global.namespace
        && !config::is_dns_label(namespace)
    {
        return Err(ClientError::Usage(format!(
            "--namespace {namespace:?} is not a Kubernetes namespace name (a DNS-1123 label: \
             lowercase letters, digits and '-', at most 63)"
        )));
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
                refuse_cluster_flags(cli, &instance)?;
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
            BackendKind::Kubernetes => kubernetes(&instance, cli, io).await,
        }
    })
}

/// Runs `command` against the Kubernetes backend of `instance`.
#[cfg(feature = "kubernetes")]
async fn kubernetes(
    instance: &Instance,
    cli: &Cli,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    let command = &cli.command;
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
    let flags = crate::kubernetes::ClusterFlags {
        kubeconfig: cli.global.kubeconfig.clone(),
        context: cli.global.context.clone(),
        namespace: cli.global.namespace.clone(),
    };
    let backend = crate::kubernetes::KubeBackend::connect(instance, &flags, resolver).await?;
    if cli.global.verbose > 0
        && let Some(target) = backend.target()
    {
        let line = format!(
            "cluster: {}; namespace: {} (from {})",
            target.describe(),
            target.namespace,
            target.namespace_source
        );
        let _ = writeln!(io.err, "{}", safe_line(&line));
    }
    commands::run(&backend, command, io).await
}

/// Without the `kubernetes` feature, `backend = kubernetes` is a configuration error.
#[cfg(not(feature = "kubernetes"))]
async fn kubernetes(
    instance: &Instance,
    _cli: &Cli,
    _io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    Err(ClientError::Usage(format!(
        "instance {:?} uses backend = kubernetes, but this osbs was built without the \
         `kubernetes` feature",
        instance.name
    )))
}

/// `--kubeconfig`, `--context` and `--namespace` name a cluster: given for a local instance,
/// the build would run on this machine instead, so they are refused.
fn refuse_cluster_flags(cli: &Cli, instance: &Instance) -> Result<(), ClientError> {
    let given: Vec<&str> = [
        ("--kubeconfig", cli.global.kubeconfig.is_some()),
        ("--context", cli.global.context.is_some()),
        ("--namespace", cli.global.namespace.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    let file = instance.file.as_deref().map_or_else(
        || "the built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    Err(ClientError::Usage(format!(
        "{} given, but instance {:?} ({file}) uses backend = local: --kubeconfig, --context \
         and --namespace choose a cluster for backend = kubernetes",
        given.join(", "),
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
