//! The embedded local backend of OSBS in Rust: state in SQLite under the state directory,
//! every build run by a detached runner process (`osbs __run-build`) through the reactor
//! against this machine's Docker Engine, autorebuilds cascading on the same machine, all of it
//! supervised by `osbs_engine::Engine` over this crate's `Store` and `Executor`.
//!
//! - `store`: the database (BuildConfigs, Builds, ImageStreams as `osbs_core::model` JSON,
//!   runner bookkeeping, its identity) and the build log files (plain text: ANSI escape
//!   sequences are stripped as lines are written).
//! - `submit`: git URL/ref validation, the commit, Dockerfile and repo config of a submission.
//! - `runner`: [`LocalBackend::run_build_process`] (the runner's entry point), spawning
//!   runners, and the reconciliation that applies `osbs_core::policy::schedule` with liveness
//!   read from `/proc`.
//! - `host`: `LocalHost`, the reactor's `BuildHost` over the database (every write checks
//!   the run's lease), and the import + trigger fan-out.
//! - `engine`: `SqliteStore` and `LocalExecutor`, the `osbs_engine` traits over the database
//!   and runner processes, and the check that the Docker Engine answers before a build is
//!   queued.
//!
//! Every call first runs one engine pass (`osbs_engine::Engine::pass`), so a runner that died
//! (`kill -9`) is noticed by the next command: its build ends `Error`, what it left is removed,
//! and queued builds start, within `max_concurrent_builds`.

mod engine;
mod host;
mod log_times;
mod names;
mod runner;
mod secrets;
mod service;
mod store;
mod submit;
mod wake;

pub use names::{NameKind, names};
pub use service::SERVE_LOCK;
pub use store::StateRecreated;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use osbs_core::build::{BuildPhase, SyncTarget};
use osbs_core::model::{Build, BuildConfig, ImageStream};
use osbs_core::policy::{self, CancelDecision, QueueStatus, StaleRules};
use osbs_core::submission::{self, ResolvedSubmission};
use osbs_core::time::Timestamp;
use osbs_core::trigger::{RebuildPlan, TriggerGraph};
use osbs_engine::import::{ImportError, ReadError, RegistrySource};
use osbs_engine::{Engine, EngineSettings, Notifier};
use osbs_registry_sync::{ClientOptions, RegistryClient, RegistryEndpoint};

pub use runner::{LEASE_FLAG, RUN_BUILD_SUBCOMMAND};

use self::engine::{LocalExecutor, SharedStore, SqliteStore};
use self::runner::{RunnerCommand, now};
use self::store::{RunSettings, Store};
use osbs_engine::backend::{
    Backend, BuildFilter, BuildSubmission, ClientError, LogEvent, Result, SubmissionFacts,
    Submitted, delete_refused,
};

/// How long a follower waits for a finished build's last log lines (the runner writes them
/// right after storing the outcome) before it returns without them.
const LAST_LINES_WAIT: Duration = Duration::from_secs(2);

/// The state directory when `state_dir` is not configured: `$XDG_DATA_HOME/osbs`, else
/// `~/.local/share/osbs`.
pub fn default_state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))
        .map(|d| d.join("osbs"))
}

/// The `osbs` executable runners are started from when none was given: the running program
/// when it is `osbs` (the CLI), else an `osbs` beside it or on `PATH` (a program that embeds
/// this crate does not understand `__run-build` itself).
fn default_runner_exe() -> Result<PathBuf> {
    let current = std::env::current_exe().map_err(|source| ClientError::Backend {
        context: "cannot find the osbs executable to run builds with".to_owned(),
        source: Box::new(source),
    })?;
    if current.file_name().is_some_and(|n| n == "osbs") {
        return Ok(current);
    }
    let beside = current.parent().map(|dir| dir.join("osbs"));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("osbs"));
    beside
        .into_iter()
        .chain(on_path)
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            ClientError::Usage(format!(
                "{} cannot run builds itself: install `osbs` (cargo install osbs-client) on PATH \
                 or name it with LocalBackend::with_runner_exe",
                current.display()
            ))
        })
}

