//! The runner: plugins phase by phase, failure and cancellation rules, per-plugin metadata,
//! and the private per-run [`Context`] the plugins share.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use bollard::Docker;
use osbs_core::ImageReference;
use osbs_core::build::{BuildOutcome, BuildPhase, BuildRequest, BuildResults};
use osbs_core::dockerfile::Dockerfile;
use tokio_util::sync::CancellationToken;

use crate::error::{ReactorError, chain};
use crate::host::{BuildHost, DynHost};
use crate::plugins::{self, Phase, PluginSpec, Step};
use crate::registry::{Auth, Registry};

/// How often the runner asks the host whether the build was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(200);
/// How long a plugin gets to wind down by itself after a cancel before it is dropped.
const CANCEL_GRACE: Duration = Duration::from_secs(3);
/// Docker Engine request timeout: covers whole builds and pushes, not just headers.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// What happened to one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginOutcome {
    /// It ran and succeeded.
    Passed,
    /// It did not run, or had nothing to do.
    Skipped {
        /// Why.
        reason: String,
    },
    /// It failed.
    Failed {
        /// The error, with its causes.
        error: String,
    },
}

/// How the build is ending, as far as the runner knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Nothing went wrong (yet).
    Complete,
    /// `"Error in plugin NAME: message"`.
    Failed(String),
    /// The reason.
    Cancelled(String),
}

/// The target of the push: the registry and the image's repository in it.
pub(crate) struct Target {
    pub(crate) registry: Registry,
    pub(crate) repository: String,
}

impl Target {
    /// `registry/repository`.
    pub(crate) fn image(&self) -> String {
        format!("{}/{}", self.registry.host(), self.repository)
    }
}

/// Per-run state the plugins share. Private: plugins are the only code that sees it.
pub(crate) struct Context<'h> {
    pub(crate) host: &'h dyn DynHost,
    pub(crate) request: BuildRequest,
    pub(crate) cancel: CancellationToken,
    pub(crate) ending: Ending,
    /// Scratch space of this run (the clone lives here); removed when the run ends.
    pub(crate) workdir: tempfile::TempDir,
    pub(crate) source_dir: Option<PathBuf>,
    pub(crate) dockerfile: Option<Dockerfile>,
    pub(crate) base_image: Option<ImageReference>,
    pub(crate) auth: Auth,
    pub(crate) target: Option<Target>,
    pub(crate) version: Option<String>,
    pub(crate) image_id: Option<String>,
    /// Tags to push: primary first, then the unique one.
    pub(crate) primary_tags: Vec<String>,
    pub(crate) unique_tag: Option<String>,
    /// This build's own tag on its base image (`pull_base_image`), dropped at the end.
    pub(crate) base_hold: Option<String>,
    /// The local tag a BuildKit build stored its image under, dropped at the end.
    pub(crate) built_tag: Option<String>,
    /// The lookup of the request's base image hint, running while the source is cloned.
    pub(crate) base_check: Option<plugins::build::BaseCheck>,
    pub(crate) results: BuildResults,
    /// Whether `store_metadata` stored the outcome: the Build is final, and what runs after it
    /// (the clean-up) can no longer change how it ended, only log.
    pub(crate) stored: bool,
    docker: Option<Docker>,
    /// The listing of base-image holds killed runs left behind, started when the Engine is
    /// first connected so that `remove_built_image` does not wait for it: listing images
    /// costs the Engine time in proportion to all its images (0.26 s with 1,400).
    pub(crate) stale_holds: Option<StaleHolds>,
}

/// The background listing of stale base-image holds (`plugins::exit::stale_holds`).
pub(crate) type StaleHolds = tokio::task::JoinHandle<Result<Vec<String>, bollard::errors::Error>>;

/// A Docker Engine client, connected and the API version negotiated.
pub(crate) async fn connect_docker() -> Result<Docker, ReactorError> {
    Docker::connect_with_defaults()
        .map_err(ReactorError::docker("connect"))?
        .with_timeout(DOCKER_TIMEOUT)
        .negotiate_version()
        .await
        .map_err(ReactorError::docker("version negotiation"))
}

