//! `cargo xtask bench controller`: the controller's scale figures, measured by the release
//! build of osbs-controller's `bench_scale` example: CPU time of a trigger fan-out to 1,000
//! BuildConfigs turned into Build objects (limit 1 s), and process RSS with 10,000
//! BuildConfigs in the reflector cache fed by a wiremock API server (limit 200 MB).

use std::path::Path;

use anyhow::{Result, bail};

use crate::cargo;
use crate::cmd::Cmd;

/// Runs the benchmark; fails when a figure is over its limit.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("unknown option `{arg}` for bench controller");
    }
    Cmd::new(
        root,
        &cargo(),
        [
            "run",
            "--release",
            "-p",
            "osbs-controller",
            "--example",
            "bench_scale",
        ],
    )
    .run()
}
