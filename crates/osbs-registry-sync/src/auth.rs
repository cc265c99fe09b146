//! Registry authentication: the `WWW-Authenticate` challenge, token scopes, the token exchange
//! and the token cache of one [`RegistryClient`](crate::RegistryClient).
//!
//! # Why not oci-client's `auth`
//!
//! oci-client's handshake asks its token server for one repository's scope. A cross-repository
//! mount needs two in one token (`repository:DST:pull,push` and `repository:SRC:pull`; Pulp
//! and the distribution registry check both), so the exchange is done here: the challenge is
//! read from the refused request itself (its `scope` and `error` parameters included), every
//! scope goes into the token request as its own `scope` parameter, as the distribution token
//! spec has it, and tokens are cached per scope set until they expire.
//!
//! Credentials go to the registry's own `host:port` and to the token server its challenge
//! names (the `realm`), never elsewhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use osbs_core::auth::Credential;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::request::{error_message, lock, retryable_status, retryable_transport};
use crate::retry::{RetryPolicy, retry_after};

/// Token lifetime when the token server does not say (the distribution token spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A token is dropped this long before it expires, so a request never leaves with one that
/// expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// Access a request needs in its own repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    Pull,
    Push,
}

/// A set of token scopes (`repository:NAME:pull,push`), one entry per resource with its
/// actions. Ordered, so equal sets compare, hash and print the same: it is the token cache key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct ScopeSet {
    entries: BTreeMap<(String, String), BTreeSet<String>>,
}

impl ScopeSet {
    /// What `access` to `repository` needs: `pull`, or `pull,push` (a push token also reads).
    pub(crate) fn for_access(repository: &str, access: Access) -> Self {
        let mut set = Self::default();
        set.add("repository", repository, "pull");
        if access == Access::Push {
            set.add("repository", repository, "push");
        }
        set
    }

    /// Adds `action` on resource `kind:name`.
    pub(crate) fn add(&mut self, kind: &str, name: &str, action: &str) {
        self.entries
            .entry((kind.to_owned(), name.to_owned()))
            .or_default()
            .insert(action.to_owned());
    }

    /// Adds a scope as written in a challenge or token request (`repository:a/b:pull,push`);
    /// text that is not `type:name:actions` is ignored.
    pub(crate) fn add_text(&mut self, scope: &str) {
        let Some((kind, rest)) = scope.split_once(':') else {
            return;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            return;
        };
        if kind.is_empty() || name.is_empty() {
            return;
        }
        for action in actions.split(',').filter(|a| !a.is_empty()) {
            self.add(kind, name, action);
        }
    }

    /// Adds every scope of `other`.
    pub(crate) fn merge(&mut self, other: &ScopeSet) {
        for ((kind, name), actions) in &other.entries {
            for action in actions {
                self.add(kind, name, action);
            }
        }
    }

    /// Whether every action of `other` is in this set.
    pub(crate) fn covers(&self, other: &ScopeSet) -> bool {
        other.entries.iter().all(|(key, actions)| {
            self.entries
                .get(key)
                .is_some_and(|have| actions.is_subset(have))
        })
    }

    /// One `scope` query value per resource, in order.
    pub(crate) fn query_values(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|((kind, name), actions)| {
                let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
                format!("{kind}:{name}:{}", actions.join(","))
            })
            .collect()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.query_values().join(" "))
    }
}

/// How a registry wants to be authenticated, learnt from its first 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Basic realm=...`: the credential on every request.
    Basic,
    /// `Bearer realm=...,service=...`: tokens from the token server at `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: Scheme,
    /// The scopes the registry says the request needs (Bearer only).
    pub(crate) scope: ScopeSet,
    /// The `error` parameter (`invalid_token`, `insufficient_scope`).
    pub(crate) error: Option<String>,
}

