//! The local backend as a service that can be left alone (issue: one engine for both
//! backends): queued builds survive a crash, a dead run is fenced and cleaned up, the
//! concurrency cap holds, `start-build` and `prune` work on the engine.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on a broken set-up, like the tests themselves"
)]

use std::time::{Duration, Instant};

use osbs_client::backend::{Backend as _, BuildFilter};
use osbs_core::build::BuildPhase;

use crate::local::support::{World, registry_digest, start_sleeping, wait_finished, wait_for};

/// Processes whose command line mentions `needle` (other than this test process).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{pid}: {cmdline}"));
            }
        }
    }
    found
}

/// References in the local Docker Engine that mention `needle`.
fn docker_images_mentioning(needle: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// The Dockerfile of the `slow` fixture without its long step.
fn quick(slow: &crate::local::support::Repo) -> String {
    let text = std::fs::read_to_string(slow.dir.join("Dockerfile")).unwrap();
    assert!(text.contains("sleep 25"), "{text}");
    text.replace("sleep 25", "true")
}

/// kill -9 of the runner with one build running and three queued behind it on the same
/// BuildConfig: the running one ends `Error` and what it left is removed; the three queued ones
/// (no process waits for them) run to `Complete` when the next command looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_builds_survive_a_crash() {
    osbs_testkit::require_services();
    let world = World::new(false);
    world.push_base("base", 0).await;
    let backend = world.backend();
    let slow = world.repo("slow");
    let s1 = start_sleeping(&backend, &slow).await;
    // Three user builds of a quick commit queue behind it.
    slow.change("Dockerfile", &quick(&slow));
    let mut queued = Vec::new();
    for _ in 0..3 {
        let submitted = backend.create_build(&slow.submission()).await.unwrap();
        assert!(submitted.queued_behind.is_some(), "{:?}", submitted.build);
        queued.push(submitted.build);
    }
    let pid = backend.runner_pid(&s1.name).unwrap().expect("a runner");
    let work = backend.state_dir().join("work").join(&s1.name);
    assert!(work.exists(), "the run's work dir {}", work.display());
    // Every osbs process of this BuildConfig: the one runner (queued builds have none).
    let runners = processes_mentioning(&format!("__run-build {}-", s1.build_config));
    assert_eq!(runners.len(), 1, "{runners:#?}");
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // The next command (a fresh backend, as after a reboot) picks everything up.
    let next = world.backend();
    let dead = wait_finished(&next, &s1.name).await;
    assert_eq!(dead.phase, BuildPhase::Error, "{dead:#?}");
    for build in &queued {
        let done = wait_finished(&next, &build.name).await;
        assert_eq!(done.phase, BuildPhase::Complete, "{done:#?}");
    }
    assert!(!work.exists(), "{} left behind", work.display());
    assert_eq!(
        docker_images_mentioning(&s1.name),
        Vec::<String>::new(),
        "held or built images of the dead run"
    );
    assert_eq!(
        processes_mentioning(&s1.name),
        Vec::<String>::new(),
        "processes of the dead run"
    );
}

