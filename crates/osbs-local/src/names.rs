//! Names in a state directory, read without changing it: what shell completion offers
//! (`COMPLETE=bash osbs`). Opens the database read-only, never creates or upgrades it, and
//! answers nothing rather than failing.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::store::DB_FILE;

/// Which names [`names`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Builds, newest first.
    Build,
    /// BuildConfigs, by name.
    BuildConfig,
    /// ImageStreams, by name.
    ImageStream,
}

/// At most this many names are read.
const MAX_NAMES: u32 = 5_000;

/// The names of `kind` in the state directory `state_dir` that start with `prefix` (at most
/// 5,000); empty when there is no state there or it cannot be read.
pub fn names(state_dir: &Path, kind: NameKind, prefix: &str) -> Vec<String> {
    let path = state_dir.join(DB_FILE);
    if !path.is_file() {
        return Vec::new();
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(&path, flags) else {
        return Vec::new();
    };
    // A writer holding the database briefly: wait a little, never long (a shell waits).
    let _ = conn.busy_timeout(std::time::Duration::from_millis(200));
    let sql = match kind {
        NameKind::Build => {
            "SELECT name FROM builds WHERE substr(name, 1, length(?1)) = ?1 \
             ORDER BY created DESC, number DESC LIMIT ?2"
        }
        NameKind::BuildConfig => {
            "SELECT name FROM build_configs WHERE substr(name, 1, length(?1)) = ?1 \
             ORDER BY name LIMIT ?2"
        }
        NameKind::ImageStream => {
            "SELECT name FROM image_streams WHERE substr(name, 1, length(?1)) = ?1 \
             ORDER BY name LIMIT ?2"
        }
    };
    let Ok(mut statement) = conn.prepare(sql) else {
        return Vec::new();
    };
    statement
        .query_map(rusqlite::params![prefix, MAX_NAMES], |row| row.get(0))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_state_means_no_names_and_no_directory() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = dir.path().join("state");
        assert!(names(&state, NameKind::Build, "").is_empty());
        assert!(!state.exists(), "completion creates nothing");
    }
}