impl Challenge {
    /// The challenge of a 401 response: Bearer preferred when several are offered.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Challenge> {
        let mut basic = None;
        for value in headers.get_all(header::WWW_AUTHENTICATE) {
            let Ok(text) = value.to_str() else {
                continue;
            };
            match Challenge::parse(text) {
                Some(challenge) if matches!(challenge.scheme, Scheme::Bearer { .. }) => {
                    return Some(challenge);
                }
                Some(challenge) => basic = Some(challenge),
                None => {}
            }
        }
        basic
    }

    /// Parses one header value: `Bearer realm="…",service="…",scope="…",error="…"` or
    /// `Basic realm="…"`. Parameters may repeat (`scope` does, for a mount).
    pub(crate) fn parse(text: &str) -> Option<Challenge> {
        let text = text.trim();
        let (scheme, params) = match text.split_once(char::is_whitespace) {
            Some((scheme, params)) => (scheme, params),
            None => (text, ""),
        };
        let params = parse_params(params);
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let mut scope = ScopeSet::default();
        for (_, value) in params
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("scope"))
        {
            for item in value.split_whitespace() {
                scope.add_text(item);
            }
        }
        let scheme = if scheme.eq_ignore_ascii_case("bearer") {
            Scheme::Bearer {
                realm: get("realm").filter(|r| !r.is_empty())?,
                service: get("service"),
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            Scheme::Basic
        } else {
            return None;
        };
        Some(Challenge {
            scheme,
            scope,
            error: get("error"),
        })
    }

    /// Whether the registry says the token lacks access (rather than being invalid).
    pub(crate) fn insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// `key=value` pairs separated by commas; values quoted (with `\` escapes) or bare.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ',') {
            key.push(c);
        }
        if key.is_empty() && chars.peek().is_none() {
            return params;
        }
        if chars.next_if_eq(&'=').is_none() {
            // A bare token (`token68`) or a malformed parameter: skip it.
            if chars.peek().is_none() {
                return params;
            }
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim_end().to_owned();
        }
        params.push((key.trim().to_owned(), value));
    }
}

/// A cached `Authorization` header and when it stops being usable.
struct Token {
    header: HeaderValue,
    usable_until: Instant,
}

/// The authentication state of one client (one registry, one credential).
pub(crate) struct Auth {
    credential: Option<Credential>,
    /// Set once the registry answered any request: from then on its scheme is known (or it
    /// wants none).
    answered: AtomicBool,
    /// Held by the one request that goes first, so a burst of parallel requests to a registry
    /// not yet asked is one 401 and one token, not one of each per request.
    first_contact: tokio::sync::Mutex<()>,
    /// The registry's scheme, once it answered 401; before that requests carry nothing.
    scheme: std::sync::Mutex<Option<Scheme>>,
    /// Bearer tokens by the scope set they were asked for. The client is for one registry,
    /// so the key is in effect (registry, scope set).
    tokens: std::sync::Mutex<HashMap<ScopeSet, Token>>,
    /// Serialises token requests, so a burst of parallel requests fetches one token, not many.
    exchanges: tokio::sync::Mutex<()>,
}

/// What a request is, for the token request's error messages.
pub(crate) struct Context<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) registry: &'a str,
    pub(crate) repository: &'a str,
    pub(crate) retry: RetryPolicy,
}