impl Context<'_> {
    /// The Docker Engine client, connected (and the API version negotiated) on first use.
    pub(crate) async fn docker(&mut self) -> Result<Docker, ReactorError> {
        if let Some(docker) = &self.docker {
            return Ok(docker.clone());
        }
        let docker = connect_docker().await?;
        self.docker = Some(docker.clone());
        self.stale_holds = Some(tokio::spawn(plugins::exit::stale_holds(docker.clone())));
        Ok(docker)
    }

    /// Makes `docker` (connected by [`connect_docker`] elsewhere) this run's client unless it
    /// has one, as [`Context::docker`] would have.
    pub(crate) fn adopt_docker(&mut self, docker: Docker) {
        if self.docker.is_none() {
            self.stale_holds = Some(tokio::spawn(plugins::exit::stale_holds(docker.clone())));
            self.docker = Some(docker);
        }
    }

    /// The Docker Engine client if one was connected.
    pub(crate) fn connected_docker(&self) -> Option<Docker> {
        self.docker.clone()
    }

    /// The source checkout.
    pub(crate) fn source_dir(&self) -> Result<PathBuf, ReactorError> {
        self.source_dir.clone().ok_or(ReactorError::Missing {
            what: "the source checkout",
        })
    }

    /// The Dockerfile as it will be built (the checkout's, as changed by earlier plugins).
    pub(crate) fn dockerfile_text(&self) -> Result<String, ReactorError> {
        self.results
            .dockerfile
            .clone()
            .ok_or(ReactorError::Missing {
                what: "the Dockerfile",
            })
    }

    /// Makes `content` the Dockerfile that will be built: written into the checkout and
    /// recorded as the `dockerfile` result.
    pub(crate) async fn set_dockerfile(&mut self, content: String) -> Result<(), ReactorError> {
        let path = self.source_dir()?.join("Dockerfile");
        tokio::fs::write(&path, &content)
            .await
            .map_err(|source| ReactorError::Io {
                action: "write",
                path,
                source,
            })?;
        self.results.dockerfile = Some(content);
        Ok(())
    }

    /// The parsed Dockerfile.
    pub(crate) fn dockerfile(&self) -> Result<&Dockerfile, ReactorError> {
        self.dockerfile.as_ref().ok_or(ReactorError::Missing {
            what: "the Dockerfile",
        })
    }

    /// The push target.
    pub(crate) fn target(&self) -> Result<&Target, ReactorError> {
        self.target.as_ref().ok_or(ReactorError::Missing {
            what: "the target repository",
        })
    }

    /// Sends one line to the build log. A line that would read as layer progress (build
    /// output echoing the prefix) is indented, so only `progress` writes progress lines.
    pub(crate) fn log(&self, line: &str) {
        if crate::progress::is_progress_line(line) {
            self.host.log(&format!(" {line}"));
        } else {
            self.host.log(line);
        }
    }

    /// The outcome so far, as stored by `store_metadata` and at the end.
    pub(crate) fn outcome(&self) -> BuildOutcome {
        let (phase, error, reason) = match &self.ending {
            Ending::Complete => (BuildPhase::Complete, None, None),
            Ending::Failed(message) => (BuildPhase::Failed, Some(message.clone()), None),
            Ending::Cancelled(reason) => (BuildPhase::Cancelled, None, Some(reason.clone())),
        };
        BuildOutcome {
            phase,
            error,
            reason,
            results: self.results.clone(),
        }
    }
}

/// A plugin with the switches this build gives it.
struct Planned {
    spec: &'static PluginSpec,
    enabled: bool,
    allowed_to_fail: bool,
}

/// Applies the request's overrides to the registry; unknown names and disabling a required
/// plugin are errors.
fn plan(request: &BuildRequest) -> Result<Vec<Planned>, ReactorError> {
    let known: BTreeSet<&str> = plugins::all().iter().map(|p| p.name).collect();
    if let Some(unknown) = request.plugins.keys().find(|k| !known.contains(k.as_str())) {
        return Err(ReactorError::Request {
            reason: format!("unknown plugin `{unknown}`"),
        });
    }
    plugins::all()
        .iter()
        .map(|spec| {
            let o = request.plugins.get(spec.name).cloned().unwrap_or_default();
            let required = o.required.unwrap_or(spec.required);
            let enabled = o.enabled.unwrap_or(true);
            if required && !enabled {
                return Err(ReactorError::Request {
                    reason: format!("plugin `{}` is required and cannot be disabled", spec.name),
                });
            }
            Ok(Planned {
                spec,
                enabled,
                allowed_to_fail: o.allowed_to_fail.unwrap_or(spec.allowed_to_fail),
            })
        })
        .collect()
}

/// An outcome for a build that could not start (no request, bad request).
fn not_started(phase: BuildPhase, error: String) -> BuildOutcome {
    BuildOutcome {
        phase,
        error: Some(error),
        reason: None,
        results: BuildResults::default(),
    }
}

