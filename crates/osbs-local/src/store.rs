//! The local backend's state: one SQLite database (`state_dir/osbs.db`, WAL mode) holding the
//! BuildConfigs, Builds and ImageStreams as the JSON of their `osbs_core::model` structs, plus
//! the runner bookkeeping of each build (owner process, heartbeat, cancel flag).
//!
//! Columns beside the JSON exist only to find rows (`build_config`, `phase`, `created`, the
//! trigger's stream, the BuildConfig whose image change caused a build); the JSON is the
//! truth. A build's two bulky fields (`dockerfile`, `plugins_metadata`, half its size) live in
//! a `details` column beside it, so that listing 10,000 builds decodes only what a list shows. Every change that reads and
//! writes goes through an `IMMEDIATE` transaction, so two `osbs` processes never lose each
//! other's updates.
//!
//! The database has an identity: a random id made with its schema (table `meta`, schema
//! version 3), repeated in the state directory's `identity` file. A database made in a state
//! directory that knew another one (the file names another id, or build logs exist without
//! one) replaced a deleted database: the old `logs/` move to `old-logs/<OLD ID>/` before the
//! new schema commits, the open says so once ([`StateRecreated`]), and a BuildConfig made anew
//! starts its counter after the highest build number any kept log has
//! ([`highest_logged_number`]), so no build name, and no log file, is ever reused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use osbs_core::build::{PluginsMetadata, SyncTarget};
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStream};
use osbs_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use osbs_engine::backend::{BuildFilter, ClientError};

/// The schema this version writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 3;

/// The database file inside the state directory.
pub(crate) const DB_FILE: &str = "osbs.db";

/// The marker file beside the database holding its identity (the `meta` table's `id`): a
/// database that does not match it replaced the one the state directory had.
pub(crate) const IDENTITY_FILE: &str = "identity";

/// Where the logs of builds a replaced database knew are moved: `old-logs/<ITS ID>/`.
pub(crate) const OLD_LOGS_DIR: &str = "old-logs";

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Version 1 of the schema.
const SCHEMA_V1: &str = "
CREATE TABLE build_configs (
    name TEXT PRIMARY KEY NOT NULL,
    trigger_stream TEXT,
    json TEXT NOT NULL
);
CREATE INDEX build_configs_trigger ON build_configs (trigger_stream);
CREATE TABLE builds (
    name TEXT PRIMARY KEY NOT NULL,
    build_config TEXT NOT NULL,
    number INTEGER NOT NULL,
    phase TEXT NOT NULL,
    created TEXT NOT NULL,
    cause_from TEXT,
    json TEXT NOT NULL,
    details TEXT,
    settings TEXT NOT NULL,
    owner_pid INTEGER,
    owner_start INTEGER,
    heartbeat INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX builds_config ON builds (build_config, number);
CREATE INDEX builds_phase ON builds (phase);
CREATE INDEX builds_created ON builds (created, number);
CREATE INDEX builds_cause_from ON builds (cause_from);
CREATE TABLE image_streams (
    name TEXT PRIMARY KEY NOT NULL,
    json TEXT NOT NULL
);
";

/// Version 2: run leases and versions of builds (the engine's compare-and-swap), whether a
/// finished build's notifications were queued, and the notification outbox. Builds that
/// existed before count as notified.
const SCHEMA_V2: &str = "
ALTER TABLE builds ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN lease TEXT;
ALTER TABLE builds ADD COLUMN notified INTEGER NOT NULL DEFAULT 1;
CREATE INDEX builds_unnotified ON builds (notified) WHERE notified = 0;
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    build TEXT NOT NULL,
    next_attempt INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt);
";

/// Version 3: the database's identity, a random id made with the schema (or added to an
/// older database by this upgrade). The state directory's `identity` file repeats it, so a
/// database that was deleted and made anew is noticed.
const SCHEMA_V3: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('id', lower(hex(randomblob(16))));
";

/// Where a build pushes and syncs: the instance's settings when it was queued, so that a
/// runner needs nothing but the state directory and the build's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunSettings {
    /// `registry_uri`, with an explicit scheme.
    pub registry_uri: String,
    /// `registry_secret`: the path of a dockercfg.
    #[serde(default)]
    pub registry_secret: Option<String>,
    /// Where `registry_sync` copies the pushed tags; no sync when absent.
    #[serde(default)]
    pub sync_target: Option<SyncTarget>,
    // The push path (issue 12).
    /// `push_method`: how the build pushes.
    #[serde(default)]
    pub push_method: osbs_core::build::PushMethod,
    // The buildstep's builder and its secrets (issue 12).
    /// `builder`; `None` picks BuildKit where the Engine supports it.
    #[serde(default)]
    pub builder: Option<osbs_core::build::Builder>,
    /// `build_secrets`: id → file (paths only, never contents).
    #[serde(default)]
    pub build_secrets: std::collections::BTreeMap<String, String>,
    // Several registries and registry TLS (issue 11, SPEC §6).
    /// The registries after the first of `registry_uri`.
    #[serde(default)]
    pub extra_registries: Vec<osbs_core::build::ExtraRegistry>,
    /// `verify_ssl = false`.
    #[serde(default)]
    pub skip_tls_verify: bool,
    /// `registry_ca`: a CA bundle's path.
    #[serde(default)]
    pub registry_ca: Option<String>,
}

/// The process that runs (or waits to run) a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its start time (clock ticks after boot, `/proc/PID/stat` field 22): with the pid, it
    /// names the process even after the pid is reused.
    pub start: u64,
}

