//! Support for the local backend's tests: a state directory with its `osbs.conf`, git
//! repositories made from `fixtures/local/`, images pushed with the docker CLI, and waiting
//! for builds.

#![allow(
    clippy::unwrap_used,
    reason = "test support fails loudly on a broken set-up, like the tests themselves"
)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use osbs_client::backend::Backend as _;
use osbs_client::backend::{BuildSubmission, ClientError};
use osbs_client::config;
use osbs_client::local::LocalBackend;
use osbs_core::build::BuildPhase;
use osbs_core::model::Build;

/// The base image the fixtures name.
const FIXTURE_REGISTRY: &str = "127.0.0.1:5000";

/// The `osbs` binary that runners are started from.
pub fn osbs_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_osbs"))
}

/// A lowercase name unique to this process and call (for registry repositories).
pub fn unique() -> String {
    osbs_testkit::fixture::unique("t")
}

use osbs_testkit::fixture::run;

/// One test's world: a temp dir with the state directory and `osbs.conf`, and a name prefix
/// unique to the test.
pub struct World {
    /// Keeps the temp dir alive.
    pub tmp: tempfile::TempDir,
    /// The `osbs.conf` the backend and its runners read.
    pub config: PathBuf,
    /// The prefix that replaces `local` in image names (`osbs/local-app` → `osbs/PREFIX-app`).
    pub prefix: String,
}

impl World {
    /// A world pushing to the test push registry; with `sync`, syncing to the sync registry.
    pub fn new(sync: bool) -> World {
        World::with_registry(&osbs_testkit::push_registry(), sync)
    }

