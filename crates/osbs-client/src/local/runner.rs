//! Runners: the detached `osbs __run-build` processes that run one build each, and the
//! reconciliation every command does first.
//!
//! A runner registers as its build's owner (pid + process start time), waits while the run
//! policy keeps the build queued, runs the reactor once `osbs_core::policy::schedule` starts
//! it, heartbeats, stores the outcome and reconciles again so the next queued build's runner
//! can go. [`reconcile`] applies the policy's actions in one `IMMEDIATE` transaction, with the
//! liveness of each runner read from `/proc`: a runner killed with `kill -9` is noticed by the
//! next command and its build ends `Error`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use osbs_core::build::{BuildOutcome, BuildPhase};
use osbs_core::policy::{self, Action, Liveness, StaleRules};
use osbs_core::time::Timestamp;
use tokio_util::sync::CancellationToken;

use super::host::LocalHost;
use super::store::{self, BuildRow, Owner, Store};
use crate::backend::ClientError;

/// The hidden subcommand that runs one build: `osbs [--config PATH] [--instance NAME]
/// __run-build BUILD`.
pub const RUN_BUILD_SUBCOMMAND: &str = "__run-build";

/// How often a waiting runner looks at the queue.
const POLL: Duration = Duration::from_millis(300);

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

/// What is known of the runner of an active build.
fn liveness(row: &BuildRow, now: Timestamp) -> Liveness {
    let age_ms = row
        .heartbeat
        .map_or(0, |h| now.millis_since(Timestamp::from_unix_millis(h)));
    match row.owner {
        Some(owner) if !is_alive(owner) => Liveness::Gone {
            detail: format!("build process {} died", owner.pid),
        },
        _ => Liveness::Heartbeat { age_ms },
    }
}

