//! [`LocalHost`]: the reactor's `BuildHost` over the SQLite state, and the import + trigger
//! fan-out that both a build's `import_image` and `osbs import-image` use.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use osbs_core::build::{BuildOutcome, BuildRequest, ImageImport, RunTarget};
use osbs_core::import::apply_import;
use osbs_core::model::{Build, ImageStream};
use osbs_core::time::Timestamp;
use osbs_core::trigger::TriggerGraph;
use osbs_core::variant::{ImportPolicy, import_policy};
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
/// writes fail with [`Fenced`]. Every database call runs on tokio's blocking pool (SQLite
/// blocks, up to its 30 s busy timeout), with the connection behind a shared mutex. Log lines
/// are appended to the build's log file, opened once, ANSI escape sequences stripped: no
/// database involved.
pub(crate) struct LocalHost {
    store: Arc<Mutex<Store>>,
    /// The signal to the build's waiters (module `wake`).
    wake: super::wake::Signal,
    build: String,
    lease: String,
    log: Mutex<Option<File>>,
    // `osbs build-logs --timestamps`.
    /// When each log line was written (`logs/BUILD.log.times`); locked after `log`.
    times: Mutex<Option<crate::log_times::TimesWriter>>,
    // The end of the build, before the end of the run (the reactor cleans up after it).
    /// Whether this host wrote the build's end line (`build B ended PHASE`): it does when a
    /// store of the results first makes the Build final.
    end_logged: AtomicBool,
    /// Notified when the Build became final, so the runner's caller can start what it freed
    /// while the reactor still cleans up.
    ended: Arc<Notify>,
}

/// A write of a run that no longer holds its lease.
#[derive(Debug, thiserror::Error)]
#[error("build {build} lost its run lease (it was declared dead); nothing more is published")]
pub(crate) struct Fenced {
    /// The build.
    pub build: String,
}

/// Fails with [`Fenced`] unless the run of `build` still holds its `lease`.
fn require_lease(conn: &rusqlite::Connection, build: &str, lease: &str) -> Result<(), HostError> {
    if store::holds_lease(conn, build, lease)? {
        Ok(())
    } else {
        Err(Box::new(Fenced {
            build: build.to_owned(),
        }))
    }
}

impl LocalHost {
    /// A host for the run of `build` under `lease` in the state directory `dir`.
    pub async fn open(dir: &Path, build: &str, lease: &str) -> Result<LocalHost, ClientError> {
        let wake = super::wake::Signal::new(dir, build);
        let dir = dir.to_path_buf();
        let name = build.to_owned();
        let (store, log, times) = tokio::task::spawn_blocking(move || {
            let store = Store::open(&dir)?;
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(store::log_path(&dir, &name))
                .ok();
            let log_len = log
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map(|m| m.len());
            let times =
                log_len.and_then(|len| crate::log_times::TimesWriter::open(&dir, &name, len));
            Ok::<_, ClientError>((store, log, times))
        })
        .await
        .map_err(|e| ClientError::Backend {
            context: format!("cannot open the state of build {build}"),
            source: Box::new(e),
        })??;
        Ok(LocalHost {
            store: Arc::new(Mutex::new(store)),
            wake,
            build: build.to_owned(),
            lease: lease.to_owned(),
            log: Mutex::new(log),
            times: Mutex::new(times),
            end_logged: AtomicBool::new(false),
            ended: Arc::new(Notify::new()),
        })
    }

    /// Notifies `ended` once a store of the results makes the Build final.
    pub fn with_end_signal(mut self, ended: Arc<Notify>) -> Self {
        self.ended = ended;
        self
    }

    /// Whether this host wrote the build's end line already.
    pub fn end_logged(&self) -> bool {
        self.end_logged.load(Ordering::SeqCst)
    }

