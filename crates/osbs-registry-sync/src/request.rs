//! The one request loop every registry call goes through ([`RegistryClient::send`]): retries
//! with backoff, authentication on 401, and turning unexpected answers into errors that name
//! registry, repository and operation. Plus the small HTTP helpers around it.

use std::sync::Mutex;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;

use crate::auth::{self, Access, Challenge, ScopeSet};
use crate::client::RegistryClient;
use crate::error::{Error, Result};
use crate::retry::retry_after;

/// One request's identity, for its token scopes and error messages.
pub(crate) struct Op<'a> {
    pub(crate) repository: &'a str,
    pub(crate) access: Access,
    /// The source repository of a cross-repository mount, which the token must let us read.
    pub(crate) mount_from: Option<&'a str>,
    pub(crate) method: &'static str,
    pub(crate) target: String,
}

impl Op<'_> {
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.method, self.target)
    }

    /// Every scope the request needs: its own repository's, and pull on a mount's source.
    pub(crate) fn scopes(&self) -> ScopeSet {
        let mut scopes = ScopeSet::for_access(self.repository, self.access);
        if let Some(from) = self.mount_from {
            scopes.merge(&ScopeSet::for_access(from, Access::Pull));
        }
        scopes
    }

    pub(crate) fn transport(&self, client: &RegistryClient, source: reqwest::Error) -> Error {
        if let Some(problem) = untrusted_certificate(&source) {
            return Error::UntrustedCertificate {
                registry: client.endpoint().name().to_owned(),
                repository: self.repository.to_owned(),
                operation: self.describe(),
                problem,
            };
        }
        Error::Transport {
            registry: client.endpoint().name().to_owned(),
            repository: self.repository.to_owned(),
            operation: self.describe(),
            source,
        }
    }

    pub(crate) fn protocol(&self, client: &RegistryClient, problem: &str) -> Error {
        Error::Protocol {
            registry: client.endpoint().name().to_owned(),
            repository: self.repository.to_owned(),
            operation: self.describe(),
            problem: problem.to_owned(),
        }
    }
}