/// A runner stopped (SIGSTOP) past the heartbeat limit (its heartbeat stops too) loses its
/// lease: its build ends `Error`, the run is killed and cleaned up, and nothing of it is
/// published: the registry's
/// `latest` and the ImageStream still point at the last `Complete` build, whose history does
/// not list the fenced build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_runner_is_fenced_and_publishes_nothing() {
    osbs_testkit::require_services();
    let world = World::new(false);
    world.push_base("base", 0).await;
    let backend = world.backend();
    let slow = world.repo("slow");
    let slow_text = std::fs::read_to_string(slow.dir.join("Dockerfile")).unwrap();
    slow.change("Dockerfile", &quick(&slow));
    let first = backend
        .create_build(&slow.submission())
        .await
        .unwrap()
        .build;
    let first = wait_finished(&backend, &first.name).await;
    assert_eq!(first.phase, BuildPhase::Complete, "{first:#?}");
    let repository = world.repository("slow");
    let registry = osbs_testkit::push_registry();
    let latest = registry_digest(&registry, &repository, "latest").await;
    assert!(latest.is_some());

    slow.change("Dockerfile", &slow_text);
    let second = start_sleeping(&backend, &slow).await;
    let pid = backend.runner_pid(&second.name).unwrap().expect("a runner");
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
    };
    assert!(signal("-STOP").success());
    let impatient = world
        .backend()
        .with_stale_rules(osbs_core::policy::StaleRules {
            heartbeat_timeout_ms: 4_000,
        });
    let fenced = wait_for(
        &impatient,
        &second.name,
        Duration::from_secs(30),
        "errored",
        |b| b.phase.is_finished(),
    )
    .await;
    assert_eq!(fenced.phase, BuildPhase::Error, "{fenced:#?}");
    let error = fenced.error.clone().unwrap_or_default();
    assert!(error.contains("no heartbeat for"), "{error}");
    // The engine's clean-up killed the stopped runner's process group (no SIGCONT needed).
    let deadline = Instant::now() + Duration::from_secs(10);
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    while !gone() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone(),
        "the stopped runner {pid} still runs after its build ended Error"
    );
    // Resumed (if it still existed), it would have nothing to publish with.
    let _ = signal("-CONT");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        registry_digest(&registry, &repository, "latest").await,
        latest
    );
    let stream = impatient
        .get_image_stream(&world.stream("slow"))
        .await
        .unwrap();
    let tag = &stream.tags["latest"];
    assert_eq!(Some(&tag.digest), latest.as_ref());
    assert!(
        tag.history
            .iter()
            .all(|e| e.build.as_deref() != Some(second.name.as_str())),
        "{stream:#?}"
    );
    let after = impatient.get_build(&second.name).await.unwrap();
    assert_eq!(after.phase, BuildPhase::Error, "{after:#?}");
    assert!(after.digests.is_empty(), "{after:#?}");
}

