//! Reads `.osbs-repo-config`, the file at the top of a git repository that turns OSBS autorebuilds on or off.
//!
//! ```
//! use osbs_repo_config::RepoConfig;
//!
//! let config = RepoConfig::parse("[autorebuild]\nenabled = false\n")?;
//! assert!(!config.autorebuild_enabled());
//!
//! let err = RepoConfig::parse("[autorebuild]\n\nenabled = yes\n").unwrap_err();
//! assert_eq!(err.line(), 3);
//! assert_eq!(
//!     err.to_string(),
//!     r#".osbs-repo-config:3: invalid value "yes" for autorebuild.enabled: expected one of 0, false, 1, true"#,
//! );
//! # Ok::<(), osbs_repo_config::ParseError>(())
//! ```
//!
//! # The format
//!
//! The file is read as atomic-reactor read it: with Python's `configparser` in its default
//! settings (`strict=True`). Only the key `enabled` of the section `[autorebuild]` means
//! anything. It accepts `0`, `false`, `1` and `true` in any case, and it is **true** when the
//! file, the section or the key is missing.
//!
//! - Lines whose first non-blank character is `#` or `;` are comments. There are no inline
//!   comments: in `enabled = false # no`, the value is `false # no`, which is invalid.
//! - `key = value` or `key: value`; the first `=` or `:` on the line separates them. Keys are
//!   case-insensitive; section names are case-sensitive (`[Autorebuild]` is a different,
//!   unknown section). Whitespace around keys and values is removed.
//! - A line indented deeper than its key's line continues the value, and blank lines inside a
//!   value are kept, exactly as configparser does; trailing blank lines are dropped. The
//!   continued value of `enabled` is then something like `"true\nfalse"`, which is invalid.
//! - The name of a section header runs from the first `[` to the last `]` on the line; text
//!   after it is ignored with a warning. Whitespace inside the brackets is part of the name.
//! - Errors: text before the first section header, a line without `=` or `:`, an empty key, a
//!   section defined twice, a key set twice in one section, and an invalid `enabled` value.
//!   The first error in the file is reported, as `FILE:LINE: message`.
//! - `[DEFAULT]` is configparser's default section: its keys apply to every section that
//!   exists. So `enabled` in `[DEFAULT]` decides the outcome only when there is an
//!   `[autorebuild]` section that does not set `enabled` itself; without an `[autorebuild]`
//!   section it has no effect (and gets a warning), and when `[autorebuild]` sets `enabled`
//!   the default is not looked at. `[DEFAULT]` may appear more than once; its keys may not.
//! - Unknown sections, unknown keys in `[autorebuild]` or `[DEFAULT]`, and text after a section
//!   header are reported as [`Warning`]s.
//!
//! Deliberate differences from Python: a UTF-8 byte order mark at the start is accepted (Python
//! would see a stray character before the first header); `%` is taken literally (atomic-reactor's
//! `SafeConfigParser` interpolated `%(name)s`); and `yes`, `no`, `on` and `off`, which Python's
//! `getboolean` would accept, are rejected as the OSBS documentation prescribes.
//!
//! Parsing does no I/O. [`RepoConfig::load`] and its siblings read the one file they are
//! pointed to, and nothing else.

mod error;
pub mod ini;
mod load;
mod warning;

use std::str::FromStr;

pub use error::{LoadError, ParseError, ParseErrorKind};
pub use load::{DEFAULT_FILE_NAME, MAX_FILE_SIZE};
pub use warning::{Warning, WarningKind};

use ini::{DEFAULT_SECTION, Entry, Ini};

/// Compiles and runs the examples in the crate's README.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The section this file is about.
const AUTOREBUILD_SECTION: &str = "autorebuild";
/// The one key of [`AUTOREBUILD_SECTION`].
const ENABLED_KEY: &str = "enabled";

/// The settings of one repository, read from its `.osbs-repo-config`.
///
/// The [`Default`] is what a repository without the file gets: autorebuilds enabled, no
/// warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    autorebuild_enabled: bool,
    warnings: Vec<Warning>,
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            autorebuild_enabled: true,
            warnings: Vec::new(),
        }
    }
}

