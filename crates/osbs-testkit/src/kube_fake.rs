//! A wiremock stand-in for the Kubernetes API server (feature `kube`): the paths, objects and
//! `Status` errors that the tests of `osbs-kube`, `osbs-kube-pod` and `osbs-controller` mount on
//! a `MockServer`, and [`Cluster`], a stateful fake that keeps objects with optimistic
//! concurrency (409 on a stale `resourceVersion`) for tests that drive a whole engine pass.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kube::{Client, Config};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The namespace every test uses.
pub const NS: &str = "osbs";

/// The collection path of an OSBS resource (`builds`, `buildconfigs`, `imagestreams`) in [`NS`].
pub fn path(resource: &str) -> String {
    format!("/apis/osbs.dev/v1alpha1/namespaces/{NS}/{resource}")
}

/// The configuration of a client for the mock server, with [`NS`] as default namespace (and
/// the `ring` crypto provider installed, which kube's rustls needs).
pub fn config(server: &MockServer) -> Config {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = Config::new(server.uri().parse().expect("mock uri"));
    config.default_namespace = NS.to_owned();
    config
}

/// A client for the mock server.
pub fn client(server: &MockServer) -> Client {
    Client::try_from(config(server)).expect("client")
}

/// A `Status` failure body.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    })
}

/// A Build object as the API server returns it.
pub fn build(name: &str, config: &str, phase: &str, rv: &str) -> Value {
    json!({
        "apiVersion": "osbs.dev/v1alpha1",
        "kind": "Build",
        "metadata": {
            "name": name, "namespace": NS, "resourceVersion": rv, "uid": format!("uid-{name}"),
            "labels": {"osbs.dev/build-config": config}
        },
        "spec": {
            "buildConfig": config, "number": 1, "isAutorebuild": false,
            "cause": {"type": "User"},
            "gitUrl": "https://git.example.com/ns/app.git", "gitBranch": "main",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "created": "2024-05-01T12:00:00.000Z"
        },
        "status": {"phase": phase}
    })
}

/// A BuildConfig object: a push registry with a Secret, an image name, a trigger on
/// `osbs-busybox:latest` and a sync target `stage` with its own Secret.
pub fn build_config(name: &str, last_version: i64, rv: &str) -> Value {
    json!({
        "apiVersion": "osbs.dev/v1alpha1",
        "kind": "BuildConfig",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": rv, "uid": format!("uid-{name}")},
        "spec": {
            "gitUrl": "https://git.example.com/ns/app.git", "gitBranch": "main",
            "lastUserCommit": "0123456789abcdef0123456789abcdef01234567",
            "labels": {"is_autorebuild": "false"},
            "trigger": {"stream": "osbs-busybox", "tag": "latest"},
            "imageName": "osbs/app",
            "registryUri": "registry.osbs.svc:5000",
            "registrySecret": "push-secret",
            "sync": {"name": "stage", "registryUri": "http://stage.osbs.svc:5000", "registrySecret": "stage-secret"}
        },
        "status": {"lastVersion": last_version}
    })
}

/// The collection path of a core (`v1`) resource (`pods`, `secrets`) in [`NS`].
pub fn core_path(resource: &str) -> String {
    format!("/api/v1/namespaces/{NS}/{resource}")
}

/// A kubeconfig with two contexts on `server` (user `me`, a token that is no secret):
/// `with-ns` (namespace `team-a`, the current one) and `without-ns`.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
current-context: with-ns
clusters:
- name: fake
  cluster:
    server: {server}
users:
- name: me
  user:
    token: not-a-secret-test-token
contexts:
- name: with-ns
  context: {{cluster: fake, user: me, namespace: team-a}}
- name: without-ns
  context: {{cluster: fake, user: me}}
"
    )
}

/// One request the [`Cluster`] answered: method, path and JSON body (`null` without one).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The body, parsed as JSON.
    pub body: Value,
}

/// A failure the [`Cluster`] answers once instead of serving a request.
#[derive(Debug, Clone)]
struct Injected {
    method: String,
    path: String,
    code: u16,
}

#[derive(Debug, Default)]
struct State {
    /// Objects by collection path and name.
    objects: BTreeMap<(String, String), Value>,
    /// The last resourceVersion handed out.
    version: u64,
    requests: Vec<Recorded>,
    failures: Vec<Injected>,
}

