//! The notification outbox on Kubernetes: each Build keeps the deliveries of its end still to
//! be made in its annotation [`NOTIFY_PENDING_ANNOTATION`], so they survive restarts of the
//! controller with the Build itself, and are gone when it is pruned.
//!
//! An entry is an `osbs_engine::Delivery` without what can be had from elsewhere: the build is
//! the annotated object, the payload is made again from it when the attempt is due
//! (`osbs_engine::notify::payload`; the build's JSON holds the Dockerfile, which would not fit
//! twice under the annotations' size limit), and a webhook is named by the fingerprint of its
//! URL ([`webhook_fingerprint`]), never the URL itself: webhook URLs often carry a token, and
//! every user of the namespace may read Builds. The store resolves fingerprints against the
//! configured webhooks; a delivery to a webhook no longer configured is dropped.

use osbs_core::model::Build;
use osbs_core::notify::EventKind;
use osbs_core::time::Timestamp;
use osbs_engine::notify::{Delivery, Target, payload};
use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::NOTIFY_PENDING_ANNOTATION;

/// The most an entry keeps of a failed attempt's error.
const MAX_ERROR_BYTES: usize = 512;

/// Where a stored delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StoredTarget {
    /// The webhook whose URL has this fingerprint.
    Webhook {
        /// [`webhook_fingerprint`] of its URL.
        webhook: String,
    },
    /// The email.
    Email,
}

/// One delivery as the annotation keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    /// Unique among the build's entries.
    pub id: i64,
    /// What happened.
    pub event: EventKind,
    /// Where it goes.
    pub target: StoredTarget,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was queued.
    pub created: Timestamp,
    /// When the next attempt is due.
    pub next_attempt: Timestamp,
    /// Why the last attempt failed (webhook URLs replaced by their fingerprints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The fingerprint a webhook URL is stored under: `fnv64:` and 16 hex digits of its FNV-1a
/// hash. It identifies the URL among the configured ones without revealing it.
pub fn webhook_fingerprint(url: &str) -> String {
    format!("fnv64:{:016x}", fnv1a(url))
}

/// The 64-bit FNV-1a hash of `text`.
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `text` with every configured webhook URL replaced by its fingerprint, cut to
/// [`MAX_ERROR_BYTES`].
pub(crate) fn redact(text: &str, webhooks: &[String]) -> String {
    let mut text = text.to_owned();
    for url in webhooks.iter().filter(|u| !u.is_empty()) {
        text = text.replace(
            url.as_str(),
            &format!("<webhook {}>", webhook_fingerprint(url)),
        );
    }
    crate::results::truncate(&text, MAX_ERROR_BYTES)
}

/// The entries of `deliveries`, numbered from 1.
pub(crate) fn entries(deliveries: &[Delivery], webhooks: &[String]) -> Vec<Entry> {
    deliveries
        .iter()
        .zip(1..)
        .map(|(d, id)| Entry {
            id,
            event: d.event,
            target: match &d.target {
                Target::Webhook { url } => StoredTarget::Webhook {
                    webhook: webhook_fingerprint(url),
                },
                Target::Email => StoredTarget::Email,
            },
            attempts: d.attempts,
            created: d.created,
            next_attempt: d.next_attempt,
            last_error: d.last_error.as_deref().map(|e| redact(e, webhooks)),
        })
        .collect()
}

/// The entries in an annotation's value; a value this version cannot read counts as none.
pub(crate) fn decode(value: Option<&String>) -> Vec<Entry> {
    value
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

/// The annotation's value for `entries`: `None` (remove it) when there are none.
pub(crate) fn encode(entries: &[Entry]) -> Option<String> {
    if entries.is_empty() {
        return None;
    }
    serde_json::to_string(entries).ok()
}

/// The delivery of `entry` about `build`, with its payload made from `build`; `None` for a
/// webhook that is no longer configured.
pub(crate) fn delivery(entry: &Entry, build: &Build, webhooks: &[String]) -> Option<Delivery> {
    let target = match &entry.target {
        StoredTarget::Email => Target::Email,
        StoredTarget::Webhook { webhook } => Target::Webhook {
            url: webhooks
                .iter()
                .find(|url| webhook_fingerprint(url) == *webhook)?
                .clone(),
        },
    };
    Some(Delivery {
        id: entry.id,
        build: build.name.clone(),
        event: entry.event,
        target,
        payload: payload(entry.event, build),
        attempts: entry.attempts,
        created: entry.created,
        next_attempt: entry.next_attempt,
        last_error: entry.last_error.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_stored_as_fingerprints_and_resolved_again() {
        let url = "https://hooks.example.com/services/T000/B000/s3cr3t".to_owned();
        let webhooks = vec![url.clone()];
        let sent = Delivery {
            id: 0,
            build: "app-1".into(),
            event: EventKind::AutoFail,
            target: Target::Webhook { url: url.clone() },
            payload: serde_json::Value::Null,
            attempts: 1,
            created: Timestamp::UNIX_EPOCH,
            next_attempt: Timestamp::UNIX_EPOCH,
            last_error: Some(format!("webhook {url}: answered 500")),
        };
        let stored = encode(&entries(&[sent], &webhooks)).expect("one entry");
        assert!(!stored.contains("s3cr3t"), "{stored}");
        let entry = &decode(Some(&stored))[0];
        assert_eq!(entry.id, 1);
        let mut config =
            osbs_core::model::BuildConfig::new("https://git.example.com/a.git", "main");
        let build = Build::queued(
            &mut config,
            osbs_core::model::BuildCause::User,
            None,
            Timestamp::UNIX_EPOCH,
        );
        let again = delivery(entry, &build, &webhooks).expect("configured");
        assert_eq!(again.target, Target::Webhook { url });
        assert!(
            delivery(entry, &build, &[]).is_none(),
            "no longer configured"
        );
    }
}
