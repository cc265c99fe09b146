//! Fuzz target: `RepoConfig::parse` never panics, and its results keep their promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osbs_repo_config::{ParseError, RepoConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let outcome = RepoConfig::parse_named(text, "fuzz.ini");
    check(text, &outcome);

    // Line endings and a trailing newline or comment do not change the outcome.
    if !text.contains('\r') {
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(
            RepoConfig::parse_named(&crlf, "fuzz.ini"),
            outcome,
            "CRLF changed {text:?}"
        );
    }
    if !text.ends_with('\r') {
        let newline = format!("{text}\n");
        assert_eq!(
            RepoConfig::parse_named(&newline, "fuzz.ini"),
            outcome,
            "newline changed {text:?}"
        );
        let comment = format!("{text}\n# trailing comment\n");
        assert_eq!(
            RepoConfig::parse_named(&comment, "fuzz.ini"),
            outcome,
            "comment changed {text:?}"
        );
    }
    // A byte order mark is ignored.
    if !text.starts_with('\u{feff}') {
        let bom = format!("\u{feff}{text}");
        assert_eq!(
            RepoConfig::parse_named(&bom, "fuzz.ini"),
            outcome,
            "BOM changed {text:?}"
        );
    }
});

/// Checks what holds for every outcome, given the text it came from.
fn check(text: &str, outcome: &Result<RepoConfig, ParseError>) {
    // Python counts `\r\n`, `\r` and `\n` each as one line break.
    let lines = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .lines()
        .count();
    match outcome {
        Ok(config) => {
            let mut previous = 0;
            for warning in config.warnings() {
                assert!(
                    (1..=lines).contains(&warning.line()),
                    "warning line out of range"
                );
                assert!(warning.line() >= previous, "warnings out of order");
                previous = warning.line();
                assert_eq!(warning.file(), "fuzz.ini");
                let shown = warning.to_string();
                assert!(shown.starts_with(&format!("fuzz.ini:{}: ", warning.line())));
                assert!(!shown.chars().any(char::is_control), "{shown:?}");
            }
            // Without the section, nothing can disable autorebuilds.
            if !text.contains("[autorebuild]") {
                assert!(config.autorebuild_enabled());
            }
        }
        Err(err) => {
            assert!(
                (1..=lines).contains(&err.line()),
                "error line {} of {lines}",
                err.line()
            );
            assert_eq!(err.file(), "fuzz.ini");
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("fuzz.ini:{}: ", err.line())),
                "{shown}"
            );
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
    }
}