impl RegistryClient {
    /// Sends a request built by `build` until it succeeds or fails for good: retries on
    /// connection errors, 429 and 5xx, and authenticates on 401.
    ///
    /// On a 401 the challenge is learnt and the request repeated with a token for every scope
    /// it needs plus those the challenge names; a token refused again gets one fresh exchange.
    /// A 401 `insufficient_scope` for a token that already asked for every scope the registry
    /// named is final at once: the account lacks that access ([`Error::InsufficientScope`]),
    /// and a new token would grant the same.
    ///
    /// A request whose body cannot be replayed (a stream; `replayable` false) is sent once: its
    /// caller retries the whole transfer instead.
    pub(crate) async fn send(
        &self,
        op: &Op<'_>,
        url: &Url,
        replayable: bool,
        mut build: impl FnMut(&reqwest::Client) -> Option<RequestBuilder>,
    ) -> Result<Response> {
        let inner = self.inner();
        let retry = inner.retry;
        let max_retries = if replayable { retry.max_retries } else { 0 };
        let mut retries = 0;
        // The first challenge, then one fresh exchange after a refused token.
        let mut auth_rounds = if replayable { 2 } else { 0 };
        let mut scopes = op.scopes();
        let with_auth = self.same_origin(url);
        let cx = auth::Context {
            http: &inner.http,
            registry: inner.endpoint.name(),
            repository: op.repository,
            retry,
        };
        loop {
            let Some(mut request) = build(&inner.http) else {
                return Err(op.protocol(self, "the request could not be repeated"));
            };
            let first_contact = if with_auth {
                inner.auth.first_contact().await
            } else {
                None
            };
            let mut sent: Option<HeaderValue> = None;
            if with_auth && let Some(value) = inner.auth.authorization(&cx, &scopes).await? {
                request = request.header(header::AUTHORIZATION, value.clone());
                sent = Some(value);
            }
            let outcome = request.send().await;
            if with_auth && let Ok(response) = &outcome {
                if response.status() == StatusCode::UNAUTHORIZED {
                    inner
                        .auth
                        .learn(Challenge::from_headers(response.headers()).as_ref());
                }
                inner.auth.answered();
            }
            drop(first_contact);
            let retry_left = retries < max_retries;
            match outcome {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    let challenge = Challenge::from_headers(response.headers());
                    if with_auth && let Some(value) = &sent {
                        inner.auth.forget(value);
                    }
                    let asked = challenge
                        .as_ref()
                        .map(|c| c.scope.clone())
                        .unwrap_or_default();
                    let insufficient = challenge
                        .as_ref()
                        .is_some_and(Challenge::insufficient_scope);
                    let pointless = insufficient && sent.is_some() && scopes.covers(&asked);
                    if with_auth
                        && !pointless
                        && auth_rounds > 0
                        && (sent.is_some() || inner.auth.can_authenticate())
                    {
                        auth_rounds -= 1;
                        scopes.merge(&asked);
                        continue;
                    }
                    scopes.merge(&asked);
                    return Err(self.refused(op, sent.is_some(), insufficient, &scopes));
                }
                Ok(response) if retryable_status(response.status()) && retry_left => {
                    let wait = retry.backoff(retries, retry_after(response.headers()));
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Ok(response) => return Ok(response),
                Err(err) if retryable_transport(&err) && retry_left => {
                    let wait = retry.backoff(retries, None);
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(source) => return Err(op.transport(self, source)),
            }
        }
    }

    /// The error of a final 401: a scope problem when credentials went out and the registry
    /// said `insufficient_scope`, otherwise missing or rejected credentials.
    fn refused(&self, op: &Op<'_>, sent: bool, insufficient: bool, scopes: &ScopeSet) -> Error {
        let inner = self.inner();
        let registry = inner.endpoint.name().to_owned();
        let repository = op.repository.to_owned();
        let sent_credentials = sent && inner.auth.credential().is_some();
        if insufficient && sent_credentials {
            Error::InsufficientScope {
                registry,
                repository,
                operation: op.describe(),
                scope: scopes.to_string(),
            }
        } else {
            Error::Unauthorized {
                registry,
                repository,
                sent_credentials,
            }
        }
    }

    /// Turns an unexpected response into the matching error (reads its body for the message).
    pub(crate) async fn unexpected(&self, op: &Op<'_>, response: Response) -> Error {
        let status = response.status();
        let registry = self.endpoint().name().to_owned();
        let repository = op.repository.to_owned();
        match status {
            StatusCode::FORBIDDEN => Error::Forbidden {
                registry,
                repository,
                operation: op.describe(),
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                registry,
                repository,
                what: op.target.clone(),
            },
            _ => {
                let body = response.bytes().await.unwrap_or_default();
                Error::Status {
                    registry,
                    repository,
                    operation: op.describe(),
                    status: status.as_u16(),
                    message: error_message(&body),
                    codes: error_codes(&body),
                }
            }
        }
    }

    /// Resolves a `Location` header against the registry.
    pub(crate) fn location(&self, op: &Op<'_>, response: &Response) -> Result<Url> {
        let value = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| op.protocol(self, "no Location header"))?;
        let base = self.url("/")?;
        base.join(value)
            .map_err(|_| op.protocol(self, "an invalid Location header"))
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub(crate) fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

pub(crate) fn retryable_transport(err: &reqwest::Error) -> bool {
    (err.is_connect() || err.is_timeout() || err.is_request())
        && untrusted_certificate(err).is_none()
}

/// The TLS stack's complaint when `err` is a certificate the client does not trust (retrying
/// cannot help; the configuration must change).
pub(crate) fn untrusted_certificate(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(mut cause) = source {
        // `io::Error::source` skips the error it wraps: look inside.
        while let Some(inner) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            cause = inner;
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => Some(tls.to_string()),
                _ => None,
            };
        }
        source = cause.source();
    }
    None
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part[start..].find('>')? + start;
            Some(part[start..end].to_owned())
        })
}

/// A distribution error body: `{"errors": [{"code", "message"}]}`.
#[derive(Deserialize)]
struct Envelope {
    errors: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The message of a distribution error body, or the start of a plain-text body.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        return envelope
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{} ({})", e.message, e.code),
                (true, _) => e.message.clone(),
                (false, true) => e.code.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The codes of a distribution error body (`MANIFEST_INVALID`, `BLOB_UNKNOWN`, …).
pub(crate) fn error_codes(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Envelope>(body)
        .map(|envelope| {
            envelope
                .errors
                .into_iter()
                .map(|e| e.code)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static("</v2/a/tags/list?last=b&n=2>; rel=\"next\""),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn error_bodies() {
        let body = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#;
        assert_eq!(
            error_message(body),
            "provided digest did not match uploaded content (DIGEST_INVALID)"
        );
        assert_eq!(error_codes(body), ["DIGEST_INVALID"]);
        assert_eq!(error_message(b"  oops \n"), "oops");
        assert!(error_codes(b"oops").is_empty());
        assert_eq!(error_message(&[b'x'; 300]).chars().count(), 201);
    }

    #[test]
    fn mount_scopes() {
        let op = Op {
            repository: "dst/app",
            access: Access::Push,
            mount_from: Some("src/app"),
            method: "POST",
            target: "blob mount".to_owned(),
        };
        assert_eq!(
            op.scopes().query_values(),
            ["repository:dst/app:pull,push", "repository:src/app:pull"]
        );
    }
}
