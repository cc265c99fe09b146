//! The results of SPEC §5 as Build annotations, one annotation per result, each kept under
//! [`MAX_ANNOTATION_BYTES`] (OSBS once broke on Kubernetes' 64 KiB limit with a large
//! Dockerfile).
//!
//! Keys are `osbs.dev/<wire name>` (`repositories`, `digests`, `sync`, `image-id`,
//! `base-image-name`, `base-image-id`, `commit_id`, `dockerfile`, `release`,
//! `plugins-metadata`); values are JSON. A value that would be too large is shrunk in a
//! documented way: the Dockerfile and error messages are cut at a character boundary with a
//! `… [truncated N bytes]` marker, long lists keep their first entries and say how many were
//! dropped in `osbs.dev/truncated`.

use std::collections::BTreeMap;

use osbs_core::build::{BuildResults, PluginsMetadata, PushedDigest, Repositories};
use osbs_core::model::Build;

/// The limit of one annotation value, with headroom below Kubernetes' 64 KiB.
pub const MAX_ANNOTATION_BYTES: usize = 60 * 1024;

/// The prefix of every results annotation.
pub const PREFIX: &str = "osbs.dev/";

/// The annotation that lists what was shrunk.
pub const TRUNCATED_KEY: &str = "osbs.dev/truncated";

const KEYS: &[&str] = &[
    "repositories",
    "digests",
    "sync",
    "image-id",
    "base-image-name",
    "base-image-id",
    "commit_id",
    "dockerfile",
    "release",
    "plugins-metadata",
];

/// Whether `key` is one of the results annotations.
pub fn is_results_key(key: &str) -> bool {
    key == TRUNCATED_KEY
        || key
            .strip_prefix(PREFIX)
            .is_some_and(|name| KEYS.contains(&name))
}

