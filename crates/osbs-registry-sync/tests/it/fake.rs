//! A token-checking fake registry on wiremock, for the rules that real registries only show
//! by accident: it checks scopes the way Pulp does (a mount needs `push` on the destination
//! and `pull` on the source in one token; a refused token gets a challenge naming every scope
//! with `error="insufficient_scope"`), its token server grants only what a policy allows and
//! records what it was asked, and it can answer the next manifest `PUT`s with a 400 as Pulp
//! does while it is still taking in an earlier one. Blobs, manifests and upload sessions live
//! in memory.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use osbs_registry_sync::sha256_digest;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The user the token server knows, subject to the `no_pull` policy.
pub const USER: &str = "robot";
/// Its password.
pub const PASSWORD: &str = "hunter2";
/// A user the policy does not restrict.
pub const ADMIN: &str = "admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-pass";

/// What the fake answers to manifest `PUT`s before it accepts them.
#[derive(Clone, Debug)]
pub struct PutFailure {
    /// The distribution error code (`MANIFEST_INVALID`).
    pub code: &'static str,
    /// How many `PUT`s get it.
    pub times: usize,
}

#[derive(Default)]
struct State {
    realm: String,
    /// Repositories [`USER`] may not pull from (nor mount from).
    no_pull: HashSet<String>,
    /// Every token request's scopes, in order.
    token_requests: Vec<Vec<String>>,
    /// (method, path with query) of every registry request, in order.
    requests: Vec<(String, String)>,
    /// Arrival times of manifest `PUT`s.
    manifest_puts: Vec<Instant>,
    put_failure: Option<PutFailure>,
    /// Blobs by digest, and which repositories hold each.
    blobs: HashMap<String, Bytes>,
    blob_repos: HashMap<String, HashSet<String>>,
    /// (repository, tag or digest) → (media type, bytes).
    manifests: HashMap<(String, String), (String, Bytes)>,
    uploads: HashMap<String, String>,
    next_upload: u64,
}

/// A running fake registry; `addr` is its `127.0.0.1:PORT`.
pub struct FakeRegistry {
    /// Keeps the server running.
    _server: MockServer,
    pub addr: String,
    state: Arc<Mutex<State>>,
}

impl FakeRegistry {
    /// Starts one; [`USER`] may pull from every repository except those in `no_pull`.
    pub async fn start(no_pull: &[&str]) -> FakeRegistry {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            realm: format!("{}/token", server.uri()),
            no_pull: no_pull.iter().map(|s| (*s).to_owned()).collect(),
            ..State::default()
        }));
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder {
                state: Arc::clone(&state),
            })
            .mount(&server)
            .await;
        let addr = server.address().to_string();
        FakeRegistry {
            _server: server,
            addr,
            state,
        }
    }

    /// Answers the next `times` manifest `PUT`s with a 400 `code`.
    pub fn fail_manifest_puts(&self, code: &'static str, times: usize) {
        self.state.lock().unwrap().put_failure = Some(PutFailure { code, times });
    }

    /// Stores `blobs` and `manifest` under `repository:tag` directly.
    pub fn seed(&self, repository: &str, tag: &str, image: &crate::support::TestImage) {
        let mut state = self.state.lock().unwrap();
        for blob in &image.blobs {
            let digest = sha256_digest(blob);
            state.blobs.insert(digest.clone(), blob.clone());
            state
                .blob_repos
                .entry(digest)
                .or_default()
                .insert(repository.to_owned());
        }
        let value = (
            image.manifest.media_type.clone(),
            image.manifest.bytes.clone(),
        );
        state.manifests.insert(
            (repository.to_owned(), image.manifest.digest.clone()),
            value.clone(),
        );
        state
            .manifests
            .insert((repository.to_owned(), tag.to_owned()), value);
    }

    /// The scopes of every token request so far.
    pub fn token_requests(&self) -> Vec<Vec<String>> {
        self.state.lock().unwrap().token_requests.clone()
    }

    /// `METHOD path?query` of every registry request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(m, p)| format!("{m} {p}"))
            .collect()
    }

    /// When each manifest `PUT` arrived.
    pub fn manifest_put_times(&self) -> Vec<Instant> {
        self.state.lock().unwrap().manifest_puts.clone()
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
}

