//! The local service over the engine: [`LocalBackend::serve`] (the local controller behind
//! `osbs serve`), [`LocalBackend::start_build`] and [`LocalBackend::prune`].

use std::path::Path;
use std::time::Duration;

use osbs_core::model::Build;
use osbs_core::prune::PruneRules;
use osbs_engine::backend::{Backend as _, BuildSubmission, ClientError, Result};
use osbs_engine::{Notifier, Shutdown, StartBuildError};
use osbs_registry_sync::ClientOptions;

use crate::LocalBackend;

/// How often the service runs a supervision pass.
const TICK: Duration = Duration::from_secs(1);

/// The lock file that lets one service per state directory do the work.
pub const SERVE_LOCK: &str = "serve.lock";

impl LocalBackend {
    /// Runs the local service until `shutdown` says stop: takes the state directory's service
    /// lock first (when another service holds it, calls `on_wait` with the lock's path and
    /// waits), then runs the engine (supervision every second, notifications, scheduled
    /// import every `import_interval` with one try per round, pruning by `keep_builds`).
    ///
    /// # Errors
    ///
    /// A lock file that cannot be opened or taken, notifications that cannot be set up, or an
    /// unreadable `registry_secret`.
    pub async fn serve(&self, shutdown: Shutdown, on_wait: impl FnOnce(&Path)) -> Result<()> {
        let path = self.state_dir().join(SERVE_LOCK);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ClientError::Backend {
                context: format!("cannot open the service lock {}", path.display()),
                source: Box::new(source),
            })?;
        let lock = if lock.try_lock().is_ok() {
            lock
        } else {
            on_wait(&path);
            tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
                .await
                .map_err(|e| ClientError::Backend {
                    context: "cannot wait for the service lock".to_owned(),
                    source: Box::new(e),
                })?
                .map_err(|source| ClientError::Backend {
                    context: format!("cannot take the service lock {}", path.display()),
                    source: Box::new(source),
                })?
        };
        let settings = self.engine.settings();
        let notifier =
            Notifier::new(settings.notify.clone()).map_err(|e| ClientError::Backend {
                context: "cannot set up notifications".to_owned(),
                source: Box::new(e),
            })?;
        let source = self.registry_source(&one_try())?;
        tracing::info!(
            "osbs serve: state {}, max_concurrent_builds {}, import_interval {}",
            self.state_dir().display(),
            settings
                .max_concurrent_builds
                .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
            settings
                .import_interval
                .map_or_else(|| "off".to_owned(), |d| format!("{d:?}")),
        );
        self.engine.run(&notifier, &source, TICK, shutdown).await;
        tracing::info!("osbs serve: stopped");
        drop(lock);
        Ok(())
    }

    /// One round of queue supervision (what every command does first): for programs that
    /// embed the backend and for `cargo xtask bench engine`.
    ///
    /// # Errors
    ///
    /// A state database that cannot be read.
    pub async fn supervise(&self) -> Result<osbs_engine::PassReport> {
        self.engine.pass().await.map_err(|e| ClientError::Backend {
            context: e.context,
            source: e.source,
        })
    }

    /// One round of the scheduled import (what `osbs serve` does every `import_interval`),
    /// with one try per registry.
    ///
    /// # Errors
    ///
    /// A state database that cannot be read, or an unreadable `registry_secret`.
    pub async fn scheduled_import_round(&self) -> Result<Vec<osbs_engine::import::StreamReport>> {
        let source = self.registry_source(&one_try())?;
        self.engine
            .scheduled_import(&source)
            .await
            .map_err(|e| ClientError::Backend {
                context: e.context,
                source: e.source,
            })
    }

    /// `start-build` (as `oc start-build`): a user build of BuildConfig `config`'s branch at
    /// its newest commit or `commit`; with `from_build`, that build's commit and kind again
    /// (an autorebuild stays an autorebuild, e.g. to retry a failed one).
    ///
    /// # Errors
    ///
    /// [`ClientError::NotFound`] for an unknown BuildConfig or build, a usage error for a build
    /// of another BuildConfig, or what a submission can fail with.
    pub async fn start_build(
        &self,
        config: &str,
        commit: Option<String>,
        from_build: Option<&str>,
    ) -> Result<Build> {
        let found = self.get_build_config(config).await?;
        let Some(from) = from_build else {
            let submission = BuildSubmission {
                git_url: found.git_url.clone(),
                git_branch: found.git_branch.clone(),
                git_commit: commit,
                component: found.image_name.clone(),
                // A user build of the BuildConfig builds with its recorded build arguments.
                variant: osbs_core::variant::BuildVariant {
                    build_args: found.build_args.clone(),
                    ..Default::default()
                },
            };
            return Ok(self.create_build(&submission).await?.build);
        };
        let build = self
            .engine
            .start_build(config, None, Some(from))
            .await
            .map_err(|e| match e {
                StartBuildError::UnknownBuild(name) => ClientError::NotFound {
                    kind: "build",
                    name,
                },
                StartBuildError::UnknownBuildConfig(name) => ClientError::NotFound {
                    kind: "build config",
                    name,
                },
                StartBuildError::OtherBuildConfig { .. } => ClientError::Usage(e.to_string()),
                other @ StartBuildError::Store(_) => ClientError::Backend {
                    context: "cannot queue the build".to_owned(),
                    source: Box::new(other),
                },
            })?;
        self.reconcile_all().await?;
        Ok(build)
    }

    /// Removes the ended builds `--keep N` (default `keep_builds`) and `--older-than`
    /// (milliseconds) select, with their logs; returns their names.
    ///
    /// # Errors
    ///
    /// A state database that cannot be read or written.
    pub async fn prune(
        &self,
        keep: Option<usize>,
        older_than_ms: Option<u64>,
    ) -> Result<Vec<String>> {
        let now = osbs_engine::now();
        let rules = PruneRules {
            keep: keep.unwrap_or(self.engine.settings().keep_builds),
            ended_before: older_than_ms
                .map(|ms| now.plus_millis(-i64::try_from(ms).unwrap_or(i64::MAX))),
        };
        self.engine
            .prune(&rules)
            .await
            .map_err(|e| ClientError::Backend {
                context: e.context,
                source: e.source,
            })
    }
}

/// Registry options of the scheduled import: one try per round (an unreachable registry is
/// reported and read again next interval), short timeouts.
fn one_try() -> ClientOptions {
    ClientOptions {
        retry: osbs_registry_sync::RetryPolicy::none(),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(30),
        ..ClientOptions::default()
    }
}
