//! The controller's logs on stderr, filtered by `RUST_LOG` (default `info`):
//! `--log-format text` for people (ANSI colours only when stderr is a terminal, so a log
//! collector or a file never gets escape codes) or `json` for log collectors (one JSON object
//! per line: `timestamp`, `level`, `target`, `fields` with the `message`).

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The subscriber that writes events passing `filter` to `writer` in `format`; text has ANSI
/// colours only with `ansi`, JSON never has them.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(builder.json().with_ansi(false).finish()),
    }
}

/// `RUST_LOG`, or `info` without it (or with a value that does not parse).
pub fn filter_from_env() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Logs to stderr in `format` for the rest of the process (colours when stderr is a terminal).
pub fn init(format: LogFormat) {
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing::subscriber::set_global_default(subscriber(
        format,
        filter_from_env(),
        std::io::stderr,
        ansi,
    ));
}