fn json_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(
        serde_json::json!({"errors": [{"code": code, "message": message, "detail": {}}]}),
    )
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        let path = request.url.path().to_owned();
        if path == "/token" {
            return state.token(request);
        }
        let query = request
            .url
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        state
            .requests
            .push((request.method.to_string(), format!("{path}{query}")));
        let Some(rest) = path.strip_prefix("/v2/") else {
            return ResponseTemplate::new(404);
        };
        if let Some(name) = rest.strip_suffix("/tags/list") {
            let needed = [format!("repository:{name}:pull")];
            if let Some(refusal) = state.check(request, &needed) {
                return refusal;
            }
            let mut tags: Vec<&str> = state
                .manifests
                .keys()
                .filter(|(repo, reference)| repo == name && !reference.starts_with("sha256:"))
                .map(|(_, tag)| tag.as_str())
                .collect();
            tags.sort_unstable();
            return ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"name": name, "tags": tags}));
        }
        // /v2/NAME/(manifests|blobs)/REF or /v2/NAME/blobs/uploads/[ID]
        let (name, kind, reference) = if let Some((name, id)) = rest.split_once("/blobs/uploads/") {
            (name.to_owned(), "uploads", id.to_owned())
        } else if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
            (name.to_owned(), "manifests", reference.to_owned())
        } else if let Some((name, reference)) = rest.rsplit_once("/blobs/") {
            (name.to_owned(), "blobs", reference.to_owned())
        } else {
            return ResponseTemplate::new(404);
        };
        let method = request.method.as_str();
        let pairs: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let mut needed = vec![format!(
            "repository:{name}:{}",
            if method == "GET" || method == "HEAD" {
                "pull"
            } else {
                "push"
            }
        )];
        let mount = match (pairs.get("mount"), pairs.get("from")) {
            (Some(digest), Some(from)) if kind == "uploads" && method == "POST" => {
                needed.push(format!("repository:{from}:pull"));
                Some((digest.clone(), from.clone()))
            }
            _ => None,
        };
        if let Some(refusal) = state.check(request, &needed) {
            return refusal;
        }
        match (method, kind) {
            ("HEAD" | "GET", "manifests") => match state.manifests.get(&(name, reference)) {
                Some((media_type, bytes)) => {
                    let response = ResponseTemplate::new(200)
                        .insert_header("content-type", media_type.as_str())
                        .insert_header("docker-content-digest", sha256_digest(bytes).as_str());
                    if method == "GET" {
                        response.set_body_bytes(bytes.to_vec())
                    } else {
                        response
                    }
                }
                None => json_error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
            },
            ("HEAD" | "GET", "blobs") => {
                let held = state
                    .blob_repos
                    .get(&reference)
                    .is_some_and(|repos| repos.contains(&name));
                match (held, state.blobs.get(&reference)) {
                    (true, Some(bytes)) if method == "GET" => {
                        ResponseTemplate::new(200).set_body_bytes(bytes.to_vec())
                    }
                    (true, Some(_)) => ResponseTemplate::new(200),
                    _ => json_error(404, "BLOB_UNKNOWN", "blob unknown"),
                }
            }
            ("POST", "uploads") => {
                if let Some((digest, from)) = mount {
                    let held = state
                        .blob_repos
                        .get(&digest)
                        .is_some_and(|repos| repos.contains(&from));
                    if held {
                        state.blob_repos.entry(digest).or_default().insert(name);
                        return ResponseTemplate::new(201);
                    }
                }
                state.next_upload += 1;
                let id = format!("u{}", state.next_upload);
                state.uploads.insert(id.clone(), name.clone());
                ResponseTemplate::new(202).insert_header(
                    "location",
                    format!("/v2/{name}/blobs/uploads/{id}").as_str(),
                )
            }
            ("PUT", "uploads") => {
                let Some(digest) = pairs.get("digest") else {
                    return json_error(400, "DIGEST_INVALID", "no digest");
                };
                if state.uploads.remove(&reference).is_none() {
                    return json_error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
                }
                if sha256_digest(&request.body) != *digest {
                    return json_error(400, "DIGEST_INVALID", "digest mismatch");
                }
                state
                    .blobs
                    .insert(digest.clone(), Bytes::from(request.body.clone()));
                state
                    .blob_repos
                    .entry(digest.clone())
                    .or_default()
                    .insert(name);
                ResponseTemplate::new(201).insert_header("docker-content-digest", digest.as_str())
            }
            ("PUT", "manifests") => {
                state.manifest_puts.push(Instant::now());
                if let Some(failure) = &mut state.put_failure
                    && failure.times > 0
                {
                    failure.times -= 1;
                    let code = failure.code;
                    return json_error(400, code, "still busy with another manifest");
                }
                let bytes = Bytes::from(request.body.clone());
                let digest = sha256_digest(&bytes);
                let media_type = request
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let value = (media_type, bytes);
                state
                    .manifests
                    .insert((name.clone(), digest.clone()), value.clone());
                state.manifests.insert((name, reference), value);
                ResponseTemplate::new(201)
                    .insert_header("docker-content-digest", digest.as_str())
                    // Slow enough that two overlapping PUTs would be seen.
                    .set_delay(Duration::from_millis(150))
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

impl State {
    /// The token server: Basic `robot:hunter2` (or anonymous), grants what the policy allows.
    fn token(&mut self, request: &Request) -> ResponseTemplate {
        let basic = |user: &str, password: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        };
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let (anonymous, restricted) = match authorization {
            None => (true, true),
            Some(value) if value == basic(USER, PASSWORD) => (false, true),
            Some(value) if value == basic(ADMIN, ADMIN_PASSWORD) => (false, false),
            Some(_) => return ResponseTemplate::new(401).set_body_string("bad credentials"),
        };
        let scopes: Vec<String> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .collect();
        self.token_requests.push(scopes.clone());
        let mut granted = BTreeSet::new();
        for scope in &scopes {
            let Some((rest, actions)) = scope.rsplit_once(':') else {
                continue;
            };
            let Some(name) = rest.strip_prefix("repository:") else {
                continue;
            };
            for action in actions.split(',') {
                let allowed =
                    !anonymous && (action != "pull" || !restricted || !self.no_pull.contains(name));
                if allowed {
                    granted.insert(format!("repository:{name}:{action}"));
                }
            }
        }
        let token = granted.into_iter().collect::<Vec<_>>().join(";");
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"token": format!("t:{token}"), "expires_in": 300}))
    }

    /// `None` when the request's token grants every scope in `needed`, else the 401.
    fn check(&self, request: &Request, needed: &[String]) -> Option<ResponseTemplate> {
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer t:"));
        let granted: HashSet<&str> = token.map(|t| t.split(';').collect()).unwrap_or_default();
        if token.is_some() && needed.iter().all(|s| granted.contains(s.as_str())) {
            return None;
        }
        let mut challenge = format!(r#"Bearer realm="{}",service="fake""#, self.realm);
        for scope in needed {
            challenge.push_str(&format!(r#",scope="{scope}""#));
        }
        if token.is_some() {
            challenge.push_str(r#",error="insufficient_scope""#);
        }
        Some(
            json_error(401, "UNAUTHORIZED", "authentication required")
                .insert_header("www-authenticate", challenge.as_str()),
        )
    }
}
