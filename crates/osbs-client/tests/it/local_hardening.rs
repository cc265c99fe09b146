//! Issue 10's hardening of the local backend, end to end: the repository's files are judged at
//! submission by the reactor's rules (a symlinked, oversized, directory or garbage
//! `.osbs-repo-config`, a symlinked Dockerfile or `.dockerignore`, an image name or labels the
//! reactor would refuse: exit code 2, nothing queued), an autorebuild of a recorded commit with
//! a symlinked config ends `Failed` without a byte of the link's target anywhere, and a git
//! password is never stored, shown or on a command line.

#![allow(
    clippy::unwrap_used,
    reason = "test support fails loudly on a broken set-up, like the tests themselves"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use osbs_client::backend::{Backend as _, BuildFilter, BuildSubmission};
use osbs_core::build::BuildPhase;
use osbs_core::model::{BuildConfig, ImageStream, ImageStreamTag, UserSubmission};

use crate::local::support::{Repo, World, osbs_exe, submit_err, unique, wait_finished};

/// What a file outside the repository holds: it must never show up anywhere.
const OUTSIDE_MARKER: &str = "host-secret-do-not-show";

/// A file outside every repository, holding [`OUTSIDE_MARKER`] in a form that would be echoed
/// if it were read as a repo config or a Dockerfile.
fn outside_file(world: &World) -> PathBuf {
    let path = world.tmp.path().join("outside-file");
    std::fs::write(
        &path,
        format!("[autorebuild]\nenabled = {OUTSIDE_MARKER}\nLABEL name={OUTSIDE_MARKER}\n"),
    )
    .unwrap();
    path
}

/// A repository `name` from the `app` fixture with `change` applied and committed.
fn app_with(world: &World, name: &str, change: impl FnOnce(&Path)) -> Repo {
    let repo = world.repo_named("app", name);
    change(&repo.dir);
    repo.commit_all(name);
    repo
}

/// The `app` fixture's Dockerfile with other labels.
fn dockerfile(world: &World, labels: &str) -> String {
    format!(
        "FROM {}/{}:latest\nLABEL {labels}\nCOPY hello.txt /hello.txt\n",
        osbs_testkit::push_registry(),
        world.repository("base")
    )
}

