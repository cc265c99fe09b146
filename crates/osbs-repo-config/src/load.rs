//! Reading the config file from disk: the only I/O this crate does, on the one file it is pointed to.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use crate::error::{LoadError, ParseError, ParseErrorKind};
use crate::{RepoConfig, ini};

/// The name of the file at the top of a repository, as OSBS has always called it.
pub const DEFAULT_FILE_NAME: &str = ".osbs-repo-config";

/// The largest file [`RepoConfig::load`] reads, in bytes (1 MiB); real files are a few lines.
///
/// The limit keeps a repository from making the build read, say, a symlink to `/dev/zero`.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

impl RepoConfig {
    /// Loads [`DEFAULT_FILE_NAME`] from the top of a repository checkout.
    ///
    /// A missing file gives the [`Default`] (autorebuild enabled). Errors in the file name it
    /// relative to the repository, as `.osbs-repo-config:LINE: ...`.
    pub fn load(repo_dir: &Path) -> Result<Self, LoadError> {
        Self::load_named(repo_dir, DEFAULT_FILE_NAME)
    }

    /// Loads the config file `file_name` from the top of a repository checkout, for
    /// deployments that configure another name.
    ///
    /// A missing file gives the [`Default`]. Errors in the file name it as `file_name`.
    pub fn load_named(repo_dir: &Path, file_name: &str) -> Result<Self, LoadError> {
        read(&repo_dir.join(file_name), file_name)
    }

    /// Loads the config file at `path`.
    ///
    /// A missing file gives the [`Default`]. Errors in the file name it by `path` as given.
    pub fn load_file(path: &Path) -> Result<Self, LoadError> {
        read(path, &path.display().to_string())
    }
}

/// Reads and parses `path`; messages about its content name it `name`.
fn read(path: &Path, name: &str) -> Result<RepoConfig, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    // Like atomic-reactor's `os.path.exists`, a dangling symlink counts as no file.
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(RepoConfig::default()),
        Err(err) => return Err(read_error(err)),
    };
    if !metadata.is_file() {
        return Err(LoadError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_SIZE,
        });
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = err.as_bytes().get(..err.utf8_error().valid_up_to());
        // The prefix is valid UTF-8 by construction; count the lines it completes.
        let line = valid
            .and_then(|prefix| std::str::from_utf8(prefix).ok())
            .map_or(1, line_of_end);
        ParseError::new(name, line, ParseErrorKind::InvalidUtf8)
    })?;
    Ok(RepoConfig::parse_named(&text, name)?)
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
