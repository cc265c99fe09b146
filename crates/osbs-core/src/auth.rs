//! Registry credentials from a Docker config file: the legacy flat `.dockercfg` and the
//! `config.json` form with `auths` (also the `.dockerconfigjson` of a Kubernetes Secret), the
//! `credHelpers`/`credsStore` it names, the answer of a `docker-credential-*` helper, and the
//! files docker, podman and skopeo look in ([`auth_file_candidates`]).
//!
//! Running a helper is process I/O and happens in osbs-registry-sync; this module only says
//! which helper to ask ([`DockerConfig::lookup`]) and reads its answer
//! ([`parse_helper_output`]).
//!
//! [`DockerConfig::parse`] reads the text it is handed (this module does no I/O) and
//! [`DockerConfig::credential_for`] answers "which credential belongs to this registry?" with an
//! exact match on the normalised registry name, so a credential is only ever offered to the
//! registry it was written for. Secrets are wrapped in [`Secret`], whose `Debug` and `Display`
//! print `<redacted>`, and no error message ever contains secret text.
//!
//! ```
//! use osbs_core::auth::{Credential, DockerConfig};
//!
//! // base64("builder:s3cret")
//! let config = DockerConfig::parse(
//!     r#"{"auths": {"https://registry.example.com/v2/": {"auth": "YnVpbGRlcjpzM2NyZXQ="}}}"#,
//! )?;
//! let Some(Credential::Basic { username, password }) =
//!     config.credential_for("registry.example.com")
//! else {
//!     panic!("expected a user name and password");
//! };
//! assert_eq!(username, "builder");
//! assert_eq!(password.expose(), "s3cret");
//! assert_eq!(password.to_string(), "<redacted>");
//! assert!(config.credential_for("registry.example.com:5000").is_none());
//! # Ok::<(), osbs_core::auth::AuthError>(())
//! ```

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Map, Value};

/// The name every Docker Hub alias normalises to.
pub const DOCKER_HUB: &str = "docker.io";

/// Host names that all mean Docker Hub in a Docker config.
const DOCKER_HUB_ALIASES: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// A secret string (password or token). `Debug` and `Display` print `<redacted>`; the text is
/// only reachable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One registry's credential, as a Docker config entry gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// A user name and password (`auth` = base64 of `user:password`, or `username` and
    /// `password`): sent as HTTP Basic to the registry, or to its token server.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken`) that the registry's token server exchanges
    /// for access tokens.
    IdentityToken {
        /// The user name stored beside it, if any (Docker stores `<token>`).
        username: Option<String>,
        /// The refresh token.
        token: Secret,
    },
    /// A bearer token sent to the registry as it is (`registrytoken`).
    RegistryToken(Secret),
}

/// Why a Docker config could not be read. Messages never contain secret text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The text is not JSON (the parser's own message is left out: it may quote a secret).
    #[error("invalid docker config: not valid JSON at line {line}, column {column}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// A `credsStore` or `credHelpers` entry is not a helper name (`docker-credential-NAME`
    /// must be a program name, not a path).
    #[error(
        "invalid docker config: credential helper {helper:?} is not a helper name (letters, digits, '.', '_' and '-')"
    )]
    InvalidHelper {
        /// The name as written.
        helper: String,
    },
    /// A credential helper's answer is not the protocol's JSON (its text is left out: it holds
    /// the secret).
    #[error(
        "credential helper docker-credential-{helper} answered for registry {registry} with something other than {{\"Username\", \"Secret\"}} JSON"
    )]
    HelperOutput {
        /// The helper's name (after `docker-credential-`).
        helper: String,
        /// The registry asked about.
        registry: String,
    },
    /// The document is JSON but not an object of registries.
    #[error("invalid docker config: {what} must be a JSON object")]
    NotAnObject {
        /// Which part (`the document`, `"auths"`, or an entry).
        what: String,
    },
    /// A credential field has the wrong JSON type.
    #[error("invalid docker config: field {field:?} of registry {registry:?} must be a string")]
    NotAString {
        /// The registry key as written in the file.
        registry: String,
        /// The field name.
        field: &'static str,
    },
    /// `auth` is not base64, or does not decode to UTF-8 `user:password`.
    #[error(
        "invalid docker config: the \"auth\" field of registry {registry:?} is not base64 of \"user:password\""
    )]
    InvalidAuth {
        /// The registry key as written in the file.
        registry: String,
    },
}