/// A stateful stand-in for the API server, mounted on a `MockServer` with
/// [`Cluster::start`]: it keeps the objects it is given and the ones clients create, and
/// serves get, list (with a `labelSelector` of `key=value` terms), create, replace (of the
/// object or its `status`), JSON merge patch and delete of any namespaced resource the way the
/// real one does where OSBS depends on it:
///
/// - every write bumps a cluster-wide `resourceVersion`; a replace, a patch that names a
///   `metadata.resourceVersion`, or a delete whose preconditions name one, is refused with
///   409 when the object moved on; creating an existing name is a 409 `AlreadyExists`;
/// - a replace of the object keeps its `status`, a replace of `/status` changes nothing else;
/// - deleting a Pod with a grace period sets its `deletionTimestamp` and keeps it (it is
///   terminating), with `gracePeriodSeconds: 0` it is gone at once;
/// - Events (`events.k8s.io`) are accepted and kept like any object.
///
/// Tests seed objects with [`Cluster::insert`], change them behind the clients' backs with
/// [`Cluster::update`], make one call fail with [`Cluster::fail_next`], and read what happened
/// with [`Cluster::get`], [`Cluster::list`] and [`Cluster::requests`].
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    state: Arc<Mutex<State>>,
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (key, value) = term.split_once('=').unwrap_or((term, ""));
        object["metadata"]["labels"][key].as_str() == Some(value)
    })
}