/// Applies the run policy to the unfinished builds of `build_config` (or of all BuildConfigs):
/// errors builds whose runner is gone, cancels superseded autorebuilds, starts the next queued
/// build. Reads first and takes the write lock only when there is something to do. Returns
/// the actions applied.
pub(crate) fn reconcile(
    store: &mut Store,
    build_config: Option<&str>,
    rules: &StaleRules,
) -> Result<Vec<Action>, ClientError> {
    let decide = |rows: &[BuildRow]| {
        let now = now();
        let builds: Vec<_> = rows.iter().map(|r| r.build.clone()).collect();
        policy::schedule(
            &builds,
            |b| {
                rows.iter()
                    .find(|r| r.build.name == b.name)
                    .map_or(Liveness::Unknown, |r| liveness(r, now))
            },
            rules,
        )
    };
    let rows = store::unfinished_rows(store.conn(), build_config)?;
    if decide(&rows).is_empty() {
        return Ok(Vec::new());
    }
    let tx = store.immediate()?;
    let rows = store::unfinished_rows(&tx, build_config)?;
    let actions = decide(&rows);
    let now = now();
    let mut applied = Vec::new();
    for action in actions {
        let Some(row) = rows.iter().find(|r| r.build.name == action.build()) else {
            continue;
        };
        let mut build = row.build.clone();
        if action.apply(&mut build, now) {
            store::update_build(&tx, &build)?;
            if matches!(action, Action::Start { .. }) {
                store::touch(&tx, &build.name, now)?;
            }
            applied.push(action);
        }
    }
    tx.commit()
        .map_err(store::db_error("cannot commit the run policy's decisions"))?;
    Ok(applied)
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

/// Starts a detached runner for `build`: `EXE ARGS... __run-build BUILD`, in its own process
/// group (a Ctrl-C of the submitting `osbs` does not reach it), stdin closed, its own output
/// to `logs/BUILD.runner.log`. The child is reaped by a thread while this process lives;
/// afterwards init adopts it.
pub(crate) fn spawn_runner(
    runner: &RunnerCommand,
    state_dir: &Path,
    build: &str,
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
    let mut child = Command::new(&runner.exe)
        .args(&runner.args)
        .arg(RUN_BUILD_SUBCOMMAND)
        .arg(build)
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

/// What a runner does after registering.
enum Claim {
    /// This process owns the build.
    Mine,
    /// The build is finished, or another live process owns it: nothing to do.
    NotMine,
}

/// Registers this process as the owner of `build` unless it is finished or a live runner
/// already owns it.
fn claim(store: &mut Store, build: &str, me: Owner) -> Result<Claim, ClientError> {
    let tx = store.immediate()?;
    let Some(row) = store::get_row(&tx, build)? else {
        return Err(ClientError::NotFound {
            kind: "build",
            name: build.to_owned(),
        });
    };
    let claimable = matches!(row.build.phase, BuildPhase::New | BuildPhase::Pending)
        && row.owner.is_none_or(|o| o == me || !is_alive(o));
    if !claimable {
        return Ok(Claim::NotMine);
    }
    store::set_owner(&tx, build, me, now())?;
    tx.commit()
        .map_err(store::db_error("cannot record the runner"))?;
    Ok(Claim::Mine)
}

/// Waits until the run policy starts `build` (returns `true`, the build now `Running` under
/// this process) or it ends or passes to another runner (`false`).
async fn wait_for_slot(
    store: &mut Store,
    build: &str,
    me: Owner,
    rules: &StaleRules,
    host: &LocalHost,
) -> Result<bool, ClientError> {
    let mut told_behind: Option<String> = None;
    loop {
        let Some(row) = store::get_row(store.conn(), build)? else {
            return Ok(false);
        };
        let config = row.build.build_config.clone();
        reconcile(store, Some(&config), rules)?;
        let Some(row) = store::get_row(store.conn(), build)? else {
            return Ok(false);
        };
        if row.owner != Some(me) || row.build.phase.is_finished() {
            return Ok(false);
        }
        match row.build.phase {
            BuildPhase::Pending => {
                let tx = store.immediate()?;
                let Some(row) = store::get_row(&tx, build)? else {
                    return Ok(false);
                };
                if row.owner != Some(me) || row.build.phase != BuildPhase::Pending {
                    continue;
                }
                let mut b = row.build;
                b.mark_running(now());
                store::update_build(&tx, &b)?;
                store::heartbeat(&tx, build, me, now())?;
                tx.commit()
                    .map_err(store::db_error("cannot mark the build running"))?;
                return Ok(true);
            }
            BuildPhase::Running => return Ok(true),
            _ => {
                // Still queued: say once what it waits for.
                let builds: Vec<_> = store::unfinished_rows(store.conn(), Some(&config))?
                    .into_iter()
                    .map(|r| r.build)
                    .collect();
                if let policy::QueueStatus::Behind { build: ahead, .. } =
                    policy::queue_status(&builds, build)
                    && told_behind.as_deref() != Some(ahead.as_str())
                {
                    host.log_line(&format!("queued behind {ahead}"));
                    told_behind = Some(ahead);
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Refreshes the heartbeat of `build` every few seconds from its own thread (and its own
/// database connection) until the returned flag is set.
fn start_heartbeat(state_dir: PathBuf, build: String, me: Owner) -> Arc<AtomicBool> {
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
                    if let Ok(false) = store::heartbeat(store.conn(), &build, me, now()) {
                        return;
                    }
                }
            }
        });
    stop
}

/// The runner: waits for the run slot of `build`, runs it through the reactor with a
/// [`LocalHost`], stores the outcome and lets the queue move on. Autorebuilds its import
/// triggers get runners started with `runner`.
pub(crate) async fn run_build(
    state_dir: &Path,
    build: &str,
    rules: &StaleRules,
    runner: RunnerCommand,
) -> Result<(), ClientError> {
    let mut store = Store::open(state_dir)?;
    let me = this_process();
    if let Claim::NotMine = claim(&mut store, build, me)? {
        return Ok(());
    }
    let host = LocalHost::open(state_dir, build, runner)?;
    if !wait_for_slot(&mut store, build, me, rules, &host).await? {
        return Ok(());
    }
    let stop = start_heartbeat(state_dir.to_path_buf(), build.to_owned(), me);
    host.log_line(&format!("build {build} started by process {}", me.pid));
    let outcome = osbs_reactor::run_build(&host, CancellationToken::new()).await;
    stop.store(true, Ordering::SeqCst);
    finish(&mut store, &host, build, &outcome)?;
    let config = store::require_build(store.conn(), build)?.build_config;
    reconcile(&mut store, Some(&config), rules)?;
    Ok(())
}

/// Stores the final outcome (the reactor stores it too; this covers a host error there).
fn finish(
    store: &mut Store,
    host: &LocalHost,
    build: &str,
    outcome: &BuildOutcome,
) -> Result<(), ClientError> {
    let tx = store.immediate()?;
    let mut b = store::require_build(&tx, build)?;
    if b.record_outcome(outcome, now()) {
        store::update_build(&tx, &b)?;
    }
    tx.commit()
        .map_err(store::db_error("cannot store the build's outcome"))?;
    host.log_line(&format!("build {build} ended {}", b.phase));
    Ok(())
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
