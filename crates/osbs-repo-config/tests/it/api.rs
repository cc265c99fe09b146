//! The public API of osbs-repo-config: defaults, accessors and how errors and warnings render.

use osbs_repo_config::{
    DEFAULT_FILE_NAME, LoadError, ParseError, ParseErrorKind, RepoConfig, Warning, WarningKind,
};

#[test]
fn default_enables_autorebuild_without_warnings() {
    let config = RepoConfig::default();
    assert!(config.autorebuild_enabled());
    assert!(config.warnings().is_empty());
    assert_eq!(RepoConfig::parse("").expect("empty is valid"), config);
}

#[test]
fn from_str_is_parse() {
    let config: RepoConfig = "[autorebuild]\nenabled = 0\n".parse().expect("valid");
    assert!(!config.autorebuild_enabled());
}

#[test]
fn parse_error_names_file_line_and_value() {
    let err = RepoConfig::parse("# settings\n[autorebuild]\nenabled = yes\n").unwrap_err();
    assert_eq!(err.file(), DEFAULT_FILE_NAME);
    assert_eq!(err.line(), 3);
    assert_eq!(
        err.kind(),
        &ParseErrorKind::InvalidValue {
            section: "autorebuild".into(),
            key: "enabled".into(),
            value: "yes".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        r#".osbs-repo-config:3: invalid value "yes" for autorebuild.enabled: expected one of 0, false, 1, true"#
    );
}

#[test]
fn parse_named_uses_the_given_name() {
    let err = RepoConfig::parse_named("[autorebuild]\nenabled\n", "repo/.custom").unwrap_err();
    assert_eq!(err.file(), "repo/.custom");
    assert!(err.to_string().starts_with("repo/.custom:2: "), "{err}");

    let config = RepoConfig::parse_named("[x]\n", "repo/.custom").expect("valid");
    assert_eq!(
        config.warnings()[0].to_string(),
        "repo/.custom:1: unknown section [x]"
    );
}

#[test]
fn duplicates_name_both_lines() {
    let err = RepoConfig::parse("[autorebuild]\nenabled = 1\n\nENABLED = 1\n").unwrap_err();
    assert_eq!(err.line(), 4);
    assert_eq!(
        err.kind(),
        &ParseErrorKind::DuplicateKey {
            section: "autorebuild".into(),
            key: "enabled".into(),
            first_line: 2,
        }
    );
}

#[test]
fn warnings_carry_file_line_and_name() {
    let config = RepoConfig::parse("[autorebuild]\nenabled = 1\nflavour = x\n[Autorebuild]\n")
        .expect("valid");
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 2);
    assert_eq!(
        (warnings[0].file(), warnings[0].line(), warnings[0].name()),
        (DEFAULT_FILE_NAME, 3, "flavour")
    );
    assert_eq!(
        warnings[0].kind(),
        &WarningKind::UnknownKey {
            section: "autorebuild".into(),
            key: "flavour".into()
        }
    );
    assert_eq!((warnings[1].line(), warnings[1].name()), (4, "Autorebuild"));
    assert_eq!(
        warnings[1].to_string(),
        ".osbs-repo-config:4: unknown section [Autorebuild] (did you mean [autorebuild]? \
         section names are case-sensitive and keep inner spaces)"
    );
}

#[test]
fn messages_escape_control_and_bidi_characters() {
    let config = RepoConfig::parse("[a\u{1b}[2Jb\u{202e}c]\n").expect("valid");
    assert_eq!(
        config.warnings()[0].to_string(),
        r".osbs-repo-config:1: unknown section [a\u{1b}[2Jb\u{202e}c]"
    );
    let err = RepoConfig::parse("[x\u{7}]\na = 1\nA = 2\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#".osbs-repo-config:3: duplicate key "a" in section [x\u{7}], first set at line 2"#
    );
}

#[test]
fn errors_are_thread_safe_and_static() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<ParseError>();
    assert_error::<LoadError>();
    fn assert_value<T: Send + Sync + Clone + 'static>() {}
    assert_value::<RepoConfig>();
    assert_value::<Warning>();
}
