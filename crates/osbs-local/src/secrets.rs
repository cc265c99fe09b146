//! Where the password of a git URL lives (SPEC §6): never in the database, the logs or any
//! process's arguments, but in `state_dir/secrets/BUILDCONFIG.git-password`, a file of mode
//! 0600 in a directory of mode 0700, one per BuildConfig.
//!
//! A submission whose URL has a password writes it here (after git accepted it) and stores
//! the URL as `https://user:***@host/...`; everything that later needs it — the runner's
//! clone through `LocalHost::git_password`, autorebuilds, `start-build` of the stored URL —
//! reads it back by the BuildConfig's name. It outlives builds because autorebuilds need it;
//! a newer submission with another password replaces it.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use osbs_core::auth::Secret;

/// The directory of the secret files under the state directory.
pub(crate) const SECRETS_DIR: &str = "secrets";

/// The password file of `build_config`.
pub(crate) fn password_path(state_dir: &Path, build_config: &str) -> PathBuf {
    state_dir
        .join(SECRETS_DIR)
        .join(format!("{build_config}.git-password"))
}

/// Stores `password` for `build_config`: written to a fresh file of mode 0600 and renamed
/// into place, so a reader never sees half of it.
pub(crate) fn store_password(
    state_dir: &Path,
    build_config: &str,
    password: &Secret,
) -> std::io::Result<()> {
    let dir = state_dir.join(SECRETS_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let path = password_path(state_dir, build_config);
    let tmp = dir.join(format!(".{build_config}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(password.expose().as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The password stored for `build_config`, if any.
pub(crate) fn read_password(
    state_dir: &Path,
    build_config: &str,
) -> std::io::Result<Option<Secret>> {
    match std::fs::read_to_string(password_path(state_dir, build_config)) {
        Ok(text) => Ok(Some(Secret::new(text))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_private_files_outside_the_database() {
        let state = tempfile::tempdir().unwrap();
        assert_eq!(read_password(state.path(), "app-main-12345").unwrap(), None);
        store_password(state.path(), "app-main-12345", &Secret::new("s3cr3t")).unwrap();
        store_password(state.path(), "app-main-12345", &Secret::new("n3w")).unwrap();
        let path = password_path(state.path(), "app-main-12345");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        let read = read_password(state.path(), "app-main-12345")
            .unwrap()
            .unwrap();
        assert_eq!(read.expose(), "n3w");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            [std::ffi::OsString::from("app-main-12345.git-password")]
        );
    }
}
