//! `cargo xtask services up --pulp`: a Pulp 3 container registry on loopback, with token auth
//! as real deployments run it, for the tests and the benchmark that sync to Pulp.
//!
//! pulpcore and pulp-container come from PyPI into a venv under the services' state directory
//! (`target/osbs-services/pulp/venv`); PostgreSQL is Debian's (installed with apt-get when
//! missing and running as root), as a cluster of its own on `127.0.0.1:5433`. Three processes
//! serve: the API with the registry and its token server on `127.0.0.1:24817`
//! (`osbs_testkit::pulp_registry`), the content app on `127.0.0.1:24816` and one worker.
//! The administrator is `admin`/`admin` (`osbs_testkit::PULP_USER`).
//!
//! Every step checks first (venv installed with these versions, keys present, cluster
//! answering, migrations applied, each process alive), so `up` is idempotent and quick the
//! second time. `initdb` and `pg_ctl` refuse to run as root: as root they run as `postgres`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use osbs_testkit as kit;

use crate::cmd::{Cmd, on_path};
use crate::services::{apt_install, is_root, spawn_detached_cmd, tail};
use crate::tools::install_venv;

/// What goes into the venv; a venv installed with anything else is installed again.
const REQUIREMENTS: &[&str] = &["pulpcore==3.123.1", "pulp-container==2.30.0"];

/// Where Pulp's content app serves blobs (the registry's blob `HEAD`/`GET` redirect there).
const CONTENT_ADDR: &str = "127.0.0.1:24816";

/// The PostgreSQL cluster's port (5432 is left to a system cluster).
const PG_PORT: &str = "5433";

/// The three Pulp processes: (name, program in the venv, arguments after the address).
fn processes(api: &str, dir: &Path) -> Vec<(&'static str, &'static str, Vec<String>)> {
    vec![
        (
            "api",
            "pulpcore-api",
            vec![
                "-b".into(),
                api.into(),
                "--no-control-socket".into(),
                "-w".into(),
                "2".into(),
                "--access-logfile".into(),
                dir.join("access.log").display().to_string(),
            ],
        ),
        (
            "content",
            "pulpcore-content",
            vec!["-b".into(), CONTENT_ADDR.into()],
        ),
        ("worker", "pulpcore-worker", Vec::new()),
    ]
}

/// The state directory of Pulp.
fn pulp_dir(state: &Path) -> PathBuf {
    state.join("pulp")
}

