//! [`LocalHost`]: the reactor's `BuildHost` over the SQLite state, and the import + trigger
//! fan-out that both a build's `import_image` and `osbs import-image` use.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use osbs_core::build::{BuildOutcome, BuildRequest, ImageImport, RunTarget};
use osbs_core::import::apply_import;
use osbs_core::model::{Build, ImageStream};
use osbs_core::time::Timestamp;
use osbs_core::trigger::TriggerGraph;
use osbs_engine::Imported;
use osbs_reactor::{BuildHost, HostError};

use super::runner::now;
use super::store::{self, RunSettings, Store};
use osbs_engine::backend::ClientError;

/// Applies `import` (by the build `by`, or by a user or the schedule when `None`) to its
/// ImageStream and queues the autorebuilds its changed tags trigger, all in one transaction:
/// `osbs_core::import::apply_import` and `TriggerGraph::fan_out` decide, this only stores. The
/// new builds run with `settings`; the engine's next pass starts them.
pub(crate) fn import_and_fan_out(
    store: &mut Store,
    import: &ImageImport,
    by: Option<&Build>,
    fire: bool,
    settings: &RunSettings,
    now: Timestamp,
) -> Result<Imported, ClientError> {
    import_and_fan_out_if(store, import, by, fire, settings, now, |_| Ok(true))?.ok_or_else(|| {
        ClientError::Usage(format!(
            "the import into image stream {} was refused",
            import.image_stream
        ))
    })
}

/// [`import_and_fan_out`] when `precondition`, checked inside the transaction, holds; `None`
/// (nothing written) when it does not.
pub(crate) fn import_and_fan_out_if(
    store: &mut Store,
    import: &ImageImport,
    by: Option<&Build>,
    fire: bool,
    settings: &RunSettings,
    now: Timestamp,
    precondition: impl FnOnce(&rusqlite::Connection) -> Result<bool, ClientError>,
) -> Result<Option<Imported>, ClientError> {
    let tx = store.immediate()?;
    if !precondition(&tx)? {
        return Ok(None);
    }
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
    let configs = if fire {
        store::configs_triggered_on(&tx, &stream.name)?
    } else {
        Vec::new()
    };
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
    Ok(Some(Imported {
        stream,
        queued,
        skipped: fan_out.skipped,
    }))
}

/// The reactor's host for one build of the local backend.
///
/// Every write it makes for the build (BuildConfig label, import, results) checks, in the same
/// transaction, that the run still holds its `lease`; a run declared dead lost it, and its
/// writes fail with [`Fenced`].
pub(crate) struct LocalHost {
    store: Mutex<Store>,
    build: String,
    lease: String,
    log: Mutex<Option<File>>,
}

/// A write of a run that no longer holds its lease.
#[derive(Debug, thiserror::Error)]
#[error("build {build} lost its run lease (it was declared dead); nothing more is published")]
pub(crate) struct Fenced {
    /// The build.
    pub build: String,
}

impl LocalHost {
    /// A host for the run of `build` under `lease` in the state directory `dir`.
    pub fn open(dir: &Path, build: &str, lease: &str) -> Result<LocalHost, ClientError> {
        let store = Store::open(dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(store::log_path(dir, build))
            .ok();
        Ok(LocalHost {
            store: Mutex::new(store),
            build: build.to_owned(),
            lease: lease.to_owned(),
            log: Mutex::new(log),
        })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails with [`Fenced`] unless the run still holds its lease.
    fn require_lease(&self, conn: &rusqlite::Connection) -> Result<(), HostError> {
        if store::holds_lease(conn, &self.build, &self.lease)? {
            Ok(())
        } else {
            Err(Box::new(Fenced {
                build: self.build.clone(),
            }))
        }
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
        Ok(BuildRequest::for_build(
            row.build,
            RunTarget {
                registry_uri: row.settings.registry_uri,
                registry_secret: row.settings.registry_secret,
                sync_target: row.settings.sync_target,
                image_name: config.image_name,
                repo_config_name: config.repo_config_name,
            },
        ))
    }

    fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        let mut store = self.store();
        let tx = store.immediate()?;
        self.require_lease(&tx)?;
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
            // The lease is checked again inside the import's transaction below.
            self.require_lease(store.conn())?;
            import_and_fan_out_fenced(&mut store, import, &row, &self.lease)?
        };
        for build in &imported.queued {
            self.log_line(&format!(
                "triggered {} (follow it with: osbs watch-build {})",
                build.name, build.name
            ));
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
        self.require_lease(&tx)?;
        let mut build = store::require_build(&tx, &self.build)?;
        let changed = build.store_results(outcome, now());
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

    fn check_lease(&self) -> Result<(), HostError> {
        self.require_lease(self.store().conn())
    }
}

/// [`import_and_fan_out`] for the run `row` under `lease`: refused with [`Fenced`] when the
/// lease was taken away, checked in the import's own transaction.
fn import_and_fan_out_fenced(
    store: &mut Store,
    import: &ImageImport,
    row: &store::BuildRow,
    lease: &str,
) -> Result<Imported, HostError> {
    let now = now();
    let imported = import_and_fan_out_if(
        store,
        import,
        Some(&row.build),
        true,
        &row.settings,
        now,
        |tx| store::holds_lease(tx, &row.build.name, lease),
    )?;
    imported.ok_or_else(|| -> HostError {
        Box::new(Fenced {
            build: row.build.name.clone(),
        })
    })
}
