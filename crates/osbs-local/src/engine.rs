//! The local backend on the engine: [`SqliteStore`], `osbs_engine::Store` over the state
//! database, and [`LocalExecutor`], `osbs_engine::Executor` with runner processes (and
//! [`check_docker_engine`]: whether the Docker Engine runners build on answers at all).
//!
//! SQLite calls block, so each store call runs on tokio's blocking pool with the shared
//! connection; the async runtime (log streaming, cancellation) never waits on a lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osbs_core::build::ImageImport;
use osbs_core::model::{Build, BuildCause, ImageStream};
use osbs_core::policy::Liveness;
use osbs_core::time::Timestamp;
use osbs_core::variant::BuildVariant;
use osbs_engine::{Delivery, Imported, RunRecord, RunnerState, StoreError, StoreResult};

use super::host::import_and_fan_out;
use super::runner::{RunnerCommand, is_alive, spawn_runner};
use super::store::{self, Owner, RunSettings, Store};
use osbs_engine::backend::ClientError;

/// The state database, shared by the backend, the engine and the build host.
pub(crate) type SharedStore = Arc<Mutex<Store>>;

/// Runs `f` with the store on the blocking pool.
async fn blocking<T: Send + 'static>(
    store: &SharedStore,
    f: impl FnOnce(&mut Store) -> Result<T, ClientError> + Send + 'static,
) -> StoreResult<T> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
    .map_err(|e| -> StoreError { Box::new(e) })?
    .map_err(|e| -> StoreError { Box::new(e) })
}

/// The runner's identity as the engine sees it: `PID:START`.
fn runner_id(owner: Owner) -> String {
    format!("{}:{}", owner.pid, owner.start)
}

/// The owner named by a runner identity.
fn parse_runner_id(id: &str) -> Option<Owner> {
    let (pid, start) = id.split_once(':')?;
    Some(Owner {
        pid: pid.parse().ok()?,
        start: start.parse().ok()?,
    })
}

/// `osbs_engine::Store` over the SQLite state.
#[derive(Clone)]
pub(crate) struct SqliteStore {
    store: SharedStore,
    /// What builds queued by the engine (imports, `start-build`) run with.
    settings: RunSettings,
}

impl SqliteStore {
    /// A store over `store`; builds it queues run with `settings`.
    pub fn new(store: SharedStore, settings: RunSettings) -> Self {
        SqliteStore { store, settings }
    }
}

impl osbs_engine::Store for SqliteStore {
    async fn unfinished(&self) -> StoreResult<Vec<RunRecord>> {
        blocking(&self.store, |s| {
            Ok(store::unfinished_rows(s.conn(), None)?
                .into_iter()
                .map(|row| RunRecord {
                    build: row.build,
                    version: row.version,
                    lease: row.lease,
                    runner: RunnerState {
                        runner: row.owner.map(runner_id),
                        heartbeat: row.heartbeat.map(Timestamp::from_unix_millis),
                    },
                })
                .collect())
        })
        .await
    }

    async fn start_run(
        &self,
        build: &str,
        version: u64,
        lease: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (build, lease) = (build.to_owned(), lease.to_owned());
        blocking(&self.store, move |s| {
            let tx = s.immediate()?;
            let started = store::start_run(&tx, &build, version, &lease, now)?;
            tx.commit()
                .map_err(store::db_error("cannot commit the start of a build"))?;
            Ok(started)
        })
        .await
    }

    async fn update_build(&self, build: &Build, version: u64) -> StoreResult<bool> {
        let build = build.clone();
        blocking(&self.store, move |s| {
            let tx = s.immediate()?;
            let written = store::update_build_if(&tx, &build, version)?;
            tx.commit()
                .map_err(store::db_error("cannot commit a build's change"))?;
            Ok(written)
        })
        .await
    }

    async fn all_builds(&self) -> StoreResult<Vec<Build>> {
        blocking(&self.store, |s| store::all_builds(s.conn())).await
    }

    async fn delete_build(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        blocking(&self.store, move |s| {
            let tx = s.immediate()?;
            let removed = store::delete_build(&tx, &name)?;
            tx.commit()
                .map_err(store::db_error("cannot commit the removal of a build"))?;
            if removed {
                store::remove_logs(s.dir(), &name);
            }
            Ok(())
        })
        .await
    }