impl Auth {
    pub(crate) fn new(credential: Option<Credential>) -> Self {
        Self {
            credential,
            answered: AtomicBool::new(false),
            first_contact: tokio::sync::Mutex::new(()),
            scheme: std::sync::Mutex::new(None),
            tokens: std::sync::Mutex::new(HashMap::new()),
            exchanges: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    /// Until the registry has answered once, lets one request through at a time: the guard
    /// is held while that request is out. `None` once the registry has answered.
    pub(crate) async fn first_contact(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.answered.load(Ordering::Acquire) {
            return None;
        }
        let guard = self.first_contact.lock().await;
        (!self.answered.load(Ordering::Acquire)).then_some(guard)
    }

    /// Notes that the registry answered a request (whatever it said).
    pub(crate) fn answered(&self) {
        self.answered.store(true, Ordering::Release);
    }

    /// Records the scheme of a 401's challenge (or Basic when it sent none and we hold a
    /// Basic credential, as registries behind some proxies do).
    pub(crate) fn learn(&self, challenge: Option<&Challenge>) {
        let scheme = match challenge {
            Some(challenge) => Some(challenge.scheme.clone()),
            None if matches!(self.credential, Some(Credential::Basic { .. })) => {
                Some(Scheme::Basic)
            }
            None => None,
        };
        if let Some(scheme) = scheme {
            *lock(&self.scheme) = Some(scheme);
        }
    }

    /// Whether a request could carry something now that it did not before.
    pub(crate) fn can_authenticate(&self) -> bool {
        match &*lock(&self.scheme) {
            None => false,
            Some(Scheme::Basic) => matches!(self.credential, Some(Credential::Basic { .. })),
            // Without a credential the token server may still grant anonymous access.
            Some(Scheme::Bearer { .. }) => true,
        }
    }

    /// Drops a token the registry refused.
    pub(crate) fn forget(&self, header: &HeaderValue) {
        lock(&self.tokens).retain(|_, token| token.header != *header);
    }

    /// The `Authorization` header for a request needing `scopes`, once the registry has
    /// asked for authentication; `None` before that or when there is nothing to send.
    pub(crate) async fn authorization(
        &self,
        cx: &Context<'_>,
        scopes: &ScopeSet,
    ) -> Result<Option<HeaderValue>> {
        let scheme = lock(&self.scheme).clone();
        let (realm, service) = match scheme {
            None => return Ok(None),
            Some(Scheme::Basic) => return Ok(self.basic()),
            Some(Scheme::Bearer { realm, service }) => (realm, service),
        };
        if let Some(Credential::RegistryToken(token)) = &self.credential {
            return Ok(sensitive(&format!("Bearer {}", token.expose())));
        }
        if let Some(header) = self.cached(scopes) {
            return Ok(Some(header));
        }
        let _exchange = self.exchanges.lock().await;
        // Another request may have fetched a covering token while this one waited.
        if let Some(header) = self.cached(scopes) {
            return Ok(Some(header));
        }
        let token = self
            .exchange(cx, &realm, service.as_deref(), scopes)
            .await?;
        let header = token.header.clone();
        lock(&self.tokens).insert(scopes.clone(), token);
        Ok(Some(header))
    }

    /// An unexpired token for exactly `scopes`, or else one whose scopes cover them.
    fn cached(&self, scopes: &ScopeSet) -> Option<HeaderValue> {
        let mut tokens = lock(&self.tokens);
        let now = Instant::now();
        tokens.retain(|_, token| token.usable_until > now);
        if let Some(token) = tokens.get(scopes) {
            return Some(token.header.clone());
        }
        tokens
            .iter()
            .find(|(have, _)| have.covers(scopes))
            .map(|(_, token)| token.header.clone())
    }

    fn basic(&self) -> Option<HeaderValue> {
        let Some(Credential::Basic { username, password }) = &self.credential else {
            return None;
        };
        let pair = format!("{username}:{}", password.expose());
        sensitive(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    /// Asks the token server at `realm` for a token carrying `scopes` (one `scope` parameter
    /// each), with the Basic credential if there is one; retries connection errors and 5xx.
    async fn exchange(
        &self,
        cx: &Context<'_>,
        realm: &str,
        service: Option<&str>,
        scopes: &ScopeSet,
    ) -> Result<Token> {
        let auth_error = |problem: String| Error::Auth {
            registry: cx.registry.to_owned(),
            repository: cx.repository.to_owned(),
            realm: realm.to_owned(),
            problem,
        };
        let mut url = reqwest::Url::parse(realm)
            .map_err(|_| auth_error("the challenge's realm is not a URL".to_owned()))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes.query_values() {
                query.append_pair("scope", &scope);
            }
        }
        let basic = self.basic();
        let mut retries = 0;
        let started = Instant::now();
        let response = loop {
            let mut request = cx.http.get(url.clone());
            if let Some(value) = &basic {
                request = request.header(header::AUTHORIZATION, value.clone());
            }
            let retry_left = retries < cx.retry.max_retries;
            match request.send().await {
                Ok(response) if retryable_status(response.status()) && retry_left => {
                    let wait = cx.retry.backoff(retries, retry_after(response.headers()));
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Ok(response) => break response,
                Err(err) if retryable_transport(&err) && retry_left => {
                    let wait = cx.retry.backoff(retries, None);
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(source) => {
                    return Err(Error::Transport {
                        registry: cx.registry.to_owned(),
                        repository: cx.repository.to_owned(),
                        operation: format!("GET a token from {realm}"),
                        source,
                    });
                }
            }
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(Error::Unauthorized {
                    registry: cx.registry.to_owned(),
                    repository: cx.repository.to_owned(),
                    sent_credentials: basic.is_some(),
                });
            }
            status => {
                let body = response.bytes().await.unwrap_or_default();
                let message = error_message(&body);
                return Err(auth_error(if message.is_empty() {
                    format!("the token server answered {status}")
                } else {
                    format!("the token server answered {status}: {message}")
                }));
            }
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let body = response.bytes().await.map_err(|source| Error::Transport {
            registry: cx.registry.to_owned(),
            repository: cx.repository.to_owned(),
            operation: format!("GET a token from {realm}"),
            source,
        })?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| auth_error("the token server's answer is not a token".to_owned()))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| auth_error("the token server's answer holds no token".to_owned()))?;
        let header = sensitive(&format!("Bearer {token}"))
            .ok_or_else(|| auth_error("the token is not a valid header value".to_owned()))?;
        let lifetime = parsed
            .expires_in
            .filter(|s| *s > 0)
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Ok(Token {
            header,
            usable_until: started + lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

/// A header value marked sensitive (never printed by reqwest's `Debug`).
fn sensitive(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(items: &[&str]) -> ScopeSet {
        let mut set = ScopeSet::default();
        for item in items {
            set.add_text(item);
        }
        set
    }

    #[test]
    fn pulp_mount_challenge() {
        let challenge = Challenge::parse(
            r#"Bearer realm="http://127.0.0.1:24817/token/",service="127.0.0.1:24817",scope="repository:dst/app:push",scope="repository:src/app:pull",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            challenge.scheme,
            Scheme::Bearer {
                realm: "http://127.0.0.1:24817/token/".to_owned(),
                service: Some("127.0.0.1:24817".to_owned()),
            }
        );
        assert!(challenge.insufficient_scope());
        assert_eq!(
            challenge.scope.query_values(),
            ["repository:dst/app:push", "repository:src/app:pull"]
        );
    }

    #[test]
    fn other_challenges() {
        let basic = Challenge::parse(r#"Basic realm="osbs-test""#).unwrap();
        assert_eq!(basic.scheme, Scheme::Basic);
        assert!(basic.scope.query_values().is_empty() && basic.error.is_none());
        // Docker Hub's style: one scope parameter, bare values, odd spacing and escapes.
        let hub = Challenge::parse(
            r#"bearer realm="https://auth.example/token", service=registry.example, scope="repository:a/b:pull,push", error="x\"y""#,
        )
        .unwrap();
        assert_eq!(
            hub.scheme,
            Scheme::Bearer {
                realm: "https://auth.example/token".to_owned(),
                service: Some("registry.example".to_owned()),
            }
        );
        assert_eq!(hub.scope.query_values(), ["repository:a/b:pull,push"]);
        assert_eq!(hub.error.as_deref(), Some("x\"y"));
        assert!(
            Challenge::parse("Bearer service=\"x\"").is_none(),
            "no realm"
        );
        assert!(Challenge::parse("Negotiate abc==").is_none());
    }

    #[test]
    fn scope_sets() {
        let push = ScopeSet::for_access("dst/app", Access::Push);
        assert_eq!(push.to_string(), "repository:dst/app:pull,push");
        let mut mount = push.clone();
        mount.merge(&ScopeSet::for_access("src/app", Access::Pull));
        assert_eq!(
            mount.query_values(),
            ["repository:dst/app:pull,push", "repository:src/app:pull"]
        );
        assert!(mount.covers(&push));
        assert!(mount.covers(&ScopeSet::for_access("src/app", Access::Pull)));
        assert!(!push.covers(&mount));
        assert!(!ScopeSet::for_access("dst/app", Access::Pull).covers(&push));
        assert_eq!(
            scopes(&["repository:a:push", "repository:a:pull"]),
            scopes(&["repository:a:pull,push"]),
            "equal sets are equal keys, whatever order they were written in"
        );
        assert!(
            scopes(&["nonsense", "repository::pull"])
                .query_values()
                .is_empty()
        );
        // Registry names with a port keep their colon.
        assert_eq!(
            scopes(&["repository:host:5000/a:pull"]).query_values(),
            ["repository:host:5000/a:pull"]
        );
    }
}