    /// Runs `f` with the store, the build's name and the run's lease on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store, &str, &str) -> Result<T, HostError> + Send + 'static,
    ) -> Result<T, HostError> {
        let store = Arc::clone(&self.store);
        let (build, lease) = (self.build.clone(), self.lease.clone());
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard, &build, &lease)
        })
        .await?
    }

    /// Appends one line to the build's log (written through, so followers see it at once),
    /// without ANSI escape sequences (`osbs_core::terminal::strip_ansi`: colours of the build's
    /// output, titles set by a Dockerfile's words) and without a `\r` before its end: the
    /// stored log is plain text. What control characters remain are escaped when it is shown.
    pub fn log_line(&self, line: &str) {
        let clean = osbs_core::terminal::strip_ansi(line);
        let line = clean.strip_suffix('\r').unwrap_or(&clean);
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = log.as_mut() {
            let mut text = String::with_capacity(line.len() + 1);
            text.push_str(line);
            text.push('\n');
            // The time first: a follower that sees the line finds its time.
            if let Some(times) = self
                .times
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                times.record(text.len(), now());
            }
            let _ = file.write_all(text.as_bytes());
        }
        drop(log);
        // Followers of the log wake on the append, not on a timer.
        self.wake_waiters();
    }

    /// Tells the build's waiters to look again (its state changed).
    pub fn wake_waiters(&self) {
        self.wake.send();
    }
}

impl BuildHost for LocalHost {
    async fn build_request(&self) -> Result<BuildRequest, HostError> {
        self.blocking(|store, build, _| {
            let row = store::get_row(store.conn(), build)?.ok_or_else(|| {
                Box::new(ClientError::NotFound {
                    kind: "build",
                    name: build.to_owned(),
                })
            })?;
            let config = store::require_config(store.conn(), &row.build.build_config)?;
            // The base image the trigger names, for the reactor to check while it clones.
            let base_image_hint = match &config.trigger {
                Some(trigger) => store::get_stream(store.conn(), &trigger.stream)?
                    .and_then(|stream| stream.docker_image_repository)
                    .map(|repository| format!("{repository}:{}", trigger.tag)),
                None => None,
            };
            let mut request = BuildRequest::for_build(
                row.build,
                RunTarget {
                    registry_uri: row.settings.registry_uri,
                    registry_secret: row.settings.registry_secret,
                    sync_target: row.settings.sync_target,
                    image_name: config.image_name,
                    repo_config_name: config.repo_config_name,
                },
            );
            request.push_method = row.settings.push_method;
            request.builder = row.settings.builder;
            request.build_secrets = row.settings.build_secrets;
            request.extra_registries = row.settings.extra_registries;
            request.skip_tls_verify = row.settings.skip_tls_verify;
            request.registry_ca = row.settings.registry_ca;
            request.base_image_hint = base_image_hint;
            Ok(request)
        })
        .await
    }

