//! Notifications (SPEC §10, OSBS's sendmail plugin): when a build ends, one [`Delivery`] per
//! target (each webhook URL, the email) is queued in the store's outbox; [`Notifier`] makes
//! the attempts, [`next_attempt`] spaces them out. The outbox survives restarts, and a
//! failing receiver never fails or delays a build: deliveries run apart from builds.

use std::collections::BTreeSet;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
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

/// An SMTP relay and the envelope of the emails sent through it. Mail goes to the relay in
/// plain SMTP, without TLS or authentication (a relay on the host or the cluster network).
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

impl SmtpSettings {
    /// The relay as `host:port` (an IPv6 address in brackets), as errors name it.
    pub fn relay(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
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
    let payload = payload(event, build);
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

/// The body of the notification of `build`'s end as `event`: `{"event": KIND, "build": <the
/// build's JSON object>}`, what [`deliveries_for`] queues. A store that keeps deliveries without
/// their payload (the Kubernetes store: the build's JSON would not fit in an annotation twice)
/// makes it again from the build with this function.
pub fn payload(event: EventKind, build: &Build) -> serde_json::Value {
    serde_json::json!({ "event": event, "build": build })
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
    /// The SMTP relay could not be reached, refused the email, or the email could not be
    /// made from the settings (an invalid `notify_from` or `notify_to` address).
    #[error("email through {relay}: {detail}")]
    Email {
        /// The relay, `host:port`.
        relay: String,
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
    /// The transport to `settings.smtp`'s relay, when there is one: a new connection per email.
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
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
        // reqwest is built without a crypto provider of its own (HTTPS webhooks use ring).
        osbs_registry_sync::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(NotifyError::Client)?;
        let smtp = settings.smtp.as_ref().map(|smtp| {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
                .port(smtp.port)
                .timeout(Some(ATTEMPT_TIMEOUT))
                .build()
        });
        Ok(Notifier {
            settings,
            http,
            smtp,
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// Makes one attempt at `delivery`: a webhook gets an HTTP POST of its payload, an email
    /// goes from `notify_from` to every `notify_to` through the relay, with the subject
    /// `[osbs] EVENT: BUILD` and a summary of the build followed by the payload as its text.
    /// The attempt is abandoned after 10 seconds.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Webhook`] or [`NotifyError::Email`] when the receiver is unreachable,
    /// answers with an error, or does not answer in time; [`NotifyError::NoSmtp`] for an
    /// email without `notify_smtp`.
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
            Target::Email => {
                let (Some(settings), Some(transport)) = (&self.settings.smtp, &self.smtp) else {
                    return Err(NotifyError::NoSmtp);
                };
                let failed = |detail: String| NotifyError::Email {
                    relay: settings.relay(),
                    detail,
                };
                let message = email(settings, delivery).map_err(failed)?;
                match tokio::time::timeout(ATTEMPT_TIMEOUT, transport.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(failed(e.to_string())),
                    Err(_) => Err(failed(format!(
                        "no answer within {}s",
                        ATTEMPT_TIMEOUT.as_secs()
                    ))),
                }
            }
        }
    }
}

/// The email of `delivery` under `settings`, or why it cannot be made.
fn email(settings: &SmtpSettings, delivery: &Delivery) -> Result<Message, String> {
    let mailbox = |key: &str, address: &str| {
        address
            .parse::<Mailbox>()
            .map_err(|e| format!("invalid {key} address `{address}`: {e}"))
    };
    if settings.to.is_empty() {
        return Err("notify_to names no recipient".to_owned());
    }
    let mut builder = Message::builder()
        .from(mailbox("notify_from", &settings.from)?)
        .subject(email_subject(delivery))
        .header(ContentType::TEXT_PLAIN)
        .message_id(None);
    for to in &settings.to {
        builder = builder.to(mailbox("notify_to", to)?);
    }
    builder
        .body(email_body(delivery))
        .map_err(|e| format!("cannot make the email: {e}"))
}

/// `[osbs] EVENT: BUILD` on one line: control characters (a newline in a build name) become
/// spaces, so the subject cannot add header lines.
fn email_subject(delivery: &Delivery) -> String {
    format!("[osbs] {}: {}", delivery.event, delivery.build)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The event, a summary of the build (name, phase, error, reason, git source, release), and
/// then the payload, pretty-printed. The build's values are written as they are.
fn email_body(delivery: &Delivery) -> String {
    let field = |name: &str| {
        delivery
            .payload
            .get("build")
            .and_then(|build| build.get(name))
            .and_then(serde_json::Value::as_str)
    };
    let summary: String = [
        ("Event", Some(delivery.event.as_str())),
        ("Build", Some(delivery.build.as_str())),
        ("Phase", field("phase")),
        ("Error", field("error")),
        ("Reason", field("reason")),
        ("Git URL", field("git_url")),
        ("Branch", field("git_branch")),
        ("Commit", field("commit")),
        ("Release", field("release")),
    ]
    .into_iter()
    .filter_map(|(label, value)| Some(format!("{:<8} {}\n", format!("{label}:"), value?)))
    .collect();
    let payload = serde_json::to_string_pretty(&delivery.payload)
        .unwrap_or_else(|_| delivery.payload.to_string());
    format!("{summary}\n{payload}\n")
}