/// The credentials of a Docker config file, keyed by normalised registry, and the credential
/// helpers it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    entries: Vec<(String, Credential)>,
    /// `credHelpers`: normalised registry and helper name.
    helpers: Vec<(String, String)>,
    /// `credsStore`: the helper for every registry without a `credHelpers` entry.
    store: Option<String>,
}

/// Where a registry's credential comes from, as [`DockerConfig::lookup`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Written in the file.
    Credential(&'a Credential),
    /// Ask the helper `docker-credential-NAME` (`get`, the registry on stdin).
    Helper(&'a str),
    /// The file has nothing for the registry.
    None,
}

impl DockerConfig {
    /// Parses a legacy `.dockercfg` (`{"registry": {"auth": ..., "email": ...}}`) or a
    /// `config.json` (`{"auths": {"registry": {...}}}`).
    ///
    /// In each entry, `identitytoken` wins over `registrytoken`, which wins over `auth`, which
    /// wins over `username`/`password`, as in Docker. Entries without any of them (such as the
    /// empty ones a `credsStore` leaves) are ignored. Credential helpers (`credsStore`,
    /// `credHelpers`) are recorded by name for [`DockerConfig::lookup`]; running them is I/O
    /// for the caller to do.
    ///
    /// # Errors
    ///
    /// [`AuthError`] when the text is not JSON of that shape or an `auth` field does not decode.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let document: Value = serde_json::from_str(text).map_err(|err| AuthError::Json {
            line: err.line(),
            column: err.column(),
        })?;
        let Value::Object(top) = document else {
            return Err(AuthError::NotAnObject {
                what: "the document".to_owned(),
            });
        };
        let registries: &Map<String, Value> = match top.get("auths") {
            Some(Value::Object(auths)) => auths,
            Some(_) => {
                return Err(AuthError::NotAnObject {
                    what: "\"auths\"".to_owned(),
                });
            }
            // Legacy form: every object-valued key is a registry; other keys (a `credsStore`
            // string, say) are not registries.
            None => &top,
        };
        let mut entries = Vec::new();
        for (key, value) in registries {
            let Value::Object(entry) = value else {
                if top.contains_key("auths") {
                    return Err(AuthError::NotAnObject {
                        what: format!("the entry of registry {key:?}"),
                    });
                }
                continue;
            };
            if let Some(credential) = entry_credential(key, entry)? {
                entries.push((normalize_registry(key), credential));
            }
        }
        let helper_name = |value: &Value, what: &str| -> Result<Option<String>, AuthError> {
            match value {
                Value::Null => Ok(None),
                Value::String(name) if name.is_empty() => Ok(None),
                Value::String(name) if valid_helper_name(name) => Ok(Some(name.clone())),
                Value::String(name) => Err(AuthError::InvalidHelper {
                    helper: name.clone(),
                }),
                _ => Err(AuthError::NotAString {
                    registry: what.to_owned(),
                    field: "credHelpers",
                }),
            }
        };
        let store = match top.get("credsStore") {
            Some(value) => helper_name(value, "credsStore")?,
            None => None,
        };
        let mut helpers = Vec::new();
        match top.get("credHelpers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    if let Some(name) = helper_name(value, key)? {
                        helpers.push((normalize_registry(key), name));
                    }
                }
            }
            Some(_) => {
                return Err(AuthError::NotAnObject {
                    what: "\"credHelpers\"".to_owned(),
                });
            }
        }
        Ok(Self {
            entries,
            helpers,
            store,
        })
    }

    /// Where `registry`'s credential comes from: its `credHelpers` entry first, then a
    /// credential written in `auths`, then the `credsStore` helper. (Docker itself ignores
    /// `auths` once a `credsStore` is set; what it writes there then holds no credential, so
    /// trying `auths` first only matters for files written by hand, which mean it.)
    pub fn lookup(&self, registry: &str) -> Lookup<'_> {
        let wanted = normalize_registry(registry);
        if let Some((_, helper)) = self.helpers.iter().find(|(key, _)| *key == wanted) {
            return Lookup::Helper(helper);
        }
        if let Some((_, credential)) = self.entries.iter().find(|(key, _)| *key == wanted) {
            return Lookup::Credential(credential);
        }
        match &self.store {
            Some(store) => Lookup::Helper(store),
            None => Lookup::None,
        }
    }

    /// Whether the file names any credential helper.
    pub fn has_helpers(&self) -> bool {
        self.store.is_some() || !self.helpers.is_empty()
    }

    /// The credential written for `registry` (`host[:port]`, a URL such as
    /// `https://host/v2/`, or any Docker Hub alias), if there is one.
    ///
    /// Matching is exact after normalisation ([`normalize_registry`]): a credential for
    /// `quay.io` is not offered to `quay.io:8443` or `evil.quay.io`.
    pub fn credential_for(&self, registry: &str) -> Option<&Credential> {
        let wanted = normalize_registry(registry);
        self.entries
            .iter()
            .find(|(key, _)| *key == wanted)
            .map(|(_, credential)| credential)
    }

    /// The normalised registries that have a credential, in file order.
    pub fn registries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(key, _)| key.as_str())
    }

    /// Whether the config holds no credential written in it (helpers aside).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether `name` may follow `docker-credential-` in a program name.
