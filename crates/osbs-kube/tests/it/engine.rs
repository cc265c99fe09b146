//! The engine on Kubernetes: `osbs_engine::Engine` over `KubeStore` and `KubeExecutor`
//! against osbs-testkit's stateful fake API server (`kube_fake::Cluster`, optimistic
//! concurrency included). Compare-and-swap writes, the run lease in the Build's status and the
//! build Pod's environment, the concurrency cap, a dead run fenced and cleaned up, the
//! scheduled import, notifications through the Build's outbox (and none for Builds that
//! predate them), and pruning.

use std::sync::{Arc, Mutex};

use osbs_core::build::BuildPhase;
use osbs_core::import::TagSelection;
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStreamTag, UserSubmission};
use osbs_core::policy::Action;
use osbs_core::prune::PruneRules;
use osbs_core::time::Timestamp;
use osbs_engine::import::{ImageSource, ReadError, TagDigests};
use osbs_engine::{Engine, EngineSettings, Notifier, NotifySettings, Store};
use osbs_kube::{
    BuildConfigResource, BuildResource, KubeExecutor, KubeStore, NOTIFIED_ANNOTATION,
    NOTIFY_PENDING_ANNOTATION, OsbsApi, PodSettings,
};
use osbs_testkit::kube_fake::{self as fake, Cluster, NS};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// `?` for the store's boxed errors.
trait OrAnyhow<T> {
    fn or_anyhow(self) -> anyhow::Result<T>;
}

impl<T> OrAnyhow<T> for Result<T, osbs_engine::StoreError> {
    fn or_anyhow(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!(e))
    }
}

pub(crate) fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

fn builds() -> String {
    fake::path("builds")
}

fn pods() -> String {
    fake::core_path("pods")
}

/// A BuildConfig of repository `repo` whose last user build was at a fixed commit, triggered
/// by `osbs-busybox:latest`.
fn config(repo: &str) -> BuildConfig {
    config_triggered_by(repo, "osbs-busybox")
}

/// A BuildConfig of repository `repo` whose last user build was at a fixed commit, triggered
/// by `trigger:latest`.
pub(crate) fn config_triggered_by(repo: &str, trigger: &str) -> BuildConfig {
    let mut bc = BuildConfig::new(&format!("https://git.example.com/ns/{repo}.git"), "main");
    bc.record_user_build(UserSubmission {
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        trigger: Some(ImageStreamTag::new(trigger, "latest")),
        repo_config_name: ".osbs-repo-config".into(),
        image_name: Some(format!("osbs/{repo}")),
    });
    bc
}

fn insert_config(cluster: &Cluster, config: &BuildConfig) -> anyhow::Result<()> {
    let resource = BuildConfigResource::from_model(config, None, None);
    cluster.insert(
        &fake::path("buildconfigs"),
        serde_json::to_value(&resource)?,
    );
    Ok(())
}

/// Queues a build of `config` created at `created` and stores it as the API would have it.
fn insert_build(
    cluster: &Cluster,
    config: &mut BuildConfig,
    cause: BuildCause,
    created: Timestamp,
) -> anyhow::Result<Build> {
    let build = Build::queued(config, cause, config.last_user_commit.clone(), created);
    cluster.insert(
        &builds(),
        serde_json::to_value(BuildResource::from_model(&build, None))?,
    );
    Ok(build)
}

fn set_status(cluster: &Cluster, build: &str, status: Value) {
    cluster.update(&builds(), build, |b| {
        for (key, value) in status.as_object().into_iter().flatten() {
            b["status"][key] = value.clone();
        }
    });
}

fn status_of(cluster: &Cluster, build: &str) -> Value {
    cluster
        .get(&builds(), build)
        .map(|b| b["status"].clone())
        .unwrap_or_default()
}

fn api(server: &MockServer) -> OsbsApi {
    OsbsApi::new(fake::client(server), NS)
}

