//! The rules for reading a file of a built repository (the Dockerfile, `.osbs-repo-config`,
//! `.dockerignore`): it is read from the commit's git objects, never from a checkout, and only
//! if its tree entry is a regular file (a symlink, directory or submodule is refused, so a
//! repository can never make OSBS read a file of the machine it runs on), no larger than the
//! file's limit, and valid UTF-8.
//!
//! Submission and the reactor both read through one helper (`osbs_reactor::source_files`, the
//! git plumbing: `git ls-tree -l -z` of the path at the commit, then `git cat-file blob`); the
//! judgement is here, so what submission accepts the reactor accepts.
//!
//! Limits: the Dockerfile [`DOCKERFILE_MAX_SIZE`] (1 MiB), `.dockerignore`
//! [`DOCKERIGNORE_MAX_SIZE`] (64 KiB); the repo config's is `osbs_repo_config::MAX_FILE_SIZE`
//! (64 KiB), which `osbs check-repo-config` applies too.

use thiserror::Error;

/// The Dockerfile's path at the top of the repository.
pub const DOCKERFILE: &str = "Dockerfile";
/// The `.dockerignore` file's path at the top of the repository.
pub const DOCKERIGNORE: &str = ".dockerignore";
/// The largest Dockerfile OSBS reads, in bytes (1 MiB).
pub const DOCKERFILE_MAX_SIZE: u64 = 1024 * 1024;
/// The largest `.dockerignore` OSBS reads, in bytes (64 KiB).
pub const DOCKERIGNORE_MAX_SIZE: u64 = 64 * 1024;

/// A file of the repository that OSBS reads: its path from the top and its size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    path: String,
    max_size: u64,
}

impl RepoFile {
    /// The Dockerfile.
    pub fn dockerfile() -> Self {
        RepoFile {
            path: DOCKERFILE.to_owned(),
            max_size: DOCKERFILE_MAX_SIZE,
        }
    }

    /// `.dockerignore`.
    pub fn dockerignore() -> Self {
        RepoFile {
            path: DOCKERIGNORE.to_owned(),
            max_size: DOCKERIGNORE_MAX_SIZE,
        }
    }

    /// The file at `path` (relative to the top of the repository, `/`-separated), read only up
    /// to `max_size` bytes.
    ///
    /// # Errors
    ///
    /// [`RepoFileError::BadPath`] for an empty or absolute path, or one with empty, `.` or
    /// `..` components.
    pub fn new(path: &str, max_size: u64) -> Result<Self, RepoFileError> {
        let bad = |reason| RepoFileError::BadPath {
            file: path.to_owned(),
            reason,
        };
        if path.is_empty() {
            return Err(bad("it is empty"));
        }
        if path.starts_with('/') {
            return Err(bad("it must be relative to the top of the repository"));
        }
        if path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(bad("it has an empty, `.` or `..` component"));
        }
        if path.chars().any(char::is_control) {
            return Err(bad("it contains control characters"));
        }
        Ok(RepoFile {
            path: path.to_owned(),
            max_size,
        })
    }

    /// The path from the top of the repository.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The size limit, in bytes.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// Whether `entry` (this file's tree entry at the commit) may be read: a regular file
    /// (mode 100644 or 100755, a blob) no larger than the limit.
    ///
    /// # Errors
    ///
    /// [`RepoFileError::Symlink`], [`RepoFileError::NotAFile`] or [`RepoFileError::TooLarge`].
    pub fn check(&self, entry: &TreeEntry) -> Result<(), RepoFileError> {
        let file = self.path.clone();
        match entry.kind() {
            EntryKind::Regular => {}
            EntryKind::Symlink => return Err(RepoFileError::Symlink { file }),
            EntryKind::Directory => {
                return Err(RepoFileError::NotAFile {
                    file,
                    what: "a directory".to_owned(),
                });
            }
            EntryKind::Submodule => {
                return Err(RepoFileError::NotAFile {
                    file,
                    what: "a submodule".to_owned(),
                });
            }
            EntryKind::Other => {
                return Err(RepoFileError::NotAFile {
                    file,
                    what: format!("a git {} of mode {:06o}", entry.object_type, entry.mode),
                });
            }
        }
        match entry.size {
            Some(size) => self.check_size(size),
            None => Err(RepoFileError::Listing { file }),
        }
    }

    /// Whether `size` bytes are within the limit.
    ///
    /// # Errors
    ///
    /// [`RepoFileError::TooLarge`].
    pub fn check_size(&self, size: u64) -> Result<(), RepoFileError> {
        if size > self.max_size {
            return Err(RepoFileError::TooLarge {
                file: self.path.clone(),
                size,
                limit: self.max_size,
            });
        }
        Ok(())
    }

    /// The file's content as text: within the limit and valid UTF-8.
    ///
    /// # Errors
    ///
    /// [`RepoFileError::TooLarge`] or [`RepoFileError::InvalidUtf8`] (naming the line).
    pub fn decode(&self, bytes: Vec<u8>) -> Result<String, RepoFileError> {
        self.check_size(u64::try_from(bytes.len()).unwrap_or(u64::MAX))?;
        String::from_utf8(bytes).map_err(|err| {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
            RepoFileError::InvalidUtf8 {
                file: self.path.clone(),
                line,
            }
        })
    }
}