/// Runs the `osbs` binary with this world's config; returns its exit code, stdout and stderr.
fn osbs(world: &World, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(osbs_exe())
        .arg("--config")
        .arg(&world.config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every repository file and label the reactor would refuse is refused at submission with
/// exit code 2, naming the file (and never what a link points to, or a whole huge value);
/// `check-repo-config` agrees on the config files; nothing is queued.
#[tokio::test]
async fn submission_refuses_what_the_reactor_would() {
    let world = World::new(false);
    let backend = world.backend();
    let outside = outside_file(&world);
    let big_value = "x".repeat(10 * 1024 * 1024);
    let long_value = "y".repeat(60 * 1024);
    let long_name = format!("osbs/{}", "n".repeat(300));

    type Change = Box<dyn Fn(&Path)>;
    let link = |target: PathBuf, file: &'static str| -> Change {
        Box::new(move |dir: &Path| {
            let _ = std::fs::remove_file(dir.join(file));
            std::os::unix::fs::symlink(&target, dir.join(file)).unwrap();
        })
    };
    let write = |file: &'static str, content: Vec<u8>| -> Change {
        Box::new(move |dir: &Path| std::fs::write(dir.join(file), &content).unwrap())
    };
    let labels = |labels: &str| write("Dockerfile", dockerfile(&world, labels).into_bytes());
    let cases: Vec<(&str, Change, &str, bool)> = vec![
        (
            "config-link",
            link(outside.clone(), ".osbs-repo-config"),
            ".osbs-repo-config is a symbolic link",
            true,
        ),
        (
            "config-link-relative",
            link("../../../../etc/hostname".into(), ".osbs-repo-config"),
            ".osbs-repo-config is a symbolic link",
            true,
        ),
        (
            "config-10mb",
            write(
                ".osbs-repo-config",
                format!("[autorebuild]\nenabled = {big_value}\n").into_bytes(),
            ),
            "more than the limit of 65536 bytes",
            true,
        ),
        (
            "config-directory",
            Box::new(|dir: &Path| {
                std::fs::create_dir(dir.join(".osbs-repo-config")).unwrap();
                std::fs::write(dir.join(".osbs-repo-config/enabled"), "0").unwrap();
            }),
            ".osbs-repo-config is a directory, not a regular file",
            true,
        ),
        (
            "config-garbage",
            write(".osbs-repo-config", b"\xff\xfe\x00garbage\x01".to_vec()),
            ".osbs-repo-config:1: invalid UTF-8",
            true,
        ),
        (
            "config-long-value",
            write(
                ".osbs-repo-config",
                format!("[autorebuild]\nenabled = {long_value}\n").into_bytes(),
            ),
            "… 61240 bytes more for autorebuild.enabled",
            true,
        ),
        (
            "dockerfile-link",
            link(outside.clone(), "Dockerfile"),
            "Dockerfile is a symbolic link",
            false,
        ),
        (
            "dockerignore-link",
            link(outside.clone(), ".dockerignore"),
            ".dockerignore is a symbolic link",
            false,
        ),
        (
            "dockerignore-huge",
            write(".dockerignore", vec![b'#'; 70 * 1024]),
            ".dockerignore is 71680 bytes, more than the limit of 65536 bytes",
            false,
        ),
        (
            "name-uppercase",
            labels(r#"name="osbs/Local-App" version="1""#),
            "invalid image name \"osbs/Local-App\": it must be lowercase",
            false,
        ),
        (
            "name-300",
            labels(&format!(r#"name="{long_name}" version="1""#)),
            "305 characters long",
            false,
        ),
        (
            "version-missing",
            labels(&format!(r#"name="{}""#, world.repository("app"))),
            "the Dockerfile has no `version` label",
            false,
        ),
        (
            "version-invalid",
            labels(&format!(
                r#"name="{}" version="1.0 beta""#,
                world.repository("app")
            )),
            "invalid `version` label \"1.0 beta\"",
            false,
        ),
        (
            "version-latest",
            labels(&format!(
                r#"name="{}" version="latest""#,
                world.repository("app")
            )),
            "tag `latest` twice",
            false,
        ),
        (
            "version-too-long",
            labels(&format!(
                r#"name="{}" version="{}""#,
                world.repository("app"),
                "1".repeat(101)
            )),
            "101 characters long",
            false,
        ),
        (
            "release-invalid",
            labels(&format!(
                r#"name="{}" version="1" release="a/b""#,
                world.repository("app")
            )),
            "invalid `release` label \"a/b\"",
            false,
        ),
    ];
    for (name, change, expected, is_config) in cases {
        let repo = app_with(&world, name, change);
        let err = submit_err(&backend, repo.submission()).await;
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2, "{name}: {text}");
        assert!(text.contains(expected), "{name}: {text}");
        assert!(text.len() < 700, "{name}: {} bytes", text.len());
        assert!(!text.contains(OUTSIDE_MARKER), "{name}: {text}");
        if is_config {
            let dir = repo.dir.display().to_string();
            let (code, out, err) = osbs(&world, &["check-repo-config", &dir]);
            assert_eq!(code, 2, "check-repo-config agrees on {name}: {out} {err}");
            assert!(!out.contains(OUTSIDE_MARKER) && !err.contains(OUTSIDE_MARKER));
        }
    }

    // The same through the `osbs` binary: exit code 2 for a name the reactor would refuse.
    let upper = app_with(
        &world,
        "cli-uppercase",
        labels(r#"name="osbs/UPPER" version="1""#),
    );
    let (code, out, err) = osbs(
        &world,
        &["build", "-g", &upper.url, "-b", "main", "--no-wait"],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("must be lowercase"), "{err}");

    let all = backend.list_builds(&BuildFilter::default()).await.unwrap();
    assert!(all.is_empty(), "nothing may be queued: {all:?}");
}

/// An autorebuild of a commit recorded before the rules (a BuildConfig loaded with a commit
/// whose `.osbs-repo-config` links outside the repository) ends `Failed`, naming the file and
/// saying it is a symlink; the target's content is in no error, log or read command's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autorebuild_of_a_recorded_symlinked_config_fails_without_leaking() {
    osbs_testkit::require_services();
    let world = World::new(false);
    world.push_base("base", 0).await;
    let outside = outside_file(&world);
    let repo = app_with(&world, "app-linked", |dir| {
        std::os::unix::fs::symlink(&outside, dir.join(".osbs-repo-config")).unwrap();
    });
    let base_stream = world.stream("base");
    let mut config = BuildConfig::new(&repo.url, "main");
    config.record_user_build(UserSubmission {
        commit: repo.head(),
        trigger: Some(ImageStreamTag {
            stream: base_stream.clone(),
            tag: "latest".to_owned(),
        }),
        repo_config_name: ".osbs-repo-config".to_owned(),
        image_name: Some(world.repository("app")),
    });
    config
        .labels
        .insert("is_autorebuild".to_owned(), "true".to_owned());
    let mut stream = ImageStream::new(base_stream.clone());
    stream.docker_image_repository = Some(format!(
        "{}/{}",
        osbs_testkit::push_registry(),
        world.repository("base")
    ));
    let backend = world.backend();
    osbs_client::local::bulk_load(backend.state_dir(), &[config.clone()], &[], &[stream]).unwrap();

    let (_, queued) = backend
        .import_image(&base_stream, Some("latest"))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let build = wait_finished(&backend, &queued[0].name).await;
    assert_eq!(build.phase, BuildPhase::Failed, "{build:#?}");
    assert!(build.is_autorebuild);
    let error = build.error.clone().unwrap_or_default();
    assert!(
        error.starts_with(
            "Error in plugin stop_autorebuild_if_disabled: .osbs-repo-config is a symbolic link"
        ),
        "{error}"
    );

    for args in [
        vec!["get-build", &build.name],
        vec!["--output", "json", "get-build", &build.name],
        vec!["list-builds"],
        vec!["--output", "json", "list-builds"],
        vec!["build-logs", &build.name],
    ] {
        let (code, out, err) = osbs(&world, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        if args != ["list-builds"] {
            assert!(out.contains("symbolic link"), "{args:?}: {out}");
        }
        assert!(!out.contains(OUTSIDE_MARKER), "{args:?}: {out}");
        assert!(!err.contains(OUTSIDE_MARKER), "{args:?}: {err}");
    }
}

/// A git HTTP server requiring a user and password (`git_http_auth.py`), killed on drop.
struct GitHttpServer {
    child: Child,
    port: u16,
}

impl GitHttpServer {
    /// Serves the bare repositories under `root`; the password is given by environment.
    fn start(root: &Path, user: &str, password: &str) -> GitHttpServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/git_http_auth.py");
        let port_file = root.join("port");
        let child = Command::new("python3")
            .arg(script)
            .arg(root)
            .arg(&port_file)
            .env("GIT_TEST_USER", user)
            .env("GIT_TEST_PASSWORD", password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().unwrap();
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no git server");
            std::thread::sleep(Duration::from_millis(50));
        };
        GitHttpServer { child, port }
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the sampler of process command lines saw.
#[derive(Debug, Default)]
struct Sampled {
    /// Command lines that contained the secret.
    leaks: Vec<String>,
    /// Rounds over `/proc`.
    rounds: usize,
    /// Command lines seen that name the git server (git's own processes).
    git_seen: Vec<String>,
    /// Whether a runner (`__run-build`) was seen.
    runner_seen: bool,
}

/// Reads `/proc/*/cmdline` of every process every 5 ms until `stop`.
fn sample_cmdlines(secret: String, server: String, stop: Arc<AtomicBool>) -> Sampled {
    let mut sampled = Sampled::default();
    while !stop.load(Ordering::SeqCst) {
        sampled.rounds += 1;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(&secret) {
                sampled.leaks.push(cmdline.clone());
            }
            if cmdline.contains(&server) && sampled.git_seen.len() < 20 {
                sampled.git_seen.push(cmdline.clone());
            }
            if cmdline.contains(osbs_client::local::RUN_BUILD_SUBCOMMAND) {
                sampled.runner_seen = true;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    sampled
}

/// Every file under `dir` (except `skip`) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8], skip: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path == skip {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_containing(&path, needle, skip, found);
        } else if kind.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
}

/// A build from `http://user:SECRET@…` served by a git server that requires the password:
/// it completes, and so does a later build of the stored BuildConfig (whose URL has the
/// password redacted, as an autorebuild's has); the secret is in no process's command line
/// during the builds, nowhere in the state directory but its 0600 secret file, in no log and
/// in no output of the read commands. A wrong password is refused at submission (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_password_is_never_stored_shown_or_in_argv() {
    osbs_testkit::require_services();
    let world = World::new(false);
    world.push_base("base", 0).await;
    let app = world.repo("app");
    let served = world.tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    osbs_testkit::fixture::run(
        Command::new("git")
            .args(["clone", "--quiet", "--bare"])
            .arg(&app.dir)
            .arg(served.join("app.git")),
    );
    let secret = format!("Pw{}Secret", unique());
    let server = GitHttpServer::start(&served, "builder", &secret);
    let host = format!("127.0.0.1:{}", server.port);
    let url = format!("http://builder:{secret}@{host}/app.git");

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (secret, host, stop) = (secret.clone(), host.clone(), Arc::clone(&stop));
        std::thread::spawn(move || sample_cmdlines(secret, host, stop))
    };

    let backend = world.backend();
    let wrong = format!("Wrong{}", unique());
    let err = submit_err(
        &backend,
        BuildSubmission {
            git_url: format!("http://builder:{wrong}@{host}/app.git"),
            ..app.submission()
        },
    )
    .await;
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(!err.to_string().contains(&wrong), "{err}");

    let submission = BuildSubmission {
        git_url: url.clone(),
        ..app.submission()
    };
    let submitted = backend.create_build(&submission).await.unwrap();
    assert!(!format!("{submitted:?}").contains(&secret));
    let first = wait_finished(&backend, &submitted.build.name).await;
    assert_eq!(first.phase, BuildPhase::Complete, "{first:#?}");
    let shown = format!("http://builder:***@{host}/app.git");
    assert_eq!(first.git_url, shown);
    let config = backend.get_build_config(&first.build_config).await.unwrap();
    assert_eq!(config.git_url, shown);

    // A build of the stored BuildConfig: its URL's password is `***`, the stored one serves.
    let again = backend
        .start_build(&first.build_config, None, None)
        .await
        .unwrap();
    let again = wait_finished(&backend, &again.name).await;
    assert_eq!(again.phase, BuildPhase::Complete, "{again:#?}");
    assert_eq!(again.git_url, shown);

    stop.store(true, Ordering::SeqCst);
    let sampled = sampler.join().unwrap();
    assert!(sampled.leaks.is_empty(), "{:#?}", sampled.leaks);
    assert!(
        sampled.runner_seen,
        "the sampler saw the runners: {sampled:?}"
    );
    assert!(
        !sampled.git_seen.is_empty(),
        "the sampler saw git talk to the server: {} rounds",
        sampled.rounds
    );
    assert!(
        sampled.git_seen.iter().all(|c| !c.contains(&wrong)),
        "{:#?}",
        sampled.git_seen
    );

    // The read commands, text and JSON.
    let mut outputs = String::new();
    for args in [
        vec!["get-build", &first.name],
        vec!["--output", "json", "get-build", &first.name],
        vec!["list-builds"],
        vec!["--output", "json", "list-builds"],
        vec!["get-build-config", &first.build_config],
        vec!["--output", "json", "get-build-config", &first.build_config],
        vec!["list-build-configs"],
        vec!["--output", "json", "list-build-configs"],
        vec!["--output", "json", "watch-build", &again.name],
        vec!["build-logs", &first.name],
        vec!["build-logs", &again.name],
    ] {
        let (code, out, err) = osbs(&world, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        for text in [&out, &err] {
            assert!(!text.contains(&secret), "{args:?}: {text}");
            assert!(!text.contains(&wrong), "{args:?}: {text}");
        }
        outputs.push_str(&out);
    }
    assert!(outputs.contains("builder:***@"), "{outputs}");

    // The state: database, logs, mirrors; only the secret file holds the password.
    let state = backend.state_dir().to_owned();
    let secret_file = state
        .join("secrets")
        .join(format!("{}.git-password", first.build_config));
    let mut found = Vec::new();
    files_containing(&state, secret.as_bytes(), &secret_file, &mut found);
    files_containing(&state, wrong.as_bytes(), Path::new("/"), &mut found);
    assert!(found.is_empty(), "{found:#?}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);

    // Deleting the BuildConfig deletes its password too.
    backend
        .delete_build_config(&first.build_config)
        .await
        .unwrap();
    assert!(
        !secret_file.exists(),
        "{} outlived its build config",
        secret_file.display()
    );
}
