//! Reading the config file: its content rule ([`RepoConfig::from_bytes`]: size, UTF-8, parse) and
//! loading from disk, the only I/O this crate does, on the one file it is pointed to.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use crate::error::{LoadError, ParseError, ParseErrorKind};
use crate::{RepoConfig, ini};

/// The name of the file at the top of a repository, as OSBS has always called it.
pub const DEFAULT_FILE_NAME: &str = ".osbs-repo-config";

/// The largest config file OSBS reads, in bytes (64 KiB); real files are a few lines.
///
/// The same limit applies wherever the file is read: from a checkout or a path
/// ([`RepoConfig::load`], `osbs check-repo-config`) and from a commit's git objects (submission
/// and the reactor, through [`RepoConfig::from_bytes`]).
pub const MAX_FILE_SIZE: u64 = 64 * 1024;

impl RepoConfig {
    /// Loads [`DEFAULT_FILE_NAME`] from the top of a repository checkout.
    ///
    /// A missing file gives the [`Default`] (autorebuild enabled). Errors in the file name it
    /// relative to the repository, as `.osbs-repo-config:LINE: ...`. The file must be a
    /// regular file: a symbolic link is refused (whatever it points to), as the build refuses
    /// it in the commit.
    pub fn load(repo_dir: &Path) -> Result<Self, LoadError> {
        Self::load_named(repo_dir, DEFAULT_FILE_NAME)
    }

    /// Loads the config file `file_name` from the top of a repository checkout, for
    /// deployments that configure another name.
    ///
    /// A missing file gives the [`Default`]; a symbolic link is refused. Errors in the file
    /// name it as `file_name`.
    pub fn load_named(repo_dir: &Path, file_name: &str) -> Result<Self, LoadError> {
        read(&repo_dir.join(file_name), file_name, Links::Refuse)
    }

    /// Loads the config file at `path` (following a symbolic link: the path is the caller's
    /// choice, not a repository's).
    ///
    /// A missing file gives the [`Default`]. Errors in the file name it by `path` as given.
    pub fn load_file(path: &Path) -> Result<Self, LoadError> {
        read(path, &path.display().to_string(), Links::Follow)
    }

    /// Reads the content of a config file named `file_name`: at most [`MAX_FILE_SIZE`]
    /// bytes of UTF-8 (a byte order mark is allowed), parsed as [`RepoConfig::parse_named`]
    /// does. This is the one content rule: the loaders above and the readers of a commit's
    /// git objects all end here.
    ///
    /// ```
    /// use osbs_repo_config::RepoConfig;
    ///
    /// let err = RepoConfig::from_bytes(b"[autorebuild]\nenabled = \xff\n", ".osbs-repo-config")
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), ".osbs-repo-config:2: invalid UTF-8");
    /// ```
    ///
    /// # Errors
    ///
    /// [`LoadError::TooLarge`] or [`LoadError::Parse`] (invalid UTF-8 with its line, or a
    /// [`ParseError`]).
    pub fn from_bytes(bytes: &[u8], file_name: &str) -> Result<Self, LoadError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > MAX_FILE_SIZE {
            return Err(LoadError::TooLarge {
                path: file_name.into(),
                size,
                limit: MAX_FILE_SIZE,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|err| {
            let valid = bytes.get(..err.valid_up_to());
            // The prefix is valid UTF-8 by construction; count the lines it completes.
            let line = valid
                .and_then(|prefix| std::str::from_utf8(prefix).ok())
                .map_or(1, line_of_end);
            ParseError::new(file_name, line, ParseErrorKind::InvalidUtf8)
        })?;
        Ok(RepoConfig::parse_named(text, file_name)?)
    }
}

/// What [`read`] does with a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Links {
    /// Refuse it (a file in a repository).
    Refuse,
    /// Read what it points to; a dangling link counts as no file, like atomic-reactor's
    /// `os.path.exists` (a path the caller chose).
    Follow,
}

/// Reads and parses `path`; messages about its content name it `name`.
fn read(path: &Path, name: &str, links: Links) -> Result<RepoConfig, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = match links {
        Links::Refuse => fs::symlink_metadata(path),
        Links::Follow => fs::metadata(path),
    };
    let metadata = match metadata {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(RepoConfig::default()),
        Err(err) => return Err(read_error(err)),
    };
    if metadata.file_type().is_symlink() {
        return Err(LoadError::Symlink {
            path: path.to_owned(),
        });
    }
    if !metadata.is_file() {
        return Err(LoadError::NotAFile {
            path: path.to_owned(),
        });
    }
    if metadata.len() > MAX_FILE_SIZE {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
            size: metadata.len(),
            limit: MAX_FILE_SIZE,
        });
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    RepoConfig::from_bytes(&bytes, name).map_err(|err| match err {
        LoadError::TooLarge { size, limit, .. } => LoadError::TooLarge {
            path: path.to_owned(),
            size,
            limit,
        },
        other => other,
    })
}

/// The 1-based line that the end of `prefix` is on, counting line breaks as Python does.
fn line_of_end(prefix: &str) -> usize {
    let breaks = ini::lines(prefix).count();
    if prefix.is_empty() || prefix.ends_with(['\n', '\r']) {
        breaks + 1
    } else {
        breaks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_end_counts_universal_newlines() {
        assert_eq!(line_of_end(""), 1);
        assert_eq!(line_of_end("abc"), 1);
        assert_eq!(line_of_end("abc\n"), 2);
        assert_eq!(line_of_end("a\r\nb\rc\nd"), 4);
        assert_eq!(line_of_end("a\r"), 2);
    }
}
