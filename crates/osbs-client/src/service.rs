//! The local service commands: `osbs serve`, `osbs start-build` and `osbs prune`, printing
//! what `osbs_local::LocalBackend` does.

use osbs_core::terminal::safe_line;

use crate::backend::Result;
use crate::cli::{OutputFormat, PruneArgs, StartBuildArgs};
use crate::commands::{Io, Outcome, emit, io_error};
use crate::local::LocalBackend;
use crate::output;

/// `osbs serve`: logs to stderr (`OSBS_LOG`, default `info`), runs the local service until
/// SIGTERM or SIGINT.
///
/// # Errors
///
/// What [`LocalBackend::serve`] fails with.
pub async fn serve(backend: &LocalBackend, io: &mut Io<'_>) -> Result<Outcome> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OSBS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
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
    let quiet = io.quiet;
    let err = &mut *io.err;
    let result = backend
        .serve(shutdown, |lock| {
            if !quiet {
                let _ = writeln!(
                    err,
                    "another osbs serve holds {}; waiting for it to stop",
                    safe_line(&lock.display().to_string())
                );
            }
        })
        .await;
    signals.abort();
    result.map(|()| Outcome::Success)
}

/// `osbs start-build BUILDCONFIG [--commit REF] [--from-build BUILD]`: prints the queued
/// build's name (or its JSON).
///
/// # Errors
///
/// What [`LocalBackend::start_build`] fails with.
pub async fn start_build(
    backend: &LocalBackend,
    args: &StartBuildArgs,
    io: &mut Io<'_>,
) -> Result<Outcome> {
    let name = args
        .build_config
        .strip_prefix("bc/")
        .unwrap_or(&args.build_config);
    // What the build needs must answer before it is queued, as for `osbs build`.
    backend.check_docker_engine().await?;
    let build = backend
        .start_build(name, args.commit.clone(), args.from_build.as_deref())
        .await?;
    emit(
        io,
        &build,
        || output::names("build", [build.name.as_str()]),
        |_| format!("{}\n", safe_line(&build.name)),
    )?;
    Ok(Outcome::Success)
}

/// `osbs prune [--keep N] [--older-than DURATION]`: prints the removed builds.
///
/// # Errors
///
/// What [`LocalBackend::prune`] fails with.
pub async fn prune(backend: &LocalBackend, args: &PruneArgs, io: &mut Io<'_>) -> Result<Outcome> {
    let removed = backend.prune(args.keep, args.older_than).await?;
    emit(
        io,
        &removed,
        || output::names("build", removed.iter().map(String::as_str)),
        |_| {
            removed
                .iter()
                .map(|name| format!("removed {}\n", safe_line(name)))
                .collect()
        },
    )?;
    let text = matches!(io.format, OutputFormat::Text | OutputFormat::Wide);
    if text && removed.is_empty() && !io.quiet {
        writeln!(io.err, "nothing to prune").map_err(io_error)?;
    }
    Ok(Outcome::Success)
}
