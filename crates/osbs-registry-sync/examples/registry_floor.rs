//! The registries' own floor for a sync job: the fewest requests the job needs, sent over
//! connections opened beforehand, from a process that is already running. No client can be
//! faster than this on the same registries, so `cargo xtask bench sync` prints it next to ours.
//!
//! ```text
//! registry_floor promote REGISTRY REPOSITORY TAG RUNS
//!     GET the manifest, mount every blob into a new repository (in parallel), PUT the manifest.
//! registry_floor resync SRC_REGISTRY DEST_REGISTRY REPOSITORY JOBS RUNS
//!     GET the tag list, then HEAD every tag's manifest on both sides, JOBS at a time.
//! ```
//!
//! Prints one wall time in seconds per run, one per line. Plain HTTP registries only.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, Method, StatusCode};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let runs = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["promote", registry, repository, tag, runs] => {
            runtime.block_on(promote(registry, repository, tag, runs.parse()?))?
        }
        ["resync", src, dest, repository, jobs, runs] => {
            runtime.block_on(resync(src, dest, repository, jobs.parse()?, runs.parse()?))?
        }
        _ => {
            return Err(
                "usage: registry_floor promote REGISTRY REPOSITORY TAG RUNS | \
                        resync SRC DEST REPOSITORY JOBS RUNS"
                    .into(),
            );
        }
    };
    for seconds in runs {
        println!("{seconds:.6}");
    }
    Ok(())
}

fn client(connections: usize) -> Result<Client> {
    osbs_registry_sync::install_crypto_provider();
    Ok(Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections)
        .tls_certs_only(Vec::new())
        .build()?)
}

/// Opens `n` connections to `registry` and leaves them idle in the pool.
async fn warm(client: &Client, registry: &str, n: usize) -> Result<()> {
    let url = format!("http://{registry}/v2/");
    stream::iter(0..n)
        .map(|_| async { check(client.get(&url).send().await?, StatusCode::OK) })
        .buffer_unordered(n)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

fn check(response: reqwest::Response, want: StatusCode) -> Result<reqwest::Response> {
    if response.status() == want {
        Ok(response)
    } else {
        Err(format!("{} answered {}", response.url(), response.status()).into())
    }
}

/// The config and layer digests of a schema 2 or OCI image manifest.
fn blob_digests(manifest: &serde_json::Value) -> Result<Vec<String>> {
    let config = manifest["config"]["digest"].as_str();
    let layers = manifest["layers"]
        .as_array()
        .ok_or("the manifest has no layers")?;
    config
        .into_iter()
        .chain(layers.iter().filter_map(|layer| layer["digest"].as_str()))
        .map(|d| Ok(d.to_owned()))
        .collect()
}

async fn promote(registry: &str, repository: &str, tag: &str, runs: usize) -> Result<Vec<f64>> {
    let http = client(16)?;
    warm(&http, registry, 16).await?;
    let base = format!("http://{registry}/v2");
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let dest = format!("bench/floor-{stamp}-{run}");
        let started = Instant::now();
        let response = http
            .get(format!("{base}/{repository}/manifests/{tag}"))
            .header(ACCEPT, MANIFEST_ACCEPT)
            .send()
            .await?;
        let response = check(response, StatusCode::OK)?;
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .cloned()
            .ok_or("the manifest has no Content-Type")?;
        let body = response.bytes().await?;
        let digests = blob_digests(&serde_json::from_slice(&body)?)?;
        let count = digests.len();
        stream::iter(digests)
            .map(|digest| {
                let url = format!("{base}/{dest}/blobs/uploads/?mount={digest}&from={repository}");
                let http = &http;
                async move { check(http.post(url).send().await?, StatusCode::CREATED) }
            })
            .buffer_unordered(count)
            .try_collect::<Vec<_>>()
            .await?;
        let response = http
            .put(format!("{base}/{dest}/manifests/latest"))
            .header(CONTENT_TYPE, media_type)
            .body(body)
            .send()
            .await?;
        check(response, StatusCode::CREATED)?;
        times.push(started.elapsed().as_secs_f64());
    }
    Ok(times)
}

async fn resync(
    src: &str,
    dest: &str,
    repository: &str,
    jobs: usize,
    runs: usize,
) -> Result<Vec<f64>> {
    let http = Arc::new(client(jobs)?);
    warm(&http, src, jobs).await?;
    warm(&http, dest, jobs).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let response = http
            .get(format!("http://{src}/v2/{repository}/tags/list"))
            .send()
            .await?;
        let list: serde_json::Value = check(response, StatusCode::OK)?.json().await?;
        let tags: Vec<String> = list["tags"]
            .as_array()
            .ok_or("no tags")?
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        stream::iter(tags)
            .map(|tag| {
                let http = Arc::clone(&http);
                async move {
                    for registry in [src, dest] {
                        let url = format!("http://{registry}/v2/{repository}/manifests/{tag}");
                        let response = http
                            .request(Method::HEAD, url)
                            .header(ACCEPT, MANIFEST_ACCEPT)
                            .send()
                            .await?;
                        check(response, StatusCode::OK)?;
                    }
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                }
            })
            .buffer_unordered(jobs)
            .try_collect::<Vec<_>>()
            .await?;
        times.push(started.elapsed().as_secs_f64());
    }
    Ok(times)
}
