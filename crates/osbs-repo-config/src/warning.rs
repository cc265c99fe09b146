//! Warnings: parts of a valid file that have no effect, reported instead of silently dropped.

use std::fmt;

use crate::AUTOREBUILD_SECTION;
use crate::error::{Escaped, Quoted};
use crate::ini::{DEFAULT_SECTION, py_strip};

/// Something in a repository config file that was accepted but has no effect.
///
/// Renders as `FILE:LINE: what was ignored`, for example
/// `.osbs-repo-config:4: unknown section [build]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    file: String,
    line: usize,
    kind: WarningKind,
}

impl Warning {
    pub(crate) fn new(file: &str, line: usize, kind: WarningKind) -> Self {
        Self {
            file: file.to_owned(),
            line,
            kind,
        }
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line the warning is about.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The name the warning is about: the unknown section or key, the section whose header has
    /// trailing text, or the `[DEFAULT]` key that has no effect.
    pub fn name(&self) -> &str {
        match &self.kind {
            WarningKind::UnknownSection { section } => section,
            WarningKind::UnknownKey { key, .. } => key,
            WarningKind::IgnoredHeaderText { section, .. } => section,
            WarningKind::UnusedDefault { key } => key,
        }
    }

    /// What was ignored.
    pub fn kind(&self) -> &WarningKind {
        &self.kind
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.kind)
    }
}

/// What kind of thing was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A section other than `[autorebuild]` and `[DEFAULT]`. Section names are case-sensitive,
    /// so `[Autorebuild]` is unknown too. Its keys are ignored without further warnings.
    UnknownSection {
        /// The section name, verbatim.
        section: String,
    },
    /// A key other than `enabled` in `[autorebuild]` or `[DEFAULT]`.
    UnknownKey {
        /// The section the key is in.
        section: String,
        /// The key, lowercased.
        key: String,
    },
    /// Text after the `]` of a section header, which configparser ignores (there are no inline
    /// comments, so `[autorebuild] # note` is a header followed by ignored text).
    IgnoredHeaderText {
        /// The section name.
        section: String,
        /// The ignored text, stripped.
        text: String,
    },
    /// `enabled` set in `[DEFAULT]` while the file has no `[autorebuild]` section: configparser
    /// applies `[DEFAULT]` keys only to sections that exist, so it has no effect.
    UnusedDefault {
        /// The key, lowercased.
        key: String,
    },
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSection { section } => {
                write!(f, "unknown section [{}]", Escaped(section))?;
                match section_hint(section) {
                    Some(hint) => write!(f, " ({hint})"),
                    None => Ok(()),
                }
            }
            Self::UnknownKey { section, key } => {
                write!(
                    f,
                    "unknown key {} in section [{}]",
                    Quoted(key),
                    Escaped(section)
                )
            }
            Self::IgnoredHeaderText { section, text } => write!(
                f,
                "text after section header [{}] is ignored: {}",
                Escaped(section),
                Quoted(text)
            ),
            Self::UnusedDefault { key } => write!(
                f,
                "key {} in section [DEFAULT] has no effect without an [autorebuild] section",
                Quoted(key)
            ),
        }
    }
}

/// Why an unknown section is probably a mistake, for the likely ones.
fn section_hint(section: &str) -> Option<&'static str> {
    let name = py_strip(section);
    if name.eq_ignore_ascii_case(AUTOREBUILD_SECTION) {
        Some("did you mean [autorebuild]? section names are case-sensitive and keep inner spaces")
    } else if name.eq_ignore_ascii_case(DEFAULT_SECTION) {
        Some("did you mean [DEFAULT]? section names are case-sensitive and keep inner spaces")
    } else if section.contains(']') {
        Some("a section name runs to the last \"]\" on its line")
    } else {
        None
    }
}
