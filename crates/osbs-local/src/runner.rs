//! Runners: the detached `osbs __run-build BUILD --lease LEASE` processes that run one build
//! each.
//!
//! A runner is started by the engine's executor only once the build took a run slot
//! (`Pending`, with a fresh lease); queued builds have no process at all, so a crash or reboot
//! loses none of them. The runner registers as the run's owner (pid + process start time),
//! heartbeats under its lease, runs the reactor and stores the outcome. The liveness the engine
//! reads is [`is_alive`] over `/proc`: a runner killed with `kill -9` is noticed by the next
//! pass and its build ends `Error`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use osbs_core::build::{BuildOutcome, BuildPhase};
use osbs_core::time::Timestamp;
use tokio_util::sync::CancellationToken;

use super::host::LocalHost;
use super::store::{self, Owner, Store};
use osbs_engine::backend::ClientError;

/// The hidden subcommand that runs one build: `osbs [--config PATH] [--instance NAME]
/// __run-build BUILD`.
pub const RUN_BUILD_SUBCOMMAND: &str = "__run-build";

/// The flag of `__run-build` that carries the run's lease.
pub const LEASE_FLAG: &str = "--lease";

/// How often a running build's runner refreshes its heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// Now, as a [`Timestamp`].
pub(crate) fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// The state (third field) and start time (22nd field) of process `pid`, from
/// `/proc/PID/stat`; `None` when there is no such process.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything: skip past the
    // last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// This process as a build owner.
pub(crate) fn this_process() -> Owner {
    let pid = std::process::id();
    Owner {
        pid,
        start: proc_stat(pid).map_or(0, |(_, start)| start),
    }
}

/// Whether `owner` still runs: the pid exists, is not a zombie, and started when recorded.
pub(crate) fn is_alive(owner: Owner) -> bool {
    match proc_stat(owner.pid) {
        Some((state, start)) => !matches!(state, 'Z' | 'X' | 'x') && start == owner.start,
        None => false,
    }
}

/// How to start a runner: the `osbs` executable and the global flags that make it find the
/// same instance (`--config`, `--instance`).
#[derive(Debug, Clone)]
pub(crate) struct RunnerCommand {
    /// The `osbs` executable.
    pub exe: PathBuf,
    /// Global flags placed before the subcommand.
    pub args: Vec<String>,
}

/// Starts a detached runner for the run of `build` under `lease`: `EXE ARGS... __run-build
/// BUILD --lease LEASE`, in its own process group (a Ctrl-C of the submitting `osbs` does not
/// reach it, and a dead run's clean-up kills the whole group), stdin closed, `TMPDIR` its work
/// dir `state_dir/work/BUILD`, its own output to `logs/BUILD.runner.log`. The child is reaped by a thread while this process lives;
/// afterwards init adopts it.
pub(crate) fn spawn_runner(
    runner: &RunnerCommand,
    state_dir: &Path,
    build: &str,
    lease: &str,
) -> Result<(), ClientError> {
    use std::os::unix::process::CommandExt as _;

    let spawn_error = |source: std::io::Error| ClientError::Backend {
        context: format!(
            "cannot start the runner of build {build} ({})",
            runner.exe.display()
        ),
        source: Box::new(source),
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store::runner_log_path(state_dir, build))
        .map_err(spawn_error)?;
    let log_err = log.try_clone().map_err(spawn_error)?;
    let work = super::engine::work_dir(state_dir, build);
    std::fs::create_dir_all(&work).map_err(spawn_error)?;
    let mut child = Command::new(&runner.exe)
        .args(&runner.args)
        .arg(RUN_BUILD_SUBCOMMAND)
        .arg(build)
        .arg(LEASE_FLAG)
        .arg(lease)
        .env("TMPDIR", &work)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0)
        .spawn()
        .map_err(spawn_error)?;
    let _ = std::thread::Builder::new()
        .name("osbs-runner-reaper".to_owned())
        .spawn(move || child.wait());
    Ok(())
}

/// Registers this process as the runner of `build` under `lease` and marks it `Running`;
/// `false` when the lease is not the build's (any more) or the build is no longer `Pending`.
fn claim(store: &mut Store, build: &str, lease: &str, me: Owner) -> Result<bool, ClientError> {
    let tx = store.immediate()?;
    let Some(row) = store::get_row(&tx, build)? else {
        return Err(ClientError::NotFound {
            kind: "build",
            name: build.to_owned(),
        });
    };
    if row.lease.as_deref() != Some(lease) || row.build.phase != BuildPhase::Pending {
        return Ok(false);
    }
    let mut b = row.build;
    b.mark_running(now());
    store::update_build(&tx, &b)?;
    store::set_owner(&tx, build, me, now())?;
    tx.commit()
        .map_err(store::db_error("cannot record the runner"))?;
    Ok(true)
}

