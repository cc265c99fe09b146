//! Test support: fixture git repositories, build requests, a host that records and cancels,
//! throw-away registries, and registry/Docker inspection through curl and docker.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use osbs_core::build::{BuildOutcome, BuildRequest, ImageImport};
use osbs_reactor::{BuildHost, HostError, StandaloneHost, run_build};
use tokio_util::sync::CancellationToken;

/// The base image string the fixtures are written with.
const FIXTURE_BASE: &str = "127.0.0.1:5000/osbs/busybox:latest";

pub use osbs_testkit::fixture::fixtures_dir as fixtures;

/// A name unique to this test process and call, for repositories and tags.
pub fn unique(prefix: &str) -> String {
    osbs_testkit::fixture::unique(&format!("{prefix}-"))
}

use osbs_testkit::fixture::run;

/// A git repository made from `fixtures/repos/NAME` (base image pointed at this machine's).
pub struct FixtureRepo {
    /// Keeps the repository alive.
    pub _dir: tempfile::TempDir,
    /// `file://` URL of the repository.
    pub url: String,
    /// The commit of `main`.
    pub commit: String,
}

/// Copies `fixtures/repos/NAME` into a temp dir and commits it on branch `main`.
pub fn fixture_repo(name: &str) -> FixtureRepo {
    fixture_repo_from(name, &osbs_testkit::base_image())
}

/// [`fixture_repo`] with the fixture's base image replaced by `base`.
pub fn fixture_repo_from(name: &str, base: &str) -> FixtureRepo {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join(name);
    let commit = osbs_testkit::fixture::git_repo_from_fixture(
        &fixtures().join("repos").join(name),
        &repo,
        &[(FIXTURE_BASE, base)],
    );
    let url = format!("file://{}", repo.display());
    FixtureRepo {
        _dir: dir,
        url,
        commit,
    }
}

/// A user-build request for `url` pushing to `registry` as repository `image`.
pub fn request(url: &str, registry: &str, image: &str) -> BuildRequest {
    serde_json::from_value(serde_json::json!({
        "build_name": format!("{}-1", image.replace('/', "-")),
        "build_config": image.replace('/', "-"),
        "git_url": url,
        "git_branch": "main",
        "registry_uri": registry,
        "image_name": image,
    }))
    .unwrap()
}

/// A callback for each log line.
type LineHook = Box<dyn Fn(&str) + Send + Sync>;

/// A [`BuildHost`] that records every log line and can cancel itself when a line matches.
pub struct TestHost {
    /// The recording host underneath.
    pub inner: StandaloneHost,
    /// Every log line.
    pub lines: Mutex<Vec<String>>,
    cancel_on: Option<String>,
    /// When the cancel was requested.
    pub cancelled_at: Mutex<Option<Instant>>,
    on_line: Option<LineHook>,
}

impl TestHost {
    /// A host for `request`.
    pub fn new(request: BuildRequest) -> Self {
        TestHost {
            inner: StandaloneHost::new(request).with_log_sink(|_| {}),
            lines: Mutex::new(Vec::new()),
            cancel_on: None,
            cancelled_at: Mutex::new(None),
            on_line: None,
        }
    }

    /// Requests a cancel at the first log line containing `needle`.
    pub fn cancel_on(mut self, needle: &str) -> Self {
        self.cancel_on = Some(needle.to_owned());
        self
    }

    /// Calls `f` for each log line.
    pub fn on_line(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_line = Some(Box::new(f));
        self
    }

    /// The whole log.
    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl BuildHost for TestHost {
    async fn build_request(&self) -> Result<BuildRequest, HostError> {
        self.inner.build_request().await
    }
    async fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.inner.set_build_config_label(key, value).await
    }
    async fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        self.inner.import_image(import).await
    }
    async fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        self.inner.store_results(outcome).await
    }
    async fn cancel_requested(&self) -> bool {
        self.inner.cancel_requested().await
    }
    fn log(&self, line: &str) {
        self.lines.lock().unwrap().push(line.to_owned());
        if let Some(f) = &self.on_line {
            f(line);
        }
        if let Some(needle) = &self.cancel_on
            && line.contains(needle.as_str())
        {
            let mut cancelled_at = self.cancelled_at.lock().unwrap();
            if cancelled_at.is_none() {
                *cancelled_at = Some(Instant::now());
                self.inner.request_cancel();
            }
        }
    }
}

