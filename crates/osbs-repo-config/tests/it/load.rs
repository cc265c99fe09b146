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
fn symlinks_in_a_repository_are_refused_whatever_they_point_to() {
    let repo = tempfile::tempdir().expect("temporary directory");
    let outside = repo_with("secret", b"[autorebuild]\nenabled = host-secret\n");
    let link = repo.path().join(DEFAULT_FILE_NAME);
    for target in [
        outside.path().join("secret"),
        repo.path().join("nowhere"),
        Path::new("/dev/zero").to_owned(),
    ] {
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = RepoConfig::load(repo.path()).unwrap_err();
        assert!(matches!(&err, LoadError::Symlink { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(".osbs-repo-config is a symbolic link"),
            "{text}"
        );
        assert!(!text.contains("host-secret"), "{text}");
        std::fs::remove_file(&link).expect("symlink removed");
    }
}

#[cfg(unix)]
#[test]
fn load_file_follows_a_link_the_caller_chose() {
    let repo = tempfile::tempdir().expect("temporary directory");
    let link = repo.path().join("config");
    std::os::unix::fs::symlink(repo.path().join("nowhere"), &link).expect("symlink");
    assert!(
        RepoConfig::load_file(&link)
            .expect("no file")
            .autorebuild_enabled()
    );

    std::fs::remove_file(&link).expect("symlink removed");
    std::os::unix::fs::symlink(Path::new("/dev/zero"), &link).expect("symlink");
    let err = RepoConfig::load_file(&link).unwrap_err();
    assert!(matches!(err, LoadError::NotAFile { .. }), "{err:?}");
}

#[test]
fn from_bytes_is_the_content_rule() {
    let config = RepoConfig::from_bytes(b"[autorebuild]\nenabled = 0\n", "x").expect("valid");
    assert!(!config.autorebuild_enabled());
    let size = usize::try_from(MAX_FILE_SIZE).expect("fits") + 1;
    let err = RepoConfig::from_bytes(&vec![b'#'; size], ".osbs-repo-config").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(".osbs-repo-config is {size} bytes, more than the limit of {MAX_FILE_SIZE} bytes")
    );
    let err = RepoConfig::from_bytes(b"\x00\xff\xfe garbage", ".osbs-repo-config").unwrap_err();
    assert_eq!(err.to_string(), ".osbs-repo-config:1: invalid UTF-8");
}

#[test]
fn long_values_are_cut_in_messages() {
    let value = "v".repeat(60_000);
    let text = format!("[autorebuild]\nenabled = {value}\n");
    let err = RepoConfig::from_bytes(text.as_bytes(), ".osbs-repo-config").unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            ".osbs-repo-config:2: invalid value \"{}\"… 59800 bytes more for autorebuild.enabled: \
             expected one of 0, false, 1, true",
            "v".repeat(200)
        )
    );
    let garbage = "g".repeat(10_000);
    let err = RepoConfig::parse(&garbage).unwrap_err().to_string();
    assert!(err.len() < 300, "{err}");
    let warning = RepoConfig::parse(&format!("[{garbage}]\n"))
        .expect("valid")
        .warnings()[0]
        .to_string();
    assert!(warning.len() < 300, "{warning}");
}