    async fn set_build_config_label(&self, key: &str, value: &str) -> Result<(), HostError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.blocking(move |store, build, lease| {
            let tx = store.immediate()?;
            require_lease(&tx, build, lease)?;
            let build = store::require_build(&tx, build)?;
            let mut config = store::require_config(&tx, &build.build_config)?;
            config.labels.insert(key, value);
            store::put_config(&tx, &config)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn import_image(&self, import: &ImageImport) -> Result<(), HostError> {
        let import = import.clone();
        let imported = self
            .blocking(move |store, build, lease| {
                let row = store::get_row(store.conn(), build)?.ok_or_else(|| {
                    Box::new(ClientError::NotFound {
                        kind: "build",
                        name: build.to_owned(),
                    })
                })?;
                // The lease is checked again inside the import's transaction below.
                require_lease(store.conn(), build, lease)?;
                import_and_fan_out_fenced(store, &import, &row, lease)
            })
            .await?;
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

    /// Stores the outcome under the lease. The store that makes the Build final (the reactor's
    /// `store_metadata`, before its clean-up) also writes the build's end line and tells the
    /// runner's caller: a follower has the whole build then, and the run slot is free, while
    /// the reactor still removes what it left in the Docker Engine (its lines follow the end
    /// line; the store at the very end only adds the clean-up's timings).
    async fn store_results(&self, outcome: &BuildOutcome) -> Result<(), HostError> {
        let outcome = outcome.clone();
        let ended = self
            .blocking(move |store, build, lease| {
                let tx = store.immediate()?;
                require_lease(&tx, build, lease)?;
                let mut build = store::require_build(&tx, build)?;
                let was_final = build.phase.is_finished();
                let changed = build.store_results(&outcome, now());
                if changed {
                    store::update_build(&tx, &build)?;
                }
                tx.commit()?;
                Ok((!was_final && build.phase.is_finished()).then_some(build.phase))
            })
            .await?;
        if let Some(phase) = ended {
            self.log_line(&format!(
                "{}{phase}",
                super::runner::end_line_prefix(&self.build)
            ));
            self.end_logged.store(true, Ordering::SeqCst);
            self.ended.notify_one();
        }
        // The build's end: whoever waits for it learns now, not at its next poll.
        self.wake_waiters();
        Ok(())
    }

    /// One read of the build's cancel flag on the blocking pool (the reactor polls every
    /// 200 ms); an unreadable flag counts as no cancel, the next poll asks again.
    async fn cancel_requested(&self) -> bool {
        self.blocking(|store, build, _| Ok(store::cancel_requested(store.conn(), build)?))
            .await
            .unwrap_or(false)
    }

    /// An append to the build's log file, opened once by [`LocalHost::open`].
    fn log(&self, line: &str) {
        self.log_line(line);
    }

    async fn check_lease(&self) -> Result<(), HostError> {
        self.blocking(|store, build, lease| require_lease(store.conn(), build, lease))
            .await
    }

    /// The password stored for the build's BuildConfig (`secrets`: a mode-0600 file outside
    /// the database), for a git URL stored as `user:***@`.
    async fn git_password(&self) -> Result<Option<osbs_core::auth::Secret>, HostError> {
        self.blocking(|store, build, _| {
            let row = store::get_row(store.conn(), build)?.ok_or_else(|| {
                Box::new(ClientError::NotFound {
                    kind: "build",
                    name: build.to_owned(),
                })
            })?;
            Ok(super::secrets::read_password(
                store.dir(),
                &row.build.build_config,
            )?)
        })
        .await
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
    // The build's variant decides: a scratch build records nothing, an isolated one fires no
    // triggers (SPEC §3's build variants; the reactor skips the scratch import already).
    let fire = match import_policy(Some(&row.build), true) {
        ImportPolicy::Skip => {
            require_lease(store.conn(), &row.build.name, lease)?;
            let stream = store::get_stream(store.conn(), &import.image_stream)?
                .unwrap_or_else(|| ImageStream::new(import.image_stream.clone()));
            return Ok(Imported {
                stream,
                queued: Vec::new(),
                skipped: Vec::new(),
            });
        }
        ImportPolicy::Record => false,
        ImportPolicy::Fire => true,
    };
    let imported = import_and_fan_out_if(
        store,
        import,
        Some(&row.build),
        fire,
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

#[cfg(test)]
mod tests {
    use osbs_core::build::BuildPhase;
    use osbs_core::model::{BuildCause, BuildConfig};

    use super::*;

    /// A state directory with one build, started under `lease`.
    fn started(lease: &str) -> (tempfile::TempDir, Store, Build) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut config = BuildConfig::new("https://h/ns/app.git", "main");
        let build = Build::queued(
            &mut config,
            BuildCause::User,
            Some("0123abcd".into()),
            now(),
        );
        let tx = store.immediate().unwrap();
        store::put_config(&tx, &config).unwrap();
        store::insert_build(&tx, &build, &RunSettings::default(), now()).unwrap();
        let version = store::get_row(&tx, &build.name).unwrap().unwrap().version;
        assert!(store::start_run(&tx, &build.name, version, lease, now()).unwrap());
        tx.commit().unwrap();
        (dir, store, build)
    }

    /// A build's import by its variant: a scratch build records nothing, an isolated one
    /// records without firing the trigger on the tag, a regular one fires it.
    #[tokio::test]
    async fn the_variant_decides_what_an_import_records_and_fires() {
        use osbs_core::model::{ImageStreamTag, UserSubmission};
        use osbs_core::variant::BuildVariant;

        let isolated = BuildVariant {
            isolated: true,
            release: Some("1.1".into()),
            ..BuildVariant::default()
        };
        let scratch = BuildVariant {
            scratch: true,
            ..BuildVariant::default()
        };
        for (variant, recorded, fired) in [
            (scratch, false, 0),
            (isolated, true, 0),
            (BuildVariant::default(), true, 1),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(dir.path()).unwrap();
            let mut app = BuildConfig::new("https://h/ns/app.git", "main");
            app.record_user_build(UserSubmission {
                commit: "0123abcd".into(),
                trigger: Some(ImageStreamTag::new("ns-base", "latest")),
                repo_config_name: ".osbs-repo-config".into(),
                image_name: Some("ns/app".into()),
            });
            let mut base = BuildConfig::new("https://h/ns/base.git", "main");
            let mut build = Build::queued(&mut base, BuildCause::User, None, now());
            build.variant = variant.clone();
            let tx = store.immediate().unwrap();
            store::put_config(&tx, &app).unwrap();
            store::put_config(&tx, &base).unwrap();
            store::insert_build(&tx, &build, &RunSettings::default(), now()).unwrap();
            let version = store::get_row(&tx, &build.name).unwrap().unwrap().version;
            assert!(store::start_run(&tx, &build.name, version, "lease", now()).unwrap());
            tx.commit().unwrap();
            let host = LocalHost::open(dir.path(), &build.name, "lease")
                .await
                .unwrap();
            let import = ImageImport {
                image_stream: "ns-base".into(),
                docker_image_repository: "127.0.0.1:5000/ns/base".into(),
                tags: vec![("latest".into(), format!("sha256:{}", "d".repeat(64)))],
            };
            host.import_image(&import).await.unwrap();
            let stream = store::get_stream(store.conn(), "ns-base").unwrap();
            assert_eq!(stream.is_some(), recorded, "{variant:?}");
            let queued = store::unfinished_rows(store.conn(), Some(&app.name)).unwrap();
            assert_eq!(queued.len(), fired, "{variant:?}");
        }
    }

    #[tokio::test]
    async fn the_stored_log_has_no_escape_sequences() {
        let (dir, _store, build) = started("lease-1");
        let host = LocalHost::open(dir.path(), &build.name, "lease-1")
            .await
            .unwrap();
        host.log_line("Step 2/3 : LABEL evil=\"\u{1b}]0;pwned\u{7}\"");
        BuildHost::log(&host, "\u{1b}[31mred\u{1b}[0m\r");
        host.log_line("plain\ttext");
        let log = std::fs::read_to_string(store::log_path(dir.path(), &build.name)).unwrap();
        assert_eq!(log, "Step 2/3 : LABEL evil=\"\"\nred\nplain\ttext\n");
    }

    /// The request carries the base image the BuildConfig's trigger names (its ImageStream's
    /// repository and the tag), for the reactor to look up while it clones; none without one.
    #[tokio::test]
    async fn the_request_names_the_triggering_base_image_as_a_hint() {
        use osbs_core::model::ImageStreamTag;

        let (dir, store, build) = started("lease-1");
        let host = LocalHost::open(dir.path(), &build.name, "lease-1")
            .await
            .unwrap();
        assert_eq!(host.build_request().await.unwrap().base_image_hint, None);
        let mut config = store::require_config(store.conn(), &build.build_config).unwrap();
        config.trigger = Some(ImageStreamTag::new("ns-base", "1.0"));
        store::put_config(store.conn(), &config).unwrap();
        // A stream not imported yet: no repository, no hint.
        store::put_stream(store.conn(), &ImageStream::new("ns-base")).unwrap();
        assert_eq!(host.build_request().await.unwrap().base_image_hint, None);
        let mut stream = ImageStream::new("ns-base");
        stream.docker_image_repository = Some("127.0.0.1:5000/ns/base".into());
        store::put_stream(store.conn(), &stream).unwrap();
        assert_eq!(
            host.build_request()
                .await
                .unwrap()
                .base_image_hint
                .as_deref(),
            Some("127.0.0.1:5000/ns/base:1.0")
        );
    }

    /// The store that makes the Build final (the reactor's `store_metadata`, before its
    /// clean-up) ends the log for followers and signals the runner's caller, once; the store at
    /// the end of the run (the clean-up's timings) keeps the phase and writes no second end.
    #[tokio::test]
    async fn the_store_that_ends_the_build_writes_the_end_line_and_signals_once() {
        use osbs_core::build::{BuildOutcome, BuildResults};

        let (dir, store, build) = started("lease-1");
        let ended = Arc::new(Notify::new());
        let host = LocalHost::open(dir.path(), &build.name, "lease-1")
            .await
            .unwrap()
            .with_end_signal(Arc::clone(&ended));
        let mut outcome = BuildOutcome {
            phase: BuildPhase::Complete,
            error: None,
            reason: None,
            results: BuildResults::default(),
        };
        assert!(!host.end_logged());
        host.store_results(&outcome).await.unwrap();
        assert!(host.end_logged());
        tokio::time::timeout(std::time::Duration::from_secs(5), ended.notified())
            .await
            .expect("the end was signalled");
        host.log_line("running plugin remove_built_image");

        outcome
            .results
            .plugins_metadata
            .durations
            .insert("remove_built_image".to_owned(), 0.02);
        host.store_results(&outcome).await.unwrap();
        let stored = store::require_build(store.conn(), &build.name).unwrap();
        assert_eq!(stored.phase, BuildPhase::Complete);
        assert!(
            stored
                .plugins_metadata
                .durations
                .contains_key("remove_built_image")
        );
        // A failure found afterwards does not change how it ended.
        outcome.phase = BuildPhase::Failed;
        host.store_results(&outcome).await.unwrap();
        let stored = store::require_build(store.conn(), &build.name).unwrap();
        assert_eq!(stored.phase, BuildPhase::Complete);
        let log = std::fs::read_to_string(store::log_path(dir.path(), &build.name)).unwrap();
        assert_eq!(
            log,
            format!(
                "build {} ended Complete\nrunning plugin remove_built_image\n",
                build.name
            )
        );
        assert!(super::super::runner::is_last_line(
            &build.name,
            log.lines().next().unwrap()
        ));
    }

    fn is_fenced(err: &HostError) -> bool {
        err.downcast_ref::<Fenced>().is_some()
    }

    // One runtime thread: every database call of the host must leave it (spawn_blocking).
    #[tokio::test]
    async fn writes_under_the_lease_go_through_and_are_refused_once_it_is_gone() {
        let (dir, store, build) = started("lease-1");
        let host = LocalHost::open(dir.path(), &build.name, "lease-1")
            .await
            .unwrap();

        let request = host.build_request().await.unwrap();
        assert_eq!(request.build_name, build.name);
        host.check_lease().await.unwrap();
        host.set_build_config_label("is_autorebuild", "true")
            .await
            .unwrap();
        let import = ImageImport {
            image_stream: "ns-app".into(),
            docker_image_repository: "127.0.0.1:5000/ns/app".into(),
            tags: vec![("latest".into(), format!("sha256:{}", "c".repeat(64)))],
        };
        host.import_image(&import).await.unwrap();
        assert!(store::get_stream(store.conn(), "ns-app").unwrap().is_some());
        assert!(!host.cancel_requested().await);
        store::request_cancel(store.conn(), &build.name).unwrap();
        assert!(host.cancel_requested().await);

        // The engine declares the run dead: its lease is gone.
        store
            .conn()
            .execute(
                "UPDATE builds SET lease = NULL WHERE name = ?1",
                [&build.name],
            )
            .unwrap();
        assert!(is_fenced(&host.check_lease().await.unwrap_err()));
        let refused = host
            .set_build_config_label("is_autorebuild", "false")
            .await
            .unwrap_err();
        assert!(is_fenced(&refused), "{refused}");
        let import = ImageImport {
            image_stream: "ns-other".into(),
            ..import
        };
        assert!(is_fenced(&host.import_image(&import).await.unwrap_err()));
        let outcome = BuildOutcome {
            phase: BuildPhase::Complete,
            error: None,
            reason: None,
            results: osbs_core::build::BuildResults::default(),
        };
        assert!(is_fenced(&host.store_results(&outcome).await.unwrap_err()));

        let config = store::require_config(store.conn(), &build.build_config).unwrap();
        assert_eq!(config.labels["is_autorebuild"], "true");
        assert!(
            store::get_stream(store.conn(), "ns-other")
                .unwrap()
                .is_none()
        );
        let stored = store::require_build(store.conn(), &build.name).unwrap();
        assert_eq!(stored.phase, BuildPhase::Pending);
    }
}
