//! Dynamic shell completion (`source <(COMPLETE=bash osbs)`; zsh, fish, elvish and powershell
//! alike): clap_complete's engine completes commands and flags, and the completers here offer
//! the names of builds, BuildConfigs and ImageStreams from the local state of the instance the
//! command line names (`--config`, `-i`). Completion is fast and quiet: no state (or a
//! kubernetes instance) means no names, never an error on the terminal.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use osbs_local::NameKind;

use crate::config::{self, Backend};

/// Builds, newest first; `bc/NAME` for BuildConfigs once the word starts with `bc`.
pub fn builds() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let Some(state_dir) = state_dir() else {
            return Vec::new();
        };
        let current = current.to_string_lossy();
        let mut out = candidates(&state_dir, NameKind::Build, &current, "");
        if "bc/".starts_with(current.as_ref()) && !current.is_empty() || current.starts_with("bc/")
        {
            let wanted = current.strip_prefix("bc/").unwrap_or("");
            out.extend(candidates(&state_dir, NameKind::BuildConfig, wanted, "bc/"));
        }
        out
    })
}

/// BuildConfigs, by name (`bc/NAME` when the word starts so).
pub fn build_configs() -> ArgValueCompleter {
    named(NameKind::BuildConfig, "bc/")
}

/// ImageStreams, by name (`is/NAME` when the word starts so).
pub fn streams() -> ArgValueCompleter {
    named(NameKind::ImageStream, "is/")
}

/// Names of `kind`, with `tag` in front when the word starts with it.
fn named(kind: NameKind, tag: &'static str) -> ArgValueCompleter {
    ArgValueCompleter::new(move |current: &OsStr| {
        let Some(state_dir) = state_dir() else {
            return Vec::new();
        };
        let current = current.to_string_lossy();
        match current.strip_prefix(tag) {
            Some(rest) => candidates(&state_dir, kind, rest, tag),
            None => candidates(&state_dir, kind, &current, ""),
        }
    })
}

/// The names of `kind` in `state_dir` starting with `prefix`, each with `add` in front.
fn candidates(
    state_dir: &Path,
    kind: NameKind,
    prefix: &str,
    add: &str,
) -> Vec<CompletionCandidate> {
    osbs_local::names(state_dir, kind, prefix)
        .into_iter()
        .map(|name| CompletionCandidate::new(format!("{add}{name}")))
        .collect()
}

/// The local state directory of the instance the command line being completed names, if it
/// is a local one and its config loads.
fn state_dir() -> Option<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    let (config, instance) = config_and_instance(&args);
    let env = std::env::var_os(config::CONFIG_ENV);
    let file = config::locate(
        config.map(PathBuf::from).as_deref(),
        env.as_deref(),
        config::user_config_dir().as_deref(),
    )
    .ok()?;
    let instance = config::load(file.as_deref(), instance.unwrap_or("default")).ok()?;
    if instance.backend != Backend::Local {
        return None;
    }
    instance.state_dir.or_else(crate::local::default_state_dir)
}

/// `--config` and `-i/--instance` among the words of the line being completed.
fn config_and_instance(args: &[String]) -> (Option<&str>, Option<&str>) {
    let (mut config, mut instance) = (None, None);
    let mut words = args.iter().map(String::as_str);
    while let Some(word) = words.next() {
        if word == "--" {
            continue;
        }
        match word {
            "--config" => config = words.next(),
            "-i" | "--instance" => instance = words.next(),
            _ => {
                if let Some(v) = word.strip_prefix("--config=") {
                    config = Some(v);
                } else if let Some(v) = word.strip_prefix("--instance=") {
                    instance = Some(v);
                } else if let Some(v) = word.strip_prefix("-i").filter(|v| !v.is_empty()) {
                    instance = Some(v.trim_start_matches('='));
                }
            }
        }
    }
    (config, instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_of_the_line_being_completed() {
        let line = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        let args = line(&[
            "osbs",
            "--",
            "osbs",
            "--config",
            "/c.conf",
            "-i",
            "prod",
            "get-build",
        ]);
        assert_eq!(config_and_instance(&args), (Some("/c.conf"), Some("prod")));
        let args = line(&[
            "osbs",
            "--",
            "osbs",
            "--config=/x",
            "--instance=dev",
            "list-builds",
        ]);
        assert_eq!(config_and_instance(&args), (Some("/x"), Some("dev")));
        let args = line(&["osbs", "--", "osbs", "-iqa", "list-builds"]);
        assert_eq!(config_and_instance(&args), (None, Some("qa")));
        assert_eq!(config_and_instance(&line(&["osbs"])), (None, None));
    }
}