/// The results part of a model build.
pub fn of_build(build: &Build) -> BuildResults {
    BuildResults {
        repositories: build.repositories.clone(),
        digests: build.digests.clone(),
        sync: build.sync.clone(),
        image_id: build.image_id.clone(),
        base_image_name: build.base_image_name.clone(),
        base_image_id: build.base_image_id.clone(),
        commit_id: build.commit.clone(),
        dockerfile: build.dockerfile.clone(),
        release: build.release.clone(),
        plugins_metadata: build.plugins_metadata.clone(),
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with a marker saying how much
/// was dropped.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let marker_room = 48;
    let mut cut = max.saturating_sub(marker_room);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… [truncated {} bytes]", &text[..cut], text.len() - cut)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Keeps the longest prefix of `items` whose JSON fits; returns it and how many were dropped.
fn fit_list<T: serde::Serialize + Clone>(items: &[T]) -> (String, usize) {
    let full = json(&items);
    if full.len() <= MAX_ANNOTATION_BYTES {
        return (full, 0);
    }
    let (mut low, mut high) = (0, items.len());
    while low < high {
        let mid = (low + high).div_ceil(2);
        if json(&items[..mid].to_vec()).len() <= MAX_ANNOTATION_BYTES {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    (json(&items[..low].to_vec()), items.len() - low)
}

fn fit_metadata(metadata: &PluginsMetadata) -> (String, bool) {
    let full = json(metadata);
    if full.len() <= MAX_ANNOTATION_BYTES {
        return (full, false);
    }
    let mut shrunk = metadata.clone();
    let share = MAX_ANNOTATION_BYTES / 2 / shrunk.errors.len().max(1);
    for message in shrunk.errors.values_mut() {
        *message = truncate(message, share);
    }
    let text = json(&shrunk);
    if text.len() <= MAX_ANNOTATION_BYTES {
        return (text, true);
    }
    shrunk.timestamps.clear();
    shrunk.durations.clear();
    (json(&shrunk), true)
}

/// The annotations of `results`: `PREFIX + wire name` → JSON, each value at most
/// [`MAX_ANNOTATION_BYTES`]; empty results have none.
pub fn encode(results: &BuildResults) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut truncated: Vec<String> = Vec::new();
    // Empty results are left out (decoding treats a missing key as empty), so a Build gets
    // annotations only once the reactor stored something.
    let mut put = |key: &str, value: String| {
        if !matches!(
            value.as_str(),
            "null"
                | "[]"
                | r#"{"primary":[],"unique":[]}"#
                | r#"{"errors":{},"durations":{},"timestamps":{}}"#
        ) {
            out.insert(format!("{PREFIX}{key}"), value);
        }
    };
    let repositories = {
        let text = json(&results.repositories);
        if text.len() <= MAX_ANNOTATION_BYTES {
            text
        } else {
            let (primary, dropped_p) = fit_list(&results.repositories.primary);
            let (unique, dropped_u) = fit_list(&results.repositories.unique);
            truncated.push(format!("repositories: {} dropped", dropped_p + dropped_u));
            let half = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_default();
            let mut primary = half(primary);
            let mut unique = half(unique);
            while json(&Repositories {
                primary: primary.clone(),
                unique: unique.clone(),
            })
            .len()
                > MAX_ANNOTATION_BYTES
            {
                if primary.len() > unique.len() {
                    primary.pop();
                } else {
                    unique.pop();
                }
            }
            json(&Repositories { primary, unique })
        }
    };
    put("repositories", repositories);
    let (digests, dropped) = fit_list::<PushedDigest>(&results.digests);
    if dropped > 0 {
        truncated.push(format!("digests: {dropped} dropped"));
    }
    put("digests", digests);
    let (sync, dropped) = fit_list::<PushedDigest>(&results.sync);
    if dropped > 0 {
        truncated.push(format!("sync: {dropped} dropped"));
    }
    put("sync", sync);
    for (key, value) in [
        ("image-id", &results.image_id),
        ("base-image-name", &results.base_image_name),
        ("base-image-id", &results.base_image_id),
        ("commit_id", &results.commit_id),
        ("release", &results.release),
    ] {
        let value = value
            .as_deref()
            .map(|v| truncate(v, MAX_ANNOTATION_BYTES - 2));
        put(key, json(&value));
    }
    let dockerfile = results.dockerfile.as_deref().map(|d| {
        // JSON escaping can grow the text; leave room for it.
        let mut limit = MAX_ANNOTATION_BYTES - 2;
        loop {
            let cut = truncate(d, limit);
            if json(&cut).len() <= MAX_ANNOTATION_BYTES || limit < 1024 {
                break cut;
            }
            limit = limit * 3 / 4;
        }
    });
    if dockerfile.as_deref() != results.dockerfile.as_deref() {
        truncated.push("dockerfile".to_owned());
    }
    put("dockerfile", json(&dockerfile));
    let (metadata, shrunk) = fit_metadata(&results.plugins_metadata);
    if shrunk {
        truncated.push("plugins-metadata".to_owned());
    }
    put("plugins-metadata", metadata);
    if !truncated.is_empty() {
        out.insert(TRUNCATED_KEY.to_owned(), json(&truncated));
    }
    out
}

/// The results stored in `annotations`; missing or unreadable ones are empty.
pub fn decode(annotations: &BTreeMap<String, String>) -> BuildResults {
    fn get<T: serde::de::DeserializeOwned + Default>(
        annotations: &BTreeMap<String, String>,
        key: &str,
    ) -> T {
        annotations
            .get(&format!("{PREFIX}{key}"))
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    }
    BuildResults {
        repositories: get(annotations, "repositories"),
        digests: get(annotations, "digests"),
        sync: get(annotations, "sync"),
        image_id: get(annotations, "image-id"),
        base_image_name: get(annotations, "base-image-name"),
        base_image_id: get(annotations, "base-image-id"),
        commit_id: get(annotations, "commit_id"),
        dockerfile: get(annotations, "dockerfile"),
        release: get(annotations, "release"),
        plugins_metadata: get(annotations, "plugins-metadata"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_small_results() {
        let results = BuildResults {
            image_id: Some("sha256:abc".into()),
            release: Some("3".into()),
            dockerfile: Some("FROM busybox\n".into()),
            ..BuildResults::default()
        };
        assert_eq!(decode(&encode(&results)), results);
    }

    #[test]
    fn every_annotation_stays_under_the_limit() {
        let mut results = BuildResults {
            dockerfile: Some("RUN echo \"é\"\n".repeat(20_000)),
            ..BuildResults::default()
        };
        for i in 0..3000 {
            results.digests.push(PushedDigest {
                registry: "registry.example.com:5000".into(),
                repository: "osbs/app".into(),
                tag: format!("tag-{i}"),
                digest: format!("sha256:{}", "a".repeat(64)),
            });
        }
        results
            .plugins_metadata
            .errors
            .insert("docker_api".into(), "x".repeat(200_000));
        let encoded = encode(&results);
        for (key, value) in &encoded {
            assert!(
                value.len() <= MAX_ANNOTATION_BYTES,
                "{key}: {}",
                value.len()
            );
        }
        let decoded = decode(&encoded);
        assert!(decoded.dockerfile.unwrap().ends_with("bytes]"));
        assert!(decoded.digests.len() > 100 && decoded.digests.len() < 3000);
        assert!(encoded[TRUNCATED_KEY].contains("digests"));
    }
}