fn engine(
    server: &MockServer,
    settings: EngineSettings,
    since: Timestamp,
) -> Engine<KubeStore, KubeExecutor> {
    let store = KubeStore::new(api(server), since).with_webhooks(&settings.notify.webhooks);
    let executor = KubeExecutor::new(api(server), PodSettings::default(), 600_000);
    Engine::new(store, executor, settings)
}

#[tokio::test]
async fn start_run_and_update_build_are_compare_and_swap() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let mut bc = config("app");
    insert_config(&cluster, &bc)?;
    let build = insert_build(&cluster, &mut bc, BuildCause::User, now())?;
    let store = KubeStore::new(api(&server), now());
    let read = store.unfinished().await.or_anyhow()?;
    assert_eq!(read.len(), 1);
    let version = read[0].version;
    let rv = cluster.get(&builds(), &build.name).expect("build")["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned);
    assert_eq!(
        Some(version.to_string()),
        rv,
        "the version is the resourceVersion"
    );

    // Someone else wrote since the engine read: the start is not applied.
    cluster.update(&builds(), &build.name, |b| {
        b["spec"]["cancelRequested"] = json!(true)
    });
    assert!(
        !store
            .start_run(&build.name, version, "lease-1", now())
            .await
            .or_anyhow()?
    );
    assert_eq!(status_of(&cluster, &build.name)["phase"], "New");

    // A writer slips in between the store's read and its write: the 409 is a `false`.
    let version = store.unfinished().await.or_anyhow()?[0].version;
    cluster.fail_next("PUT", &format!("{}/{}/status", builds(), build.name), 409);
    assert!(
        !store
            .start_run(&build.name, version, "lease-1", now())
            .await
            .or_anyhow()?
    );
    assert!(
        store
            .start_run(&build.name, version, "lease-1", now())
            .await
            .or_anyhow()?
    );
    let status = status_of(&cluster, &build.name);
    assert_eq!(status["phase"], "Pending");
    assert_eq!(status["lease"], "lease-1");
    assert!(status["leaseGranted"].is_string());
    // The same start again is stale.
    assert!(
        !store
            .start_run(&build.name, version, "lease-2", now())
            .await
            .or_anyhow()?
    );

    // update_build: stale, conflicting, then applied; ending the build revokes the lease.
    let record = store.unfinished().await.or_anyhow()?.remove(0);
    assert_eq!(record.lease.as_deref(), Some("lease-1"));
    let mut ended = record.build.clone();
    assert!(
        Action::Error {
            build: build.name.clone(),
            error: "build runner gone: test".into()
        }
        .apply(&mut ended, now())
    );
    assert!(
        !store
            .update_build(&ended, record.version + 1)
            .await
            .or_anyhow()?
    );
    cluster.fail_next("PUT", &format!("{}/{}/status", builds(), build.name), 409);
    assert!(
        !store
            .update_build(&ended, record.version)
            .await
            .or_anyhow()?
    );
    assert!(
        store
            .update_build(&ended, record.version)
            .await
            .or_anyhow()?
    );
    let status = status_of(&cluster, &build.name);
    assert_eq!(status["phase"], "Error");
    assert_eq!(
        status["lease"],
        Value::Null,
        "an ended build holds no lease"
    );
    Ok(())
}