/// Brings Pulp up, doing only what is missing.
pub fn ensure(root: &Path, state: &Path) -> Result<()> {
    let started = Instant::now();
    let api = kit::pulp_registry();
    let dir = pulp_dir(state);
    if ready(&api) {
        eprintln!("pulp: answering at http://{api} (token auth)");
        return Ok(());
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pg = ensure_postgres_installed(root)?;
    let venv = ensure_venv(root, &dir)?;
    let settings = ensure_settings(root, &dir, &venv, &api)?;
    let fresh_cluster = ensure_cluster(root, &dir, &pg)?;
    ensure_migrated(root, &dir, &venv, &settings, fresh_cluster)?;
    start_processes(root, &dir, &venv, &settings, &api)?;
    eprintln!(
        "pulp: up at http://{api} (token auth, admin/admin) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Stops the Pulp processes and the PostgreSQL cluster that [`ensure`] started.
pub fn down(root: &Path, state: &Path) -> Result<()> {
    let dir = pulp_dir(state);
    for (name, _, _) in processes("", &dir) {
        let pid_file = dir.join(format!("{name}.pid"));
        let Ok(pid) = fs::read_to_string(&pid_file) else {
            continue;
        };
        let pid = pid.trim().to_owned();
        // The API's gunicorn workers are its children: stop the whole process group.
        if Cmd::new(root, "kill", ["--", &format!("-{pid}")]).succeeds()
            || Cmd::new(root, "kill", [&pid]).succeeds()
        {
            eprintln!("pulp {name}: stopped (pid {pid})");
        } else {
            eprintln!("pulp {name}: pid {pid} was not running");
        }
        fs::remove_file(&pid_file)?;
    }
    // Gunicorn takes a moment to let go of its port; an `up` right after must find it free.
    let deadline = Instant::now() + Duration::from_secs(30);
    while (TcpStream::connect(kit::pulp_registry()).is_ok()
        || TcpStream::connect(CONTENT_ADDR).is_ok())
        && Instant::now() < deadline
    {
        sleep(Duration::from_millis(200));
    }
    let data = cluster_dir(root, &dir)?.join("data");
    if data.join("postmaster.pid").exists()
        && let Ok(pg) = pg_bin_dir()
    {
        let pg_ctl = pg.join("pg_ctl").display().to_string();
        let data_arg = data.display().to_string();
        as_postgres(root, &pg_ctl, &["-D", &data_arg, "-m", "fast", "stop"]).run()?;
        eprintln!("pulp postgresql: stopped");
    }
    Ok(())
}

/// One line for `services status`, and whether Pulp is up.
pub fn status() -> (bool, String) {
    let api = kit::pulp_registry();
    let up = ready(&api);
    let word = if up { "up  " } else { "down" };
    (
        up,
        format!("pulp        {word} (http://{api}, token auth; `services up --pulp`)"),
    )
}

/// Whether the registry answers with token auth and Pulp reports a worker and a content app.
fn ready(api: &str) -> bool {
    if !kit::pulp_answers(api) {
        return false;
    }
    let Some((200, body)) = http_get(api, "/pulp/api/v3/status/") else {
        return false;
    };
    let compact: String = body.split_whitespace().collect();
    compact.contains("\"online_workers\":[{") && compact.contains("\"online_content_apps\":[{")
}

fn pid_alive(pid_file: &Path) -> bool {
    fs::read_to_string(pid_file)
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                // A zombie (state Z) has exited.
                .is_ok_and(|stat| {
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| !rest.starts_with('Z'))
                })
        })
}

/// `GET path` on a plain-HTTP server; status and body.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let status = text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_owned()))
}

/// The directory of PostgreSQL's server programs (`initdb`, `pg_ctl`), the newest version.
fn pg_bin_dir() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("pg_ctl").is_file() && bin.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|dir| {
        dir.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .context("no PostgreSQL server programs under /usr/lib/postgresql")
}

fn ensure_postgres_installed(root: &Path) -> Result<PathBuf> {
    if let Ok(dir) = pg_bin_dir() {
        return Ok(dir);
    }
    if !(is_root() && Path::new("/etc/debian_version").exists()) {
        bail!("PostgreSQL is not installed; install it with: sudo apt-get install -y postgresql");
    }
    apt_install(root, &["postgresql"])?;
    pg_bin_dir()
}

/// A command run as the `postgres` user when we are root (its server programs refuse root).
/// It runs in `/`, which every user may enter (the workspace may not be).
fn as_postgres(root: &Path, program: &str, args: &[&str]) -> Cmd {
    let mut cmd = if is_root() {
        let mut all = vec!["-u", "postgres", "--", program];
        all.extend(args);
        Cmd::new(root, "runuser", all)
    } else {
        Cmd::new(root, program, args)
    };
    cmd.inner().current_dir("/");
    cmd
}

/// The venv with pulpcore and pulp-container at the pinned versions; returns its directory.
fn ensure_venv(root: &Path, dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    if !kit::venv_holds(&venv, REQUIREMENTS) {
        install_venv(root, &venv, REQUIREMENTS, "pulp")?;
    }
    Ok(venv)
}