/// A build with its runner bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct BuildRow {
    /// The build.
    pub build: Build,
    /// Its runner, once one registered.
    pub owner: Option<Owner>,
    /// Unix milliseconds of the runner's last heartbeat (or of the build's start).
    pub heartbeat: Option<i64>,
    /// Where it pushes.
    pub settings: RunSettings,
    /// Bumped by every write of the build: the engine's compare-and-swap.
    pub version: u64,
    /// The lease of its current run.
    pub lease: Option<String>,
}

/// Maps a SQLite error to a [`ClientError`] that says what was being done.
pub(crate) fn db_error(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> ClientError {
    let context = context.into();
    move |source| ClientError::Backend {
        context,
        source: Box::new(source),
    }
}

/// Maps a JSON error of a stored object to a [`ClientError`].
fn json_error(what: &str, name: &str) -> impl FnOnce(serde_json::Error) -> ClientError {
    let context = format!("the stored {what} {name:?} is not valid");
    move |source| ClientError::Backend {
        context,
        source: Box::new(source),
    }
}

/// The state database of one state directory.
pub(crate) struct Store {
    conn: Connection,
    dir: PathBuf,
    id: String,
    recreated: Option<StateRecreated>,
}

/// What opening a state directory found when its database had been replaced (deleted and made
/// anew): the builds it knew are no longer known. Reported by the open that noticed it, once
/// (`LocalBackend::state_recreated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecreated {
    /// The identity of the database before, when it is known.
    pub previous: Option<String>,
    /// Where the logs of the builds from before were moved (`state_dir/old-logs/ID`), when
    /// there were any.
    pub old_logs: Option<PathBuf>,
}

