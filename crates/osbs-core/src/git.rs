//! What OSBS accepts as a git URL, branch or commit, checked before any git command sees it:
//! nothing can be read as an option, no remote helper (`ext::`, `fd::`) and only ordinary
//! transports (https, http, ssh, git, file, and scp-like `host:path`). Also [`redact_url`],
//! so credentials in a URL never reach a message.
//!
//! The client (at submission) and the reactor (before cloning) both call these, so they agree
//! on what is a valid build source.

use thiserror::Error;

/// The transports a git URL may use.
pub const ALLOWED_SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file"];

/// Options every git invocation gets before its subcommand: no `ext::` or `fd::` transports,
/// whatever the user's git config says.
pub const SAFE_ARGS: [&str; 4] = [
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "protocol.fd.allow=never",
];

/// Environment every git invocation gets: no prompts (a build never waits for a password),
/// and only the [`ALLOWED_SCHEMES`] as transports.
pub fn safe_env() -> [(&'static str, String); 3] {
    [
        ("GIT_TERMINAL_PROMPT", "0".to_owned()),
        ("GIT_PROTOCOL_FROM_USER", "0".to_owned()),
        ("GIT_ALLOW_PROTOCOL", ALLOWED_SCHEMES.join(":")),
    ]
}

/// A git URL, branch or commit that is refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GitInputError {
    /// The URL is refused.
    #[error("git url `{url}` is not allowed: {reason}")]
    Url {
        /// The URL, credentials removed.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// A branch or commit is refused.
    #[error("git {what} `{value}` is not allowed: {reason}")]
    Ref {
        /// `branch` or `commit`.
        what: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

/// `url` with any `user:password@` removed (`https://***@host/path`), for messages and labels.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if let Some((_, host)) = authority.rsplit_once('@') {
            let slash = if rest.contains('/') { "/" } else { "" };
            return format!("{scheme}://***@{host}{slash}{path}");
        }
    }
    url.to_owned()
}

/// Checks that `url` is an https, http, ssh, git or file URL, or an scp-like `host:path`, and
/// can never be read as an option or a remote helper.
///
/// # Errors
///
/// [`GitInputError::Url`] saying why.
pub fn validate_url(url: &str) -> Result<(), GitInputError> {
    let refuse = |reason| GitInputError::Url {
        url: redact_url(url),
        reason,
    };
    if url.is_empty() {
        return Err(refuse("it is empty"));
    }
    if url.starts_with('-') {
        return Err(refuse("it begins with `-`"));
    }
    if url.contains("::") {
        return Err(refuse(
            "remote helpers (`transport::address`) are not allowed",
        ));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refuse("it contains whitespace or control characters"));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if !ALLOWED_SCHEMES.contains(&scheme.as_str()) {
            return Err(refuse(
                "only https, http, ssh, git and file transports are allowed",
            ));
        }
        if rest.is_empty() {
            return Err(refuse("it has no host or path"));
        }
        return Ok(());
    }
    // scp-like syntax: [user@]host:path, with no slash before the colon.
    match url.split_once(':') {
        Some((host, path)) if !host.is_empty() && !host.contains('/') && !path.is_empty() => Ok(()),
        _ => Err(refuse(
            "only https, http, ssh, git and file transports are allowed",
        )),
    }
}

/// Checks that a branch (or other ref) is a plausible git ref name that cannot be read as an
/// option. `what` names it in the error (`branch`, `ref`).
///
/// # Errors
///
/// [`GitInputError::Ref`] saying why.
pub fn validate_ref(what: &'static str, value: &str) -> Result<(), GitInputError> {
    let refuse = |reason| GitInputError::Ref {
        what,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(refuse("it is empty"));
    }
    if value.starts_with('-') {
        return Err(refuse("it begins with `-`"));
    }
    let bad_char = |c: char| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c);
    if value.chars().any(bad_char)
        || value.contains("..")
        || value.contains("@{")
        || value.ends_with('/')
        || value.ends_with(".lock")
        || value.starts_with('/')
    {
        return Err(refuse("it is not a valid git ref name"));
    }
    Ok(())
}

/// Checks that a commit is a (possibly abbreviated) hexadecimal object name.
///
/// # Errors
///
/// [`GitInputError::Ref`] saying why.
pub fn validate_commit(commit: &str) -> Result<(), GitInputError> {
    if (4..=64).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitInputError::Ref {
            what: "commit",
            value: commit.to_owned(),
            reason: "it must be 4 to 64 hexadecimal digits",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_urls_pass() {
        for ok in [
            "https://github.com/ns/repo.git",
            "http://git.example.com/repo",
            "ssh://git@example.com:2222/ns/repo",
            "git://example.com/repo",
            "file:///tmp/repo",
            "git@example.com:ns/repo.git",
        ] {
            assert_eq!(validate_url(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn options_helpers_and_other_transports_are_refused() {
        for (bad, why) in [
            ("", "empty"),
            ("-uploadpack=touch /tmp/x", "begins with `-`"),
            ("--upload-pack=x", "begins with `-`"),
            ("ext::sh -c touch% /tmp/pwned", "remote helpers"),
            ("fd::17", "remote helpers"),
            ("ftp://example.com/repo", "transports"),
            ("https://example.com/a b", "whitespace"),
            ("https://", "no host"),
            ("/just/a/path", "transports"),
        ] {
            let err = validate_url(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn credentials_never_reach_messages() {
        let err = validate_url("ftp://user:hunter2@example.com/x").expect_err("ftp");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(redact_url("https://u:p@h/x"), "https://***@h/x");
        assert_eq!(redact_url("https://h/x"), "https://h/x");
    }

    #[test]
    fn refs_and_commits() {
        assert_eq!(validate_ref("branch", "feature/x-1"), Ok(()));
        for bad in [
            "", "-b", "a..b", "a b", "x.lock", "a@{1}", "/a", "a/", "a:b",
        ] {
            assert!(validate_ref("branch", bad).is_err(), "{bad}");
        }
        assert_eq!(validate_commit("754e5a34"), Ok(()));
        for bad in ["abc", "xyz12345", "-1234567"] {
            assert!(validate_commit(bad).is_err(), "{bad}");
        }
    }
}