/// Creates the state directory `dir` (and its parents). A path that is not a directory, or
/// one that cannot be created for want of permission, is the configuration's problem:
/// [`ClientError::Usage`].
fn create_state_dir(dir: &Path) -> Result<()> {
    use std::io::ErrorKind;

    if dir.exists() && !dir.is_dir() {
        return Err(ClientError::Usage(format!(
            "the state directory {} is not a directory (set state_dir in osbs.conf to a \
             directory)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|source| match source.kind() {
        ErrorKind::PermissionDenied
        | ErrorKind::NotADirectory
        | ErrorKind::AlreadyExists
        | ErrorKind::ReadOnlyFilesystem => ClientError::Usage(format!(
            "cannot create the state directory {}: {source}",
            dir.display()
        )),
        _ => ClientError::Backend {
            context: format!("cannot create the state directory {}", dir.display()),
            source: Box::new(source),
        },
    })
}

/// The base image's ImageStream of `plan`, stored in `tx` when it does not exist yet.
fn put_base_stream(
    tx: &rusqlite::Transaction<'_>,
    plan: &submission::SubmissionPlan,
) -> Result<()> {
    if let Some((name, _)) = &plan.base_stream
        && let Some(stream) = plan.new_base_stream(store::get_stream(tx, name)?.as_ref())
    {
        store::put_stream(tx, &stream)?;
    }
    Ok(())
}

/// `uri` with an explicit scheme, so the runner reads it exactly as the config meant.
fn registry_uri(endpoint: &RegistryEndpoint) -> String {
    let scheme = if endpoint.is_plain_http() {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{}", endpoint.name())
}

/// Where the local backend keeps its state, pushes and syncs, and how it runs as a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    /// `state_dir`; `None`: [`default_state_dir`].
    pub state_dir: Option<PathBuf>,
    /// `registry_uri`: where builds push.
    pub registry: RegistryEndpoint,
    /// `registry_secret`: a dockercfg file for it.
    pub registry_secret: Option<String>,
    /// Where builds sync to, if anywhere.
    pub sync: Option<LocalSyncTarget>,
    /// The repository config file's name (`.osbs-repo-config`).
    pub repo_config_file: String,
    /// SPEC §10's settings.
    pub service: ServiceSettings,
    // The push path (issue 12).
    /// `push_method`: how builds push (the reactor's own path or `docker push`).
    pub push_method: osbs_core::build::PushMethod,
    // The buildstep's builder and its secrets (issue 12).
    /// `builder`; `None` picks BuildKit where the Docker Engine supports it.
    pub builder: Option<osbs_core::build::Builder>,
    /// `build_secrets`: id → file of `RUN --mount=type=secret,id=ID`.
    pub build_secrets: std::collections::BTreeMap<String, String>,
    // Several registries and registry TLS (issue 11, SPEC §6).
    /// The registries after the first of `registry_uri`, each with its `registry_secret`.
    pub extra_registries: Vec<(RegistryEndpoint, Option<String>)>,
    /// `verify_ssl`: whether registries' TLS certificates are verified.
    pub verify_ssl: bool,
    /// `registry_ca`: a PEM file of CA certificates trusted for every registry call.
    pub registry_ca: Option<PathBuf>,
}

/// A named sync target (`[registry NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSyncTarget {
    /// The section's name.
    pub name: String,
    /// Its registry.
    pub registry: RegistryEndpoint,
    /// A dockercfg file for it.
    pub secret: Option<String>,
}

/// How the instance runs as a service (SPEC §10; osbs.conf keys of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// `max_concurrent_builds`; `None`: the backend's default (local: the number of CPUs;
    /// kubernetes: unlimited).
    pub max_concurrent_builds: Option<usize>,
    /// `import_interval`: the scheduled import's period; `None` for `off`. Default 15 min.
    pub import_interval: Option<Duration>,
    /// `keep_builds`: ended builds kept per BuildConfig when the service prunes. Default 50.
    pub keep_builds: usize,
    /// `notify_webhook`: URLs.
    pub notify_webhooks: Vec<String>,
    /// `notify_on`: the event kinds sent.
    pub notify_on: std::collections::BTreeSet<osbs_core::notify::EventKind>,
    /// `notify_smtp` (`host`, `port`).
    pub notify_smtp: Option<(String, u16)>,
    /// `notify_from`.
    pub notify_from: Option<String>,
    /// `notify_to`: recipients.
    pub notify_to: Vec<String>,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            max_concurrent_builds: None,
            import_interval: Some(Duration::from_secs(15 * 60)),
            keep_builds: 50,
            notify_webhooks: Vec::new(),
            notify_on: osbs_core::notify::default_notify_on(),
            notify_smtp: None,
            notify_from: None,
            notify_to: Vec::new(),
        }
    }
}

/// The embedded local backend (see the crate documentation).
pub struct LocalBackend {
    store: SharedStore,
    state_dir: PathBuf,
    settings: RunSettings,
    repo_config_file: String,
    runner_exe: Option<PathBuf>,
    runner_args: Vec<String>,
    engine_settings: EngineSettings,
    engine: Engine<SqliteStore, LocalExecutor>,
    recreated: Option<StateRecreated>,
    identity: String,
    /// How many times waits for a build (`watch_build`, `build_logs -f`) looked again.
    wait_rounds: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("state_dir", &self.state_dir)
            .field("runner_exe", &self.runner_exe)
            .finish_non_exhaustive()
    }
}