    async fn build_config(&self, name: &str) -> StoreResult<Option<osbs_core::model::BuildConfig>> {
        let name = name.to_owned();
        blocking(&self.store, move |s| store::get_config(s.conn(), &name)).await
    }

    async fn queue_build(
        &self,
        config: &str,
        cause: BuildCause,
        commit: Option<String>,
        is_autorebuild: bool,
        variant: Option<BuildVariant>,
        now: Timestamp,
    ) -> StoreResult<Build> {
        let config = config.to_owned();
        let settings = self.settings.clone();
        blocking(&self.store, move |s| {
            let tx = s.immediate()?;
            let mut bc = store::require_config(&tx, &config)?;
            let mut build = Build::queued(&mut bc, cause, commit, now);
            build.is_autorebuild = is_autorebuild;
            if let Some(variant) = variant {
                build.variant = variant;
            }
            store::put_config(&tx, &bc)?;
            store::insert_build(&tx, &build, &settings, now)?;
            tx.commit()
                .map_err(store::db_error("cannot commit the queued build"))?;
            Ok(build)
        })
        .await
    }

    async fn build(&self, name: &str) -> StoreResult<Option<Build>> {
        let name = name.to_owned();
        blocking(&self.store, move |s| store::get_build(s.conn(), &name)).await
    }

    async fn image_streams(&self) -> StoreResult<Vec<ImageStream>> {
        blocking(&self.store, |s| store::list_streams(s.conn())).await
    }

    async fn import(
        &self,
        import: &ImageImport,
        by: Option<&Build>,
        fire: bool,
        now: Timestamp,
    ) -> StoreResult<Imported> {
        let (import, by) = (import.clone(), by.cloned());
        let settings = self.settings.clone();
        blocking(&self.store, move |s| {
            import_and_fan_out(s, &import, by.as_ref(), fire, &settings, now)
        })
        .await
    }

    async fn unnotified(&self) -> StoreResult<Vec<Build>> {
        blocking(&self.store, |s| store::unnotified(s.conn())).await
    }