fn valid_helper_name(name: &str) -> bool {
    !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The `ServerURL` a credential helper is asked about for `registry`: Docker Hub's historical
/// `https://index.docker.io/v1/`, the normalised `host[:port]` for every other registry.
pub fn helper_server_url(registry: &str) -> String {
    let name = normalize_registry(registry);
    if name == DOCKER_HUB {
        "https://index.docker.io/v1/".to_owned()
    } else {
        name
    }
}

/// Reads the answer of `docker-credential-HELPER get` for `registry`:
/// `{"ServerURL": ..., "Username": ..., "Secret": ...}`. A `Username` of `<token>` makes the
/// secret an identity token, as in Docker.
///
/// # Errors
///
/// [`AuthError::HelperOutput`] when the text is not that JSON (the text is never quoted).
pub fn parse_helper_output(
    helper: &str,
    registry: &str,
    text: &str,
) -> Result<Credential, AuthError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let bad = || AuthError::HelperOutput {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
    };
    let answer: Answer = serde_json::from_str(text).map_err(|_| bad())?;
    if answer.secret.is_empty() {
        return Err(bad());
    }
    Ok(if answer.username == "<token>" {
        Credential::IdentityToken {
            username: Some(answer.username),
            token: Secret::new(answer.secret),
        }
    } else {
        Credential::Basic {
            username: answer.username,
            password: Secret::new(answer.secret),
        }
    })
}