impl LocalBackend {
    /// Opens the local backend of `instance`: its `state_dir` (or [`default_state_dir`]),
    /// creating the database on first use.
    ///
    /// Builds are run by runner processes, `osbs RUNNER_ARGS... __run-build BUILD`:
    /// `runner_args` are the global flags that make the runner find the same instance
    /// (`--config PATH --instance NAME`), and the runner calls
    /// [`LocalBackend::run_build_process`]. The executable is the running one (the `osbs`
    /// binary) unless [`LocalBackend::with_runner_exe`] says otherwise.
    ///
    /// A state directory whose database was deleted and is made anew here is noticed (its
    /// `identity` file no longer matches): [`LocalBackend::state_recreated`] says so, once.
    ///
    /// # Errors
    ///
    /// [`ClientError::Usage`] when no state directory can be determined, or it is not a
    /// directory or cannot be created (a configuration error, exit code 2);
    /// [`ClientError::Backend`] when the database cannot be opened.
    pub fn open(instance: &LocalOptions, runner_args: Vec<String>) -> Result<LocalBackend> {
        let dir = match &instance.state_dir {
            Some(dir) => dir.clone(),
            None => default_state_dir().ok_or_else(|| {
                ClientError::Usage(
                    "no state directory: set state_dir in osbs.conf, or HOME or XDG_DATA_HOME"
                        .to_owned(),
                )
            })?,
        };
        create_state_dir(&dir)?;
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let store = Store::open(&dir)?;
        let recreated = store.recreated().cloned();
        let identity = store.id().to_owned();
        let settings = RunSettings {
            registry_uri: registry_uri(&instance.registry),
            registry_secret: instance.registry_secret.clone(),
            sync_target: instance.sync.as_ref().map(|s| SyncTarget {
                name: s.name.clone(),
                registry_uri: registry_uri(&s.registry),
                registry_secret: s.secret.clone(),
            }),
            push_method: instance.push_method,
            builder: instance.builder,
            build_secrets: instance.build_secrets.clone(),
            extra_registries: instance
                .extra_registries
                .iter()
                .map(|(registry, secret)| osbs_core::build::ExtraRegistry {
                    registry_uri: registry_uri(registry),
                    registry_secret: secret.clone(),
                })
                .collect(),
            skip_tls_verify: !instance.verify_ssl,
            registry_ca: instance
                .registry_ca
                .as_ref()
                .map(|p| p.display().to_string()),
        };
        let service = &instance.service;
        let engine_settings =
            EngineSettings {
                max_concurrent_builds: Some(service.max_concurrent_builds.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, usize::from)
                })),
                stale: StaleRules::default(),
                import_interval: service.import_interval,
                keep_builds: service.keep_builds,
                notify: osbs_engine::NotifySettings {
                    webhooks: service.notify_webhooks.clone(),
                    smtp: service.notify_smtp.clone().map(|(host, port)| {
                        osbs_engine::notify::SmtpSettings {
                            host,
                            port,
                            from: service.notify_from.clone().unwrap_or_default(),
                            to: service.notify_to.clone(),
                        }
                    }),
                    on: service.notify_on.clone(),
                },
            };
        let store: SharedStore = Arc::new(Mutex::new(store));
        let mut backend = LocalBackend {
            engine: Engine::new(
                SqliteStore::new(Arc::clone(&store), settings.clone()),
                LocalExecutor::new(&dir, None),
                engine_settings.clone(),
            ),
            store,
            state_dir: dir,
            settings,
            repo_config_file: instance.repo_config_file.clone(),
            runner_exe: None,
            runner_args,
            engine_settings,
            recreated,
            identity,
            wait_rounds: std::sync::atomic::AtomicU64::new(0),
        };
        backend.rebuild_engine();
        Ok(backend)
    }

    /// The identity of the state database: a random id made with it, repeated in the state
    /// directory's `identity` file.
    pub fn state_identity(&self) -> &str {
        &self.identity
    }

    /// Set when opening noticed that the state database had been deleted and was made anew
    /// (see [`StateRecreated`]); only the process that noticed it is told.
    pub fn state_recreated(&self) -> Option<&StateRecreated> {
        self.recreated.as_ref()
    }

    /// Fails with [`ClientError::Unreachable`] (exit code 3) when the Docker Engine that
    /// builds would run on (`$DOCKER_HOST`, else `/var/run/docker.sock`) does not accept a
    /// connection, naming where it was looked for; a `$DOCKER_HOST` that is no Docker address
    /// is a [`ClientError::Usage`]. `create_build` checks this before it queues anything.
    ///
    /// # Errors
    ///
    /// As above.
    pub async fn check_docker_engine(&self) -> Result<()> {
        tokio::task::spawn_blocking(engine::check_docker_engine)
            .await
            .map_err(|e| ClientError::Backend {
                context: "cannot check the Docker Engine".to_owned(),
                source: Box::new(e),
            })?
    }

    /// Makes the engine anew from the backend's settings.
    fn rebuild_engine(&mut self) {
        let runner = self.runner().ok();
        self.engine = Engine::new(
            SqliteStore::new(Arc::clone(&self.store), self.settings.clone()),
            LocalExecutor::new(&self.state_dir, runner),
            self.engine_settings.clone(),
        );
    }

    /// Starts runners from `exe` (an `osbs` binary) instead of the running executable.
    pub fn with_runner_exe(mut self, exe: impl Into<PathBuf>) -> Self {
        self.runner_exe = Some(exe.into());
        self.rebuild_engine();
        self
    }

    /// Uses `rules` to decide when a silent runner is gone.
    pub fn with_stale_rules(mut self, rules: StaleRules) -> Self {
        self.engine_settings.stale = rules;
        self.rebuild_engine();
        self
    }

    /// Bounds the running builds across all BuildConfigs (`max_concurrent_builds`).
    pub fn with_max_concurrent_builds(mut self, cap: usize) -> Self {
        self.engine_settings.max_concurrent_builds = Some(cap);
        self.rebuild_engine();
        self
    }

    /// The state directory in use.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The pid of the process that runs (or waits to run) `build`, if one registered.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotFound`] for an unknown build.
    pub fn runner_pid(&self, build: &str) -> Result<Option<u32>> {
        let store = self.store();
        let row = store::get_row(store.conn(), build)?.ok_or_else(|| ClientError::NotFound {
            kind: "build",
            name: build.to_owned(),
        })?;
        Ok(row.owner.map(|o| o.pid))
    }

    /// The path of `build`'s log file.
    pub fn log_path(&self, build: &str) -> PathBuf {
        store::log_path(&self.state_dir, build)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn runner(&self) -> Result<RunnerCommand> {
        let exe = match &self.runner_exe {
            Some(exe) => exe.clone(),
            None => default_runner_exe()?,
        };
        Ok(RunnerCommand {
            exe,
            args: self.runner_args.clone(),
        })
    }

    /// The runner's work, what `osbs __run-build BUILD --lease LEASE` calls: runs the build
    /// under its run lease through the reactor against the local Docker Engine and stores the
    /// outcome; then one engine pass starts what it freed or triggered, and its notifications
    /// get a first attempt. Returns at once when the lease is not (or no longer) the build's;
    /// the build's own phase (not this result) says how it ended.
    ///
    /// # Errors
    ///
    /// [`ClientError`] when the state database cannot be used or the build does not exist.
    pub async fn run_build_process(&self, build: &str, lease: &str) -> Result<()> {
        // The engine pass and the notifications start when the Build is final, which is before
        // the run ends: the reactor cleans up after storing the results.
        let ended = Arc::new(tokio::sync::Notify::new());
        let run = async {
            let run = runner::run_build(&self.state_dir, build, lease, Arc::clone(&ended)).await;
            ended.notify_one();
            run
        };
        let after = async {
            ended.notified().await;
            self.reconcile_all().await?;
            if let Ok(notifier) = Notifier::new(self.engine_settings.notify.clone())
                && let Err(err) = self.engine.notify(&notifier).await
            {
                tracing::warn!("notifications: {}", osbs_engine::error_chain(&err));
            }
            Ok(())
        };
        let (run, after) = tokio::join!(run, after);
        run?;
        after
    }

    /// One engine pass: stale runners end `Error` (cleaned up), superseded autorebuilds end
    /// `Cancelled`, queued builds start within the cap.
    pub(crate) async fn reconcile_all(&self) -> Result<()> {
        self.engine
            .pass()
            .await
            .map(drop)
            .map_err(|e| ClientError::Backend {
                context: e.context,
                source: e.source,
            })
    }

    /// [`LocalBackend::reconcile_all`] for a waiter: at its first look and then at most once
    /// per [`wake::FALLBACK`], not on every wake-up (a build's runner reconciles when it ends).
    async fn reconcile_now_and_then(&self, last: &mut Option<Instant>) -> Result<()> {
        if last.is_none_or(|at| at.elapsed() >= wake::FALLBACK) {
            self.reconcile_all().await?;
            *last = Some(Instant::now());
        }
        Ok(())
    }

    /// One wait of `waiter` for its build's next signal, counted.
    async fn wait_round(&self, waiter: &mut wake::Waiter) {
        waiter.wait().await;
        self.wait_rounds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the runner of `name` still runs (it may still write log lines).
    fn runner_alive(&self, name: &str) -> Result<bool> {
        Ok(store::get_row(self.store().conn(), name)?
            .and_then(|row| row.owner)
            .is_some_and(runner::is_alive))
    }

    /// Whether the log of `name` is whole for a follower: it holds the end line (written when
    /// the outcome is stored; only the reactor's clean-up lines follow it), or no runner runs
    /// the build (any more).
    fn run_ended(&self, name: &str) -> Result<bool> {
        use std::io::{Read as _, Seek as _, SeekFrom};

        let tail = std::fs::File::open(self.log_path(name)).and_then(|mut file| {
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(4096)))?;
            let mut tail = Vec::new();
            file.read_to_end(&mut tail)?;
            Ok(tail)
        });
        // The end line, or after it the few lines of the reactor's clean-up.
        let last_lines = tail
            .ok()
            .map(|tail| String::from_utf8_lossy(&tail).into_owned());
        if last_lines.is_some_and(|tail| tail.lines().any(|line| runner::is_last_line(name, line)))
        {
            return Ok(true);
        }
        Ok(!self.runner_alive(name)?)
    }

    /// How many times this backend's waits for builds (`watch_build`, `build_logs` with
    /// `follow`) looked again: once per signal from the build's runner, or per second without
    /// one. What the tests of the wake-ups count.
    pub fn wait_rounds(&self) -> u64 {
        self.wait_rounds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// SPEC §3 steps 3–5 for a resolved submission: the BuildConfig found or created and
    /// updated, the build queued (one transaction), its runner started.
    /// `--skip-build`: records the submission on its BuildConfig (and creates the base's
    /// ImageStream) in one transaction, as [`Self::queue_user_build`] does, and queues nothing.
    fn record_build_config(
        &self,
        submission: &BuildSubmission,
        resolved: &submit::Resolved,
    ) -> Result<BuildConfig> {
        let plan = self.plan(submission, resolved)?;
        let mut store = self.store();
        let tx = store.immediate()?;
        let config = self.planned_config(&tx, &plan, submission, resolved)?;
        store::put_config(&tx, &config)?;
        put_base_stream(&tx, &plan)?;
        tx.commit()
            .map_err(store::db_error("cannot commit the build config"))?;
        Ok(config)
    }

    /// The push registry's host, for the image name's full length (the reactor's rule), and
    /// `submission` resolved with it (`submit::resolve`).
    fn resolve(&self, submission: &BuildSubmission) -> Result<submit::Resolved> {
        let registry = RegistryEndpoint::parse(&self.settings.registry_uri).ok();
        submit::resolve(
            &self.state_dir,
            submission,
            &self.repo_config_file,
            registry.as_ref().map(RegistryEndpoint::name),
        )
    }

    /// The BuildConfig of `plan` (not yet stored): the stored one updated, or one made anew.
    fn planned_config(
        &self,
        tx: &rusqlite::Transaction<'_>,
        plan: &submission::SubmissionPlan,
        submission: &BuildSubmission,
        resolved: &submit::Resolved,
    ) -> Result<BuildConfig> {
        let existing = store::get_config(tx, &plan.build_config)?;
        let is_new = existing.is_none();
        let mut config = plan.build_config(existing, &resolved.git_url, &submission.git_branch);
        if is_new {
            // A BuildConfig made anew (first build, or after the database was recreated or
            // the BuildConfig deleted) never reuses a build name whose log exists.
            config.build_counter = config
                .build_counter
                .max(store::highest_logged_number(&self.state_dir, &config.name));
        }
        Ok(config)
    }

    /// The submission plan of `resolved` (`osbs_core::submission::plan`).
    fn plan(
        &self,
        submission: &BuildSubmission,
        resolved: &submit::Resolved,
    ) -> Result<submission::SubmissionPlan> {
        submission::plan(&ResolvedSubmission {
            git_url: resolved.git_url.clone(),
            git_branch: submission.git_branch.clone(),
            commit: resolved.commit.clone(),
            base_image: resolved.base_image.clone(),
            image_name: resolved.dockerfile.name().map(str::to_owned),
            component: submission.component.clone(),
            repo_config_name: self.repo_config_file.clone(),
            variant: submission.variant.clone(),
        })
        .map_err(|e| ClientError::Usage(e.to_string()))
    }

    fn queue_user_build(
        &self,
        submission: &BuildSubmission,
        resolved: submit::Resolved,
    ) -> Result<Submitted> {
        let plan = self.plan(submission, &resolved)?;
        let mut store = self.store();
        let tx = store.immediate()?;
        let now = now();
        let mut config = self.planned_config(&tx, &plan, submission, &resolved)?;
        let build = plan.queue(&mut config, now);
        store::put_config(&tx, &config)?;
        store::insert_build(&tx, &build, &self.settings, now)?;
        put_base_stream(&tx, &plan)?;
        let builds: Vec<Build> = store::unfinished_rows(&tx, Some(&config.name))?
            .into_iter()
            .map(|r| r.build)
            .collect();
        tx.commit()
            .map_err(store::db_error("cannot commit the submission"))?;
        let queued_behind = match policy::queue_status(&builds, &build.name) {
            QueueStatus::Behind { build, .. } => Some(build),
            _ => None,
        };
        drop(store);
        Ok(Submitted {
            build,
            queued_behind,
            warnings: resolved.warnings,
        })
    }

    /// Fails with [`ClientError::Unreachable`] (exit code 3) when the push registry does not
    /// answer at all, before anything is queued; other answers (auth, missing repository) are
    /// left to the build.
    async fn check_push_registry(&self) -> Result<()> {
        let options = ClientOptions {
            retry: osbs_registry_sync::RetryPolicy::none(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        };
        let uri = &self.settings.registry_uri;
        let client = self.registry_client(uri, &options)?;
        match client.repository("osbs/ping").tags().await {
            Err(e) if e.is_unreachable() => Err(ClientError::Unreachable {
                what: format!("registry {}", client.endpoint().name()),
                source: Box::new(e),
            }),
            // A certificate osbs does not trust is the configuration's to fix (`registry_ca`,
            // `verify_ssl`): said before anything is queued.
            Err(e @ osbs_registry_sync::Error::UntrustedCertificate { .. }) => {
                Err(ClientError::Usage(e.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// The registry client for `registry`, with the instance's credentials for it.
    fn registry_client(&self, registry: &str, options: &ClientOptions) -> Result<RegistryClient> {
        let endpoint = RegistryEndpoint::parse(registry)
            .map_err(|e| ClientError::Usage(format!("invalid registry {registry:?}: {e}")))?;
        let credentials = self.registry_credentials()?;
        RegistryClient::with_credentials(endpoint, &credentials, &self.registry_options(options))
            .map_err(|e| match e {
                // A helper named in the docker config that fails is configuration.
                osbs_registry_sync::Error::CredentialHelper { .. } => {
                    ClientError::Usage(e.to_string())
                }
                e => ClientError::Backend {
                    context: format!("cannot set up a client for registry {registry}"),
                    source: Box::new(e),
                },
            })
    }

    /// The instance's registry credentials (SPEC §6): its `registry_secret`, else the files
    /// docker, podman and skopeo read, with the credential helpers they name.
    pub(crate) fn registry_credentials(&self) -> Result<osbs_registry_sync::Credentials> {
        // The files are configuration: one that cannot be read is a usage error.
        osbs_registry_sync::Credentials::from_secret_or_environment(
            self.settings.registry_secret.as_deref().map(Path::new),
        )
        .map_err(|e| ClientError::Usage(e.to_string()))
    }

    /// `options` with the instance's TLS settings (`verify_ssl`, `registry_ca`), for every
    /// registry call of the instance.
    pub(crate) fn registry_options(&self, options: &ClientOptions) -> ClientOptions {
        ClientOptions {
            verify_tls: !self.settings.skip_tls_verify,
            ca_file: self.settings.registry_ca.as_ref().map(PathBuf::from),
            ..options.clone()
        }
    }

    /// The engine's image source for the instance's registries: its credentials, `options`
    /// with its TLS settings.
    pub(crate) fn registry_source(&self, options: &ClientOptions) -> Result<RegistrySource> {
        Ok(RegistrySource::with_credentials(
            self.registry_credentials()?,
            self.registry_options(options),
        ))
    }
}

impl Backend for LocalBackend {
    async fn create_build(&self, submission: &BuildSubmission) -> Result<Submitted> {
        self.reconcile_all().await?;
        let resolved = self.resolve(submission)?;
        // What the build needs must answer before anything is queued (exit code 3 otherwise).
        self.check_docker_engine().await?;
        self.check_push_registry().await?;
        let submitted = self.queue_user_build(submission, resolved)?;
        self.reconcile_all().await?;
        Ok(submitted)
    }

    async fn update_build_config(
        &self,
        submission: &BuildSubmission,
    ) -> Result<(BuildConfig, Vec<String>)> {
        submission.check_skip_build()?;
        self.reconcile_all().await?;
        let resolved = self.resolve(submission)?;
        let config = self.record_build_config(submission, &resolved)?;
        Ok((config, resolved.warnings))
    }

    async fn get_build(&self, name: &str) -> Result<Build> {
        self.reconcile_all().await?;
        store::require_build(self.store().conn(), name)
    }

    async fn list_builds(&self, filter: &BuildFilter) -> Result<Vec<Build>> {
        self.reconcile_all().await?;
        store::list_builds(self.store().conn(), filter)
    }

    async fn builds_in_phase(&self, phase: BuildPhase) -> Result<Vec<Build>> {
        store::builds_in_phase(self.store().conn(), phase)
    }

    async fn watch_build(
        &self,
        name: &str,
        on_change: &mut (dyn FnMut(&Build) + Send),
    ) -> Result<Build> {
        // Registered before the first read, so no change after it goes unsignalled.
        let mut waiter = wake::Waiter::register(&self.state_dir, name);
        let mut last: Option<BuildPhase> = None;
        let mut reconciled: Option<Instant> = None;
        let mut finished: Option<Instant> = None;
        loop {
            self.reconcile_now_and_then(&mut reconciled).await?;
            let build = store::require_build(self.store().conn(), name)?;
            if last != Some(build.phase) {
                last = Some(build.phase);
                on_change(&build);
            }
            if build.phase.is_finished() {
                // The end line follows the store that made the Build final: wait for it (a
                // little), not for the clean-up after it.
                let since = *finished.get_or_insert_with(Instant::now);
                if self.run_ended(name)? || since.elapsed() >= LAST_LINES_WAIT {
                    return store::require_build(self.store().conn(), name);
                }
            }
            self.wait_round(&mut waiter).await;
        }
    }

    /// The log with each line's time from `logs/BUILD.log.times` (module `log_times`).
    async fn build_logs_timed(
        &self,
        name: &str,
        follow: bool,
        on_event: &mut (dyn FnMut(LogEvent, Option<Timestamp>) + Send),
    ) -> Result<()> {
        use std::io::{Read as _, Seek as _, SeekFrom};

        let mut waiter = follow.then(|| wake::Waiter::register(&self.state_dir, name));
        store::require_build(self.store().conn(), name)?;
        let path = self.log_path(name);
        let mut times = log_times::TimesReader::new(&self.state_dir, name);
        // Where the next emitted line starts in the log: the key of its time.
        let mut line_start = 0u64;
        let mut offset = 0u64;
        let mut pending: Vec<u8> = Vec::new();
        let read_more = |pending: &mut Vec<u8>, offset: &mut u64| -> Result<()> {
            let Ok(mut file) = std::fs::File::open(&path) else {
                return Ok(());
            };
            file.seek(SeekFrom::Start(*offset))
                .and_then(|_| file.read_to_end(pending))
                .map(|n| *offset += n as u64)
                .map_err(|source| ClientError::Backend {
                    context: format!("cannot read {}", path.display()),
                    source: Box::new(source),
                })
        };
        // Emits the complete lines; `true` once the runner's last line went by.
        let mut emit_lines = |pending: &mut Vec<u8>,
                              on_event: &mut dyn FnMut(LogEvent, Option<Timestamp>),
                              all: bool| {
            let mut saw_last = false;
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let time = times.time_of(line_start);
                line_start += line.len() as u64;
                let text =
                    String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).into_owned();
                saw_last |= runner::is_last_line(name, &text);
                on_event(LogEvent::Line(text), time);
            }
            if all && !pending.is_empty() {
                let time = times.time_of(line_start);
                line_start += pending.len() as u64;
                on_event(
                    LogEvent::Line(String::from_utf8_lossy(pending).into_owned()),
                    time,
                );
                pending.clear();
            }
            saw_last
        };
        let Some(waiter) = waiter.as_mut() else {
            read_more(&mut pending, &mut offset)?;
            emit_lines(&mut pending, on_event, true);
            return Ok(());
        };
        let mut reconciled: Option<Instant> = None;
        let mut finished: Option<Instant> = None;
        loop {
            self.reconcile_now_and_then(&mut reconciled).await?;
            if finished.is_none() {
                let build = store::require_build(self.store().conn(), name)?;
                if build.phase.is_finished() {
                    finished = Some(Instant::now());
                }
            }
            read_more(&mut pending, &mut offset)?;
            let saw_last = emit_lines(&mut pending, on_event, false);
            if let Some(since) = &finished {
                // The end line is written right after the outcome is stored: wait for it
                // while the runner still runs, a little, never for a build that had no runner
                // (the reactor's clean-up, after the end line, is not waited for).
                let complete =
                    saw_last || !self.runner_alive(name)? || since.elapsed() >= LAST_LINES_WAIT;
                if complete {
                    read_more(&mut pending, &mut offset)?;
                    emit_lines(&mut pending, on_event, true);
                    // As stored (the clean-up's timings are added when the run ends).
                    let build = store::require_build(self.store().conn(), name)?;
                    on_event(LogEvent::Finished(Box::new(build)), None);
                    return Ok(());
                }
            }
            self.wait_round(waiter).await;
        }
    }

    async fn cancel_build(&self, name: &str) -> Result<Build> {
        self.reconcile_all().await?;
        let build = {
            let mut store = self.store();
            let tx = store.immediate()?;
            let mut build = store::require_build(&tx, name)?;
            match policy::cancel(&build) {
                CancelDecision::Now(action) => {
                    if action.apply(&mut build, now()) {
                        store::update_build(&tx, &build)?;
                    }
                }
                CancelDecision::StopRunner => store::request_cancel(&tx, name)?,
                CancelDecision::AlreadyFinished(_) => {}
            }
            tx.commit()
                .map_err(store::db_error("cannot commit the cancel"))?;
            build
        };
        // Its waiters look again now (a queued build ended; a runner stops soon).
        wake::notify(&self.state_dir, name);
        // A cancelled queued build may free the way for the next one.
        self.reconcile_all().await?;
        Ok(build)
    }

    async fn list_build_configs(&self) -> Result<Vec<BuildConfig>> {
        store::list_configs(self.store().conn())
    }

    async fn get_build_config(&self, name: &str) -> Result<BuildConfig> {
        store::require_config(self.store().conn(), name)
    }

    async fn list_image_streams(&self) -> Result<Vec<ImageStream>> {
        store::list_streams(self.store().conn())
    }

    async fn get_image_stream(&self, name: &str) -> Result<ImageStream> {
        store::require_stream(self.store().conn(), name)
    }

    async fn import_image(
        &self,
        name: &str,
        tag: Option<&str>,
    ) -> Result<(ImageStream, Vec<Build>)> {
        self.reconcile_all().await?;
        let stream = store::require_stream(self.store().conn(), name)?;
        let source = self.registry_source(&ClientOptions::default())?;
        let imported = self
            .engine
            .import_stream(&source, &stream, tag)
            .await
            .map_err(import_error)?;
        self.reconcile_all().await?;
        Ok((imported.stream, imported.queued))
    }

    async fn rebuild_plan(&self, stream: &str, tag: &str) -> Result<RebuildPlan> {
        let configs = store::triggered_configs(self.store().conn())?;
        Ok(TriggerGraph::new(&configs).rebuild_plan(stream, tag))
    }

    async fn triggered_by(&self, build: &Build) -> Result<Vec<Build>> {
        let candidates = store::builds_caused_by(self.store().conn(), &build.build_config)?;
        Ok(candidates
            .into_iter()
            .filter(|b| b.was_triggered_by(build))
            .collect())
    }

    async fn delete_build(&self, name: &str) -> Result<()> {
        self.reconcile_all().await?;
        let mut store = self.store();
        let tx = store.immediate()?;
        let build = store::require_build(&tx, name)?;
        if !build.phase.is_finished() {
            return Err(delete_refused(&format!("build {name}"), &build));
        }
        store::delete_build(&tx, name)?;
        tx.commit()
            .map_err(store::db_error("cannot commit the removal of a build"))?;
        store::remove_logs(&self.state_dir, name);
        Ok(())
    }

    async fn delete_build_config(&self, name: &str) -> Result<Vec<String>> {
        self.reconcile_all().await?;
        let mut store = self.store();
        let tx = store.immediate()?;
        store::require_config(&tx, name)?;
        if let Some(active) = store::unfinished_rows(&tx, Some(name))?.into_iter().next() {
            return Err(delete_refused(
                &format!("build config {name}"),
                &active.build,
            ));
        }
        let builds = store::build_names(&tx, name)?;
        for build in &builds {
            store::delete_build(&tx, build)?;
        }
        store::delete_config(&tx, name)?;
        tx.commit().map_err(store::db_error(
            "cannot commit the removal of a build config",
        ))?;
        for build in &builds {
            store::remove_logs(&self.state_dir, build);
        }
        // Its git password (if its URL had one) goes with it.
        let _ = std::fs::remove_file(secrets::password_path(&self.state_dir, name));
        Ok(builds)
    }

    fn state_location(&self) -> Option<PathBuf> {
        Some(self.state_dir.clone())
    }
}

/// Resolves a submission the way the local backend does — the commit, the Dockerfile and the
/// repo config at it, read through a git mirror under `state_dir/git/` — without queueing
/// anything. The Kubernetes backend uses it at submission, so both read repositories alike.
///
/// # Errors
///
/// Usage errors for a bad URL, branch, commit, Dockerfile or repo config (naming file, line and
/// value); unreachable errors when git cannot reach the repository.
pub fn resolve_submission(
    state_dir: &Path,
    submission: &BuildSubmission,
    repo_config_file: &str,
) -> Result<SubmissionFacts> {
    let resolved = submit::resolve(state_dir, submission, repo_config_file, None)?;
    Ok(SubmissionFacts {
        image_name: resolved
            .dockerfile
            .name()
            .map(str::to_owned)
            .or_else(|| submission.component.clone()),
        commit: resolved.commit,
        base_image: resolved.base_image,
        warnings: resolved.warnings,
    })
}

/// Loads records into the state directory `state_dir` in one transaction: BuildConfigs and
/// ImageStreams are written as given (replacing ones of the same name), builds are added as
/// finished or queued records without a runner. For restoring saved state and for the
/// `cargo xtask bench cli` fixtures; a queued build loaded this way waits for a runner that
/// never comes, so load only finished builds into a live state directory.
///
/// # Errors
///
/// A state store that cannot be opened or written.
pub fn bulk_load(
    state_dir: &Path,
    configs: &[BuildConfig],
    builds: &[Build],
    streams: &[ImageStream],
) -> Result<()> {
    let mut store = Store::open(state_dir)?;
    let tx = store.immediate()?;
    for config in configs {
        store::put_config(&tx, config)?;
    }
    for stream in streams {
        store::put_stream(&tx, stream)?;
    }
    let settings = RunSettings::default();
    for build in builds {
        store::insert_build(&tx, build, &settings, build.created)?;
    }
    tx.commit()
        .map_err(store::db_error("cannot commit the loaded records"))?;
    Ok(())
}

/// The CLI's error for a failed `import-image`: exit 3 when the registry is unreachable or
/// answers with an error, a not-found for a missing tag, a usage error for a stream that names
/// no image.
pub fn import_error(err: ImportError) -> ClientError {
    match err {
        ImportError::Read(ReadError::MissingTag { image, tag }) => ClientError::NotFound {
            kind: "image",
            name: format!("{image}:{tag}"),
        },
        ImportError::Read(
            err @ (ReadError::NoRepository { .. } | ReadError::BadRegistry { .. }),
        ) => ClientError::Usage(err.to_string()),
        ImportError::Read(err @ ReadError::Unreachable { .. }) => {
            let what = match &err {
                ReadError::Unreachable { registry, .. } => format!("registry {registry}"),
                _ => String::new(),
            };
            ClientError::Unreachable {
                what,
                source: Box::new(err),
            }
        }
        ImportError::Read(ReadError::Registry {
            registry,
            image,
            source,
        }) => ClientError::Backend {
            context: format!("cannot read {image} from registry {registry}"),
            source,
        },
        err @ ImportError::Store { .. } => ClientError::Backend {
            context: "cannot import the image".to_owned(),
            source: Box::new(err),
        },
    }
}
