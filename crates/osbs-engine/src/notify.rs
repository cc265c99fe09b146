//! Notifications (SPEC §10, OSBS's sendmail plugin): when a build ends, one [`Delivery`] per
//! target (each webhook URL, the email) is queued in the store's outbox; [`Notifier`] makes
//! the attempts, [`next_attempt`] spaces them out. The outbox survives restarts, and a
//! failing receiver never fails or delays a build: deliveries run apart from builds.

use std::collections::BTreeSet;

use osbs_core::model::Build;
use osbs_core::notify::{EventKind, default_notify_on};
use osbs_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Where and when notifications go (osbs.conf `notify_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// `notify_webhook`: URLs that get an HTTP POST of `{"event": KIND, "build": {...}}`.
    pub webhooks: Vec<String>,
    /// `notify_smtp`, `notify_from`, `notify_to`: the email, if any.
    pub smtp: Option<SmtpSettings>,
    /// `notify_on`: the kinds sent.
    pub on: BTreeSet<EventKind>,
}

impl Default for NotifySettings {
    /// No targets; `auto_fail` and `auto_canceled` once there are.
    fn default() -> Self {
        NotifySettings {
            webhooks: Vec::new(),
            smtp: None,
            on: default_notify_on(),
        }
    }
}

/// An SMTP relay and the envelope of the emails sent through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The relay's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `notify_from`.
    pub from: String,
    /// `notify_to`: one or more recipients.
    pub to: Vec<String>,
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// An HTTP POST to this URL.
    Webhook {
        /// The URL.
        url: String,
    },
    /// An email through the configured SMTP relay.
    Email,
}

/// One notification to one target, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The outbox's key, assigned by the store (0 before it is queued).
    pub id: i64,
    /// The build it is about.
    pub build: String,
    /// What happened.
    pub event: EventKind,
    /// Where it goes.
    pub target: Target,
    /// The body: `{"event": KIND, "build": <the build's JSON object>}`.
    pub payload: serde_json::Value,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was queued: retries go on for at least [`RETRY_FOR_MS`] after that.
    pub created: Timestamp,
    /// When the next attempt is due.
    pub next_attempt: Timestamp,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// Deliveries are retried for at least this long (ten minutes) before they are given up.
pub const RETRY_FOR_MS: u64 = 10 * 60 * 1000;

/// The deliveries `build`'s end sends under `settings`, due at `now`: none while it has not
/// ended or when its kind is not in `notify_on`.
pub fn deliveries_for(build: &Build, settings: &NotifySettings, now: Timestamp) -> Vec<Delivery> {
    let Some(event) = EventKind::of(build) else {
        return Vec::new();
    };
    if !settings.on.contains(&event) {
        return Vec::new();
    }
    let payload = serde_json::json!({ "event": event, "build": build });
    let mut targets: Vec<Target> = settings
        .webhooks
        .iter()
        .map(|url| Target::Webhook { url: url.clone() })
        .collect();
    if settings.smtp.is_some() {
        targets.push(Target::Email);
    }
    targets
        .into_iter()
        .map(|target| Delivery {
            id: 0,
            build: build.name.clone(),
            event,
            target,
            payload: payload.clone(),
            attempts: 0,
            created: now,
            next_attempt: now,
            last_error: None,
        })
        .collect()
}

/// When to try `delivery` again after its `attempts`-th attempt failed at `now`: 1 s, 2 s,
/// 4 s, … doubling up to a minute apart; `None` (give up) once [`RETRY_FOR_MS`] have passed
/// since it was queued.
pub fn next_attempt(delivery: &Delivery, now: Timestamp) -> Option<Timestamp> {
    if now.millis_since(delivery.created) >= RETRY_FOR_MS {
        return None;
    }
    let exponent = delivery.attempts.saturating_sub(1).min(6);
    let delay = (1_000u64 << exponent).min(60_000);
    Some(now.plus_millis(i64::try_from(delay).unwrap_or(60_000)))
}

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The receiver could not be reached or answered with an error status.
    #[error("webhook {url}: {detail}")]
    Webhook {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// An email delivery that is not configured (no `notify_smtp`).
    #[error("no notify_smtp is configured for an email notification")]
    NoSmtp,
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for notifications")]
    Client(#[source] reqwest::Error),
}

/// Sends deliveries: one attempt per call, bounded in time.
#[derive(Debug, Clone)]
pub struct Notifier {
    settings: NotifySettings,
    http: reqwest::Client,
}

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Notifier {
    /// A notifier for `settings`.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Client`] when the HTTP client cannot be built.
    pub fn new(settings: NotifySettings) -> Result<Notifier, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(NotifyError::Client)?;
        Ok(Notifier { settings, http })
    }

    /// The settings in use.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// Makes one attempt at `delivery`.
    ///
    /// # Errors
    ///
    /// [`NotifyError`] when the receiver is unreachable, answers with an error status, or the
    /// target is not configured.
    pub async fn send(&self, delivery: &Delivery) -> Result<(), NotifyError> {
        match &delivery.target {
            Target::Webhook { url } => {
                let failed = |detail: String| NotifyError::Webhook {
                    url: url.clone(),
                    detail,
                };
                let response = self
                    .http
                    .post(url)
                    .json(&delivery.payload)
                    .send()
                    .await
                    .map_err(|e| failed(e.without_url().to_string()))?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(failed(format!("answered {status}")))
                }
            }
            Target::Email => Err(NotifyError::NoSmtp),
        }
    }
}
