//! What OSBS accepts as a git URL, branch or commit, checked before any git command sees it:
//! nothing can be read as an option, no remote helper (`ext::`, `fd::`) and only ordinary
//! transports (https, http, ssh, git, file, and scp-like `host:path`). Also the handling of a
//! password in a URL (SPEC §6): [`split_url`] takes it out, [`redact_url`] is what is stored
//! and shown (`https://user:***@host/path`), and [`credential_env`] is how git gets it — from
//! the environment through a credential helper, never from a command line.
//!
//! The client (at submission) and the reactor (before cloning) both call these, so they agree
//! on what is a valid build source.

use thiserror::Error;

use crate::auth::Secret;

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

/// What stands in for a password taken out of a URL: `https://user:***@host/path`. A URL
/// whose password is exactly this means "the password stored for this BuildConfig".
pub const REDACTED_PASSWORD: &str = "***";

/// The environment variable that carries a git password to the credential helper of
/// [`credential_env`].
pub const PASSWORD_ENV: &str = "OSBS_GIT_PASSWORD";

/// The credential helper [`credential_env`] installs: a shell snippet that answers git's `get`
/// with the password from [`PASSWORD_ENV`] (the variable's name is in the snippet, its value is
/// not), and ignores `store` and `erase`.
const CREDENTIAL_HELPER: &str =
    r#"!f() { if test "$1" = get; then printf 'password=%s\n' "$OSBS_GIT_PASSWORD"; fi; }; f"#;

/// The password part of a git URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlPassword {
    /// No password (no user information, or only a user name).
    None,
    /// The password is [`REDACTED_PASSWORD`]: the one stored for the BuildConfig applies.
    Redacted,
    /// A password, percent-decoded.
    Given(Secret),
}

/// A git URL taken apart: what may be stored and shown, what git may see, and the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    /// The URL with the password replaced by [`REDACTED_PASSWORD`] (the URL itself when it has
    /// none): what is stored in BuildConfigs, Builds and build requests, and shown.
    pub shown: String,
    /// The URL without the password (`https://user@host/path`): what goes on git's command
    /// line.
    pub for_git: String,
    /// The password.
    pub password: UrlPassword,
}

/// The parts of `scheme://[userinfo@]host/path`: scheme, user, password (raw), host and the
/// rest from the first `/` on. `None` for URLs without `://` or without user information.
/// The authority ends at the first `/`, as git reads it.
fn userinfo(url: &str) -> Option<(&str, &str, Option<&str>, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (info, host) = authority.rsplit_once('@')?;
    let (user, password) = match info.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (info, None),
    };
    Some((scheme, user, password, host, path))
}

/// `%XX` sequences decoded (invalid ones kept as they are), as git decodes user information.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes a git URL apart: the password (if any) out of the stored and shown form and out of
/// what git's command line gets.
///
/// ```
/// use osbs_core::git::{UrlPassword, split_url};
///
/// let split = split_url("https://me:s%40cret@git.example.com/ns/repo.git");
/// assert_eq!(split.shown, "https://me:***@git.example.com/ns/repo.git");
/// assert_eq!(split.for_git, "https://me@git.example.com/ns/repo.git");
/// assert!(matches!(split.password, UrlPassword::Given(p) if p.expose() == "s@cret"));
/// ```
pub fn split_url(url: &str) -> SplitUrl {
    let unchanged = || SplitUrl {
        shown: url.to_owned(),
        for_git: url.to_owned(),
        password: UrlPassword::None,
    };
    let Some((scheme, user, Some(password), host, path)) = userinfo(url) else {
        return unchanged();
    };
    if password.is_empty() {
        return unchanged();
    }
    let password = if password == REDACTED_PASSWORD {
        UrlPassword::Redacted
    } else {
        UrlPassword::Given(Secret::new(percent_decode(password)))
    };
    SplitUrl {
        shown: format!("{scheme}://{user}:{REDACTED_PASSWORD}@{host}{path}"),
        for_git: format!("{scheme}://{user}@{host}{path}"),
        password,
    }
}

/// `url` with its password replaced by `***` (`https://user:***@host/path`): what is stored
/// and shown. A URL without a password is returned as it is.
pub fn redact_url(url: &str) -> String {
    split_url(url).shown
}