/// The Docker config files docker, podman and skopeo read, in the order they are tried:
/// `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
/// `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), and the legacy
/// `~/.dockercfg`. `env` reads an environment variable (empty counts as unset); whether the
/// files exist is the caller's question.
///
/// ```
/// use std::path::PathBuf;
/// use osbs_core::auth::auth_file_candidates;
///
/// let env = |name: &str| match name {
///     "HOME" => Some("/home/u".into()),
///     "XDG_RUNTIME_DIR" => Some("/run/user/1000".into()),
///     _ => None,
/// };
/// assert_eq!(
///     auth_file_candidates(env),
///     [
///         PathBuf::from("/run/user/1000/containers/auth.json"),
///         PathBuf::from("/home/u/.docker/config.json"),
///         PathBuf::from("/home/u/.dockercfg"),
///     ]
/// );
/// ```
pub fn auth_file_candidates(env: impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = var("HOME");
    let docker_config = var("DOCKER_CONFIG")
        .map(|dir| dir.join("config.json"))
        .or_else(|| home.as_ref().map(|h| h.join(".docker").join("config.json")));
    [
        var("REGISTRY_AUTH_FILE"),
        var("XDG_RUNTIME_DIR").map(|dir| dir.join("containers").join("auth.json")),
        docker_config,
        home.map(|h| h.join(".dockercfg")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Normalises a registry key the way credentials are matched: the scheme and any path
/// (`/v1/`, `/v2/`) are dropped, the host is lowercased, and every Docker Hub alias
/// (`index.docker.io`, `registry-1.docker.io`, ...) becomes [`DOCKER_HUB`]. The port is kept.
///
/// ```
/// use osbs_core::auth::normalize_registry;
///
/// assert_eq!(normalize_registry("https://index.docker.io/v1/"), "docker.io");
/// assert_eq!(normalize_registry("http://Registry.Local:5000/v2"), "registry.local:5000");
/// ```
pub fn normalize_registry(key: &str) -> String {
    let key = key.trim();
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    // Trimmed again: whitespace before the path (`host /v2/`) is not part of the host, and a
    // normalised name must normalise to itself (found by fuzzing).
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        DOCKER_HUB.to_owned()
    } else {
        host
    }
}

/// The credential of one entry, or `None` when it has no credential fields.
fn entry_credential(
    registry: &str,
    entry: &Map<String, Value>,
) -> Result<Option<Credential>, AuthError> {
    let field = |name: &'static str| -> Result<Option<&str>, AuthError> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AuthError::NotAString {
                registry: registry.to_owned(),
                field: name,
            }),
        }
    };
    let username = field("username")?;
    if let Some(token) = field("identitytoken")? {
        return Ok(Some(Credential::IdentityToken {
            username: username.map(str::to_owned),
            token: Secret::new(token),
        }));
    }
    if let Some(token) = field("registrytoken")? {
        return Ok(Some(Credential::RegistryToken(Secret::new(token))));
    }
    if let Some(auth) = field("auth")? {
        let invalid = || AuthError::InvalidAuth {
            registry: registry.to_owned(),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (user, password) = decoded.split_once(':').ok_or_else(invalid)?;
        return Ok(Some(Credential::Basic {
            username: user.to_owned(),
            password: Secret::new(password),
        }));
    }
    match (username, field("password")?) {
        (Some(user), Some(password)) => Ok(Some(Credential::Basic {
            username: user.to_owned(),
            password: Secret::new(password),
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn basic(config: &DockerConfig, registry: &str) -> Option<(String, String)> {
        match config.credential_for(registry)? {
            Credential::Basic { username, password } => {
                Some((username.clone(), password.expose().to_owned()))
            }
            other => panic!("expected basic, got {other:?}"),
        }
    }

    #[test]
    fn legacy_dockercfg() {
        let text = format!(
            r#"{{"registry.example.com:5000": {{"auth": "{}", "email": "a@b.c"}}}}"#,
            b64("user:pa:ss")
        );
        let config = DockerConfig::parse(&text).unwrap();
        assert_eq!(
            basic(&config, "registry.example.com:5000"),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(basic(&config, "registry.example.com"), None);
    }

    #[test]
    fn config_json_with_auths_and_helpers() {
        let text = format!(
            r#"{{"auths": {{"https://quay.io": {{"auth": "{}"}}, "ghcr.io": {{}}}},
                "credsStore": "desktop", "credHelpers": {{"gcr.io": "gcloud"}}}}"#,
            b64("robot:token")
        );
        let config = DockerConfig::parse(&text).unwrap();
        assert_eq!(
            basic(&config, "quay.io"),
            Some(("robot".into(), "token".into()))
        );
        assert!(config.credential_for("ghcr.io").is_none());
        assert!(config.credential_for("gcr.io").is_none());
        assert_eq!(config.registries().collect::<Vec<_>>(), ["quay.io"]);
    }

    #[test]
    fn username_and_password_fields() {
        let config = DockerConfig::parse(
            r#"{"auths": {"localhost:5000": {"username": "u", "password": "p"}}}"#,
        )
        .unwrap();
        assert_eq!(
            basic(&config, "http://localhost:5000/v2/"),
            Some(("u".into(), "p".into()))
        );
    }

    #[test]
    fn identity_and_registry_tokens() {
        let config = DockerConfig::parse(
            r#"{"auths": {
                "a.example": {"auth": "dTpw", "identitytoken": "refresh", "username": "<token>"},
                "b.example": {"registrytoken": "bearer"}
            }}"#,
        )
        .unwrap();
        assert_eq!(
            config.credential_for("a.example"),
            Some(&Credential::IdentityToken {
                username: Some("<token>".into()),
                token: Secret::new("refresh"),
            })
        );
        assert_eq!(
            config.credential_for("b.example"),
            Some(&Credential::RegistryToken(Secret::new("bearer")))
        );
    }

    #[test]
    fn docker_hub_aliases_are_one_registry() {
        let text = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
            b64("hub:pw")
        );
        let config = DockerConfig::parse(&text).unwrap();
        for alias in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://registry-1.docker.io/v2/",
        ] {
            assert_eq!(
                basic(&config, alias),
                Some(("hub".into(), "pw".into())),
                "{alias}"
            );
        }
        assert!(config.credential_for("docker.io.evil.example").is_none());
    }

    #[test]
    fn matching_is_exact() {
        let text = format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}}}}}"#,
            b64("u:p")
        );
        let config = DockerConfig::parse(&text).unwrap();
        assert!(config.credential_for("QUAY.IO").is_some());
        for other in [
            "quay.io:443",
            "evil.quay.io",
            "quay.io.evil",
            "127.0.0.1:5000",
        ] {
            assert!(config.credential_for(other).is_none(), "{other}");
        }
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_registry("https://host:5000/v1/"), "host:5000");
        assert_eq!(normalize_registry("host:5000/v2"), "host:5000");
        assert_eq!(normalize_registry(" Host "), "host");
        assert_eq!(normalize_registry("[::1]:5000"), "[::1]:5000");
        assert_eq!(normalize_registry("registry.hub.docker.com"), "docker.io");
        // A listed registry finds its own credential: normalising is idempotent.
        assert_eq!(normalize_registry("https:// Host /v2/"), "host");
        let config = DockerConfig::parse(r#"{"a:// Reg /": {"registrytoken": "t"}}"#).unwrap();
        assert_eq!(config.registries().collect::<Vec<_>>(), ["reg"]);
        assert!(config.credential_for("reg").is_some());
    }

    #[test]
    fn errors_never_contain_the_secret() {
        let cases = [
            r#"{"auths": {"r": {"auth": "c2VjcmV0LXdpdGgtbm8tY29sb24="}}}"#.to_owned(),
            r#"{"auths": {"r": {"auth": "!!not base64 secret!!"}}}"#.to_owned(),
            r#"{"auths": {"r": {"password": 12345, "username": "secret"}}}"#.to_owned(),
            r#"{"auths": {"r": {"auth": "secret"#.to_owned(),
            r#"{"auths": ["secret"]}"#.to_owned(),
            r#"["secret"]"#.to_owned(),
            r#"{"auths": {"r": "secret"}}"#.to_owned(),
        ];
        for text in &cases {
            let err = DockerConfig::parse(text).unwrap_err();
            let message = err.to_string();
            assert!(!message.contains("secret"), "{message}");
            assert!(!format!("{err:?}").contains("secret"), "{err:?}");
        }
        let err = DockerConfig::parse(&cases[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid docker config: the "auth" field of registry "r" is not base64 of "user:password""#
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let config =
            DockerConfig::parse(r#"{"auths": {"r": {"username": "u", "password": "hunter2"}}}"#)
                .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn helpers_and_lookup_order() {
        let text = format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "gcr.io": {{"auth": "{}"}}, "ghcr.io": {{}}}},
                "credsStore": "desktop", "credHelpers": {{"https://GCR.io": "gcloud", "x.example": ""}}}}"#,
            b64("robot:token"),
            b64("ignored:because-a-helper-is-named")
        );
        let config = DockerConfig::parse(&text).unwrap();
        assert!(config.has_helpers());
        assert_eq!(config.lookup("gcr.io"), Lookup::Helper("gcloud"));
        assert!(matches!(config.lookup("quay.io"), Lookup::Credential(_)));
        assert_eq!(config.lookup("ghcr.io"), Lookup::Helper("desktop"));
        assert_eq!(config.lookup("x.example"), Lookup::Helper("desktop"));
        let no_store = DockerConfig::parse(r#"{"credHelpers": {"a.example": "pass"}}"#).unwrap();
        assert_eq!(no_store.lookup("a.example:443"), Lookup::None);
        assert_eq!(no_store.lookup("a.example"), Lookup::Helper("pass"));
        assert!(!DockerConfig::parse("{}").unwrap().has_helpers());
    }

    #[test]
    fn helper_names_are_program_names() {
        for bad in ["../../bin/sh", "a b", "-rf", "x/y"] {
            let text = format!(r#"{{"credsStore": "{bad}"}}"#);
            assert_eq!(
                DockerConfig::parse(&text).unwrap_err(),
                AuthError::InvalidHelper {
                    helper: bad.to_owned()
                },
                "{bad}"
            );
        }
        assert!(matches!(
            DockerConfig::parse(r#"{"credHelpers": ["x"]}"#).unwrap_err(),
            AuthError::NotAnObject { .. }
        ));
        assert!(matches!(
            DockerConfig::parse(r#"{"credHelpers": {"r": 1}}"#).unwrap_err(),
            AuthError::NotAString { .. }
        ));
    }

    #[test]
    fn helper_answers() {
        let basic = parse_helper_output(
            "pass",
            "r",
            r#"{"ServerURL":"r","Username":"u","Secret":"s3"}"#,
        )
        .unwrap();
        assert_eq!(
            basic,
            Credential::Basic {
                username: "u".into(),
                password: Secret::new("s3")
            }
        );
        let token =
            parse_helper_output("pass", "r", r#"{"Username":"<token>","Secret":"refresh"}"#)
                .unwrap();
        assert!(matches!(token, Credential::IdentityToken { .. }));
        for bad in ["not json secret", r#"{"Username":"u"}"#, r#"{"Secret":""}"#] {
            let err = parse_helper_output("pass", "r.example", bad).unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
            assert_eq!(
                err.to_string(),
                r#"credential helper docker-credential-pass answered for registry r.example with something other than {"Username", "Secret"} JSON"#
            );
        }
        assert_eq!(
            helper_server_url("registry-1.docker.io"),
            "https://index.docker.io/v1/"
        );
        assert_eq!(helper_server_url("http://Reg:5000/v2/"), "reg:5000");
    }

    #[test]
    fn auth_file_search_order() {
        let env = |name: &str| -> Option<OsString> {
            match name {
                "REGISTRY_AUTH_FILE" => Some("/a/auth.json".into()),
                "XDG_RUNTIME_DIR" => Some("/run/u".into()),
                "DOCKER_CONFIG" => Some("/d".into()),
                "HOME" => Some("/h".into()),
                _ => None,
            }
        };
        assert_eq!(
            auth_file_candidates(env),
            [
                PathBuf::from("/a/auth.json"),
                PathBuf::from("/run/u/containers/auth.json"),
                PathBuf::from("/d/config.json"),
                PathBuf::from("/h/.dockercfg"),
            ]
        );
        let empty = |name: &str| -> Option<OsString> { (name == "HOME").then(OsString::new) };
        assert!(auth_file_candidates(empty).is_empty());
    }

    #[test]
    fn empty_and_odd_documents() {
        assert!(DockerConfig::parse("{}").unwrap().is_empty());
        assert!(
            DockerConfig::parse(r#"{"credsStore": "pass"}"#)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            DockerConfig::parse("{").unwrap_err(),
            AuthError::Json { line: 1, column: 1 }
        );
    }
}