impl Cluster {
    /// A new, empty cluster mounted on a new `MockServer` (every path is its own).
    pub async fn start() -> (MockServer, Cluster) {
        let server = MockServer::start().await;
        let cluster = Cluster::default();
        Mock::given(wiremock::matchers::any())
            .respond_with(cluster.clone())
            .mount(&server)
            .await;
        (server, cluster)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `object` in the collection `collection` (e.g. `path("builds")`) as if it had
    /// been created: a fresh `resourceVersion`, and a `uid`, `namespace` and
    /// `creationTimestamp` where it has none.
    pub fn insert(&self, collection: &str, mut object: Value) {
        let mut state = self.lock();
        state.version += 1;
        let version = state.version.to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let metadata = &mut object["metadata"];
        metadata["resourceVersion"] = json!(version);
        if metadata["uid"].is_null() {
            metadata["uid"] = json!(format!("uid-{name}"));
        }
        if metadata["namespace"].is_null() {
            metadata["namespace"] = json!(NS);
        }
        if metadata["creationTimestamp"].is_null() {
            metadata["creationTimestamp"] = json!(now_rfc3339());
        }
        state.objects.insert((collection.to_owned(), name), object);
    }

    /// The object `name` of `collection`, if it exists.
    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(collection.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every object of `collection`, by name.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((c, _), _)| c == collection)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Changes the object `name` of `collection` with `change` as another writer would (its
    /// `resourceVersion` moves on). Panics if it does not exist.
    pub fn update(&self, collection: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut state = self.lock();
        state.version += 1;
        let version = state.version.to_string();
        let object = state
            .objects
            .get_mut(&(collection.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("no {name} in {collection}"));
        change(object);
        object["metadata"]["resourceVersion"] = json!(version);
    }

    /// Removes the object `name` of `collection`, as the API server does once a Pod's grace
    /// period is over; returns it.
    pub fn remove(&self, collection: &str, name: &str) -> Option<Value> {
        let mut state = self.lock();
        state.version += 1;
        state
            .objects
            .remove(&(collection.to_owned(), name.to_owned()))
    }

    /// Answers the next `method` request to exactly `path` with a `Status` failure of `code`
    /// (409 `Conflict`, 403 `Forbidden`, …) instead of serving it.
    pub fn fail_next(&self, method: &str, path: &str, code: u16) {
        self.lock().failures.push(Injected {
            method: method.to_owned(),
            path: path.to_owned(),
            code,
        });
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The writes (anything but `GET`) answered so far, as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    fn serve(&self, request: &Request) -> ResponseTemplate {
        let method = request.method.as_str().to_owned();
        let path = request.url.path().to_owned();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut state = self.lock();
        state.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            body: body.clone(),
        });
        if let Some(i) = state
            .failures
            .iter()
            .position(|f| f.method == method && f.path == path)
        {
            let failure = state.failures.remove(i);
            let reason = match failure.code {
                409 => "Conflict",
                403 => "Forbidden",
                404 => "NotFound",
                _ => "InternalError",
            };
            return ResponseTemplate::new(failure.code).set_body_json(status(
                failure.code,
                reason,
                "injected failure",
            ));
        }
        // …/namespaces/NS/RESOURCE[/NAME[/SUBRESOURCE]]
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let Some(at) = segments.iter().position(|s| *s == "namespaces") else {
            return ResponseTemplate::new(404).set_body_json(status(
                404,
                "NotFound",
                "no such path",
            ));
        };
        if segments.len() < at + 3 {
            return ResponseTemplate::new(404).set_body_json(status(
                404,
                "NotFound",
                "no such path",
            ));
        }
        let collection = format!("/{}", segments[..=at + 2].join("/"));
        let name = segments.get(at + 3).map(|s| (*s).to_owned());
        let status_subresource = segments.get(at + 4) == Some(&"status");
        let query = |key: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let not_found = |name: &str| {
            ResponseTemplate::new(404).set_body_json(status(
                404,
                "NotFound",
                &format!("{name:?} not found"),
            ))
        };
        let conflict = |message: &str| {
            ResponseTemplate::new(409).set_body_json(status(409, "Conflict", message))
        };
        match (method.as_str(), name) {
            ("GET", None) => {
                let selector = query("labelSelector").unwrap_or_default();
                let items: Vec<Value> = state
                    .objects
                    .iter()
                    .filter(|((c, _), o)| *c == collection && labels_match(o, &selector))
                    .map(|(_, o)| o.clone())
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "apiVersion": "v1", "kind": "List",
                    "metadata": {"resourceVersion": state.version.to_string()},
                    "items": items
                }))
            }
            ("GET", Some(name)) => match state.objects.get(&(collection, name.clone())) {
                Some(object) => ResponseTemplate::new(200).set_body_json(object),
                None => not_found(&name),
            },
            ("POST", _) => {
                let mut object = body;
                let name = object["metadata"]["name"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        format!(
                            "{}{}",
                            object["metadata"]["generateName"]
                                .as_str()
                                .unwrap_or("object-"),
                            state.version + 1
                        )
                    });
                let key = (collection, name.clone());
                if state.objects.contains_key(&key) {
                    return ResponseTemplate::new(409).set_body_json(status(
                        409,
                        "AlreadyExists",
                        &format!("{name:?} already exists"),
                    ));
                }
                state.version += 1;
                let metadata = &mut object["metadata"];
                metadata["name"] = json!(name);
                metadata["resourceVersion"] = json!(state.version.to_string());
                metadata["uid"] = json!(format!("uid-{name}"));
                metadata["namespace"] = json!(NS);
                metadata["creationTimestamp"] = json!(now_rfc3339());
                state.objects.insert(key, object.clone());
                ResponseTemplate::new(201).set_body_json(object)
            }
            ("PUT", Some(name)) => {
                let key = (collection, name.clone());
                let Some(current) = state.objects.get(&key).cloned() else {
                    return not_found(&name);
                };
                let wanted = &body["metadata"]["resourceVersion"];
                if !wanted.is_null() && *wanted != current["metadata"]["resourceVersion"] {
                    return conflict(
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
                let mut next = if status_subresource {
                    let mut next = current.clone();
                    next["status"] = body["status"].clone();
                    next
                } else {
                    let mut next = body;
                    next["status"] = current["status"].clone();
                    for key in ["uid", "namespace", "creationTimestamp", "deletionTimestamp"] {
                        next["metadata"][key] = current["metadata"][key].clone();
                    }
                    next
                };
                state.version += 1;
                next["metadata"]["resourceVersion"] = json!(state.version.to_string());
                state.objects.insert(key, next.clone());
                ResponseTemplate::new(200).set_body_json(next)
            }
            ("PATCH", Some(name)) => {
                let key = (collection, name.clone());
                let Some(current) = state.objects.get(&key).cloned() else {
                    return not_found(&name);
                };
                let wanted = &body["metadata"]["resourceVersion"];
                if !wanted.is_null() && *wanted != current["metadata"]["resourceVersion"] {
                    return conflict(
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
                let mut next = current;
                merge_patch(&mut next, &body);
                state.version += 1;
                next["metadata"]["resourceVersion"] = json!(state.version.to_string());
                state.objects.insert(key, next.clone());
                ResponseTemplate::new(200).set_body_json(next)
            }
            ("DELETE", Some(name)) => {
                let key = (collection.clone(), name.clone());
                let Some(current) = state.objects.get(&key).cloned() else {
                    return not_found(&name);
                };
                let wanted = &body["preconditions"]["resourceVersion"];
                if !wanted.is_null() && *wanted != current["metadata"]["resourceVersion"] {
                    return conflict("precondition failed: the object has been modified");
                }
                let grace = body["gracePeriodSeconds"].as_i64().unwrap_or(30);
                if collection.ends_with("/pods") && grace > 0 {
                    let mut next = current;
                    if next["metadata"]["deletionTimestamp"].is_null() {
                        next["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                        next["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                        state.version += 1;
                        next["metadata"]["resourceVersion"] = json!(state.version.to_string());
                        state.objects.insert(key, next.clone());
                    }
                    return ResponseTemplate::new(200).set_body_json(next);
                }
                state.objects.remove(&key);
                ResponseTemplate::new(200).set_body_json(current)
            }
            _ => ResponseTemplate::new(405).set_body_json(status(
                405,
                "MethodNotAllowed",
                "not served",
            )),
        }
    }
}

impl Respond for Cluster {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.serve(request)
    }
}