impl RepoConfig {
    /// Parses the text of a config file; messages name it [`DEFAULT_FILE_NAME`].
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        Self::parse_named(text, DEFAULT_FILE_NAME)
    }

    /// Parses the text of a config file; errors and warnings name it `file_name`.
    pub fn parse_named(text: &str, file_name: &str) -> Result<Self, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let ini =
            ini::parse(text).map_err(|(line, kind)| ParseError::new(file_name, line, kind))?;

        let mut warnings = ignored_parts(&ini, file_name);

        let default_enabled = enabled_in(&ini.defaults).map(|entry| (DEFAULT_SECTION, entry));
        let effective = match ini.sections.iter().find(|s| s.name == AUTOREBUILD_SECTION) {
            Some(section) => enabled_in(&section.entries)
                .map(|entry| (AUTOREBUILD_SECTION, entry))
                .or(default_enabled),
            None => {
                if let Some((_, entry)) = default_enabled {
                    let kind = WarningKind::UnusedDefault {
                        key: entry.key.clone(),
                    };
                    warnings.push(Warning::new(file_name, entry.line, kind));
                }
                None
            }
        };
        let autorebuild_enabled = match effective {
            None => true,
            Some((section, entry)) => parse_bool(&entry.value).ok_or_else(|| {
                let kind = ParseErrorKind::InvalidValue {
                    section: section.to_owned(),
                    key: entry.key.clone(),
                    value: entry.value.clone(),
                };
                ParseError::new(file_name, entry.line, kind)
            })?,
        };

        warnings.sort_by_key(Warning::line);
        Ok(Self {
            autorebuild_enabled,
            warnings,
        })
    }

    /// Whether images built from this repository are rebuilt when their base image changes.
    pub fn autorebuild_enabled(&self) -> bool {
        self.autorebuild_enabled
    }

    /// What the file contained that has no effect, in line order.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

impl FromStr for RepoConfig {
    type Err = ParseError;

    /// Same as [`RepoConfig::parse`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Warnings for the sections, keys and header text in `ini` that have no effect.
fn ignored_parts(ini: &Ini, file_name: &str) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let headers = ini.default_headers.iter().map(|header| (header, true));
    let sections = ini
        .sections
        .iter()
        .map(|section| (section, section.name == AUTOREBUILD_SECTION));
    for (section, known) in headers.chain(sections) {
        if !known {
            let kind = WarningKind::UnknownSection {
                section: section.name.clone(),
            };
            warnings.push(Warning::new(file_name, section.line, kind));
        }
        if let Some(text) = &section.ignored {
            let kind = WarningKind::IgnoredHeaderText {
                section: section.name.clone(),
                text: text.clone(),
            };
            warnings.push(Warning::new(file_name, section.line, kind));
        }
    }

    // Keys of unknown sections are covered by the section's warning.
    let defaults = ini.defaults.iter().map(|entry| (DEFAULT_SECTION, entry));
    let autorebuild = ini
        .sections
        .iter()
        .filter(|section| section.name == AUTOREBUILD_SECTION)
        .flat_map(|section| &section.entries)
        .map(|entry| (AUTOREBUILD_SECTION, entry));
    for (section, entry) in defaults.chain(autorebuild) {
        if entry.key != ENABLED_KEY {
            let kind = WarningKind::UnknownKey {
                section: section.to_owned(),
                key: entry.key.clone(),
            };
            warnings.push(Warning::new(file_name, entry.line, kind));
        }
    }
    warnings
}

/// The booleans atomic-reactor documents: `0`, `false`, `1`, `true`, in any case.
///
/// Public so that other OSBS configuration (the client's `osbs.conf`) accepts exactly the same
/// values.
///
/// ```
/// assert_eq!(osbs_repo_config::parse_bool("TRUE"), Some(true));
/// assert_eq!(osbs_repo_config::parse_bool("0"), Some(false));
/// assert_eq!(osbs_repo_config::parse_bool("yes"), None);
/// ```
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "0" | "false" => Some(false),
        "1" | "true" => Some(true),
        _ => None,
    }
}

/// The `enabled` option among `entries`, if it is set.
fn enabled_in(entries: &[Entry]) -> Option<&Entry> {
    entries.iter().find(|entry| entry.key == ENABLED_KEY)
}