/// Keys (token signing pair, database encryption key) and the settings file; returns the
/// settings file's path.
fn ensure_settings(root: &Path, dir: &Path, venv: &Path, api: &str) -> Result<PathBuf> {
    let keys = dir.join("keys");
    fs::create_dir_all(&keys)?;
    let private = keys.join("token-private.pem");
    let public = keys.join("token-public.pem");
    if !(private.exists() && public.exists()) {
        if !on_path("openssl") {
            if !(is_root() && Path::new("/etc/debian_version").exists()) {
                bail!("openssl is missing; install it with: sudo apt-get install -y openssl");
            }
            apt_install(root, &["openssl"])?;
        }
        let private_arg = private.display().to_string();
        let public_arg = public.display().to_string();
        Cmd::new(
            root,
            "openssl",
            [
                "ecparam",
                "-genkey",
                "-name",
                "prime256v1",
                "-noout",
                "-out",
                &private_arg,
            ],
        )
        .run()?;
        Cmd::new(
            root,
            "openssl",
            ["ec", "-in", &private_arg, "-pubout", "-out", &public_arg],
        )
        .read()?;
    }
    let db_key = keys.join("database.key");
    if !db_key.exists() {
        let python = venv.join("bin").join("python").display().to_string();
        let key = Cmd::new(
            root,
            &python,
            [
                "-c",
                "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())",
            ],
        )
        .read()?;
        fs::write(&db_key, format!("{key}\n"))?;
    }
    let mut paths = Vec::new();
    for sub in ["media", "static", "work", "upload"] {
        let path = dir.join(sub);
        fs::create_dir_all(&path)?;
        paths.push(path.display().to_string());
    }
    let settings = dir.join("settings.py");
    let text = format!(
        "# Written by `cargo xtask services up --pulp`.\n\
         SECRET_KEY = \"osbs-local-test-pulp\"\n\
         DATABASES = {{\"default\": {{\"ENGINE\": \"django.db.backends.postgresql\", \
         \"NAME\": \"pulp\", \"USER\": \"postgres\", \"HOST\": \"127.0.0.1\", \"PORT\": {PG_PORT}}}}}\n\
         MEDIA_ROOT = {media:?}\n\
         STATIC_ROOT = {static_root:?}\n\
         WORKING_DIRECTORY = {work:?}\n\
         FILE_UPLOAD_TEMP_DIR = {upload:?}\n\
         DB_ENCRYPTION_KEY = {db_key:?}\n\
         CONTENT_ORIGIN = \"http://{CONTENT_ADDR}\"\n\
         ANALYTICS = False\n\
         TOKEN_AUTH_DISABLED = False\n\
         TOKEN_SERVER = \"http://{api}/token/\"\n\
         TOKEN_SIGNATURE_ALGORITHM = \"ES256\"\n\
         PUBLIC_KEY_PATH = {public:?}\n\
         PRIVATE_KEY_PATH = {private:?}\n",
        media = paths[0],
        static_root = paths[1],
        work = paths[2],
        upload = paths[3],
        db_key = db_key.display().to_string(),
        public = public.display().to_string(),
        private = private.display().to_string(),
    );
    if fs::read_to_string(&settings).ok().as_deref() != Some(text.as_str()) {
        fs::write(&settings, text)?;
    }
    Ok(settings)
}

fn pg_answers() -> bool {
    TcpStream::connect(format!("127.0.0.1:{PG_PORT}")).is_ok()
}

/// Where the cluster lives: `pulp/postgres` in the state directory, or, when we are root and
/// the `postgres` user cannot reach that (a checkout under a private home directory), a
/// directory of its own under the system's temporary directory.
fn cluster_dir(root: &Path, dir: &Path) -> Result<PathBuf> {
    let base = dir.join("postgres");
    fs::create_dir_all(&base)?;
    if !is_root() {
        return Ok(base);
    }
    let base_arg = base.display().to_string();
    Cmd::new(root, "chown", ["-R", "postgres:postgres", &base_arg]).run()?;
    if as_postgres(root, "test", &["-w", &base_arg]).succeeds() {
        return Ok(base);
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&dir, &mut hasher);
    let fallback = std::env::temp_dir().join(format!(
        "osbs-pulp-postgres-{:016x}",
        std::hash::Hasher::finish(&hasher)
    ));
    fs::create_dir_all(&fallback)?;
    let fallback_arg = fallback.display().to_string();
    Cmd::new(root, "chown", ["-R", "postgres:postgres", &fallback_arg]).run()?;
    eprintln!(
        "pulp: user postgres cannot write {}; the cluster lives in {}",
        base.display(),
        fallback.display()
    );
    Ok(fallback)
}

