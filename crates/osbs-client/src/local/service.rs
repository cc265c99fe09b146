//! The local service commands over the engine: `osbs serve` (the local controller),
//! `osbs start-build` and `osbs prune`.

use std::time::Duration;

use osbs_core::prune::PruneRules;
use osbs_engine::Notifier;
use osbs_engine::import::RegistrySource;
use osbs_registry_sync::ClientOptions;

use super::LocalBackend;
use crate::backend::{Backend as _, BuildSubmission, ClientError, Result};
use crate::cli::{PruneArgs, StartBuildArgs};
use crate::commands::{Io, Outcome};
use crate::output;

/// How often `osbs serve` runs a supervision pass.
const TICK: Duration = Duration::from_secs(1);

/// The lock file that lets one `osbs serve` per state directory do the work.
const SERVE_LOCK: &str = "serve.lock";

fn io_error(e: std::io::Error) -> ClientError {
    ClientError::Backend {
        context: "cannot write output".to_owned(),
        source: Box::new(e),
    }
}

/// `osbs serve`: takes the state directory's service lock (a second `osbs serve` waits for
/// it), then runs the engine (supervision every second, notifications, scheduled import every
/// `import_interval`, pruning by `keep_builds`) until SIGTERM or SIGINT.
///
/// # Errors
///
/// A lock file that cannot be opened, or an engine that cannot be set up.
pub async fn serve(backend: &LocalBackend, io: &mut Io<'_>) -> Result<Outcome> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OSBS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let path = backend.state_dir().join(SERVE_LOCK);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ClientError::Backend {
            context: format!("cannot open the service lock {}", path.display()),
            source: Box::new(source),
        })?;
    let lock = match lock.try_lock() {
        Ok(()) => lock,
        Err(_) => {
            if !io.quiet {
                writeln!(
                    io.err,
                    "another osbs serve holds {}; waiting for it to stop",
                    path.display()
                )
                .map_err(io_error)?;
            }
            tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
                .await
                .map_err(|e| ClientError::Backend {
                    context: "cannot wait for the service lock".to_owned(),
                    source: Box::new(e),
                })?
                .map_err(|source| ClientError::Backend {
                    context: format!("cannot take the service lock {}", path.display()),
                    source: Box::new(source),
                })?
        }
    };
    let settings = &backend.engine_settings;
    let notifier = Notifier::new(settings.notify.clone()).map_err(|e| ClientError::Backend {
        context: "cannot set up notifications".to_owned(),
        source: Box::new(e),
    })?;
    // One try per round: an unreachable registry is reported and read again next interval.
    let options = ClientOptions {
        retry: osbs_registry_sync::RetryPolicy::none(),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(30),
        ..ClientOptions::default()
    };
    let source = RegistrySource::new(backend.registry_credentials()?, options);
    tracing::info!(
        "osbs serve: state {}, max_concurrent_builds {}, import_interval {}",
        backend.state_dir().display(),
        settings
            .max_concurrent_builds
            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
        settings
            .import_interval
            .map_or_else(|| "off".to_owned(), |d| format!("{d:?}")),
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stop.send(true);
    });
    backend.engine.run(&notifier, &source, TICK, shutdown).await;
    signals.abort();
    tracing::info!("osbs serve: stopped");
    drop(lock);
    Ok(Outcome::Success)
}

/// `osbs start-build BUILDCONFIG [--commit REF] [--from-build BUILD]`, as `oc start-build`.
///
/// # Errors
///
/// An unknown BuildConfig or build (exit 2 as not found), or what a submission can fail with.
pub async fn start_build(
    backend: &LocalBackend,
    args: &StartBuildArgs,
    io: &mut Io<'_>,
) -> Result<Outcome> {
    let name = args
        .build_config
        .strip_prefix("bc/")
        .unwrap_or(&args.build_config);
    let config = backend.get_build_config(name).await?;
    let build = match &args.from_build {
        Some(from) => {
            let build = backend
                .engine
                .start_build(name, None, Some(from))
                .await
                .map_err(|e| match e {
                    osbs_engine::StartBuildError::UnknownBuild(name) => ClientError::NotFound {
                        kind: "build",
                        name,
                    },
                    osbs_engine::StartBuildError::OtherBuildConfig { .. } => {
                        ClientError::Usage(e.to_string())
                    }
                    other => ClientError::Backend {
                        context: "cannot queue the build".to_owned(),
                        source: Box::new(other),
                    },
                })?;
            backend.reconcile_all().await?;
            build
        }
        None => {
            let submission = BuildSubmission {
                git_url: config.git_url.clone(),
                git_branch: config.git_branch.clone(),
                git_commit: args.commit.clone(),
                component: config.image_name.clone(),
            };
            backend.create_build(&submission).await?.build
        }
    };
    match io.format {
        crate::cli::OutputFormat::Json => io
            .out
            .write_all(output::json(&build).as_bytes())
            .map_err(io_error)?,
        crate::cli::OutputFormat::Text => {
            writeln!(io.out, "{}", build.name).map_err(io_error)?;
        }
    }
    Ok(Outcome::Success)
}

/// `osbs prune [--keep N] [--older-than DURATION]`: prints the removed builds.
///
/// # Errors
///
/// A state database that cannot be read or written.
pub async fn prune(backend: &LocalBackend, args: &PruneArgs, io: &mut Io<'_>) -> Result<Outcome> {
    let now = osbs_engine::now();
    let rules = PruneRules {
        keep: args.keep.unwrap_or(backend.engine_settings.keep_builds),
        ended_before: args
            .older_than
            .map(|ms| now.plus_millis(-i64::try_from(ms).unwrap_or(i64::MAX))),
    };
    let removed = backend
        .engine
        .prune(&rules)
        .await
        .map_err(|e| ClientError::Backend {
            context: e.context,
            source: e.source,
        })?;
    match io.format {
        crate::cli::OutputFormat::Json => io
            .out
            .write_all(output::json(&removed).as_bytes())
            .map_err(io_error)?,
        crate::cli::OutputFormat::Text => {
            for name in &removed {
                writeln!(io.out, "removed {name}").map_err(io_error)?;
            }
            if removed.is_empty() && !io.quiet {
                writeln!(io.err, "nothing to prune").map_err(io_error)?;
            }
        }
    }
    Ok(Outcome::Success)
}
