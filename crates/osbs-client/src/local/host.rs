//! [`LocalHost`]: the reactor's `BuildHost` over the SQLite state, and the import + trigger
//! fan-out that both a build's `import_image` and `osbs import-image` use.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use osbs_core::build::{BuildOutcome, BuildRequest, ImageImport};
use osbs_core::import::apply_import;
use osbs_core::model::{Build, ImageStream};
use osbs_core::trigger::{SkippedTrigger, TriggerGraph};
use osbs_reactor::{BuildHost, HostError};

use super::runner::{RunnerCommand, now, spawn_runner};
use super::store::{self, RunSettings, Store};
use crate::backend::ClientError;

/// What an import changed and started.
pub(crate) struct Imported {
    /// The ImageStream after the import.
    pub stream: ImageStream,
    /// The autorebuilds it queued.
    pub queued: Vec<Build>,
    /// Triggered BuildConfigs that got no build, and why.
    pub skipped: Vec<SkippedTrigger>,
}

/// Applies `import` (by the build `by`, or by a user when `None`) to its ImageStream and queues
/// the autorebuilds its changed tags trigger, all in one transaction. The new builds run with
/// `settings`. The caller starts their runners after this returns.
pub(crate) fn import_and_fan_out(
    store: &mut Store,
    import: &ImageImport,
    by: Option<&Build>,
    settings: &RunSettings,
) -> Result<Imported, ClientError> {
    let tx = store.immediate()?;
    let now = now();
    let mut stream = store::get_stream(&tx, &import.image_stream)?
        .unwrap_or_else(|| ImageStream::new(import.image_stream.clone()));
    let changes =
        apply_import(&mut stream, import, by.map(|b| b.name.as_str()), now).map_err(|source| {
            ClientError::Backend {
                context: format!("cannot import into image stream {}", import.image_stream),
                source: Box::new(source),
            }
        })?;
    store::put_stream(&tx, &stream)?;
    let configs = store::configs_triggered_on(&tx, &stream.name)?;
    let chain = by.map(Build::downstream_chain).unwrap_or_default();
    let fan_out = TriggerGraph::new(&configs).fan_out(&stream.name, &changes, &chain);
    let mut queued = Vec::new();
    for request in fan_out.requests {
        let mut config = store::require_config(&tx, &request.build_config)?;
        let build = request.into_build(&mut config, now);
        store::put_config(&tx, &config)?;
        store::insert_build(&tx, &build, settings, now)?;
        queued.push(build);
    }
    tx.commit()
        .map_err(store::db_error("cannot commit the image import"))?;
    Ok(Imported {
        stream,
        queued,
        skipped: fan_out.skipped,
    })
}

/// The reactor's host for one build of the local backend.
pub(crate) struct LocalHost {
    store: Mutex<Store>,
    build: String,
    runner: RunnerCommand,
    log: Mutex<Option<File>>,
}

impl LocalHost {
    /// A host for `build` in the state directory `dir`; autorebuilds it triggers are run by
    /// runners started with `runner`.
    pub fn open(dir: &Path, build: &str, runner: RunnerCommand) -> Result<LocalHost, ClientError> {
        let store = Store::open(dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(store::log_path(dir, build))
            .ok();
        Ok(LocalHost {
            store: Mutex::new(store),
            build: build.to_owned(),
            runner,
            log: Mutex::new(log),
        })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one line to the build's log (written through, so followers see it at once).
    pub fn log_line(&self, line: &str) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = log.as_mut() {
            let mut text = String::with_capacity(line.len() + 1);
            text.push_str(line);
            text.push('\n');
            let _ = file.write_all(text.as_bytes());
        }
    }
}

impl BuildHost for LocalHost {
    fn build_request(&self) -> Result<BuildRequest, HostError> {
        let store = self.store();
        let row = store::get_row(store.conn(), &self.build)?.ok_or_else(|| {
            Box::new(ClientError::NotFound {
                kind: "build",
                name: self.build.clone(),
            })
        })?;
        let config = store::require_config(store.conn(), &row.build.build_config)?;
        let build = row.build;
        Ok(BuildRequest {
            build_name: build.name,
            build_config: build.build_config,
            git_url: build.git_url,
            git_branch: build.git_branch,
            git_commit: build.commit,
            is_autorebuild: build.is_autorebuild,
            registry_uri: row.settings.registry_uri,
            registry_secret: row.settings.registry_secret,
            image_name: config.image_name,
            sync_target: row.settings.sync_target,
            repo_config_name: config.repo_config_name,
            no_cache: false,
            plugins: Default::default(),
        })
    }

    fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        let mut store = self.store();
        let tx = store.immediate()?;
        let build = store::require_build(&tx, &self.build)?;
        let mut config = store::require_config(&tx, &build.build_config)?;
        config.labels.insert(key.to_owned(), value.to_owned());
        store::put_config(&tx, &config)?;
        tx.commit()?;
        Ok(())
    }

    fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        let imported = {
            let mut store = self.store();
            let row = store::get_row(store.conn(), &self.build)?.ok_or_else(|| {
                Box::new(ClientError::NotFound {
                    kind: "build",
                    name: self.build.clone(),
                })
            })?;
            import_and_fan_out(&mut store, import, Some(&row.build), &row.settings)?
        };
        let dir = self.store().dir().to_path_buf();
        for build in &imported.queued {
            self.log_line(&format!(
                "triggered {} (follow it with: osbs watch-build {})",
                build.name, build.name
            ));
            if let Err(err) = spawn_runner(&self.runner, &dir, &build.name) {
                // The next command's reconciliation still starts it; say why it did not now.
                self.log_line(&format!("warning: {err}"));
            }
        }
        for skipped in &imported.skipped {
            self.log_line(&format!(
                "not triggering {}: {}",
                skipped.build_config, skipped.reason
            ));
        }
        Ok(())
    }

    fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        let mut store = self.store();
        let tx = store.immediate()?;
        let mut build = store::require_build(&tx, &self.build)?;
        let changed = if build.phase.is_finished() {
            // A later call of the same build (the reactor stores once in `store_metadata` and
            // again at the very end) refreshes the results, never the phase or finish time.
            if build.phase == outcome.phase {
                let finished = build.finished;
                build.phase = osbs_core::build::BuildPhase::Running;
                build.record_outcome(outcome, now());
                build.finished = finished;
                true
            } else {
                false
            }
        } else {
            build.record_outcome(outcome, now())
        };
        if changed {
            store::update_build(&tx, &build)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn cancel_requested(&self) -> bool {
        store::cancel_requested(self.store().conn(), &self.build).unwrap_or(false)
    }

    fn log(&self, line: &str) {
        self.log_line(line);
    }
}