    async fn queue_deliveries(&self, build: &str, deliveries: &[Delivery]) -> StoreResult<()> {
        let build = build.to_owned();
        let rows = deliveries
            .iter()
            .map(|d| Ok((d.next_attempt.unix_millis(), serde_json::to_string(d)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| -> StoreError { Box::new(e) })?;
        blocking(&self.store, move |s| {
            let tx = s.immediate()?;
            store::queue_deliveries(&tx, &build, &rows)?;
            tx.commit()
                .map_err(store::db_error("cannot commit queued notifications"))
        })
        .await
    }

    async fn due_deliveries(&self, now: Timestamp) -> StoreResult<Vec<Delivery>> {
        let rows = blocking(&self.store, move |s| {
            store::due_deliveries(s.conn(), now.unix_millis())
        })
        .await?;
        rows.into_iter()
            .map(|(id, json)| {
                let mut delivery: Delivery =
                    serde_json::from_str(&json).map_err(|e| -> StoreError { Box::new(e) })?;
                delivery.id = id;
                Ok(delivery)
            })
            .collect()
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        next: Option<Timestamp>,
    ) -> StoreResult<()> {
        let mut delivery = delivery.clone();
        if let Some(next) = next {
            delivery.next_attempt = next;
        }
        let json = serde_json::to_string(&delivery).map_err(|e| -> StoreError { Box::new(e) })?;
        blocking(&self.store, move |s| {
            store::record_attempt(
                s.conn(),
                delivery.id,
                &json,
                next.map(Timestamp::unix_millis),
            )
        })
        .await
    }
}

/// `osbs_engine::Executor` with runner processes: `osbs __run-build BUILD --lease LEASE`, one
/// process group each, working under `state_dir/work/BUILD`.
#[derive(Debug, Clone)]
pub(crate) struct LocalExecutor {
    state_dir: PathBuf,
    runner: Option<RunnerCommand>,
}

impl LocalExecutor {
    /// An executor whose runners are started with `runner` (`None`: the backend cannot start
    /// runners, e.g. the executable is unknown; starting then fails with that error).
    pub fn new(state_dir: &Path, runner: Option<RunnerCommand>) -> Self {
        LocalExecutor {
            state_dir: state_dir.to_path_buf(),
            runner,
        }
    }
}

/// The work directory of `build`'s run: the runner's `TMPDIR`, so the reactor's checkout and
/// context live there and a dead run's leftovers can be found.
pub(crate) fn work_dir(state_dir: &Path, build: &str) -> PathBuf {
    state_dir.join("work").join(build)
}

/// The variable that names the Docker Engine, read as `docker` and the reactor's client
/// (bollard's `connect_with_defaults`) read it.
const DOCKER_HOST_ENV: &str = "DOCKER_HOST";

/// The Docker Engine when `$DOCKER_HOST` is not set.
const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How long [`check_docker_engine`] waits for a TCP connection.
const DOCKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the Docker Engine that runners build on accepts a connection: `$DOCKER_HOST`
/// (`unix://PATH`, `tcp://` or `http://HOST:PORT`, `https://HOST:PORT`), else
/// `/var/run/docker.sock`, as the reactor's client reads them. Only the connection is tried,
/// no request is made; an `ssh://` host is left to the build.
///
/// # Errors
///
/// [`ClientError::Unreachable`] naming the address and where it came from (`DOCKER_HOST` or
/// the default socket); [`ClientError::Usage`] for a `$DOCKER_HOST` that is no Docker
/// Engine address.
pub(crate) fn check_docker_engine() -> Result<(), ClientError> {
    let from_env = std::env::var(DOCKER_HOST_ENV).ok();
    let host = from_env
        .clone()
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned());
    let origin = if from_env.is_some() {
        "from DOCKER_HOST"
    } else {
        "the default; DOCKER_HOST names another"
    };
    let unreachable = |source: std::io::Error| ClientError::Unreachable {
        what: format!("the Docker Engine at {host} ({origin})"),
        source: Box::new(source),
    };
    if let Some(path) = host.strip_prefix("unix://") {
        return std::os::unix::net::UnixStream::connect(path)
            .map(drop)
            .map_err(unreachable);
    }
    if host.starts_with("ssh://") {
        return Ok(());
    }
    let Some((scheme, rest)) = ["tcp://", "http://", "https://"]
        .into_iter()
        .find_map(|scheme| Some((scheme, host.strip_prefix(scheme)?)))
    else {
        return Err(ClientError::Usage(format!(
            "{DOCKER_HOST_ENV}={host:?} is not a Docker Engine address (unix:///PATH, \
             tcp://HOST:PORT, https://HOST:PORT or ssh://HOST)"
        )));
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => authority.contains(':'),
    };
    let tls = scheme == "https://" || std::env::var_os("DOCKER_TLS_VERIFY").is_some();
    let target = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    let addrs = std::net::ToSocketAddrs::to_socket_addrs(&target).map_err(unreachable)?;
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{target} resolves to no address"),
    );
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, DOCKER_CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(unreachable(last))
}

impl osbs_engine::Executor for LocalExecutor {
    async fn start(&self, build: &Build, lease: &str) -> StoreResult<()> {
        let runner = self.runner.as_ref().ok_or_else(|| -> StoreError {
            "cannot find the osbs executable to run builds with".into()
        })?;
        spawn_runner(runner, &self.state_dir, &build.name, lease)
            .map_err(|e| -> StoreError { Box::new(e) })
    }

    fn liveness(&self, record: &RunRecord, now: Timestamp) -> Liveness {
        let age_ms = record.runner.heartbeat.map_or(0, |h| now.millis_since(h));
        match record.runner.runner.as_deref().and_then(parse_runner_id) {
            Some(owner) if !is_alive(owner) => Liveness::Gone {
                detail: format!("build process {} died", owner.pid),
            },
            _ => Liveness::Heartbeat { age_ms },
        }
    }

    async fn clean_up(&self, record: &RunRecord) -> StoreResult<()> {
        let build = record.build.name.clone();
        // The runner and everything it started (git, the reactor's helpers): its process
        // group. A stopped runner is killed too: SIGKILL needs no SIGCONT.
        if let Some(owner) = record.runner.runner.as_deref().and_then(parse_runner_id)
            && is_alive(owner)
            && let Some(pid) = rustix::process::Pid::from_raw(owner.pid.cast_signed())
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let dir = work_dir(&self.state_dir, &build);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| -> StoreError {
                format!("cannot remove the work dir {}: {e}", dir.display()).into()
            })?;
        }
        osbs_reactor::remove_leftovers(&build)
            .await
            .map_err(|e| -> StoreError { Box::new(e) })?;
        Ok(())
    }
}
