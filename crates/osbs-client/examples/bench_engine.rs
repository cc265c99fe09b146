//! The engine's figures for `cargo xtask bench engine`, on a state directory that
//! `seed_state` filled (10,000 finished builds over 10,000 BuildConfigs):
//! `bench_engine DIR REGISTRY PASSES TAGS` adds 500 running builds with 500 queued behind
//! them, then times one supervision pass (`LocalBackend::supervise`, median of PASSES) and one
//! scheduled-import round over an external ImageStream with TAGS tags pushed to REGISTRY (one
//! manifest `HEAD` each; median of 5). Prints one JSON line.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use osbs_client::local::{LocalBackend, LocalOptions, ServiceSettings};
use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStream, StreamTag, TagEvent};
use osbs_core::time::Timestamp;
use osbs_registry_sync::{ClientOptions, Manifest, RegistryClient, RegistryEndpoint};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    osbs_registry_sync::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_engine DIR REGISTRY PASSES TAGS";
    let dir = PathBuf::from(args.next().context(usage)?);
    let registry = args.next().context(usage)?;
    let passes: usize = args.next().context(usage)?.parse()?;
    let tag_count: usize = args.next().context(usage)?.parse()?;
    let now = Timestamp::from_system_time(std::time::SystemTime::now());

    // 500 BuildConfigs with one build running (a fresh heartbeat) and one queued behind it.
    let mut builds = Vec::new();
    for i in 0..500 {
        let mut config =
            BuildConfig::new(&format!("https://git.example.com/seed/app-{i}.git"), "main");
        config.build_counter = 1_000_000;
        let mut running = Build::queued(&mut config, BuildCause::User, None, now);
        running.phase = BuildPhase::Running;
        running.started = Some(now);
        builds.push(running);
        builds.push(Build::queued(&mut config, BuildCause::User, None, now));
    }

    // An external image with TAGS tags, all naming one tiny manifest.
    let endpoint = RegistryEndpoint::parse(&registry)?;
    let client = RegistryClient::new(endpoint, None, &ClientOptions::default())?;
    let repository = format!("bench/vendor-{}", std::process::id());
    let repo = client.repository(&repository);
    let config_blob = bytes::Bytes::from_static(b"{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
    let config_digest = repo.push_blob(config_blob.clone()).await?;
    let manifest_bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_blob.len(),
        },
        "layers": [],
    }))?;
    let manifest = Manifest {
        media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
        digest: osbs_registry_sync::sha256_digest(&manifest_bytes),
        bytes: manifest_bytes.into(),
    };
    let mut stream = ImageStream::new(format!("bench-vendor-{}", std::process::id()));
    stream.docker_image_repository = Some(format!("{registry}/{repository}"));
    for t in 0..tag_count {
        let tag = format!("v{t}");
        repo.put_manifest(&tag, &manifest).await?;
        stream.tags.insert(
            tag,
            StreamTag {
                digest: manifest.digest.clone(),
                history: vec![TagEvent {
                    digest: manifest.digest.clone(),
                    build: None,
                    time: now,
                }],
            },
        );
    }
    osbs_client::local::bulk_load(&dir, &[], &builds, &[stream])
        .map_err(|e| anyhow::anyhow!(osbs_client::app::chain(&e)))?;

    let options = LocalOptions {
        state_dir: Some(dir.clone()),
        registry: RegistryEndpoint::parse(&registry)?,
        registry_secret: None,
        sync: None,
        repo_config_file: ".osbs-repo-config".to_owned(),
        service: ServiceSettings {
            max_concurrent_builds: Some(10_000),
            ..ServiceSettings::default()
        },
        push_method: osbs_core::build::PushMethod::default(),
        builder: None,
        build_secrets: Default::default(),
        extra_registries: Vec::new(),
        verify_ssl: true,
        registry_ca: None,
    };
    let backend = LocalBackend::open(&options, Vec::new())
        .map_err(|e| anyhow::anyhow!(osbs_client::app::chain(&e)))?;
    let mut pass_ms = Vec::new();
    for _ in 0..passes {
        let started = Instant::now();
        let report = backend
            .supervise()
            .await
            .map_err(|e| anyhow::anyhow!(osbs_client::app::chain(&e)))?;
        pass_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if !report.applied.is_empty() {
            bail!("a steady-state pass applied {:?}", report.applied);
        }
    }
    let mut import_s = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let reports = backend
            .scheduled_import_round()
            .await
            .map_err(|e| anyhow::anyhow!(osbs_client::app::chain(&e)))?;
        import_s.push(started.elapsed().as_secs_f64());
        for report in &reports {
            match &report.result {
                Ok(imported) if imported.queued.is_empty() => {}
                Ok(imported) => bail!("an unchanged image fired {:?}", imported.queued),
                Err(e) => bail!("scheduled import of {} failed: {e}", report.stream),
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "pass_ms_median": median(pass_ms.clone()),
            "pass_ms_max": pass_ms.iter().copied().fold(0.0, f64::max),
            "unfinished_builds": 1000,
            "import_round_s_median": median(import_s),
            "import_tags": tag_count,
        })
    );
    Ok(())
}