/// The cluster on port 5433 with database `pulp`; `true` when it was made just now.
fn ensure_cluster(root: &Path, dir: &Path, pg: &Path) -> Result<bool> {
    let base = cluster_dir(root, dir)?;
    let data = base.join("data");
    let run = base.join("run");
    if !run.exists() {
        fs::create_dir_all(&run)?;
        if is_root() {
            let run_arg = run.display().to_string();
            Cmd::new(root, "chown", ["postgres:postgres", &run_arg]).run()?;
        }
    }
    let data_arg = data.display().to_string();
    let mut fresh = false;
    if !data.join("PG_VERSION").exists() {
        if data.exists() {
            fs::remove_dir_all(&data)?;
        }
        let initdb = pg.join("initdb").display().to_string();
        as_postgres(
            root,
            &initdb,
            &[
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "-D",
                &data_arg,
            ],
        )
        .read()
        .with_context(|| {
            format!(
                "initdb failed (as root it runs as `postgres`, which must be able to write {})",
                data.display()
            )
        })?;
        fresh = true;
    }
    if !pg_answers() {
        let pg_ctl = pg.join("pg_ctl").display().to_string();
        let log = base.join("postgres.log").display().to_string();
        let options = format!(
            "-p {PG_PORT} -k {} -c listen_addresses=127.0.0.1",
            run.display()
        );
        as_postgres(
            root,
            &pg_ctl,
            &["-D", &data_arg, "-l", &log, "-o", &options, "-w", "start"],
        )
        .run()
        .with_context(|| format!("PostgreSQL did not start:\n{}", tail(Path::new(&log))))?;
    }
    let psql = pg.join("psql").display().to_string();
    let psql_args = |sql: &str| {
        [
            "-h",
            "127.0.0.1",
            "-p",
            PG_PORT,
            "-U",
            "postgres",
            "-tAc",
            sql,
        ]
        .map(str::to_owned)
    };
    let exists = Cmd::new(
        root,
        &psql,
        psql_args("SELECT 1 FROM pg_database WHERE datname = 'pulp'"),
    )
    .read()?;
    if exists != "1" {
        Cmd::new(root, &psql, psql_args("CREATE DATABASE pulp")).read()?;
        fresh = true;
    }
    Ok(fresh)
}

/// `pulpcore-manager migrate` and the admin password, once per database.
fn ensure_migrated(
    root: &Path,
    dir: &Path,
    venv: &Path,
    settings: &Path,
    fresh_database: bool,
) -> Result<()> {
    let marker = dir.join("migrated");
    let wanted = REQUIREMENTS.join("\n");
    if !fresh_database && fs::read_to_string(&marker).is_ok_and(|have| have == wanted) {
        return Ok(());
    }
    let started = Instant::now();
    let manager = venv
        .join("bin")
        .join("pulpcore-manager")
        .display()
        .to_string();
    Cmd::new(root, &manager, ["migrate", "--noinput"])
        .env("PULP_SETTINGS", settings)
        .read()?;
    Cmd::new(
        root,
        &manager,
        ["reset-admin-password", "--password", kit::PULP_PASSWORD],
    )
    .env("PULP_SETTINGS", settings)
    .read()?;
    fs::write(&marker, wanted)?;
    eprintln!(
        "pulp: database migrated in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts each process that is not running, then waits until Pulp is ready.
fn start_processes(root: &Path, dir: &Path, venv: &Path, settings: &Path, api: &str) -> Result<()> {
    let mut children: Vec<(&str, PathBuf, Child)> = Vec::new();
    for (name, program, args) in processes(api, dir) {
        let pid_file = dir.join(format!("{name}.pid"));
        if pid_alive(&pid_file) {
            continue;
        }
        let log = dir.join(format!("{name}.log"));
        let program = venv.join("bin").join(program).display().to_string();
        let cmd = Cmd::new(root, &program, &args).env("PULP_SETTINGS", settings);
        let child = spawn_detached_cmd(cmd, &log, &pid_file)?;
        children.push((name, log, child));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready(api) {
        for (name, log, child) in &mut children {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "pulp {name} exited ({status}) before Pulp was ready:\n{}",
                    tail(log)
                );
            }
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = children
                .iter()
                .map(|(name, log, _)| format!("--- {name}\n{}", tail(log)))
                .collect();
            bail!(
                "Pulp did not become ready within 180s:\n{}",
                logs.join("\n")
            );
        }
        sleep(Duration::from_millis(250));
    }
    Ok(())
}