/// Runs the Build the host serves to its end on a new two-thread runtime, the way the
/// `osbs-reactor` binary does: [`run_build_with_signals`] on a runtime of its own.
///
/// # Errors
///
/// The runtime cannot start.
pub fn run_build_until_signal(
    host: &impl BuildHost,
    program: &str,
) -> std::io::Result<BuildOutcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(run_build_with_signals(host, program)))
}

/// Runs the Build the host serves to its end on the caller's runtime (for a host that needs
/// the runtime to be built, as the build Pod's does): SIGTERM or SIGINT cancels the build (the
/// exit plugins still run, the outcome is `Cancelled`). `program` prefixes the message printed
/// when a signal arrives.
pub async fn run_build_with_signals(host: &impl BuildHost, program: &str) -> BuildOutcome {
    let cancel = CancellationToken::new();
    let signals = cancel.clone();
    let program = program.to_owned();
    let listener = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("{program}: signal received, cancelling the build");
        signals.cancel();
    });
    let outcome = run_build(host, cancel).await;
    listener.abort();
    outcome
}

/// Runs the Build the host serves and returns how it ended. Cancelling `cancel` (or the host
/// reporting a cancel request) stops the current plugin promptly, runs the exit plugins and
/// ends the build `Cancelled`.
///
/// Never panics on bad input: every problem ends the build `Failed` (or `Error` when the
/// host cannot even say what to build) with a message.
pub async fn run_build(host: &impl BuildHost, cancel: CancellationToken) -> BuildOutcome {
    run_build_on(host, cancel).await
}

/// [`run_build`] over the host as a trait object: one copy of the pipeline for every host.
async fn run_build_on(host: &dyn DynHost, cancel: CancellationToken) -> BuildOutcome {
    let request = match host.build_request().await {
        Ok(request) => request,
        Err(source) => {
            let err = ReactorError::Host {
                action: "read the build request",
                source,
            };
            return not_started(BuildPhase::Error, chain(&err));
        }
    };
    let planned = match plan(&request) {
        Ok(planned) => planned,
        Err(err) => {
            let outcome = not_started(BuildPhase::Failed, chain(&err));
            let _ = host.store_results(&outcome).await;
            return outcome;
        }
    };
    let workdir = match tempfile::Builder::new().prefix("osbs-reactor-").tempdir() {
        Ok(dir) => dir,
        Err(source) => {
            let err = ReactorError::Io {
                action: "create a work directory in",
                path: std::env::temp_dir(),
                source,
            };
            return not_started(BuildPhase::Error, chain(&err));
        }
    };
    let mut cx = Context {
        host,
        request,
        cancel: cancel.clone(),
        ending: Ending::Complete,
        workdir,
        source_dir: None,
        dockerfile: None,
        base_image: None,
        auth: Auth::default(),
        target: None,
        version: None,
        image_id: None,
        primary_tags: Vec::new(),
        unique_tag: None,
        base_hold: None,
        built_tag: None,
        base_check: None,
        results: BuildResults::default(),
        stored: false,
        docker: None,
        stale_holds: None,
    };
    let watcher = async {
        loop {
            if host.cancel_requested().await {
                cancel.cancel();
                return std::future::pending::<Infallible>().await;
            }
            tokio::select! {
                () = tokio::time::sleep(CANCEL_POLL) => {}
                () = cancel.cancelled() => return std::future::pending::<Infallible>().await,
            }
        }
    };
    tokio::select! {
        outcome = run_plugins(&mut cx, &planned) => outcome,
        never = watcher => match never {},
    }
}

async fn run_plugins(cx: &mut Context<'_>, planned: &[Planned]) -> BuildOutcome {
    let (main, exit): (Vec<&Planned>, Vec<&Planned>) =
        planned.iter().partition(|p| p.spec.phase != Phase::Exit);
    for plugin in main {
        if cx.ending != Ending::Complete {
            break;
        }
        if cx.cancel.is_cancelled() {
            cx.ending = Ending::Cancelled("build cancelled".to_owned());
            break;
        }
        run_one(cx, plugin, true).await;
    }
    for plugin in exit {
        run_one(cx, plugin, false).await;
    }
    let outcome = cx.outcome();
    if let Err(source) = cx.host.store_results(&outcome).await {
        let err = ReactorError::Host {
            action: "store the results",
            source,
        };
        cx.log(&format!("warning: {}", chain(&err)));
    }
    outcome
}