    /// A world pushing to `registry`.
    pub fn with_registry(registry: &str, sync: bool) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let mut text = format!(
            "[default]\nbackend = local\nstate_dir = {}\nregistry_uri = {registry}\n",
            state.display(),
        );
        if sync {
            text.push_str(&format!(
                "pulp_sync_registry_name = sync\n\n[registry sync]\nuri = {}\n",
                osbs_testkit::sync_registry()
            ));
        }
        let config = tmp.path().join("osbs.conf");
        std::fs::write(&config, text).unwrap();
        World {
            tmp,
            config,
            prefix: unique(),
        }
    }

    /// Adds `key = value` to the instance section of this world's `osbs.conf` (runners
    /// read the same file).
    pub fn set(&self, key: &str, value: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let text = text.replacen("[default]\n", &format!("[default]\n{key} = {value}\n"), 1);
        std::fs::write(&self.config, text).unwrap();
    }

    /// A backend over this world's state, starting runners from the `osbs` binary.
    pub fn backend(&self) -> LocalBackend {
        let instance = config::load(Some(&self.config), "default").unwrap();
        let args = vec![
            "--config".to_owned(),
            self.config.display().to_string(),
            "--instance".to_owned(),
            "default".to_owned(),
        ];
        let backend = osbs_client::local::open(&instance, args).unwrap();
        backend.with_runner_exe(osbs_exe())
    }

    /// The registry repository of fixture image `local-NAME` (`osbs/PREFIX-NAME`).
    pub fn repository(&self, name: &str) -> String {
        format!("osbs/{}-{name}", self.prefix)
    }

    /// The ImageStream of fixture image `local-NAME`.
    pub fn stream(&self, name: &str) -> String {
        format!("osbs-{}-{name}", self.prefix)
    }

    /// A git repository made from `fixtures/local/FIXTURE`, committed on `main`.
    pub fn repo(&self, fixture: &str) -> Repo {
        self.repo_named(fixture, fixture)
    }

    /// A git repository made from `fixtures/local/FIXTURE` in its own folder `name` (so one
    /// fixture gives several BuildConfigs).
    pub fn repo_named(&self, fixture: &str, name: &str) -> Repo {
        let dir = self.tmp.path().join("repos").join(name);
        let source = osbs_testkit::fixture::fixtures_dir()
            .join("local")
            .join(fixture);
        let prefix = format!("osbs/{}-", self.prefix);
        let registry = osbs_testkit::push_registry();
        osbs_testkit::fixture::git_repo_from_fixture(
            &source,
            &dir,
            &[("osbs/local-", &prefix), (FIXTURE_REGISTRY, &registry)],
        );
        Repo {
            url: format!("file://{}", dir.display()),
            dir,
        }
    }

    /// Pushes a tiny image FROM the busybox base as `osbs/PREFIX-NAME:latest`, distinct for
    /// each `generation`; returns its digest in the registry.
    pub async fn push_base(&self, name: &str, generation: u32) -> String {
        let image = format!(
            "{}/{}:latest",
            osbs_testkit::push_registry(),
            self.repository(name)
        );
        let dockerfile = format!(
            "FROM {}\nLABEL osbs.test.generation=\"{generation}\"\n",
            osbs_testkit::base_image()
        );
        let mut build = Command::new("docker");
        build
            .args(["build", "--quiet", "-t", &image, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = build.spawn().unwrap();
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(dockerfile.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        run(Command::new("docker").args(["push", "--quiet", &image]));
        run(Command::new("docker").args(["rmi", "--force", &image]));
        registry_digest(
            &osbs_testkit::push_registry(),
            &self.repository(name),
            "latest",
        )
        .await
        .expect("pushed tag has a digest")
    }
}

/// A git repository of a test.
pub struct Repo {
    /// Its working tree.
    pub dir: PathBuf,
    /// Its `file://` URL.
    pub url: String,
}

impl Repo {
    fn git(&self, args: &[&str]) -> String {
        osbs_testkit::fixture::git(&self.dir, args)
    }

    /// Commits everything; returns the new head.
    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// The head of `main`.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Writes `text` to `file` and commits it; returns the new head.
    pub fn change(&self, file: &str, text: &str) -> String {
        std::fs::write(self.dir.join(file), text).unwrap();
        self.commit_all(&format!("change {file}"))
    }

    /// A submission of branch `main`.
    pub fn submission(&self) -> BuildSubmission {
        BuildSubmission {
            git_url: self.url.clone(),
            git_branch: "main".to_owned(),
            git_commit: None,
            component: None,
            variant: Default::default(),
        }
    }
}

/// The digest the registry serves for `repository:tag`.
pub async fn registry_digest(registry: &str, repository: &str, tag: &str) -> Option<String> {
    let client = osbs_registry_sync::RegistryClient::new(
        registry.parse().unwrap(),
        None,
        &osbs_registry_sync::ClientOptions::default(),
    )
    .unwrap();
    client
        .repository(repository)
        .manifest_digest(tag)
        .await
        .unwrap()
}

/// Waits until `pred` holds for build `name` (checking every 200 ms), or panics after
/// `timeout` with the build and its log.
pub async fn wait_for(
    backend: &LocalBackend,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Build) -> bool,
) -> Build {
    let deadline = Instant::now() + timeout;
    loop {
        let build = backend.get_build(name).await.unwrap();
        if pred(&build) {
            return build;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(backend.log_path(name)).unwrap_or_default();
            let runner_log = std::fs::read_to_string(
                backend
                    .state_dir()
                    .join("logs")
                    .join(format!("{name}.runner.log")),
            )
            .unwrap_or_default();
            panic!(
                "build {name} not {what} after {timeout:?}: {build:#?}\n--- log ---\n{log}\n--- runner ---\n{runner_log}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until build `name` is finished.
pub async fn wait_finished(backend: &LocalBackend, name: &str) -> Build {
    wait_for(backend, name, Duration::from_secs(240), "finished", |b| {
        b.phase.is_finished()
    })
    .await
}

/// Waits until build `name` is `Running`.
pub async fn wait_running(backend: &LocalBackend, name: &str) -> Build {
    wait_for(backend, name, Duration::from_secs(120), "running", |b| {
        b.phase == BuildPhase::Running || b.phase.is_finished()
    })
    .await
}

/// Submits and waits for the build to finish.
pub async fn build(backend: &LocalBackend, repo: &Repo) -> Build {
    let submitted = backend.create_build(&repo.submission()).await.unwrap();
    wait_finished(backend, &submitted.build.name).await
}

/// The error of a submission that must fail.
pub async fn submit_err(backend: &LocalBackend, submission: BuildSubmission) -> ClientError {
    match backend.create_build(&submission).await {
        Ok(s) => panic!("submission succeeded: {:?}", s.build),
        Err(e) => e,
    }
}

/// Submits `repo` (the `slow` fixture) and waits until its build runs the long step
/// (`sleeping` in the build log): a build that holds the run slot for a while.
pub async fn start_sleeping(backend: &LocalBackend, repo: &Repo) -> Build {
    let build = backend
        .create_build(&repo.submission())
        .await
        .unwrap()
        .build;
    wait_for(
        backend,
        &build.name,
        Duration::from_secs(120),
        "sleeping",
        |b| {
            b.phase == BuildPhase::Running
                && std::fs::read_to_string(backend.log_path(&b.name))
                    .is_ok_and(|log| log.contains("sleeping"))
        },
    )
    .await
}