#[tokio::test]
async fn the_cap_starts_one_build_under_a_lease_that_its_pod_carries() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let (mut a, mut b) = (config("a"), config("b"));
    insert_config(&cluster, &a)?;
    insert_config(&cluster, &b)?;
    let t0 = now().plus_millis(-60_000);
    // An autorebuild of `a` and, newer, a user build of `b`: user builds go first.
    let auto = BuildCause::ImageChange {
        stream: "osbs-busybox".into(),
        tag: "latest".into(),
        digest: DIGEST_A.into(),
        chain: vec![],
    };
    let first = insert_build(&cluster, &mut a, auto, t0)?;
    let second = insert_build(&cluster, &mut b, BuildCause::User, t0.plus_millis(1_000))?;
    let engine = engine(
        &server,
        EngineSettings {
            max_concurrent_builds: Some(1),
            ..EngineSettings::default()
        },
        now(),
    );

    engine.executor().refresh(now()).await?;
    let report = engine.pass().await?;
    assert_eq!(
        report.applied,
        [Action::Start {
            build: second.name.clone()
        }]
    );
    assert_eq!(status_of(&cluster, &first.name)["phase"], "New");
    let status = status_of(&cluster, &second.name);
    assert_eq!(status["phase"], "Pending");
    assert_eq!(status["podName"], osbs_kube::pod_name(&second.name));
    let lease = status["lease"].as_str().expect("a lease").to_owned();
    let pod = cluster
        .get(&pods(), &osbs_kube::pod_name(&second.name))
        .expect("the build pod");
    let env = &pod["spec"]["containers"][0]["env"];
    let lease_env = env
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == osbs_kube::LEASE_ENV)
        .expect("OSBS_LEASE");
    assert_eq!(lease_env["value"], lease.as_str());
    assert_eq!(
        pod["metadata"]["ownerReferences"][0]["name"],
        second.name.as_str()
    );

    // The slot is taken: nothing more starts, however often the engine looks.
    engine.executor().refresh(now()).await?;
    assert_eq!(engine.pass().await?.applied, []);

    // The running build ends: the next one takes the slot.
    set_status(&cluster, &second.name, json!({"phase": "Complete"}));
    engine.executor().refresh(now()).await?;
    assert_eq!(
        engine.pass().await?.applied,
        [Action::Start {
            build: first.name.clone()
        }]
    );
    Ok(())
}

#[tokio::test]
async fn a_dead_run_ends_error_loses_its_lease_and_its_pod() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let mut bc = config("app");
    insert_config(&cluster, &bc)?;
    let build = insert_build(&cluster, &mut bc, BuildCause::User, now())?;
    let engine = engine(&server, EngineSettings::default(), now());
    engine.executor().refresh(now()).await?;
    engine.pass().await?;
    let pod = osbs_kube::pod_name(&build.name);
    set_status(&cluster, &build.name, json!({"phase": "Running"}));
    cluster.update(&pods(), &pod, |p| {
        p["status"] = json!({"phase": "Failed", "message": "OOMKilled"});
    });

    engine.executor().refresh(now()).await?;
    let report = engine.pass().await?;
    assert!(
        matches!(&report.applied[..], [Action::Error { error, .. }]
            if error == &format!("build runner gone: pod {pod} ended Failed without the reactor storing an outcome (OOMKilled)")),
        "{report:?}"
    );
    let status = status_of(&cluster, &build.name);
    assert_eq!(status["phase"], "Error");
    assert_eq!(status["lease"], Value::Null);
    assert!(cluster.get(&pods(), &pod).is_none(), "deleted at once");
    let deletion = cluster
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE" && r.path.ends_with(&pod))
        .expect("the pod was deleted");
    assert_eq!(deletion.body["gracePeriodSeconds"], 0);
    Ok(())
}

#[tokio::test]
async fn without_a_pod_snapshot_nothing_is_declared_dead() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let mut bc = config("app");
    insert_config(&cluster, &bc)?;
    let build = insert_build(&cluster, &mut bc, BuildCause::User, now())?;
    set_status(
        &cluster,
        &build.name,
        json!({"phase": "Running", "podName": osbs_kube::pod_name(&build.name)}),
    );
    let engine = engine(&server, EngineSettings::default(), now());
    // No refresh: the Pods are unknown, so the Pod-less running build is left alone.
    assert_eq!(engine.pass().await?.applied, []);
    engine.executor().refresh(now()).await?;
    assert!(matches!(
        &engine.pass().await?.applied[..],
        [Action::Error { error, .. }] if error.ends_with("vanished while the build was running")
    ));
    Ok(())
}

/// An `ImageSource` that answers every read with the digests it was given, and counts reads.
#[derive(Default)]
struct FixedSource {
    digests: Mutex<Vec<(String, String)>>,
    reads: Arc<Mutex<Vec<String>>>,
}