/// Refreshes the heartbeat of the run of `build` under `lease` every few seconds from its own
/// thread (and its own database connection) until the returned flag is set. When the run has
/// lost its lease, it cancels `fenced`: the reactor stops, and its writes are refused anyway.
fn start_heartbeat(
    state_dir: PathBuf,
    build: String,
    lease: String,
    fenced: CancellationToken,
) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = std::thread::Builder::new()
        .name("osbs-heartbeat".to_owned())
        .spawn(move || {
            let Ok(store) = Store::open(&state_dir) else {
                return;
            };
            let step = Duration::from_millis(100);
            let mut waited = Duration::ZERO;
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(step);
                waited += step;
                if waited >= HEARTBEAT {
                    waited = Duration::ZERO;
                    if let Ok(false) = store::heartbeat(store.conn(), &build, &lease, now()) {
                        fenced.cancel();
                        return;
                    }
                }
            }
        });
    stop
}

/// The runner of one run: registers under `lease`, runs the build through the reactor with a
/// [`LocalHost`] while heartbeating, and stores the outcome. A run that lost its lease (it was
/// declared dead while stopped or hung) is stopped and publishes nothing more. The caller then
/// lets the engine start what the finished build freed or triggered.
pub(crate) async fn run_build(
    state_dir: &Path,
    build: &str,
    lease: &str,
    ended: Arc<tokio::sync::Notify>,
) -> Result<(), ClientError> {
    let me = this_process();
    let (dir, name, run) = (state_dir.to_path_buf(), build.to_owned(), lease.to_owned());
    let claimed = off_runtime(move || claim(&mut Store::open(&dir)?, &name, &run, me)).await?;
    if !claimed {
        return Ok(());
    }
    let host = LocalHost::open(state_dir, build, lease)
        .await?
        .with_end_signal(ended);
    let fenced = CancellationToken::new();
    let stop = start_heartbeat(
        state_dir.to_path_buf(),
        build.to_owned(),
        lease.to_owned(),
        fenced.clone(),
    );
    host.log_line(&format!("build {build} started by process {}", me.pid));
    let outcome = osbs_reactor::run_build(&host, fenced.clone()).await;
    stop.store(true, Ordering::SeqCst);
    let (dir, name, run) = (state_dir.to_path_buf(), build.to_owned(), lease.to_owned());
    let phase = outcome.phase;
    match off_runtime(move || finish(&mut Store::open(&dir)?, &name, &run, &outcome)).await? {
        // The host wrote it when the reactor's store made the Build final, before its
        // clean-up; this covers a store that failed there.
        Some(_) if host.end_logged() => {}
        Some(ended) => host.log_line(&format!("{}{ended}", end_line_prefix(build))),
        None => host.log_line(&format!(
            "{}: it was declared dead, its outcome ({phase}) is not recorded",
            lost_line_prefix(build)
        )),
    }
    Ok(())
}

/// The start of the line that ends a build's log as a follower reads it (`build B ended
/// PHASE`), written when the outcome is stored; only the reactor's clean-up lines follow it.
pub(crate) fn end_line_prefix(build: &str) -> String {
    format!("build {build} ended ")
}

/// The start of a runner's last log line when its run lost its lease.
fn lost_line_prefix(build: &str) -> String {
    format!("build {build}'s run lost its lease")
}

/// Whether `line` ends the build's log for a follower: the build ended (or its run lost its
/// lease); a follower that read it has the whole build, only clean-up lines may follow.
pub(crate) fn is_last_line(build: &str, line: &str) -> bool {
    line.starts_with(&end_line_prefix(build)) || line.starts_with(&lost_line_prefix(build))
}

/// Runs blocking database work on tokio's blocking pool, never on the runtime's threads.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClientError::Backend {
            context: "a database task of the runner failed".to_owned(),
            source: Box::new(e),
        })?
}

/// Stores the final outcome if the run still holds its lease (the reactor stores it too; this
/// covers a host error there). Returns the build's final phase, or `None` when the run lost
/// its lease and nothing was written.
fn finish(
    store: &mut Store,
    build: &str,
    lease: &str,
    outcome: &BuildOutcome,
) -> Result<Option<BuildPhase>, ClientError> {
    let tx = store.immediate()?;
    if !store::holds_lease(&tx, build, lease)? {
        return Ok(None);
    }
    let mut b = store::require_build(&tx, build)?;
    if b.store_results(outcome, now()) {
        store::update_build(&tx, &b)?;
    }
    tx.commit()
        .map_err(store::db_error("cannot store the build's outcome"))?;
    Ok(Some(b.phase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = this_process();
        assert!(me.start > 0);
        assert!(is_alive(me));
        assert!(!is_alive(Owner {
            start: me.start + 1,
            ..me
        }));
        assert!(!is_alive(Owner {
            pid: u32::MAX,
            start: 1
        }));
    }
}