/// What a tree entry is, by its mode and object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A blob of mode 100644 or 100755 (or the legacy 100664).
    Regular,
    /// A symbolic link (mode 120000): its blob is the link's target.
    Symlink,
    /// A tree (mode 040000).
    Directory,
    /// A gitlink (mode 160000): a commit of another repository.
    Submodule,
    /// Anything else.
    Other,
}

/// One entry of `git ls-tree -l`: mode, object type, object id and, for blobs, size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The mode, e.g. `0o100644`.
    pub mode: u32,
    /// `blob`, `tree` or `commit`.
    pub object_type: String,
    /// The object id.
    pub object: String,
    /// The blob's size in bytes; `None` for trees and submodules.
    pub size: Option<u64>,
}

impl TreeEntry {
    /// What the entry is.
    pub fn kind(&self) -> EntryKind {
        match (self.mode, self.object_type.as_str()) {
            (0o100644 | 0o100755 | 0o100664, "blob") => EntryKind::Regular,
            (0o120000, _) => EntryKind::Symlink,
            (0o040000, _) | (_, "tree") => EntryKind::Directory,
            (0o160000, _) | (_, "commit") => EntryKind::Submodule,
            _ => EntryKind::Other,
        }
    }
}

/// The arguments of the `git ls-tree` that lists `path` at `commit`, sizes included, paths
/// NUL-terminated and unquoted, relative to the top whatever the working directory. Run it with
/// `GIT_LITERAL_PATHSPECS=1`, so the path is never a pattern.
pub fn ls_tree_args(commit: &str, path: &str) -> Vec<String> {
    ["ls-tree", "-l", "-z", "--full-tree", commit, "--", path]
        .map(str::to_owned)
        .to_vec()
}

/// The entry for exactly `path` in the output of [`ls_tree_args`]; `None` when the commit has
/// no such path.
///
/// # Errors
///
/// [`RepoFileError::Listing`] when the output is not `ls-tree -l -z` output.
pub fn parse_ls_tree(output: &[u8], path: &str) -> Result<Option<TreeEntry>, RepoFileError> {
    let listing = || RepoFileError::Listing {
        file: path.to_owned(),
    };
    for record in output.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = record
            .iter()
            .position(|&b| b == b'\t')
            .ok_or_else(listing)?;
        let (meta, name) = (&record[..tab], &record[tab + 1..]);
        if name != path.as_bytes() {
            continue;
        }
        let meta = std::str::from_utf8(meta).map_err(|_| listing())?;
        let mut fields = meta.split_whitespace();
        let (Some(mode), Some(object_type), Some(object), Some(size), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(listing());
        };
        let mode = u32::from_str_radix(mode, 8).map_err(|_| listing())?;
        let size = match size {
            "-" => None,
            size => Some(size.parse().map_err(|_| listing())?),
        };
        return Ok(Some(TreeEntry {
            mode,
            object_type: object_type.to_owned(),
            object: object.to_owned(),
            size,
        }));
    }
    Ok(None)
}