/// Runs a build on a fresh runtime.
pub fn build(host: &impl BuildHost) -> BuildOutcome {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_build(host, CancellationToken::new()))
}

/// The phase and error of an outcome, for assertion messages.
pub fn summary(outcome: &BuildOutcome) -> String {
    format!(
        "{} error={:?} reason={:?}",
        outcome.phase, outcome.error, outcome.reason
    )
}

fn curl(args: &[&str]) -> String {
    run(Command::new("curl").args(["-sS", "--fail"]).args(args))
}

/// The tags of `repository` in `registry`.
pub fn registry_tags(registry: &str, repository: &str) -> Vec<String> {
    let body = curl(&[&format!("http://{registry}/v2/{repository}/tags/list")]);
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut tags: Vec<String> = value["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    tags
}

const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

/// The digest the registry serves for `repository:tag` (its `Docker-Content-Digest`).
pub fn served_digest(registry: &str, repository: &str, tag: &str) -> String {
    let headers = curl(&[
        "-I",
        "-H",
        &format!("Accept: {MANIFEST_TYPES}"),
        &format!("http://{registry}/v2/{repository}/manifests/{tag}"),
    ]);
    headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_owned())
        })
        .expect("a Docker-Content-Digest header")
}

/// Asserts that `registry` serves each of `digests` under its tag of `repository`;
/// `context` starts each failure message.
pub fn assert_digests_served(
    registry: &str,
    repository: &str,
    digests: &[osbs_core::build::PushedDigest],
    context: &str,
) {
    for pushed in digests {
        assert_eq!(
            pushed.digest,
            served_digest(registry, repository, &pushed.tag),
            "{context}tag {}",
            pushed.tag
        );
    }
}

/// The labels in the image config of `repository:tag`.
pub fn image_labels(registry: &str, repository: &str, tag: &str) -> serde_json::Value {
    let manifest = curl(&[
        "-H",
        &format!("Accept: {MANIFEST_TYPES}"),
        &format!("http://{registry}/v2/{repository}/manifests/{tag}"),
    ]);
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config = curl(&[
        "-L",
        &format!("http://{registry}/v2/{repository}/blobs/{config_digest}"),
    ]);
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    config["config"]["Labels"].clone()
}

/// Whether the Docker Engine knows the image `id`.
pub fn image_exists(id: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The commands of all containers (running or not).
pub fn container_commands() -> String {
    run(Command::new("docker").args(["ps", "--all", "--no-trunc", "--format", "{{.Command}}"]))
}

/// A registry of our own on a free loopback port (optionally with htpasswd auth), killed on drop.
pub struct TempRegistry {
    child: Arc<Mutex<Child>>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl TempRegistry {
    /// Starts `docker-registry serve` with filesystem storage; `user` adds htpasswd auth.
    pub fn start(user: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((name, password)) = user {
            let hash = bcrypt::hash(password, 4).unwrap();
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{name}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: osbs-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let started = Instant::now();
        while osbs_testkit::http_get_status(&addr, "/v2/", "*/*").is_none() {
            assert!(
                started.elapsed().as_secs() < 20,
                "registry at {addr} did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        TempRegistry {
            child: Arc::new(Mutex::new(child)),
            addr,
            _dir: dir,
        }
    }

    /// A handle that kills the registry from another thread.
    pub fn killer(&self) -> Arc<dyn Fn() + Send + Sync> {
        let child = Arc::clone(&self.child);
        Arc::new(move || {
            let _ = child.lock().unwrap().kill();
        })
    }
}

impl Drop for TempRegistry {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Writes a `config.json`-form dockercfg for `registry` and returns its path.
pub fn dockercfg(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    use std::fmt::Write as _;
    // base64 by hand: the test support stays free of extra dependencies.
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    let mut json = String::new();
    write!(
        json,
        r#"{{"auths": {{"{registry}": {{"auth": "{out}"}}}}}}"#
    )
    .unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, json).unwrap();
    path
}
