//! The tools venv of `cargo xtask services up`: offline checkers the tests run, installed from
//! PyPI into `target/osbs-services/tools-venv` (`osbs_testkit::TOOLS_VENV`) with the pinned
//! `osbs_testkit::TOOLS_REQUIREMENTS` — kubernetes-validate, which osbs-kube's `schemas` tests
//! run on the rendered build Pods and `deploy/*.yaml`.
//!
//! A marker file in the venv holds the requirements it was installed with: when it matches,
//! this is a file read and nothing else. Otherwise `python3 -m venv` (python3-venv from
//! apt-get first when that fails as root on Debian) and `pip install`. Where it cannot install
//! (not root, no CI, no python3-venv) it says so and lets the other services come up: the tests
//! that need it then print how to install it, and fail only in CI.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use osbs_testkit as kit;

use crate::cmd::Cmd;
use crate::services::{apt_install, is_root};

/// Installs the tools venv unless it holds the pinned requirements already.
pub fn ensure(root: &Path, state: &Path) -> Result<()> {
    match install(root, state) {
        Ok(_) => Ok(()),
        Err(e) if !(is_root() || std::env::var_os("CI").is_some()) => {
            eprintln!(
                "tools: not installed ({e:#}); osbs-kube's schema tests skip until \
                 `cargo xtask services up` can install {}",
                kit::TOOLS_REQUIREMENTS.join(" ")
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// One line for `services status` (not a reason to fail: the tests that need the venv say so).
pub fn status(state: &Path) -> String {
    let venv = state.join(kit::TOOLS_VENV);
    let word = if installed(&venv) { "up  " } else { "DOWN" };
    format!(
        "tools venv  {word} ({}; {})",
        kit::TOOLS_REQUIREMENTS.join(" "),
        venv.display()
    )
}

/// Whether `venv` was installed with the pinned requirements.
fn installed(venv: &Path) -> bool {
    kit::venv_holds(venv, kit::TOOLS_REQUIREMENTS)
}

fn install(root: &Path, state: &Path) -> Result<PathBuf> {
    let venv = state.join(kit::TOOLS_VENV);
    if installed(&venv) {
        eprintln!(
            "tools: {} in {}",
            kit::TOOLS_REQUIREMENTS.join(" "),
            venv.display()
        );
    } else {
        install_venv(root, &venv, kit::TOOLS_REQUIREMENTS, "tools")?;
    }
    Ok(venv)
}

/// Makes the venv `venv` (python3-venv from apt-get first when that fails as root on Debian),
/// `pip install`s `requirements` into it and writes the marker `osbs_testkit::venv_holds`
/// reads; `label` starts the line saying how long it took.
pub(crate) fn install_venv(
    root: &Path,
    venv: &Path,
    requirements: &[&str],
    label: &str,
) -> Result<()> {
    let started = Instant::now();
    let venv_arg = venv.display().to_string();
    if !venv.join("bin").join("pip").exists() {
        let create = || Cmd::new(root, "python3", ["-m", "venv", &venv_arg]).run();
        if create().is_err() {
            // A venv without ensurepip is left half made: start again after the install.
            if venv.exists() {
                fs::remove_dir_all(venv)?;
            }
            if !(is_root() && Path::new("/etc/debian_version").exists()) {
                bail!("python3 cannot make a venv; install python3-venv");
            }
            apt_install(root, &["python3-venv"])?;
            create()?;
        }
    }
    let pip = venv.join("bin").join("pip").display().to_string();
    let mut args = vec!["install", "--quiet", "--disable-pip-version-check"];
    args.extend(requirements);
    Cmd::new(root, &pip, args).run()?;
    fs::write(venv.join(kit::VENV_MARKER), requirements.join("\n"))?;
    eprintln!(
        "{label}: installed {} in {:.1}s",
        requirements.join(" "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
