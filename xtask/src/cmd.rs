//! The one place xtask starts processes: every command is echoed, run from the workspace root,
//! and its failure reported with the command line.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result, bail};

/// A command about to run, echoed to stderr before it starts.
pub struct Cmd {
    inner: Command,
    display: String,
}

impl Cmd {
    /// A command `program args...` run in `dir`.
    pub fn new<I, S>(dir: &Path, program: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut inner = Command::new(program);
        inner.current_dir(dir);
        let mut display = program.to_owned();
        for arg in args {
            display.push(' ');
            display.push_str(&arg.as_ref().to_string_lossy());
            inner.arg(arg);
        }
        Cmd { inner, display }
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.inner.env(key, value);
        self
    }

    /// Runs the command with inherited stdio and fails unless it exits 0.
    pub fn run(mut self) -> Result<()> {
        eprintln!("$ {}", self.display);
        let status = self
            .inner
            .status()
            .with_context(|| format!("cannot start `{}`", self.display))?;
        check(status, &self.display)
    }

    /// Runs the command and returns its stdout, trimmed; fails unless it exits 0.
    pub fn read(mut self) -> Result<String> {
        eprintln!("$ {}", self.display);
        let out = self
            .inner
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot start `{}`", self.display))?;
        check(out.status, &self.display)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Runs the command quietly and tells whether it exited 0 (used for probes).
    pub fn succeeds(mut self) -> bool {
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Gives access to the underlying command for what this wrapper does not cover.
    pub fn inner(&mut self) -> &mut Command {
        &mut self.inner
    }

    /// The command line as echoed.
    pub fn display(&self) -> &str {
        &self.display
    }
}

fn check(status: ExitStatus, display: &str) -> Result<()> {
    if !status.success() {
        bail!("`{display}` failed: {status}");
    }
    Ok(())
}

/// Whether `program` is found on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