impl FixedSource {
    fn set(&self, tag: &str, digest: &str) {
        *self.digests.lock().expect("lock") = vec![(tag.to_owned(), digest.to_owned())];
    }
}

impl ImageSource for FixedSource {
    async fn read(&self, image: &str, _: &TagSelection) -> Result<TagDigests, ReadError> {
        self.reads.lock().expect("lock").push(image.to_owned());
        Ok(TagDigests {
            found: self.digests.lock().expect("lock").clone(),
            missing: Vec::new(),
        })
    }
}

#[tokio::test]
async fn scheduled_import_records_a_baseline_then_fires_autorebuilds() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let app = config("app");
    insert_config(&cluster, &app)?;
    let mut other = config("other");
    other.trigger = Some(ImageStreamTag::new("osbs-other", "latest"));
    insert_config(&cluster, &other)?;
    // An external base: created by `osbs build` with where it lives, never imported yet.
    cluster.insert(
        &fake::path("imagestreams"),
        json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
            "metadata": {"name": "osbs-busybox"},
            "spec": {"dockerImageRepository": "registry.example.com/library/busybox"}
        }),
    );
    let engine = engine(&server, EngineSettings::default(), now());
    let source = FixedSource::default();
    source.set("latest", DIGEST_A);

    // The first read is the baseline: recorded, nothing fires.
    let reports = engine.scheduled_import(&source).await?;
    assert_eq!(reports.len(), 1);
    let imported = reports[0].result.as_ref().expect("imported");
    assert!(imported.queued.is_empty());
    let stream = cluster
        .get(&fake::path("imagestreams"), "osbs-busybox")
        .expect("stream");
    assert_eq!(stream["status"]["tags"]["latest"]["digest"], DIGEST_A);
    assert!(stream["status"]["pendingTriggers"].is_null());
    assert_eq!(cluster.list(&builds()), Vec::<Value>::new());

    // Unchanged: nothing.
    let reports = engine.scheduled_import(&source).await?;
    assert!(reports[0].result.as_ref().expect("read").queued.is_empty());

    // The base moved: the triggered BuildConfig (and only it) gets an autorebuild of its
    // recorded commit, and the pending trigger is gone once fanned out.
    source.set("latest", DIGEST_B);
    let reports = engine.scheduled_import(&source).await?;
    let queued = &reports[0].result.as_ref().expect("imported").queued;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let build = &queued[0];
    assert_eq!(build.build_config, app.name);
    assert_eq!(build.commit, app.last_user_commit);
    assert_eq!(
        build.cause,
        BuildCause::ImageChange {
            stream: "osbs-busybox".into(),
            tag: "latest".into(),
            digest: DIGEST_B.into(),
            chain: vec![],
        }
    );
    let stored = cluster.get(&builds(), &build.name).expect("created");
    assert_eq!(
        stored["metadata"]["annotations"][NOTIFIED_ANNOTATION],
        "false"
    );
    let stream = cluster
        .get(&fake::path("imagestreams"), "osbs-busybox")
        .expect("stream");
    assert_eq!(stream["status"]["tags"]["latest"]["digest"], DIGEST_B);
    assert!(stream["status"]["pendingTriggers"].is_null());
    assert_eq!(
        cluster
            .get(&fake::path("buildconfigs"), &app.name)
            .expect("bc")["status"]["lastVersion"],
        1
    );

    // A replay of the same trigger (a fan-out a restart cut short) queues nothing twice.
    cluster.update(&fake::path("imagestreams"), "osbs-busybox", |s| {
        s["status"]["pendingTriggers"] =
            json!([{"tag": "latest", "old": DIGEST_A, "new": DIGEST_B, "chain": []}]);
    });
    let fired = engine.store().fan_out("osbs-busybox", now()).await?;
    assert!(fired.queued.is_empty());
    assert_eq!(fired.already_queued, std::slice::from_ref(&app.name));
    assert_eq!(cluster.list(&builds()).len(), 1);
    Ok(())
}