/// The environment that gives git `password` for the URL's user: the password in
/// [`PASSWORD_ENV`] and, through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_*`/`GIT_CONFIG_VALUE_*`
/// (git 2.31 and later), a credential helper that prints it, after an empty
/// `credential.helper` that drops the user's own helpers (so the password is never stored in
/// one). Nothing of it appears in any process's arguments.
pub fn credential_env(password: &Secret) -> [(&'static str, String); 6] {
    [
        ("GIT_CONFIG_COUNT", "2".to_owned()),
        ("GIT_CONFIG_KEY_0", "credential.helper".to_owned()),
        ("GIT_CONFIG_VALUE_0", String::new()),
        ("GIT_CONFIG_KEY_1", "credential.helper".to_owned()),
        ("GIT_CONFIG_VALUE_1", CREDENTIAL_HELPER.to_owned()),
        (PASSWORD_ENV, password.expose().to_owned()),
    ]
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
        if let Some((_, user, Some(password), _, _)) = userinfo(url)
            && !password.is_empty()
        {
            if !matches!(scheme.as_str(), "http" | "https") {
                return Err(refuse(
                    "a password in the url is only used with http and https; use an ssh key",
                ));
            }
            if user.is_empty() {
                return Err(refuse("it has a password but no user name"));
            }
            if percent_decode(password).contains(['\n', '\r', '\0']) {
                return Err(refuse("its password contains a line break or NUL"));
            }
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
        assert_eq!(redact_url("https://u:p@h/x"), "https://u:***@h/x");
        assert_eq!(redact_url("https://h/x"), "https://h/x");
    }

    #[test]
    fn passwords_are_split_off() {
        for (url, shown, for_git, password) in [
            ("https://h/x", "https://h/x", "https://h/x", None),
            ("https://u@h/x", "https://u@h/x", "https://u@h/x", None),
            ("https://u:@h/x", "https://u:@h/x", "https://u:@h/x", None),
            (
                "https://u:pw@h:8443/x.git",
                "https://u:***@h:8443/x.git",
                "https://u@h:8443/x.git",
                Some("pw"),
            ),
            (
                "http://u:p%40ss%2Fw@h",
                "http://u:***@h",
                "http://u@h",
                Some("p@ss/w"),
            ),
            (
                "https://u:a@b@h/x",
                "https://u:***@h/x",
                "https://u@h/x",
                Some("a@b"),
            ),
            (
                "https://h/path@v1",
                "https://h/path@v1",
                "https://h/path@v1",
                None,
            ),
            ("git@h:ns/x.git", "git@h:ns/x.git", "git@h:ns/x.git", None),
        ] {
            let split = split_url(url);
            assert_eq!(split.shown, shown, "{url}");
            assert_eq!(split.for_git, for_git, "{url}");
            let got = match &split.password {
                UrlPassword::Given(secret) => Some(secret.expose()),
                _ => None,
            };
            assert_eq!(got, password, "{url}");
            assert_eq!(redact_url(url), shown, "{url}");
        }
        let stored = split_url("https://u:***@h/x");
        assert_eq!(stored.password, UrlPassword::Redacted);
        assert_eq!(stored.shown, "https://u:***@h/x");
        assert_eq!(stored.for_git, "https://u@h/x");
    }

    #[test]
    fn passwords_only_with_http_and_a_user() {
        assert_eq!(validate_url("https://u:p@h/x"), Ok(()));
        assert_eq!(validate_url("http://u:***@h/x"), Ok(()));
        for (bad, why) in [
            ("ssh://u:p@h/x", "only used with http and https"),
            ("https://:p@h/x", "no user name"),
            ("https://u:a%0Ab@h/x", "line break"),
        ] {
            let err = validate_url(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains(":p@") && !err.contains("a%0Ab"), "{err}");
        }
    }

    #[test]
    fn the_credential_environment_names_the_password_only_by_variable() {
        let env = credential_env(&Secret::new("hunter2"));
        let (secret_vars, config): (Vec<_>, Vec<_>) =
            env.iter().partition(|(key, _)| *key == PASSWORD_ENV);
        assert_eq!(secret_vars, [&(PASSWORD_ENV, "hunter2".to_owned())]);
        assert!(config.iter().all(|(_, value)| !value.contains("hunter2")));
        assert!(
            config
                .iter()
                .any(|(_, value)| value.contains(&format!("\"${PASSWORD_ENV}\"")))
        );
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
