//! Fills a local state directory with a large, realistic history for `cargo xtask bench cli`:
//! `seed_state DIR BUILDS CONFIGS` writes CONFIGS BuildConfigs (a tree of image-change
//! triggers under `osbs-seed-base:latest`) and BUILDS finished builds spread over them.

use std::path::PathBuf;

use anyhow::{Context, Result};
use osbs_core::build::{BuildOutcome, BuildPhase, BuildResults, PushedDigest, Repositories};
use osbs_core::model::{Build, BuildCause, BuildConfig, ImageStream, ImageStreamTag};
use osbs_core::time::Timestamp;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .context("usage: seed_state DIR BUILDS CONFIGS")?,
    );
    let builds: u64 = args.next().context("BUILDS")?.parse()?;
    let configs: u64 = args.next().context("CONFIGS")?.parse()?;
    let start = Timestamp::from_unix_millis(1_780_000_000_000);

    // BuildConfig i builds image `osbs/seed-i` FROM the image of BuildConfig (i-1)/4, so the
    // triggers form a 4-ary tree rooted at the base image's stream.
    let mut all_configs: Vec<BuildConfig> = (0..configs)
        .map(|i| {
            let mut config =
                BuildConfig::new(&format!("https://git.example.com/seed/app-{i}.git"), "main");
            let parent = if i == 0 {
                "osbs-seed-base".to_owned()
            } else {
                format!("osbs-seed-{}", (i - 1) / 4)
            };
            config.trigger = Some(ImageStreamTag::new(parent, "latest"));
            config.image_name = Some(format!("osbs/seed-{i}"));
            config.last_user_commit = Some(format!("{i:040x}"));
            config
        })
        .collect();
    let mut all_builds = Vec::with_capacity(usize::try_from(builds)?);
    for n in 0..builds {
        let config = &mut all_configs[usize::try_from(n % configs)?];
        let created = start.plus_millis(i64::try_from(n)? * 60_000);
        let cause = if n % 3 == 0 {
            BuildCause::User
        } else {
            BuildCause::ImageChange {
                stream: "osbs-seed-base".to_owned(),
                tag: "latest".to_owned(),
                digest: format!("sha256:{n:064x}"),
                chain: Vec::new(),
            }
        };
        let mut build = Build::queued(config, cause, config.last_user_commit.clone(), created);
        build.mark_running(created.plus_millis(1_000));
        let image = format!(
            "127.0.0.1:5000/{}",
            config.image_name.clone().unwrap_or_default()
        );
        let release = build.number.to_string();
        let tags = [
            format!("1.0-{release}"),
            "1.0".to_owned(),
            "latest".to_owned(),
        ];
        let results = BuildResults {
            repositories: Repositories {
                primary: tags.iter().map(|t| format!("{image}:{t}")).collect(),
                unique: vec![format!("{image}:{}-20260101000000", build.name)],
            },
            digests: tags
                .iter()
                .map(|t| PushedDigest {
                    registry: "127.0.0.1:5000".to_owned(),
                    repository: config.image_name.clone().unwrap_or_default(),
                    tag: t.clone(),
                    digest: format!("sha256:{n:064x}"),
                })
                .collect(),
            image_id: Some(format!("sha256:{:064x}", n + 1)),
            base_image_name: Some("127.0.0.1:5000/osbs/seed-base:latest".to_owned()),
            base_image_id: Some(format!("sha256:{:064x}", n + 2)),
            commit_id: config.last_user_commit.clone(),
            dockerfile: Some("FROM 127.0.0.1:5000/osbs/seed-base:latest\nRUN true\n".repeat(4)),
            release: Some(release),
            ..BuildResults::default()
        };
        let outcome = BuildOutcome {
            phase: BuildPhase::Complete,
            error: None,
            reason: None,
            results,
        };
        build.record_outcome(&outcome, created.plus_millis(30_000));
        all_builds.push(build);
    }
    let streams = vec![ImageStream::new("osbs-seed-base")];
    osbs_client::local::bulk_load(&dir, &all_configs, &all_builds, &streams)
        .map_err(|e| anyhow::anyhow!(osbs_client::app::chain(&e)))?;
    println!(
        "seeded {} with {builds} builds over {configs} build configs",
        dir.display()
    );
    Ok(())
}