/// A repository file that OSBS refuses to read. Every message names the file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepoFileError {
    /// The tree entry is a symbolic link.
    #[error(
        "{file} is a symbolic link; OSBS reads only regular files from the repository, never \
         what a link points to"
    )]
    Symlink {
        /// The file's path.
        file: String,
    },
    /// The tree entry is a directory, a submodule or something else that is not a file.
    #[error("{file} is {what}, not a regular file")]
    NotAFile {
        /// The file's path.
        file: String,
        /// What it is (`a directory`, `a submodule`, …).
        what: String,
    },
    /// The file is larger than its limit.
    #[error("{file} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The file's path.
        file: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not UTF-8 text.
    #[error("{file}:{line}: invalid UTF-8")]
    InvalidUtf8 {
        /// The file's path.
        file: String,
        /// The 1-based line of the first invalid byte.
        line: usize,
    },
    /// A configured file name that cannot name a file at the top of a repository.
    #[error("file name {} is not allowed: {reason}", crate::text::Excerpt(.file))]
    BadPath {
        /// The name as configured.
        file: String,
        /// Why.
        reason: &'static str,
    },
    /// `git ls-tree` printed something unexpected.
    #[error("cannot read the git tree entry of {file}")]
    Listing {
        /// The file's path.
        file: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mode: u32, object_type: &str, size: Option<u64>) -> TreeEntry {
        TreeEntry {
            mode,
            object_type: object_type.to_owned(),
            object: "0123abcd".to_owned(),
            size,
        }
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let config = RepoFile::new(".osbs-repo-config", 64).unwrap();
        for (entry, expected) in [
            (entry(0o100644, "blob", Some(10)), Ok(())),
            (entry(0o100755, "blob", Some(64)), Ok(())),
            (entry(0o100664, "blob", Some(0)), Ok(())),
            (
                entry(0o100644, "blob", Some(65)),
                Err(".osbs-repo-config is 65 bytes, more than the limit of 64 bytes"),
            ),
            (
                entry(0o120000, "blob", Some(20)),
                Err(
                    ".osbs-repo-config is a symbolic link; OSBS reads only regular files from \
                     the repository, never what a link points to",
                ),
            ),
            (
                entry(0o040000, "tree", None),
                Err(".osbs-repo-config is a directory, not a regular file"),
            ),
            (
                entry(0o160000, "commit", None),
                Err(".osbs-repo-config is a submodule, not a regular file"),
            ),
            (
                entry(0o100600, "blob", Some(1)),
                Err(".osbs-repo-config is a git blob of mode 100600, not a regular file"),
            ),
            (
                entry(0o100644, "blob", None),
                Err("cannot read the git tree entry of .osbs-repo-config"),
            ),
        ] {
            let got = config.check(&entry).map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_owned), "{entry:?}");
        }
    }

    #[test]
    fn content_must_be_utf8_within_the_limit() {
        let file = RepoFile::new("Dockerfile", 16).unwrap();
        assert_eq!(file.decode(b"FROM x\n".to_vec()), Ok("FROM x\n".to_owned()));
        assert_eq!(
            file.decode(b"FROM x\nLABEL \xff\n".to_vec())
                .unwrap_err()
                .to_string(),
            "Dockerfile:2: invalid UTF-8"
        );
        assert_eq!(
            file.decode(vec![b'a'; 17]).unwrap_err().to_string(),
            "Dockerfile is 17 bytes, more than the limit of 16 bytes"
        );
    }

    #[test]
    fn configured_names_stay_inside_the_repository() {
        assert!(RepoFile::new("sub/.osbs-repo-config", 1).is_ok());
        for bad in ["", "/etc/hostname", "../x", "a/../b", "a//b", "./a", "a\nb"] {
            assert!(RepoFile::new(bad, 1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ls_tree_output_is_parsed_for_the_exact_path() {
        let out = b"100644 blob 3b18e512dba79e4c8300dd08aeb37f8e728b8dad      12\tDockerfile\0\
                    120000 blob 5c7a4fd5c1c2b0f6ad1ad0d0a0b2c8a0b9a6b7d1      24\t.osbs-repo-config\0\
                    040000 tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904       -\tdir\0";
        let dockerfile = parse_ls_tree(out, "Dockerfile").unwrap().unwrap();
        assert_eq!(dockerfile.kind(), EntryKind::Regular);
        assert_eq!(dockerfile.size, Some(12));
        let config = parse_ls_tree(out, ".osbs-repo-config").unwrap().unwrap();
        assert_eq!(config.kind(), EntryKind::Symlink);
        let dir = parse_ls_tree(out, "dir").unwrap().unwrap();
        assert_eq!((dir.kind(), dir.size), (EntryKind::Directory, None));
        assert_eq!(parse_ls_tree(out, "missing").unwrap(), None);
        assert_eq!(parse_ls_tree(b"", "Dockerfile").unwrap(), None);
        assert!(parse_ls_tree(b"garbage\tDockerfile\0", "Dockerfile").is_err());
        assert_eq!(
            ls_tree_args("abc", "Dockerfile"),
            [
                "ls-tree",
                "-l",
                "-z",
                "--full-tree",
                "abc",
                "--",
                "Dockerfile"
            ]
        );
    }
}
