//! `cargo xtask bench dockerignore`: the build context's `.dockerignore` matcher on
//! pathological input (issue figure: a 1 KB pattern of stars against a 4 KB path ≤ 1 ms), run
//! by the release build of osbs-reactor's `dockerignore_bench` example: `*` x 1024, `*a*a…`,
//! `**/` repeated and other ~1 KB patterns against ~4 KB paths, median of many calls each.
//! Fails when a median is over 1 ms.

use std::path::Path;

use anyhow::Result;

use crate::cargo;
use crate::cmd::Cmd;

/// `cargo xtask bench dockerignore [--runs N]`.
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut options = [("--runs", 1001)];
    crate::measure::number_options(args, &mut options)?;
    let [(_, runs)] = options;
    let runs = runs.to_string();
    Cmd::new(
        root,
        &cargo(),
        [
            "run",
            "--release",
            "--quiet",
            "-p",
            "osbs-reactor",
            "--example",
            "dockerignore_bench",
            "--",
            &runs,
        ],
    )
    .run()
}
