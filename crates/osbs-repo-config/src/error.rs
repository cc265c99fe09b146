//! The errors of this crate: what is wrong in a file ([`ParseError`]) and why it could not be read ([`LoadError`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A repository config file that cannot be accepted, with the file and line to blame.
///
/// Renders as `FILE:LINE: what is wrong`, for example
/// `.osbs-repo-config:3: invalid value "yes" for autorebuild.enabled: expected one of 0, false, 1, true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct ParseError {
    file: String,
    line: usize,
    kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(file: &str, line: usize, kind: ParseErrorKind) -> Self {
        Self {
            file: file.to_owned(),
            line,
            kind,
        }
    }

    /// The file name used in messages (the name the text was parsed or loaded under).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong, without the file and line.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

/// What is wrong in a repository config file.
///
/// Each variant corresponds to an error Python's configparser (or atomic-reactor's
/// `getboolean`) raises for the same input; the text fields hold the offending line, stripped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A key or other text before the first section header (configparser's
    /// `MissingSectionHeaderError`).
    #[error("expected a section header such as [autorebuild], found {}", Quoted(.text))]
    MissingSectionHeader {
        /// The offending line.
        text: String,
    },
    /// A line that starts with `[` but is not a `[name]` header and has no `=` or `:`.
    #[error("malformed section header {}: expected [name]", Quoted(.text))]
    MalformedSectionHeader {
        /// The offending line.
        text: String,
    },
    /// A line in a section that has neither `=` nor `:` (keys without values are not allowed).
    #[error("expected \"key = value\" or \"key: value\", found {}", Quoted(.text))]
    MissingDelimiter {
        /// The offending line.
        text: String,
    },
    /// A line whose delimiter has nothing before it, such as `= true`.
    #[error("missing key name in {}", Quoted(.text))]
    MissingKey {
        /// The offending line.
        text: String,
    },
    /// A section header that appeared before (configparser's `DuplicateSectionError`).
    #[error("duplicate section [{}], first defined at line {first_line}", Escaped(.section))]
    DuplicateSection {
        /// The section name.
        section: String,
        /// The 1-based line of the first header with this name.
        first_line: usize,
    },
    /// A key set twice in one section (configparser's `DuplicateOptionError`); keys are compared
    /// after lowercasing.
    #[error("duplicate key {} in section [{}], first set at line {first_line}", Quoted(.key), Escaped(.section))]
    DuplicateKey {
        /// The section name.
        section: String,
        /// The key, lowercased.
        key: String,
        /// The 1-based line where the key was first set.
        first_line: usize,
    },
    /// A value for `enabled` that is not one of `0`, `false`, `1` or `true` (in any case).
    #[error("invalid value {} for {name}.{key}: expected one of 0, false, 1, true", Quoted(.value), name = Escaped(.section))]
    InvalidValue {
        /// The section the value was read from (`autorebuild`, or `DEFAULT` when inherited).
        section: String,
        /// The key, lowercased.
        key: String,
        /// The value as configparser returns it (continuation lines joined with `\n`).
        value: String,
    },
    /// The file is not valid UTF-8 (only reported when loading a file).
    #[error("invalid UTF-8")]
    InvalidUtf8,
}

/// Why a repository config file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file exists but reading it failed.
    #[error("failed to read {}", path.display())]
    Read {
        /// The path that was read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The path exists but is a directory, device or other non-regular file.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path that was checked.
        path: PathBuf,
    },
    /// The path is a symbolic link. A repository's config file is read only as a regular file
    /// (as the build reads it from the commit), never through a link to somewhere else.
    #[error(
        "{} is a symbolic link; OSBS reads only regular files from the repository, never what \
         a link points to",
        path.display()
    )]
    Symlink {
        /// The path that was checked.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_FILE_SIZE`](crate::MAX_FILE_SIZE) bytes.
    #[error("{} is {size} bytes, more than the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The path that was read.
        path: PathBuf,
        /// The file's size, in bytes.
        size: u64,
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
    /// The file was read but its content is not acceptable.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// How many characters of a value from the file a message shows; the rest is counted
/// (`… N bytes more`), so a huge value never becomes a huge message.
pub(crate) const MAX_SHOWN_CHARS: usize = 200;

/// The first [`MAX_SHOWN_CHARS`] characters of `text` and how many bytes follow them.
fn cut(text: &str) -> (&str, usize) {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((end, _)) => (&text[..end], text.len() - end),
        None => (text, 0),
    }
}

/// Writes `… N bytes more` when `rest` bytes were cut.
fn write_rest(f: &mut fmt::Formatter<'_>, rest: usize) -> fmt::Result {
    if rest > 0 {
        write!(f, "… {rest} bytes more")?;
    }
    Ok(())
}

/// Displays a value quoted as `{:?}` does, cut after [`MAX_SHOWN_CHARS`] characters.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (shown, rest) = cut(self.0);
        write!(f, "{shown:?}")?;
        write_rest(f, rest)
    }
}

/// Displays a section name verbatim, except that control and bidirectional-override characters
/// are escaped so that a hostile file cannot garble a terminal or a log, and cut after
/// [`MAX_SHOWN_CHARS`] characters.
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (shown, rest) = cut(self.0);
        for c in shown.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_debug())?;
            } else if is_bidi_control(c) {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        write_rest(f, rest)
    }
}

/// Characters that reorder the text around them (the "Trojan Source" set).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