/// A webhook receiver answering `status` to `POST /hook/s3cr3t`.
async fn webhook(status: u16) -> (MockServer, String) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook/s3cr3t"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&receiver)
        .await;
    let url = format!("{}/hook/s3cr3t", receiver.uri());
    (receiver, url)
}

fn notify_settings(url: &str) -> EngineSettings {
    EngineSettings {
        notify: NotifySettings {
            webhooks: vec![url.to_owned()],
            ..NotifySettings::default()
        },
        ..EngineSettings::default()
    }
}

/// An autorebuild of `bc` that failed, stored with the notified marker as new Builds have it.
fn failed_autorebuild(cluster: &Cluster, bc: &mut BuildConfig) -> anyhow::Result<Build> {
    let cause = BuildCause::ImageChange {
        stream: "osbs-busybox".into(),
        tag: "latest".into(),
        digest: DIGEST_B.into(),
        chain: vec![],
    };
    let build = insert_build(cluster, bc, cause, now())?;
    set_status(
        cluster,
        &build.name,
        json!({"phase": "Failed", "error": "Error in plugin docker_api: exit 1",
               "finished": now().to_string()}),
    );
    Ok(build)
}

#[tokio::test]
async fn an_ended_build_is_notified_once_through_its_outbox() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let (receiver, url) = webhook(200).await;
    let mut bc = config("app");
    insert_config(&cluster, &bc)?;
    let build = failed_autorebuild(&cluster, &mut bc)?;
    let settings = notify_settings(&url);
    let notifier = Notifier::new(settings.notify.clone())?;
    let engine = engine(&server, settings, now());

    assert_eq!(engine.notify(&notifier).await?, 1);
    let received = receiver.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body)?;
    assert_eq!(body["event"], "auto_fail");
    assert_eq!(body["build"]["name"], build.name.as_str());
    assert_eq!(body["build"]["error"], "Error in plugin docker_api: exit 1");
    let annotations =
        &cluster.get(&builds(), &build.name).expect("build")["metadata"]["annotations"];
    assert_eq!(annotations[NOTIFIED_ANNOTATION], "true");
    assert!(
        annotations[NOTIFY_PENDING_ANNOTATION].is_null(),
        "delivered"
    );

    // Another round (or another controller after a restart) sends nothing again.
    assert_eq!(engine.notify(&notifier).await?, 0);
    assert_eq!(
        receiver.received_requests().await.unwrap_or_default().len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_delivery_waits_on_the_build_without_its_url() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let (receiver, url) = webhook(500).await;
    let mut bc = config("app");
    insert_config(&cluster, &bc)?;
    let build = failed_autorebuild(&cluster, &mut bc)?;
    let settings = notify_settings(&url);
    let notifier = Notifier::new(settings.notify.clone())?;
    let engine = engine(&server, settings.clone(), now());

    assert_eq!(engine.notify(&notifier).await?, 0);
    let stored = cluster.get(&builds(), &build.name).expect("build");
    let outbox = stored["metadata"]["annotations"][NOTIFY_PENDING_ANNOTATION]
        .as_str()
        .expect("a pending delivery")
        .to_owned();
    assert!(!outbox.contains("s3cr3t"), "{outbox}");
    let entries: Value = serde_json::from_str(&outbox)?;
    assert_eq!(entries[0]["attempts"], 1);
    assert_eq!(entries[0]["event"], "auto_fail");
    assert!(
        entries[0]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("answered 500 Internal Server Error")),
        "{entries}"
    );

    // A restarted controller (a new store and engine) finds it and tries again when due.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let restarted = self::engine(&server, settings, now());
    assert_eq!(
        restarted
            .store()
            .due_deliveries(now())
            .await
            .or_anyhow()?
            .len(),
        1
    );
    assert_eq!(restarted.notify(&notifier).await?, 0);
    assert_eq!(
        receiver.received_requests().await.unwrap_or_default().len(),
        2
    );

    // Restarted without that webhook configured: the delivery is dropped, never sent blind.
    let reconfigured = self::engine(&server, EngineSettings::default(), now());
    let due = reconfigured
        .store()
        .due_deliveries(now().plus_millis(120_000))
        .await
        .or_anyhow()?;
    assert!(due.is_empty(), "{due:?}");
    let stored = cluster.get(&builds(), &build.name).expect("build");
    assert!(stored["metadata"]["annotations"][NOTIFY_PENDING_ANNOTATION].is_null());
    Ok(())
}

