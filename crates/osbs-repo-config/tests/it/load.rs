//! Loading from disk: a missing file means the default, and every other failure is an error naming the path.

use std::path::Path;

use osbs_repo_config::{DEFAULT_FILE_NAME, LoadError, MAX_FILE_SIZE, RepoConfig};

fn repo_with(name: &str, content: &[u8]) -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("temporary directory");
    std::fs::write(repo.path().join(name), content).expect("config is written");
    repo
}

#[test]
fn no_file_means_enabled() {
    let repo = tempfile::tempdir().expect("temporary directory");
    let config = RepoConfig::load(repo.path()).expect("no file is fine");
    assert_eq!(config, RepoConfig::default());
    assert!(config.autorebuild_enabled());
}

#[test]
fn reads_the_default_file_name() {
    let repo = repo_with(DEFAULT_FILE_NAME, b"[autorebuild]\nenabled = false\n");
    let config = RepoConfig::load(repo.path()).expect("valid");
    assert!(!config.autorebuild_enabled());
}

#[test]
fn load_named_reads_only_the_named_file() {
    let repo = repo_with(DEFAULT_FILE_NAME, b"[autorebuild]\nenabled = false\n");
    let config = RepoConfig::load_named(repo.path(), "osbs.ini").expect("no file is fine");
    assert!(config.autorebuild_enabled());

    std::fs::write(
        repo.path().join("osbs.ini"),
        "[autorebuild]\nenabled = nope\n",
    )
    .expect("config is written");
    let err = RepoConfig::load_named(repo.path(), "osbs.ini").unwrap_err();
    assert!(matches!(&err, LoadError::Parse(e) if e.file() == "osbs.ini" && e.line() == 2));
    assert!(
        err.to_string()
            .starts_with("osbs.ini:2: invalid value \"nope\""),
        "{err}"
    );
}

#[test]
fn load_file_names_the_path_as_given() {
    let repo = repo_with("config", b"[autorebuild]\nenabled = 0\nextra = 1\n");
    let path = repo.path().join("config");
    let config = RepoConfig::load_file(&path).expect("valid");
    assert!(!config.autorebuild_enabled());
    assert_eq!(
        config.warnings()[0].to_string(),
        format!(
            "{}:3: unknown key \"extra\" in section [autorebuild]",
            path.display()
        )
    );
    let missing = RepoConfig::load_file(&repo.path().join("missing")).expect("no file is fine");
    assert!(missing.autorebuild_enabled());
}

#[test]
fn parse_errors_render_transparently() {
    let repo = repo_with(DEFAULT_FILE_NAME, b"enabled = 0\n");
    let err = RepoConfig::load(repo.path()).unwrap_err();
    let LoadError::Parse(parse) = &err else {
        panic!("expected a parse error, got {err:?}");
    };
    assert_eq!(err.to_string(), parse.to_string());
    assert!(std::error::Error::source(&err).is_none());
}

#[test]
fn invalid_utf8_names_the_line() {
    let repo = repo_with(DEFAULT_FILE_NAME, b"[autorebuild]\r\n\r\nenabled = \xff\n");
    let err = RepoConfig::load(repo.path()).unwrap_err();
    assert_eq!(err.to_string(), ".osbs-repo-config:3: invalid UTF-8");
}

#[test]
fn a_directory_is_not_a_config_file() {
    let repo = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(repo.path().join(DEFAULT_FILE_NAME)).expect("directory is created");
    let err = RepoConfig::load(repo.path()).unwrap_err();
    assert!(matches!(&err, LoadError::NotAFile { path } if path.ends_with(DEFAULT_FILE_NAME)));
    assert!(
        err.to_string()
            .ends_with(".osbs-repo-config is not a regular file"),
        "{err}"
    );
}

#[test]
fn an_unreadable_path_is_an_error_with_a_source() {
    // A repository "directory" that is a file: the config path cannot be looked at.
    let repo = repo_with("not-a-dir", b"");
    let bogus = repo.path().join("not-a-dir");
    let err = RepoConfig::load(&bogus).unwrap_err();
    let LoadError::Read { path, source } = &err else {
        panic!("expected a read error, got {err:?}");
    };
    assert_eq!(path, &bogus.join(DEFAULT_FILE_NAME));
    assert_eq!(
        err.to_string(),
        format!("failed to read {}", path.display())
    );
    assert!(!err.to_string().contains(&source.to_string()));
}

#[test]
fn oversized_files_are_refused() {
    let size = usize::try_from(MAX_FILE_SIZE).expect("fits") + 1;
    let repo = repo_with(DEFAULT_FILE_NAME, &vec![b'#'; size]);
    let err = RepoConfig::load(repo.path()).unwrap_err();
    assert!(matches!(err, LoadError::TooLarge { limit, .. } if limit == MAX_FILE_SIZE));

    let just_fits = usize::try_from(MAX_FILE_SIZE).expect("fits");
    std::fs::write(repo.path().join(DEFAULT_FILE_NAME), vec![b'#'; just_fits])
        .expect("config is written");
    assert!(RepoConfig::load(repo.path()).is_ok());
}

#[cfg(unix)]
#[test]
fn dangling_symlink_means_enabled_and_device_is_refused() {
    let repo = tempfile::tempdir().expect("temporary directory");
    let link = repo.path().join(DEFAULT_FILE_NAME);
    std::os::unix::fs::symlink(repo.path().join("nowhere"), &link).expect("symlink");
    assert!(
        RepoConfig::load(repo.path())
            .expect("no file")
            .autorebuild_enabled()
    );

    std::fs::remove_file(&link).expect("symlink removed");
    std::os::unix::fs::symlink(Path::new("/dev/zero"), &link).expect("symlink");
    let err = RepoConfig::load(repo.path()).unwrap_err();
    assert!(matches!(err, LoadError::NotAFile { .. }), "{err:?}");
}
