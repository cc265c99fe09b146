//! The `osbs-reactor` command line: `osbs-reactor build --request FILE` runs one build with a
//! [`StandaloneHost`] and prints its outcome and results (SPEC §5) as JSON on stdout; the build
//! log goes to stderr. SIGTERM and SIGINT cancel the build (exit plugins still run).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use osbs_core::build::{BuildPhase, BuildRequest};

use crate::{StandaloneHost, run_build_until_signal};

/// The environment variable that may hold the build request (JSON) instead of a file.
pub const REQUEST_ENV: &str = "OSBS_BUILD_REQUEST";

/// The OSBS build executor.
#[derive(Debug, Parser)]
#[command(name = "osbs-reactor", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `osbs-reactor` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one build and print its results as JSON.
    Build {
        /// The build request (JSON); without it, the request is read from $OSBS_BUILD_REQUEST.
        #[arg(long, value_name = "FILE")]
        request: Option<PathBuf>,
    },
}

/// Reads the request from `path`, or from [`REQUEST_ENV`].
fn read_request(path: Option<&PathBuf>) -> Result<BuildRequest, String> {
    let (text, source) = match path {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            std::env::var(REQUEST_ENV)
                .map_err(|_| format!("no --request FILE and ${REQUEST_ENV} is not set"))?,
            format!("${REQUEST_ENV}"),
        ),
    };
    serde_json::from_str(&text).map_err(|e| format!("invalid build request in {source}: {e}"))
}

/// Runs the command line; the exit code is 0 for a `Complete` build, 1 for any other end, and
/// 2 for a usage error or a request that cannot be read.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Build { request } = cli.command;
    let request = match read_request(request.as_ref()) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("osbs-reactor: error: {message}");
            return ExitCode::from(2);
        }
    };
    let host = StandaloneHost::new(request);
    let outcome = match run_build_until_signal(&host, "osbs-reactor") {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("osbs-reactor: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match serde_json::to_string_pretty(&outcome) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("osbs-reactor: error: cannot print the results: {e}"),
    }
    if let Some(error) = &outcome.error {
        eprintln!("osbs-reactor: {}: {error}", outcome.phase);
    }
    if outcome.phase == BuildPhase::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