#[tokio::test]
async fn builds_that_predate_notifications_send_none() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let (receiver, url) = webhook(200).await;
    let mut bc = config("app");
    insert_config(&cluster, &bc)?;
    // Failed before the upgrade: no marker, created before the controller started.
    let old = failed_autorebuild(&cluster, &mut bc)?;
    cluster.update(&builds(), &old.name, |b| {
        b["metadata"]["annotations"] = json!({});
    });
    let started = now().plus_millis(1);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // Created after the controller started by an `osbs` of the previous release: no marker,
    // but notified like any.
    let late = failed_autorebuild(&cluster, &mut bc)?;
    cluster.update(&builds(), &late.name, |b| {
        b["metadata"]["annotations"] = json!({});
    });
    let settings = notify_settings(&url);
    let notifier = Notifier::new(settings.notify.clone())?;
    let engine = engine(&server, settings, started);

    let unnotified = engine.store().unnotified().await.or_anyhow()?;
    assert_eq!(
        unnotified
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>(),
        [late.name.as_str()]
    );
    assert_eq!(engine.notify(&notifier).await?, 1);
    let received = receiver.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body)?;
    assert_eq!(body["build"]["name"], late.name.as_str());
    let old = cluster.get(&builds(), &old.name).expect("old build");
    assert!(old["metadata"]["annotations"][NOTIFIED_ANNOTATION].is_null());
    Ok(())
}

#[tokio::test]
async fn pruning_removes_old_ended_builds_and_their_pods_only() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let mut bc = config("app");
    insert_config(&cluster, &bc)?;
    let t0 = now().plus_millis(-600_000);
    let mut names = Vec::new();
    for (i, phase) in ["Complete", "Failed", "Complete", "Running"]
        .iter()
        .enumerate()
    {
        let created = t0.plus_millis(i64::try_from(i)? * 60_000);
        let build = insert_build(&cluster, &mut bc, BuildCause::User, created)?;
        let finished = (*phase != "Running").then(|| created.plus_millis(30_000).to_string());
        set_status(
            &cluster,
            &build.name,
            json!({"phase": phase, "finished": finished}),
        );
        cluster.insert(
            &pods(),
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": osbs_kube::pod_name(&build.name),
                                "labels": {"app.kubernetes.io/name": "osbs-build"}},
                   "status": {"phase": if *phase == "Running" { "Running" } else { "Succeeded" }}}),
        );
        names.push(build.name);
    }
    let engine = engine(&server, EngineSettings::default(), now());
    let pruned = engine
        .prune(&PruneRules {
            keep: 1,
            ended_before: None,
        })
        .await?;
    assert_eq!(pruned, [names[0].clone(), names[1].clone()]);
    let left: Vec<String> = cluster
        .list(&builds())
        .iter()
        .filter_map(|b| b["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(left, [names[2].clone(), names[3].clone()]);
    assert!(
        cluster
            .get(&pods(), &osbs_kube::pod_name(&names[0]))
            .is_none()
    );
    assert!(
        cluster
            .get(&pods(), &osbs_kube::pod_name(&names[3]))
            .is_some()
    );
    assert!(matches!(
        engine
            .store()
            .build(&names[2])
            .await
            .or_anyhow()?
            .map(|b| b.phase),
        Some(BuildPhase::Complete)
    ));
    Ok(())
}