/// A base with six children and `max_concurrent_builds = 2`: never more than two builds
/// `Running` (sampled while they run), all six autorebuilds `Complete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_cap_holds_across_build_configs() {
    osbs_testkit::require_services();
    let world = World::new(false);
    world.set("max_concurrent_builds", "2");
    world.push_base("base", 0).await;
    let backend = world.backend();
    let mut names = Vec::new();
    for i in 0..6 {
        let repo = world.repo_named("app", &format!("app{i}"));
        let text = std::fs::read_to_string(repo.dir.join("Dockerfile")).unwrap();
        repo.change("Dockerfile", &text.replace("-app\"", &format!("-app{i}\"")));
        names.push(
            backend
                .create_build(&repo.submission())
                .await
                .unwrap()
                .build
                .name,
        );
    }
    let sample = async |names: &[String]| {
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut max_running = 0;
        loop {
            let running = backend
                .list_builds(&BuildFilter {
                    build_config: None,
                    running: true,
                })
                .await
                .unwrap();
            let active = running
                .iter()
                .filter(|b| matches!(b.phase, BuildPhase::Running | BuildPhase::Pending))
                .count();
            max_running = max_running.max(active);
            let mut done = true;
            for name in names {
                done &= backend.get_build(name).await.unwrap().phase.is_finished();
            }
            if done || Instant::now() > deadline {
                return max_running;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let max_users = sample(&names).await;
    assert!(max_users <= 2, "{max_users} builds ran at once");
    world.push_base("base", 1).await;
    let (_, autos) = backend
        .import_image(&world.stream("base"), Some("latest"))
        .await
        .unwrap();
    assert_eq!(autos.len(), 6, "{autos:#?}");
    let auto_names: Vec<String> = autos.iter().map(|b| b.name.clone()).collect();
    let max_autos = sample(&auto_names).await;
    assert!(max_autos <= 2, "{max_autos} autorebuilds ran at once");
    assert!(max_autos >= 1);
    for name in names.iter().chain(&auto_names) {
        let b = backend.get_build(name).await.unwrap();
        assert_eq!(b.phase, BuildPhase::Complete, "{b:#?}");
    }
}

/// Starts `python3 SCRIPT ARGS...` (a receiver of osbs-engine's notification tests) and
/// returns it with the port it printed.
fn start_sink(script: &str, args: &[&str]) -> (std::process::Child, u16) {
    use std::io::BufRead as _;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../osbs-engine/tests/it")
        .join(script);
    let mut child = std::process::Command::new("python3")
        .arg(&path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs the notification receivers (apt-get install python3)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| {
        panic!("{script} printed {line:?} instead of its port (python3 -m pip install aiosmtpd?)")
    });
    (child, port)
}

/// Pushes an image `FROM busybox` with `run` as its one step to `image` in a registry.
fn push_vendor_image(image: &str, run: &str) {
    let dockerfile = format!("FROM {}\nRUN {run}\n", osbs_testkit::base_image());
    let mut child = std::process::Command::new("docker")
        .args(["build", "--quiet", "-t", image, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dockerfile.as_bytes())
            .unwrap();
    }
    assert!(child.wait().unwrap().success(), "docker build of {image}");
    let push = std::process::Command::new("docker")
        .args(["push", "--quiet", image])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(push.success(), "docker push {image}");
}

/// `osbs serve` with `import_interval = 2s` over an app FROM a vendor base in the second
/// registry (not built here): a plain `docker push` of a new base autorebuilds the app (release
/// `R.1`), an unchanged digest fires nothing, an unreachable vendor registry is reported and
/// retried, never fatal; a failing autorebuild is posted as `auto_fail` to a webhook that
/// refuses its first attempts, and mailed to an SMTP sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_picks_up_vendor_base_changes_and_notifies() {
    osbs_testkit::require_services();
    let world = World::new(false);
    let tmp = world.tmp.path();
    let hooks = tmp.join("hooks.jsonl");
    let mails = tmp.join("mails.jsonl");
    let (mut webhook, webhook_port) =
        start_sink("webhook_sink.py", &[hooks.to_str().unwrap(), "2"]);
    let (mut smtp, smtp_port) = start_sink("smtp_sink.py", &[mails.to_str().unwrap()]);
    world.set("import_interval", "2s");
    world.set(
        "notify_webhook",
        &format!("http://127.0.0.1:{webhook_port}/hook"),
    );
    world.set("notify_smtp", &format!("127.0.0.1:{smtp_port}"));
    world.set("notify_from", "osbs@localhost");
    world.set("notify_to", "release@localhost");

    let vendor = format!(
        "{}/vendor/{}-base:latest",
        osbs_testkit::sync_registry(),
        world.prefix
    );
    push_vendor_image(&vendor, "echo ok > /ok");
    let backend = world.backend();
    let app = world.repo("app");
    let text = std::fs::read_to_string(app.dir.join("Dockerfile")).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("ARG BASE=") {
                format!("ARG BASE={vendor}")
            } else {
                l.replace("version=\"1\"", "version=\"1\" release=\"7\"")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    app.change("Dockerfile", &format!("{text}\nRUN test -f /ok\n"));
    let first = backend.create_build(&app.submission()).await.unwrap().build;
    let first = wait_finished(&backend, &first.name).await;
    assert_eq!(first.phase, BuildPhase::Complete, "{first:#?}");
    assert_eq!(first.release.as_deref(), Some("7"));
    // A second app FROM a registry that does not answer: its stream is re-read and fails.
    let ghost = world.repo_named("app", "ghost");
    let ghost_text = std::fs::read_to_string(ghost.dir.join("Dockerfile")).unwrap();
    ghost.change(
        "Dockerfile",
        &ghost_text.replace(
            &format!(
                "{}/osbs/{}-base:latest",
                osbs_testkit::push_registry(),
                world.prefix
            ),
            "127.0.0.1:9/vendor/ghost:latest",
        ),
    );
    let doomed = backend
        .create_build(&ghost.submission())
        .await
        .unwrap()
        .build;
    wait_finished(&backend, &doomed.name).await;

    let serve_log = tmp.join("serve.log");
    let mut serve = std::process::Command::new(crate::local::support::osbs_exe())
        .args(["--config", world.config.to_str().unwrap(), "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&serve_log).unwrap())
        .spawn()
        .unwrap();
    // The first scheduled read records the vendor base's digest and fires nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let count = async || {
        backend
            .list_builds(&BuildFilter {
                build_config: Some(first.build_config.clone()),
                running: false,
            })
            .await
            .unwrap()
    };
    assert_eq!(count().await.len(), 1, "{:#?}", count().await);

    // A new vendor base, pushed with plain docker: the app is autorebuilt, release 7.1.
    push_vendor_image(&vendor, "echo ok > /ok && echo 2 > /generation");
    let deadline = Instant::now() + Duration::from_secs(120);
    let auto = loop {
        let builds = count().await;
        if let Some(b) = builds
            .iter()
            .find(|b| b.is_autorebuild && b.phase.is_finished())
        {
            break b.clone();
        }
        assert!(Instant::now() < deadline, "no autorebuild: {builds:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(auto.phase, BuildPhase::Complete, "{auto:#?}");
    assert_eq!(auto.release.as_deref(), Some("7.1"));
    // Unchanged: nothing more fires over two more intervals.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(count().await.len(), 2, "{:#?}", count().await);

    // A base without /ok: the autorebuild fails, and the failure is told.
    push_vendor_image(&vendor, "echo broken > /broken");
    let deadline = Instant::now() + Duration::from_secs(120);
    let failed = loop {
        let builds = count().await;
        if let Some(b) = builds
            .iter()
            .find(|b| b.is_autorebuild && b.name != auto.name && b.phase.is_finished())
        {
            break b.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no second autorebuild: {builds:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(failed.phase, BuildPhase::Failed, "{failed:#?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&hooks)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &serde_json::Value| v["build"]["name"] == failed.name.as_str())
            .collect();
        // Refused twice (500), then taken.
        if lines.len() >= 3 {
            break lines;
        }
        assert!(Instant::now() < deadline, "webhook got {lines:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(delivered[2]["event"], "auto_fail");
    assert_eq!(delivered[2]["build"]["phase"], "Failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mail = std::fs::read_to_string(&mails).unwrap_or_default();
        if mail.contains(&failed.name) {
            assert!(mail.contains("auto_fail"), "{mail}");
            break;
        }
        assert!(Instant::now() < deadline, "no mail: {mail}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The unreachable registry was reported on every round and serve kept going.
    assert!(serve.try_wait().unwrap().is_none(), "osbs serve exited");
    let log = std::fs::read_to_string(&serve_log).unwrap();
    let ghost_failures = log
        .lines()
        .filter(|l| {
            l.contains("scheduled import of") && l.contains("ghost") && l.contains("failed")
        })
        .count();
    assert!(ghost_failures >= 2, "{log}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let status = serve.wait().unwrap();
    assert!(status.success(), "osbs serve: {status}\n{log}");
    let _ = webhook.kill();
    let _ = smtp.kill();
}

/// A notification receiver that accepts connections and never answers does not delay the next
/// build: the next queued build starts as soon as the first ends, while the first build's
/// notification attempt is still waiting for its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_receiver_does_not_delay_the_next_build() {
    osbs_testkit::require_services();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    let world = World::new(false);
    world.set("notify_webhook", &format!("http://127.0.0.1:{port}/never"));
    world.set("notify_on", "manual_success");
    let backend = world.backend();
    let base = world.repo("base");
    let first = backend
        .create_build(&base.submission())
        .await
        .unwrap()
        .build;
    let second = backend.create_build(&base.submission()).await.unwrap();
    assert_eq!(second.queued_behind.as_deref(), Some(first.name.as_str()));
    let first = wait_finished(&backend, &first.name).await;
    let second = wait_finished(&backend, &second.build.name).await;
    assert_eq!(first.phase, BuildPhase::Complete, "{first:#?}");
    assert_eq!(second.phase, BuildPhase::Complete, "{second:#?}");
    let gap = second
        .started
        .unwrap()
        .millis_since(first.finished.unwrap());
    assert!(
        gap < 5_000,
        "the second build started {gap} ms after the first ended (an attempt may wait 10 s)"
    );
    // The first build's notification was attempted meanwhile.
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}
