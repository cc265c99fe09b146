//! One insta snapshot per file under `fixtures/repo-config/`: `valid/` files must load, `invalid/` files must not.

use std::fmt::Write as _;
use std::path::Path;

use osbs_repo_config::{DEFAULT_FILE_NAME, LoadError, RepoConfig};

#[test]
fn repo_config() {
    insta::glob!("../../../../fixtures/repo-config", "*/*.ini", |path| {
        let input = std::fs::read(path).expect("fixture is readable");
        // Load through the real entry point, under the real file name.
        let repo = tempfile::tempdir().expect("temporary directory");
        std::fs::write(repo.path().join(DEFAULT_FILE_NAME), &input).expect("fixture is copied");
        let outcome = RepoConfig::load(repo.path());
        check_group(path, &input, &outcome);
        insta::assert_snapshot!(render(&input, &outcome));
    });
}

/// Fails unless the outcome matches the fixture's folder, so that a snapshot with the wrong
/// outcome cannot be accepted by accident.
fn check_group(path: &Path, input: &[u8], outcome: &Result<RepoConfig, LoadError>) {
    let group = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str());
    match (group, outcome) {
        (Some("valid"), Ok(_)) => {}
        (Some("invalid"), Err(LoadError::Parse(err))) => {
            let lines = split_lines(input).len();
            assert!(
                (1..=lines).contains(&err.line()),
                "{}: line {} is outside 1..={lines}",
                path.display(),
                err.line()
            );
            assert_eq!(err.file(), DEFAULT_FILE_NAME);
        }
        _ => panic!("{}: unexpected outcome {outcome:?}", path.display()),
    }
}

/// The input, one numbered line each (terminators shown), then the outcome.
fn render(input: &[u8], outcome: &Result<RepoConfig, LoadError>) -> String {
    let mut out = String::from("input:\n");
    let lines = split_lines(input);
    if lines.is_empty() {
        out.push_str("  (empty)\n");
    }
    for (number, line) in lines.iter().enumerate() {
        let shown = String::from_utf8_lossy(line);
        writeln!(out, "{:>4} | {shown:?}", number + 1).expect("writing to a String");
    }
    out.push_str("outcome:\n");
    match outcome {
        Ok(config) => {
            writeln!(
                out,
                "  autorebuild enabled: {}",
                config.autorebuild_enabled()
            )
            .expect("writing to a String");
            for warning in config.warnings() {
                writeln!(out, "  warning: {warning}").expect("writing to a String");
            }
        }
        Err(err) => writeln!(out, "  error: {err}").expect("writing to a String"),
    }
    out
}

/// Splits after `\r\n`, `\r` or `\n`, as Python's universal newlines do.
fn split_lines(input: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < input.len() {
        let end = match input[i] {
            b'\n' => Some(i + 1),
            b'\r' if input.get(i + 1) == Some(&b'\n') => Some(i + 2),
            b'\r' => Some(i + 1),
            _ => None,
        };
        match end {
            Some(end) => {
                lines.push(&input[start..end]);
                start = end;
                i = end;
            }
            None => i += 1,
        }
    }
    if start < input.len() {
        lines.push(&input[start..]);
    }
    lines
}