impl std::fmt::Display for StateRecreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the state database was recreated; builds from before are no longer known")?;
        if let Some(dir) = &self.old_logs {
            write!(f, " (their logs were moved to {})", dir.display())?;
        }
        Ok(())
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`, in WAL mode, and brings its schema
    /// up to date.
    pub fn open(dir: &Path) -> Result<Store, ClientError> {
        let io = |what: &str, path: &Path| {
            let context = format!("cannot {what} {}", path.display());
            move |source: std::io::Error| ClientError::Backend {
                context,
                source: Box::new(source),
            }
        };
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(io("create the state directory", &logs))?;
        let path = dir.join(DB_FILE);
        let context = format!("cannot open the state database {}", path.display());
        let conn = Connection::open(&path).map_err(db_error(context.clone()))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db_error(context.clone()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error(context.clone()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_error(context.clone()))?;
        let mut store = Store {
            conn,
            dir: dir.to_path_buf(),
            id: String::new(),
            recreated: None,
        };
        store.migrate().map_err(|e| match e {
            ClientError::Backend { source, .. } => ClientError::Backend { context, source },
            other => other,
        })?;
        Ok(store)
    }

    /// Brings the schema up to date, then checks the database's identity against the state
    /// directory's `identity` file.
    ///
    /// A database made here (schema version 0) in a state directory that knew another one
    /// (an `identity` file, or build logs without one) replaces a deleted database: before the
    /// new schema is committed, so before any build of the new database exists, the old logs
    /// are moved to `old-logs/ID/`, where no new build appends to them. An existing database
    /// that does not match the file (another process made it and had not written the file
    /// yet, or a database was put in place by hand) is reported the same way, without moving
    /// anything.
    fn migrate(&mut self) -> Result<(), ClientError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_error("read the schema version"))?;
        if version != SCHEMA_VERSION {
            self.upgrade()?;
        }
        self.id = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'id'", [], |r| r.get(0))
            .map_err(db_error("read the identity of the state database"))?;
        let marker = read_identity(&self.dir);
        if marker.as_deref() != Some(self.id.as_str()) {
            if self.recreated.is_none()
                && let Some(previous) = marker
            {
                self.recreated = Some(StateRecreated {
                    previous: Some(previous),
                    old_logs: None,
                });
            }
            write_identity(&self.dir, &self.id)?;
        }
        Ok(())
    }

    /// Creates or upgrades the schema in one `IMMEDIATE` transaction (another process may be
    /// doing the same: the second one finds it done).
    fn upgrade(&mut self) -> Result<(), ClientError> {
        let db = self.dir.join(DB_FILE);
        let dir = self.dir.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error("begin a transaction on the state database"))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_error("read the schema version"))?;
        let mut recreated = None;
        match version {
            0..=2 => {
                if version == 0 {
                    tx.execute_batch(SCHEMA_V1)
                        .map_err(db_error("create the schema"))?;
                    recreated = replaced_state(&dir)?;
                }
                if version <= 1 {
                    tx.execute_batch(SCHEMA_V2)
                        .map_err(db_error("upgrade the schema to version 2"))?;
                }
                tx.execute_batch(SCHEMA_V3)
                    .map_err(db_error("upgrade the schema to version 3"))?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(db_error("record the schema version"))?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(ClientError::Usage(format!(
                    "the state database {} has schema version {newer}; this osbs knows \
                     version {SCHEMA_VERSION} (upgrade osbs)",
                    db.display()
                )));
            }
        }
        tx.commit().map_err(db_error("commit the schema"))?;
        self.recreated = recreated;
        Ok(())
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database's identity: a random id made with it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether this open noticed that the database had been replaced.
    pub fn recreated(&self) -> Option<&StateRecreated> {
        self.recreated.as_ref()
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts an `IMMEDIATE` transaction: it holds the write lock from its first statement, so
    /// what it reads stays true until it commits.
    pub fn immediate(&mut self) -> Result<Transaction<'_>, ClientError> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error("begin a transaction on the state database"))
    }
}

/// The phases that are not final, as stored.
const UNFINISHED: &str = "('New', 'Pending', 'Running')";

fn decode_build(name: &str, json: &str) -> Result<Build, ClientError> {
    serde_json::from_str(json).map_err(json_error("build", name))
}

/// The bulky fields of a build, stored apart from the rest.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Details {
    #[serde(default)]
    dockerfile: Option<String>,
    #[serde(default)]
    plugins_metadata: PluginsMetadata,
}

/// A build with its details put back.
fn decode_full(name: &str, json: &str, details: Option<&str>) -> Result<Build, ClientError> {
    let mut build = decode_build(name, json)?;
    if let Some(details) = details {
        let details: Details =
            serde_json::from_str(details).map_err(json_error("build details", name))?;
        build.dockerfile = details.dockerfile;
        build.plugins_metadata = details.plugins_metadata;
    }
    Ok(build)
}

/// The stored forms of a build: its JSON without the details, and the details.
fn encode_build(build: &Build) -> Result<(String, String), ClientError> {
    let mut light = build.clone();
    let details = Details {
        dockerfile: light.dockerfile.take(),
        plugins_metadata: std::mem::take(&mut light.plugins_metadata),
    };
    let encode_error = |source: serde_json::Error| ClientError::Backend {
        context: format!("cannot store build {:?}", build.name),
        source: Box::new(source),
    };
    Ok((
        serde_json::to_string(&light).map_err(encode_error)?,
        serde_json::to_string(&details).map_err(encode_error)?,
    ))
}

/// One build.
pub(crate) fn get_build(conn: &Connection, name: &str) -> Result<Option<Build>, ClientError> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT json, details FROM builds WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_error(format!("cannot read build {name:?}")))?;
    row.map(|(json, details)| decode_full(name, &json, details.as_deref()))
        .transpose()
}

/// One build, or [`ClientError::NotFound`].
pub(crate) fn require_build(conn: &Connection, name: &str) -> Result<Build, ClientError> {
    get_build(conn, name)?.ok_or_else(|| ClientError::NotFound {
        kind: "build",
        name: name.to_owned(),
    })
}

/// Builds matching `filter`, newest first: one query, one JSON decode per row, straight from
/// SQLite's buffer. The builds come without their details (`dockerfile` is `None`,
/// `plugins_metadata` empty); [`get_build`] has them.
pub(crate) fn list_builds(
    conn: &Connection,
    filter: &BuildFilter,
) -> Result<Vec<Build>, ClientError> {
    let mut sql = String::from("SELECT json FROM builds");
    if filter.build_config.is_some() {
        sql.push_str(" WHERE build_config = ?1");
        if filter.running {
            sql.push_str(" AND phase IN ");
            sql.push_str(UNFINISHED);
        }
    } else if filter.running {
        sql.push_str(" WHERE phase IN ");
        sql.push_str(UNFINISHED);
    }
    sql.push_str(" ORDER BY created DESC, number DESC, name DESC");
    let mut stmt = conn.prepare(&sql).map_err(db_error("cannot list builds"))?;
    let rows = match &filter.build_config {
        Some(config) => stmt.query([config]),
        None => stmt.query([]),
    };
    decode_light(rows)
}

/// The builds in `phase`, newest first (index `builds_phase`).
pub(crate) fn builds_in_phase(
    conn: &Connection,
    phase: osbs_core::build::BuildPhase,
) -> Result<Vec<Build>, ClientError> {
    let mut stmt = conn
        .prepare(
            "SELECT json FROM builds WHERE phase = ?1 ORDER BY created DESC, number DESC, name DESC",
        )
        .map_err(db_error("cannot list builds"))?;
    decode_light(stmt.query([phase.as_str()]))
}

/// Decodes the `json` column (the first) of every row.
fn decode_light(rows: rusqlite::Result<rusqlite::Rows<'_>>) -> Result<Vec<Build>, ClientError> {
    let context = "cannot list builds";
    let mut rows = rows.map_err(db_error(context))?;
    let mut builds = Vec::new();
    while let Some(row) = rows.next().map_err(db_error(context))? {
        let json = row
            .get_ref(0)
            .and_then(|v| v.as_str().map_err(rusqlite::Error::from))
            .map_err(db_error(context))?;
        builds.push(
            serde_json::from_str(json).map_err(json_error("build", &builds.len().to_string()))?,
        );
    }
    Ok(builds)
}

const ROW_COLUMNS: &str =
    "name, json, owner_pid, owner_start, heartbeat, settings, details, version, lease";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, RawRunner)> {
    // Columns as in ROW_COLUMNS.
    Ok((
        r.get(0)?,
        r.get(1)?,
        RawRunner {
            pid: r.get(2)?,
            start: r.get(3)?,
            heartbeat: r.get(4)?,
            settings: r.get(5)?,
            details: r.get(6)?,
            version: r.get(7)?,
            lease: r.get(8)?,
        },
    ))
}

struct RawRunner {
    pid: Option<i64>,
    start: Option<i64>,
    heartbeat: Option<i64>,
    settings: String,
    details: Option<String>,
    version: i64,
    lease: Option<String>,
}

fn to_row(name: &str, json: &str, raw: RawRunner) -> Result<BuildRow, ClientError> {
    let owner = match (raw.pid, raw.start) {
        (Some(pid), Some(start)) => Some(Owner {
            pid: u32::try_from(pid).unwrap_or(0),
            start: u64::try_from(start).unwrap_or(0),
        }),
        _ => None,
    };
    Ok(BuildRow {
        build: decode_full(name, json, raw.details.as_deref())?,
        owner,
        heartbeat: raw.heartbeat,
        settings: serde_json::from_str(&raw.settings).map_err(json_error("run settings", name))?,
        version: u64::try_from(raw.version).unwrap_or(0),
        lease: raw.lease,
    })
}

/// One build with its runner bookkeeping.
pub(crate) fn get_row(conn: &Connection, name: &str) -> Result<Option<BuildRow>, ClientError> {
    let sql = format!("SELECT {ROW_COLUMNS} FROM builds WHERE name = ?1");
    let row = conn
        .query_row(&sql, [name], read_row)
        .optional()
        .map_err(db_error(format!("cannot read build {name:?}")))?;
    row.map(|(n, j, raw)| to_row(&n, &j, raw)).transpose()
}

/// The unfinished builds (`New`, `Pending`, `Running`) of one BuildConfig, or of all.
pub(crate) fn unfinished_rows(
    conn: &Connection,
    build_config: Option<&str>,
) -> Result<Vec<BuildRow>, ClientError> {
    let mut sql = format!("SELECT {ROW_COLUMNS} FROM builds WHERE phase IN {UNFINISHED}");
    if build_config.is_some() {
        sql.push_str(" AND build_config = ?1");
    }
    let context = "cannot read the unfinished builds";
    let mut stmt = conn.prepare(&sql).map_err(db_error(context))?;
    let rows = match build_config {
        Some(config) => stmt.query_map([config], read_row),
        None => stmt.query_map([], read_row),
    }
    .map_err(db_error(context))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, json, raw) = row.map_err(db_error(context))?;
        out.push(to_row(&name, &json, raw)?);
    }
    Ok(out)
}

/// The build config whose builds an image change was produced by (the last of the chain).
fn cause_from(build: &Build) -> Option<&str> {
    match &build.cause {
        BuildCause::User => None,
        BuildCause::ImageChange { chain, .. } => chain.last().map(String::as_str),
    }
}

/// Inserts a new build with the settings it runs with; its heartbeat starts now.
pub(crate) fn insert_build(
    conn: &Connection,
    build: &Build,
    settings: &RunSettings,
    now: Timestamp,
) -> Result<(), ClientError> {
    let context = format!("cannot store build {:?}", build.name);
    let (json, details) = encode_build(build)?;
    let settings = serde_json::to_string(settings).map_err(|source| ClientError::Backend {
        context: context.clone(),
        source: Box::new(source),
    })?;
    conn.execute(
        "INSERT INTO builds (name, build_config, number, phase, created, cause_from, json, \
         details, settings, heartbeat, notified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            build.name,
            build.build_config,
            i64::try_from(build.number).unwrap_or(i64::MAX),
            build.phase.as_str(),
            build.created.to_string(),
            cause_from(build),
            json,
            details,
            settings,
            now.unix_millis(),
            build.phase.is_finished(),
        ],
    )
    .map_err(db_error(context))?;
    Ok(())
}

/// Writes a changed build (its JSON, details and phase); runner bookkeeping is kept. The build
/// must have been read whole ([`get_build`], [`get_row`]), never from [`list_builds`].
pub(crate) fn update_build(conn: &Connection, build: &Build) -> Result<(), ClientError> {
    let context = format!("cannot store build {:?}", build.name);
    let (json, details) = encode_build(build)?;
    conn.execute(
        "UPDATE builds SET phase = ?2, json = ?3, details = ?4, version = version + 1 \
         WHERE name = ?1",
        params![build.name, build.phase.as_str(), json, details],
    )
    .map_err(db_error(context))?;
    Ok(())
}

/// Writes `build` only if it is still at `version` (the engine's compare-and-swap); a build
/// that ends this way loses its lease, which fences its runner. `false` when it changed.
pub(crate) fn update_build_if(
    conn: &Connection,
    build: &Build,
    version: u64,
) -> Result<bool, ClientError> {
    let context = format!("cannot store build {:?}", build.name);
    let (json, details) = encode_build(build)?;
    let changed = conn
        .execute(
            "UPDATE builds SET phase = ?2, json = ?3, details = ?4, version = version + 1, \
             lease = CASE WHEN ?6 THEN NULL ELSE lease END \
             WHERE name = ?1 AND version = ?5",
            params![
                build.name,
                build.phase.as_str(),
                json,
                details,
                i64::try_from(version).unwrap_or(i64::MAX),
                build.phase.is_finished()
            ],
        )
        .map_err(db_error(context))?;
    Ok(changed > 0)
}

/// `New` → `Pending` under a new run `lease`, if the build is still queued at `version`; the
/// heartbeat clock starts at `now`, no runner is registered yet.
pub(crate) fn start_run(
    conn: &Connection,
    name: &str,
    version: u64,
    lease: &str,
    now: Timestamp,
) -> Result<bool, ClientError> {
    let Some(row) = get_row(conn, name)? else {
        return Ok(false);
    };
    if row.version != version || row.build.phase != osbs_core::build::BuildPhase::New {
        return Ok(false);
    }
    let mut build = row.build;
    build.phase = osbs_core::build::BuildPhase::Pending;
    let (json, details) = encode_build(&build)?;
    let changed = conn
        .execute(
            "UPDATE builds SET phase = 'Pending', json = ?3, details = ?4, \
             version = version + 1, lease = ?5, heartbeat = ?6, owner_pid = NULL, \
             owner_start = NULL, cancel_requested = 0 WHERE name = ?1 AND version = ?2",
            params![
                name,
                i64::try_from(version).unwrap_or(i64::MAX),
                json,
                details,
                lease,
                now.unix_millis()
            ],
        )
        .map_err(db_error(format!("cannot start build {name:?}")))?;
    Ok(changed > 0)
}

/// Whether `lease` is the lease of `build`'s current run: every write of a runner checks it
/// in the same transaction.
pub(crate) fn holds_lease(
    conn: &Connection,
    build: &str,
    lease: &str,
) -> Result<bool, ClientError> {
    conn.query_row(
        "SELECT lease = ?2 FROM builds WHERE name = ?1",
        params![build, lease],
        |r| r.get::<_, Option<bool>>(0),
    )
    .optional()
    .map(|v| v.flatten().unwrap_or(false))
    .map_err(db_error(format!(
        "cannot read the lease of build {build:?}"
    )))
}

/// Every build without its details, oldest first.
pub(crate) fn all_builds(conn: &Connection) -> Result<Vec<Build>, ClientError> {
    let mut stmt = conn
        .prepare("SELECT json FROM builds ORDER BY created, number")
        .map_err(db_error("cannot list builds"))?;
    decode_light(stmt.query([]))
}

/// Removes an ended build's row (an unfinished one is kept); `true` when removed.
pub(crate) fn delete_build(conn: &Connection, name: &str) -> Result<bool, ClientError> {
    let sql = format!("DELETE FROM builds WHERE name = ?1 AND phase NOT IN {UNFINISHED}");
    let changed = conn
        .execute(&sql, [name])
        .map_err(db_error(format!("cannot delete build {name:?}")))?;
    conn.execute("DELETE FROM outbox WHERE build = ?1", [name])
        .map_err(db_error(format!("cannot delete build {name:?}")))?;
    Ok(changed > 0)
}

/// Removes a BuildConfig's row; its builds must be gone first.
pub(crate) fn delete_config(conn: &Connection, name: &str) -> Result<bool, ClientError> {
    let changed = conn
        .execute("DELETE FROM build_configs WHERE name = ?1", [name])
        .map_err(db_error(format!("cannot delete build config {name:?}")))?;
    Ok(changed > 0)
}

/// The names of the builds of `build_config`.
pub(crate) fn build_names(
    conn: &Connection,
    build_config: &str,
) -> Result<Vec<String>, ClientError> {
    let context = "cannot list builds";
    let mut stmt = conn
        .prepare("SELECT name FROM builds WHERE build_config = ?1 ORDER BY number")
        .map_err(db_error(context))?;
    let rows = stmt
        .query_map([build_config], |r| r.get(0))
        .map_err(db_error(context))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(db_error(context))
}

/// Removes the log files of `build`.
pub(crate) fn remove_logs(dir: &Path, build: &str) {
    for path in [
        log_path(dir, build),
        runner_log_path(dir, build),
        crate::log_times::times_path(dir, build),
    ] {
        let _ = std::fs::remove_file(path);
    }
}

/// Ended builds whose notifications were not queued yet, with their details, oldest first.
pub(crate) fn unnotified(conn: &Connection) -> Result<Vec<Build>, ClientError> {
    let sql = format!(
        "SELECT name, json, details FROM builds WHERE notified = 0 AND phase NOT IN {UNFINISHED} \
         ORDER BY created, number"
    );
    let context = "cannot read the ended builds";
    let mut stmt = conn.prepare(&sql).map_err(db_error(context))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .map_err(db_error(context))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, json, details) = row.map_err(db_error(context))?;
        out.push(decode_full(&name, &json, details.as_deref())?);
    }
    Ok(out)
}

/// Marks `build` notified and queues `deliveries` (JSON of `osbs_engine::Delivery`).
pub(crate) fn queue_deliveries(
    conn: &Connection,
    build: &str,
    deliveries: &[(i64, String)],
) -> Result<(), ClientError> {
    let context = format!("cannot queue the notifications of build {build:?}");
    conn.execute("UPDATE builds SET notified = 1 WHERE name = ?1", [build])
        .map_err(db_error(context.clone()))?;
    for (next_attempt, json) in deliveries {
        conn.execute(
            "INSERT INTO outbox (build, next_attempt, json) VALUES (?1, ?2, ?3)",
            params![build, next_attempt, json],
        )
        .map_err(db_error(context.clone()))?;
    }
    Ok(())
}

/// Outbox rows due at `now` (unix millis): id and JSON.
pub(crate) fn due_deliveries(
    conn: &Connection,
    now: i64,
) -> Result<Vec<(i64, String)>, ClientError> {
    let context = "cannot read the notification outbox";
    let mut stmt = conn
        .prepare("SELECT id, json FROM outbox WHERE next_attempt <= ?1 ORDER BY next_attempt, id")
        .map_err(db_error(context))?;
    let rows = stmt
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db_error(context))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(db_error(context))
}

/// Updates outbox row `id` (new JSON, next attempt) or, with `next` `None`, drops it.
pub(crate) fn record_attempt(
    conn: &Connection,
    id: i64,
    json: &str,
    next: Option<i64>,
) -> Result<(), ClientError> {
    let context = "cannot update the notification outbox";
    match next {
        Some(next) => conn.execute(
            "UPDATE outbox SET json = ?2, next_attempt = ?3 WHERE id = ?1",
            params![id, json, next],
        ),
        None => conn.execute("DELETE FROM outbox WHERE id = ?1", [id]),
    }
    .map_err(db_error(context))?;
    Ok(())
}

/// Records `owner` as the build's runner, with a fresh heartbeat.
pub(crate) fn set_owner(
    conn: &Connection,
    build: &str,
    owner: Owner,
    now: Timestamp,
) -> Result<(), ClientError> {
    conn.execute(
        "UPDATE builds SET owner_pid = ?2, owner_start = ?3, heartbeat = ?4 WHERE name = ?1",
        params![
            build,
            i64::from(owner.pid),
            i64::try_from(owner.start).unwrap_or(i64::MAX),
            now.unix_millis()
        ],
    )
    .map_err(db_error(format!(
        "cannot record the runner of build {build:?}"
    )))?;
    Ok(())
}

/// Refreshes the heartbeat of the run of `build` under `lease`; `false` when the run lost its
/// lease (it was declared dead) or ended.
pub(crate) fn heartbeat(
    conn: &Connection,
    build: &str,
    lease: &str,
    now: Timestamp,
) -> Result<bool, ClientError> {
    let changed = conn
        .execute(
            "UPDATE builds SET heartbeat = ?3 WHERE name = ?1 AND lease = ?2 \
             AND phase IN ('Pending', 'Running')",
            params![build, lease, now.unix_millis()],
        )
        .map_err(db_error(format!(
            "cannot record the heartbeat of build {build:?}"
        )))?;
    Ok(changed > 0)
}

/// Asks the runner of `build` to stop.
pub(crate) fn request_cancel(conn: &Connection, build: &str) -> Result<(), ClientError> {
    conn.execute(
        "UPDATE builds SET cancel_requested = 1 WHERE name = ?1",
        [build],
    )
    .map_err(db_error(format!(
        "cannot request the cancel of build {build:?}"
    )))?;
    Ok(())
}

/// Whether someone asked to cancel `build`.
pub(crate) fn cancel_requested(conn: &Connection, build: &str) -> Result<bool, ClientError> {
    conn.query_row(
        "SELECT cancel_requested FROM builds WHERE name = ?1",
        [build],
        |r| r.get(0),
    )
    .optional()
    .map(Option::unwrap_or_default)
    .map_err(db_error(format!("cannot read build {build:?}")))
}

/// The builds an image change produced by `build_config` caused, without their details.
pub(crate) fn builds_caused_by(
    conn: &Connection,
    build_config: &str,
) -> Result<Vec<Build>, ClientError> {
    let mut stmt = conn
        .prepare("SELECT json FROM builds WHERE cause_from = ?1 ORDER BY created, number")
        .map_err(db_error("cannot read the triggered builds"))?;
    decode_light(stmt.query([build_config]))
}

/// One BuildConfig.
pub(crate) fn get_config(
    conn: &Connection,
    name: &str,
) -> Result<Option<BuildConfig>, ClientError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT json FROM build_configs WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_error(format!("cannot read build config {name:?}")))?;
    json.map(|j| serde_json::from_str(&j).map_err(json_error("build config", name)))
        .transpose()
}

/// One BuildConfig, or [`ClientError::NotFound`].
pub(crate) fn require_config(conn: &Connection, name: &str) -> Result<BuildConfig, ClientError> {
    get_config(conn, name)?.ok_or_else(|| ClientError::NotFound {
        kind: "build config",
        name: name.to_owned(),
    })
}

/// Inserts or replaces a BuildConfig.
pub(crate) fn put_config(conn: &Connection, config: &BuildConfig) -> Result<(), ClientError> {
    let context = format!("cannot store build config {:?}", config.name);
    let json = serde_json::to_string(config).map_err(|source| ClientError::Backend {
        context: context.clone(),
        source: Box::new(source),
    })?;
    conn.execute(
        "INSERT INTO build_configs (name, trigger_stream, json) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET trigger_stream = excluded.trigger_stream, \
         json = excluded.json",
        params![
            config.name,
            config.trigger.as_ref().map(|t| t.stream.as_str()),
            json
        ],
    )
    .map_err(db_error(context))?;
    Ok(())
}

fn configs_where(
    conn: &Connection,
    condition: &str,
    param: Option<&str>,
) -> Result<Vec<BuildConfig>, ClientError> {
    let context = "cannot read the build configs";
    let sql = format!("SELECT name, json FROM build_configs {condition} ORDER BY name");
    let mut stmt = conn.prepare(&sql).map_err(db_error(context))?;
    let map = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
    let rows = match param {
        Some(p) => stmt.query_map([p], map),
        None => stmt.query_map([], map),
    }
    .map_err(db_error(context))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, json) = row.map_err(db_error(context))?;
        out.push(serde_json::from_str(&json).map_err(json_error("build config", &name))?);
    }
    Ok(out)
}

/// All BuildConfigs, by name.
pub(crate) fn list_configs(conn: &Connection) -> Result<Vec<BuildConfig>, ClientError> {
    configs_where(conn, "", None)
}

/// The BuildConfigs with a trigger, by name.
pub(crate) fn triggered_configs(conn: &Connection) -> Result<Vec<BuildConfig>, ClientError> {
    configs_where(conn, "WHERE trigger_stream IS NOT NULL", None)
}

/// The BuildConfigs triggered on a tag of `stream`.
pub(crate) fn configs_triggered_on(
    conn: &Connection,
    stream: &str,
) -> Result<Vec<BuildConfig>, ClientError> {
    configs_where(conn, "WHERE trigger_stream = ?1", Some(stream))
}

/// One ImageStream.
pub(crate) fn get_stream(
    conn: &Connection,
    name: &str,
) -> Result<Option<ImageStream>, ClientError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT json FROM image_streams WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_error(format!("cannot read image stream {name:?}")))?;
    json.map(|j| serde_json::from_str(&j).map_err(json_error("image stream", name)))
        .transpose()
}

/// One ImageStream, or [`ClientError::NotFound`].
pub(crate) fn require_stream(conn: &Connection, name: &str) -> Result<ImageStream, ClientError> {
    get_stream(conn, name)?.ok_or_else(|| ClientError::NotFound {
        kind: "image stream",
        name: name.to_owned(),
    })
}

/// Inserts or replaces an ImageStream.
pub(crate) fn put_stream(conn: &Connection, stream: &ImageStream) -> Result<(), ClientError> {
    let context = format!("cannot store image stream {:?}", stream.name);
    let json = serde_json::to_string(stream).map_err(|source| ClientError::Backend {
        context: context.clone(),
        source: Box::new(source),
    })?;
    conn.execute(
        "INSERT INTO image_streams (name, json) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET json = excluded.json",
        params![stream.name, json],
    )
    .map_err(db_error(context))?;
    Ok(())
}

/// All ImageStreams, by name.
pub(crate) fn list_streams(conn: &Connection) -> Result<Vec<ImageStream>, ClientError> {
    let context = "cannot read the image streams";
    let mut stmt = conn
        .prepare("SELECT name, json FROM image_streams ORDER BY name")
        .map_err(db_error(context))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(db_error(context))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, json) = row.map_err(db_error(context))?;
        out.push(serde_json::from_str(&json).map_err(json_error("image stream", &name))?);
    }
    Ok(out)
}

/// The identity in the state directory's `identity` file, if there is one.
fn read_identity(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(IDENTITY_FILE)).ok()?;
    let id = text.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// Writes `id` to the state directory's `identity` file (a new file renamed over the old one).
fn write_identity(dir: &Path, id: &str) -> Result<(), ClientError> {
    let path = dir.join(IDENTITY_FILE);
    let tmp = dir.join(format!("{IDENTITY_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, format!("{id}\n"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            ClientError::Backend {
                context: format!("cannot write {}", path.display()),
                source: Box::new(source),
            }
        })
}

/// For a database being made in `dir`: whether the state directory knew another one (an
/// `identity` file, or build logs). If so, its logs are moved to `old-logs/ID/` (ID the old
/// identity, or `unknown-MILLIS` for logs from before identities).
fn replaced_state(dir: &Path) -> Result<Option<StateRecreated>, ClientError> {
    let previous = read_identity(dir);
    let logs = dir.join("logs");
    let has_logs = std::fs::read_dir(&logs).is_ok_and(|mut entries| entries.next().is_some());
    if previous.is_none() && !has_logs {
        return Ok(None);
    }
    let mut old_logs = None;
    if has_logs {
        let name = previous.clone().unwrap_or_else(|| {
            format!(
                "unknown-{}",
                Timestamp::from_system_time(std::time::SystemTime::now()).unix_millis()
            )
        });
        let parent = dir.join(OLD_LOGS_DIR);
        let mut target = parent.join(&name);
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = parent.join(format!("{name}.{n}"));
        }
        let io = |source: std::io::Error| ClientError::Backend {
            context: format!(
                "cannot move the logs of the replaced state database to {}",
                parent.display()
            ),
            source: Box::new(source),
        };
        std::fs::create_dir_all(&parent).map_err(io)?;
        std::fs::rename(&logs, &target).map_err(io)?;
        std::fs::create_dir_all(&logs).map_err(io)?;
        old_logs = Some(target);
    }
    Ok(Some(StateRecreated { previous, old_logs }))
}

/// The highest build number of BuildConfig `config` that has a log file in the state directory
/// `dir`, under `logs/` or a replaced database's `old-logs/*/` (0 for none). A BuildConfig made
/// anew starts counting after it, so a name whose log exists is never given again.
pub(crate) fn highest_logged_number(dir: &Path, config: &str) -> u64 {
    let prefix = format!("{config}-");
    let mut dirs = vec![dir.join("logs")];
    if let Ok(entries) = std::fs::read_dir(dir.join(OLD_LOGS_DIR)) {
        dirs.extend(entries.filter_map(|e| Some(e.ok()?.path())));
    }
    let mut highest = 0;
    for logs in dirs {
        let Ok(entries) = std::fs::read_dir(&logs) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|rest| {
                    rest.strip_suffix(".runner.log")
                        .or_else(|| rest.strip_suffix(".log"))
                })
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            highest = highest.max(number);
        }
    }
    highest
}

/// The log file of a build.
pub(crate) fn log_path(dir: &Path, build: &str) -> PathBuf {
    dir.join("logs").join(format!("{build}.log"))
}

/// The file a runner's own stdout and stderr go to.
pub(crate) fn runner_log_path(dir: &Path, build: &str) -> PathBuf {
    dir.join("logs").join(format!("{build}.runner.log"))
}

#[cfg(test)]
mod tests {
    use osbs_core::build::BuildPhase;
    use osbs_core::model::{BuildCause, BuildConfig};

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn schema_is_versioned_and_reopens() {
        let (dir, store) = store();
        let version: i64 = store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        drop(store);
        let again = Store::open(dir.path()).unwrap();
        again
            .conn()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(again);
        let Err(err) = Store::open(dir.path()) else {
            panic!("a newer schema must be refused");
        };
        let newer = format!("schema version {}", SCHEMA_VERSION + 1);
        assert!(err.to_string().contains(&newer), "{err}");
    }

    /// Deletes the database of `dir` as a user would (with its WAL files).
    fn delete_database(dir: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{DB_FILE}{suffix}")));
        }
    }

    #[test]
    fn a_recreated_database_is_noticed_once_and_its_logs_move_away() {
        let (dir, store) = store();
        let first = store.id().to_owned();
        assert_eq!(first.len(), 32, "{first}");
        assert_eq!(store.recreated(), None);
        assert_eq!(read_identity(dir.path()).as_deref(), Some(first.as_str()));
        std::fs::write(log_path(dir.path(), "app-1a2b3-1"), "old build\n").unwrap();
        std::fs::write(runner_log_path(dir.path(), "app-1a2b3-2"), "").unwrap();
        drop(store);
        let again = Store::open(dir.path()).unwrap();
        assert_eq!(again.id(), first);
        assert_eq!(again.recreated(), None);
        drop(again);

        delete_database(dir.path());
        let new = Store::open(dir.path()).unwrap();
        assert_ne!(new.id(), first);
        let old_logs = dir.path().join(OLD_LOGS_DIR).join(&first);
        assert_eq!(
            new.recreated(),
            Some(&StateRecreated {
                previous: Some(first.clone()),
                old_logs: Some(old_logs.clone()),
            })
        );
        assert_eq!(
            std::fs::read_to_string(old_logs.join("app-1a2b3-1.log")).unwrap(),
            "old build\n"
        );
        assert!(!log_path(dir.path(), "app-1a2b3-1").exists());
        assert_eq!(read_identity(dir.path()).as_deref(), Some(new.id()));
        // The names whose logs exist are not given again.
        assert_eq!(highest_logged_number(dir.path(), "app-1a2b3"), 2);
        assert_eq!(highest_logged_number(dir.path(), "app"), 0);
        let id = new.id().to_owned();
        drop(new);
        // Once: the next open knows the database.
        let next = Store::open(dir.path()).unwrap();
        assert_eq!(next.id(), id);
        assert_eq!(next.recreated(), None);
    }

    #[test]
    fn a_database_that_does_not_match_the_identity_file_is_reported() {
        let (dir, store) = store();
        drop(store);
        std::fs::write(dir.path().join(IDENTITY_FILE), "someone-else\n").unwrap();
        std::fs::write(log_path(dir.path(), "b-1"), "kept\n").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.recreated(),
            Some(&StateRecreated {
                previous: Some("someone-else".to_owned()),
                old_logs: None,
            })
        );
        assert!(log_path(dir.path(), "b-1").exists(), "nothing is moved");
        assert_eq!(read_identity(dir.path()).as_deref(), Some(store.id()));
        drop(store);
        assert_eq!(Store::open(dir.path()).unwrap().recreated(), None);
    }

    #[test]
    fn logs_from_before_identities_are_moved_when_the_database_is_new() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::write(log_path(dir.path(), "a-3"), "").unwrap();
        std::fs::write(log_path(dir.path(), "a-b-7"), "").unwrap();
        let store = Store::open(dir.path()).unwrap();
        let recreated = store.recreated().unwrap();
        assert_eq!(recreated.previous, None);
        let old_logs = recreated.old_logs.as_ref().unwrap();
        assert!(
            old_logs
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("unknown-"),
            "{}",
            old_logs.display()
        );
        assert!(old_logs.join("a-3.log").exists());
        assert_eq!(highest_logged_number(dir.path(), "a"), 3);
        assert_eq!(highest_logged_number(dir.path(), "a-b"), 7);
        // A state directory that is new has nothing to report.
        let fresh = tempfile::tempdir().unwrap();
        assert_eq!(Store::open(fresh.path()).unwrap().recreated(), None);
    }

    #[test]
    fn a_version_2_database_gets_an_identity_and_keeps_its_logs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::write(log_path(dir.path(), "c-1"), "mine\n").unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.execute_batch(SCHEMA_V2).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.recreated(), None);
        assert_eq!(store.id().len(), 32);
        let version: i64 = store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert!(log_path(dir.path(), "c-1").exists());
        assert_eq!(read_identity(dir.path()).as_deref(), Some(store.id()));
    }

    #[test]
    fn list_builds_is_one_query_newest_first() {
        let (_dir, mut store) = store();
        let mut a = BuildConfig::new("https://h/ns/a.git", "main");
        let mut b = BuildConfig::new("https://h/ns/b.git", "main");
        let tx = store.immediate().unwrap();
        let settings = RunSettings::default();
        for i in 0..10_000i64 {
            let config = if i % 2 == 0 { &mut a } else { &mut b };
            let mut build = Build::queued(
                config,
                BuildCause::User,
                Some("0123abcd".into()),
                Timestamp::from_unix_millis(1_700_000_000_000 + i),
            );
            if i < 9_990 {
                build.phase = BuildPhase::Complete;
            }
            insert_build(&tx, &build, &settings, Timestamp::UNIX_EPOCH).unwrap();
        }
        put_config(&tx, &a).unwrap();
        put_config(&tx, &b).unwrap();
        tx.commit().unwrap();

        let started = std::time::Instant::now();
        let all = list_builds(store.conn(), &BuildFilter::default()).unwrap();
        let took = started.elapsed();
        assert_eq!(all.len(), 10_000);
        assert!(all.windows(2).all(|w| w[0].created >= w[1].created));
        eprintln!("list_builds of 10,000 builds: {took:?} (debug build)");

        let running = list_builds(
            store.conn(),
            &BuildFilter {
                build_config: Some(a.name.clone()),
                running: true,
            },
        )
        .unwrap();
        assert_eq!(running.len(), 5);
        assert!(running.iter().all(|b| b.build_config == a.name));
        assert_eq!(unfinished_rows(store.conn(), None).unwrap().len(), 10);
        assert_eq!(list_configs(store.conn()).unwrap().len(), 2);
    }

    #[test]
    fn details_are_stored_apart_and_put_back() {
        let (_dir, mut store) = store();
        let mut config = BuildConfig::new("https://h/ns/a.git", "main");
        let mut build = Build::queued(&mut config, BuildCause::User, None, Timestamp::UNIX_EPOCH);
        build.dockerfile = Some("FROM scratch\n".to_owned());
        build
            .plugins_metadata
            .durations
            .insert("docker_api".to_owned(), 1.5);
        let tx = store.immediate().unwrap();
        insert_build(&tx, &build, &RunSettings::default(), Timestamp::UNIX_EPOCH).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            get_build(store.conn(), &build.name).unwrap(),
            Some(build.clone())
        );
        let row = get_row(store.conn(), &build.name).unwrap().unwrap();
        assert_eq!(row.build, build);

        build.phase = BuildPhase::Running;
        update_build(store.conn(), &build).unwrap();
        assert_eq!(require_build(store.conn(), &build.name).unwrap(), build);

        let listed = list_builds(store.conn(), &BuildFilter::default()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].dockerfile, None);
        assert!(listed[0].plugins_metadata.durations.is_empty());
        assert_eq!(listed[0].phase, BuildPhase::Running);
    }
}
