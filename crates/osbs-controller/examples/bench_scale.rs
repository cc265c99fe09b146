//! The controller's scale benchmark (`cargo xtask bench controller`): CPU time of a trigger
//! fan-out (`osbs_kube::plan_triggers`, what `KubeStore::fan_out` runs) to 1,000 BuildConfigs
//! turned into Build objects, and the process RSS with 10,000 BuildConfigs held in memory (a
//! reflector cache fed by a wiremock API server: what reading them all costs).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Config};
use osbs_core::model::{BuildConfig, ImageStreamTag, UserSubmission};
use osbs_core::time::Timestamp;
use osbs_kube::{BuildConfigResource, BuildResource, PendingTrigger, plan_triggers};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// CPU seconds (user + system) of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the `)`: state is field 0, utime 11, stime 12; the clock runs at 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn config(i: usize) -> BuildConfig {
    let mut bc = BuildConfig::new(
        &format!("https://git.example.com/team{}/app{i}.git", i % 37),
        "main",
    );
    bc.record_user_build(UserSubmission {
        commit: format!("{i:040x}"),
        trigger: Some(ImageStreamTag::new("osbs-base", "latest")),
        repo_config_name: ".osbs-repo-config".into(),
        image_name: Some(format!("osbs/app{i}")),
    });
    bc.labels.insert("is_autorebuild".into(), "true".into());
    bc
}

fn fan_out(n: usize) -> (f64, f64, usize) {
    let mut configs: Vec<BuildConfig> = (0..n).map(config).collect();
    let resources: Vec<BuildConfigResource> = configs
        .iter()
        .map(|c| BuildConfigResource::from_model(c, Some("registry:5000".into()), None))
        .collect();
    let pending = [PendingTrigger {
        tag: "latest".into(),
        old: Some(format!("sha256:{}", "a".repeat(64))),
        new: format!("sha256:{}", "b".repeat(64)),
        chain: vec!["base-main-00000".into()],
    }];
    let cpu = cpu_seconds();
    let wall = Instant::now();
    let plan = plan_triggers("osbs-base", &pending, &configs, &[]);
    let mut bytes = 0;
    for request in plan.requests {
        let index = configs
            .binary_search_by(|c| c.name.as_str().cmp(request.build_config.as_str()))
            .unwrap_or_else(|_| {
                configs
                    .iter()
                    .position(|c| c.name == request.build_config)
                    .unwrap_or(0)
            });
        let build = request.into_build(&mut configs[index], Timestamp::from_unix_millis(1));
        let object = BuildResource::from_model(&build, resources.get(index));
        bytes += serde_json::to_vec(&object).map_or(0, |v| v.len());
    }
    (cpu_seconds() - cpu, wall.elapsed().as_secs_f64(), bytes)
}

async fn cache(n: usize) -> anyhow::Result<(f64, f64, usize)> {
    let server = MockServer::start().await;
    let base = "/apis/osbs.dev/v1alpha1/namespaces/osbs/buildconfigs";
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut value = serde_json::to_value(BuildConfigResource::from_model(
                &config(i),
                Some("registry:5000".into()),
                None,
            ))
            .unwrap_or_default();
            value["metadata"]["namespace"] = json!("osbs");
            value["metadata"]["resourceVersion"] = json!(format!("{i}"));
            value["metadata"]["uid"] = json!(format!("uid-{i}"));
            value
        })
        .collect();
    let list = json!({"apiVersion": "osbs.dev/v1alpha1", "kind": "BuildConfigList",
        "metadata": {"resourceVersion": format!("{n}")}, "items": items});
    let body = serde_json::to_vec(&list)?;
    let body_mb = body.len() as f64 / 1e6;
    drop(list);
    Mock::given(method("GET"))
        .and(path(base))
        .and(query_param("watch", "true"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(base))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let mut kube_config = Config::new(server.uri().parse()?);
    kube_config.default_namespace = "osbs".into();
    let client = Client::try_from(kube_config)?;
    let api: Api<BuildConfigResource> = Api::namespaced(client, "osbs");
    let before = rss_mb();
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, watcher::Config::default())).applied_objects();
    let driver = tokio::spawn(async move {
        futures_util::pin_mut!(stream);
        while stream.next().await.is_some() {}
    });
    reader.wait_until_ready().await?;
    let cached = reader.state().len();
    let after = rss_mb();
    driver.abort();
    println!("(the list body wiremock serves is {body_mb:.1} MB)");
    Ok((before, after.max(before), cached))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Warm up once so one-time allocations are not counted.
    let _ = fan_out(10);
    let (cpu, wall, bytes) = fan_out(1000);
    println!(
        "fan-out to 1000 BuildConfigs -> 1000 Build objects: {cpu:.3} s CPU ({wall:.3} s wall, {:.1} MB of JSON) [limit 1 s CPU]",
        bytes as f64 / 1e6
    );
    let (before, after, cached) = cache(10_000).await?;
    println!(
        "reflector cache of {cached} BuildConfigs: process RSS {after:.1} MB (before the watch {before:.1} MB, including the wiremock server) [limit 200 MB]"
    );
    if cpu > 1.0 || after > 200.0 {
        anyhow::bail!("over the limit");
    }
    Ok(())
}
