//! The `osbs-reactor` binary: runs one build (see `osbs-reactor --help`).

use std::process::ExitCode;

fn main() -> ExitCode {
    osbs_reactor::cli::main()
}