/// Runs one plugin, records its metadata and applies the failure rules.
async fn run_one(cx: &mut Context<'_>, plugin: &Planned, cancellable: bool) -> PluginOutcome {
    let name = plugin.spec.name;
    if !plugin.enabled {
        cx.log(&format!("plugin {name} disabled by the build request"));
        return PluginOutcome::Skipped {
            reason: "disabled".to_owned(),
        };
    }
    cx.log(&format!("running plugin {name}"));
    let started = Instant::now();
    cx.results.plugins_metadata.timestamps.insert(
        name.to_owned(),
        osbs_core::time::Timestamp::from_system_time(SystemTime::now()),
    );
    let cancel = cx.cancel.clone();
    let result = {
        let future = (plugin.spec.run)(cx);
        if cancellable {
            tokio::select! {
                result = future => result,
                () = async { cancel.cancelled().await; tokio::time::sleep(CANCEL_GRACE).await } => {
                    Ok(Step::Cancel("build cancelled".to_owned()))
                }
            }
        } else {
            future.await
        }
    };
    let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    cx.results
        .plugins_metadata
        .durations
        .insert(name.to_owned(), seconds);
    match result {
        Ok(Step::Done) => PluginOutcome::Passed,
        Ok(Step::Skipped(reason)) => {
            cx.log(&format!("plugin {name} skipped: {reason}"));
            PluginOutcome::Skipped { reason }
        }
        Ok(Step::Cancel(reason)) => {
            cx.log(&format!("plugin {name} cancelled the build: {reason}"));
            if cx.ending == Ending::Complete && !cx.stored {
                cx.ending = Ending::Cancelled(reason.clone());
            }
            PluginOutcome::Skipped { reason }
        }
        Err(err) => {
            let message = chain(&err);
            cx.log(&format!("plugin {name} failed: {message}"));
            cx.results
                .plugins_metadata
                .errors
                .insert(name.to_owned(), message.clone());
            if cx.stored {
                // The Build is final already: a failure after it (the clean-up) is logged
                // and kept in the plugin metadata, whatever the plugin's `allowed_to_fail`.
            } else if cancellable && cx.cancel.is_cancelled() {
                if cx.ending == Ending::Complete {
                    cx.ending = Ending::Cancelled("build cancelled".to_owned());
                }
            } else if !plugin.allowed_to_fail && cx.ending == Ending::Complete {
                cx.ending = Ending::Failed(format!("Error in plugin {name}: {message}"));
            }
            PluginOutcome::Failed { error: message }
        }
    }
}

#[cfg(test)]
mod tests {
    use osbs_core::build::PluginOverride;

    use super::*;

    fn request() -> BuildRequest {
        serde_json::from_str(
            r#"{"build_name":"a-1","build_config":"a","git_url":"file:///x","git_branch":"main",
                "registry_uri":"127.0.0.1:5000"}"#,
        )
        .unwrap()
    }

    #[test]
    fn a_run_can_move_between_threads() {
        // `run_build` is spawned on multi-threaded runtimes: its future, and with it every
        // host future it awaits, must be `Send`.
        fn assert_send<T: Send>(_: &T) {}
        let host = crate::StandaloneHost::new(request());
        let run = run_build(&host, CancellationToken::new());
        assert_send(&run);
    }

    #[test]
    fn overrides() {
        let mut r = request();
        r.plugins.insert(
            "pull_base_image".to_owned(),
            PluginOverride {
                enabled: Some(false),
                ..PluginOverride::default()
            },
        );
        r.plugins.insert(
            "import_image".to_owned(),
            PluginOverride {
                allowed_to_fail: Some(true),
                ..PluginOverride::default()
            },
        );
        let planned = plan(&r).unwrap();
        let get = |n: &str| planned.iter().find(|p| p.spec.name == n).unwrap();
        assert!(!get("pull_base_image").enabled);
        assert!(get("import_image").allowed_to_fail);
        assert!(!get("docker_api").allowed_to_fail);

        r.plugins.insert(
            "docker_api".to_owned(),
            PluginOverride {
                enabled: Some(false),
                ..PluginOverride::default()
            },
        );
        let err = plan(&r).err().unwrap();
        assert_eq!(
            err.to_string(),
            "invalid build request: plugin `docker_api` is required and cannot be disabled"
        );
        r.plugins.clear();
        r.plugins
            .insert("nope".to_owned(), PluginOverride::default());
        assert!(plan(&r).is_err());
    }
}
