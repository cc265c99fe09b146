//! Notifications against real receivers: a Python `http.server` webhook sink and an aiosmtpd
//! SMTP sink, each started by the test on a free loopback port; and the pure rules of which
//! deliveries a build's end queues and when a failed one is tried again.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::notify::EventKind;
use osbs_core::time::Timestamp;
use osbs_engine::notify::{
    Delivery, Notifier, NotifyError, NotifySettings, RETRY_FOR_MS, SmtpSettings, Target,
    deliveries_for, next_attempt,
};
use serde_json::Value;

/// A fixed clock, so that payloads (and the email snapshot) do not change between runs.
const NOW_MS: i64 = 1_764_000_000_000;

fn now() -> Timestamp {
    Timestamp::from_unix_millis(NOW_MS)
}

/// A build of `https://git.example.com/team/app.git` at `main`, ended in `phase`: an
/// autorebuild (started by an image change) when `auto`, else a user build.
fn ended_build(phase: BuildPhase, auto: bool) -> Build {
    let mut config = BuildConfig::new("https://git.example.com/team/app.git", "main");
    let cause = if auto {
        BuildCause::ImageChange {
            stream: "osbs-busybox".to_owned(),
            tag: "latest".to_owned(),
            digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"
                .to_owned(),
            chain: Vec::new(),
        }
    } else {
        BuildCause::User
    };
    let commit = Some("0123456789abcdef0123456789abcdef01234567".to_owned());
    let mut build = Build::queued(&mut config, cause, commit, now());
    build.phase = phase;
    build.started = Some(now().plus_millis(1_000));
    build.finished = Some(now().plus_millis(61_000));
    build
}

/// An autorebuild that failed in a plugin, with a release.
fn failed_autorebuild() -> Build {
    let mut build = ended_build(BuildPhase::Failed, true);
    build.error = Some("Error in plugin push: registry 127.0.0.1:5000 refused the push".to_owned());
    build.release = Some("3".to_owned());
    build
}

fn settings(webhooks: &[&str], smtp: Option<SmtpSettings>) -> NotifySettings {
    NotifySettings {
        webhooks: webhooks.iter().map(|url| (*url).to_owned()).collect(),
        smtp,
        ..NotifySettings::default()
    }
}

fn smtp_to(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".to_owned(),
        port,
        from: "osbs@example.com".to_owned(),
        to: vec!["dev@example.com".to_owned(), "ops@example.com".to_owned()],
    }
}

/// The one delivery `build` queues under `settings`.
fn only_delivery(build: &Build, settings: &NotifySettings) -> Result<Delivery> {
    let mut deliveries = deliveries_for(build, settings, now());
    if deliveries.len() != 1 {
        bail!("expected one delivery, got {deliveries:#?}");
    }
    deliveries.pop().context("no delivery")
}

/// A loopback port on which nothing listens (bound, then released).
fn closed_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

// --- Receivers -------------------------------------------------------------------------------

/// Fails the test, naming the fix, when `python3` (and, with `module`, that module) is missing.
/// Never skips: a receiver test that passes without its receiver proves nothing.
fn require_python(module: Option<&str>) {
    let python = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        python.is_ok_and(|s| s.success()),
        "python3 is needed for the notification receivers: install it \
         (`sudo apt-get install -y python3`)"
    );
    if let Some(module) = module {
        let import = Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            import.is_ok_and(|s| s.success()),
            "the Python module {module} is needed for the SMTP sink: install it with \
             `python3 -m pip install {module}` (as root, `cargo xtask services up` does)"
        );
    }
}

/// A receiver script running as a child process; killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    records: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sink {
    /// Starts `tests/it/SCRIPT records.jsonl ARGS...` and reads the port it prints.
    fn start(script: &str, args: &[&str]) -> Result<Sink> {
        let dir = tempfile::tempdir()?;
        let records = dir.path().join("records.jsonl");
        let log = dir.path().join("sink.log");
        let script_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it")
            .join(script);
        let mut child = Command::new("python3")
            .arg(&script_path)
            .arg(&records)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("cannot start python3 {}", script_path.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("no stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{script} did not print its port (got {line:?}):\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Ok(Sink {
            child,
            port,
            records,
            log,
            _dir: dir,
        })
    }

    /// A webhook receiver that answers 500 to its first `fail_first` requests, then 200.
    fn webhook(fail_first: u32) -> Result<Sink> {
        require_python(None);
        Sink::start("webhook_sink.py", &[&fail_first.to_string()])
    }

    /// An SMTP relay that accepts every message.
    fn smtp() -> Result<Sink> {
        require_python(Some("aiosmtpd"));
        Sink::start("smtp_sink.py", &[])
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// What the receiver recorded so far, one JSON value per request or message.
    fn records(&self) -> Result<Vec<Value>> {
        let text = match fs::read_to_string(&self.records) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        text.lines()
            .map(|line| serde_json::from_str(line).context("a record is not JSON"))
            .collect::<Result<_>>()
            .with_context(|| fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of header `name` in an SMTP sink record, failing unless there is exactly one.
fn header<'a>(record: &'a Value, name: &str) -> Result<&'a str> {
    let values: Vec<&str> = record["headers"]
        .as_array()
        .context("no headers")?
        .iter()
        .filter(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .filter_map(|h| h[1].as_str())
        .collect();
    match values.as_slice() {
        [value] => Ok(value),
        _ => bail!("expected one {name} header, got {values:?} in {record:#}"),
    }
}

// --- Webhooks --------------------------------------------------------------------------------

#[tokio::test]
async fn webhook_receives_the_event_and_the_build() -> Result<()> {
    let sink = Sink::webhook(0)?;
    let build = failed_autorebuild();
    let notifier = Notifier::new(settings(&[&sink.url()], None))?;
    let delivery = only_delivery(&build, notifier.settings())?;

    notifier.send(&delivery).await?;

    let records = sink.records()?;
    assert_eq!(records.len(), 1, "{records:#?}");
    let posted = &records[0];
    assert_eq!(
        posted,
        &serde_json::json!({ "event": "auto_fail", "build": build })
    );
    let keys: Vec<&String> = posted
        .as_object()
        .context("not an object")?
        .keys()
        .collect();
    assert_eq!(keys, ["build", "event"]);
    assert_eq!(posted["event"], "auto_fail");
    assert_eq!(posted["build"]["name"], build.name.as_str());
    assert_eq!(posted["build"]["phase"], "Failed");
    Ok(())
}

#[tokio::test]
async fn webhook_error_status_is_an_error_naming_url_and_status() -> Result<()> {
    let sink = Sink::webhook(1)?;
    let notifier = Notifier::new(settings(&[&sink.url()], None))?;
    let delivery = only_delivery(&failed_autorebuild(), notifier.settings())?;

    let err = notifier
        .send(&delivery)
        .await
        .expect_err("the sink answers 500");
    assert!(
        matches!(&err, NotifyError::Webhook { url, .. } if *url == sink.url()),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&sink.url()), "{message}");
    assert!(message.contains("500"), "{message}");

    // The next attempt, answered 200, goes through.
    notifier.send(&delivery).await?;
    assert_eq!(sink.records()?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn webhook_on_a_closed_port_fails_quickly() -> Result<()> {
    let url = format!("http://127.0.0.1:{}/hook", closed_port()?);
    let notifier = Notifier::new(settings(&[&url], None))?;
    let delivery = only_delivery(&failed_autorebuild(), notifier.settings())?;

    let started = Instant::now();
    let err = notifier.send(&delivery).await.expect_err("nothing listens");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, NotifyError::Webhook { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    Ok(())
}

// --- Email -----------------------------------------------------------------------------------

#[tokio::test]
async fn email_reaches_the_relay_with_envelope_subject_and_payload() -> Result<()> {
    let sink = Sink::smtp()?;
    let build = failed_autorebuild();
    let notifier = Notifier::new(settings(&[], Some(smtp_to(sink.port))))?;
    let delivery = only_delivery(&build, notifier.settings())?;
    assert_eq!(delivery.target, Target::Email);

    notifier.send(&delivery).await?;

    let records = sink.records()?;
    assert_eq!(records.len(), 1, "{records:#?}");
    let mail = &records[0];
    assert_eq!(mail["mail_from"], "osbs@example.com");
    assert_eq!(
        mail["rcpt_tos"],
        serde_json::json!(["dev@example.com", "ops@example.com"])
    );
    assert_eq!(header(mail, "From")?, "osbs@example.com");
    assert_eq!(header(mail, "To")?, "dev@example.com, ops@example.com");
    assert_eq!(
        header(mail, "Subject")?,
        format!("[osbs] auto_fail: {}", build.name)
    );
    let body = mail["body"]
        .as_str()
        .context("no body")?
        .replace("\r\n", "\n");
    let json_start = body.find("\n{\n").context("no JSON in the body")?;
    let payload: Value = serde_json::from_str(&body[json_start..])?;
    assert_eq!(payload, delivery.payload);
    insta::assert_snapshot!("email_body", body);
    Ok(())
}

#[tokio::test]
async fn a_newline_in_the_build_name_does_not_add_headers() -> Result<()> {
    let sink = Sink::smtp()?;
    let notifier = Notifier::new(settings(&[], Some(smtp_to(sink.port))))?;
    let mut delivery = only_delivery(&failed_autorebuild(), notifier.settings())?;
    let name = "app-main-1\r\nBcc: intruder@example.com\nX-Injected: yes";
    delivery.build = name.to_owned();
    delivery.payload["build"]["name"] = Value::from(name);

    notifier.send(&delivery).await?;

    let records = sink.records()?;
    assert_eq!(records.len(), 1, "{records:#?}");
    let mail = &records[0];
    assert_eq!(
        mail["rcpt_tos"],
        serde_json::json!(["dev@example.com", "ops@example.com"])
    );
    let names: Vec<&str> = mail["headers"]
        .as_array()
        .context("no headers")?
        .iter()
        .filter_map(|h| h[0].as_str())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("bcc") || n.eq_ignore_ascii_case("x-injected")),
        "{names:?}"
    );
    let subject = header(mail, "Subject")?;
    assert!(!subject.contains(['\r', '\n']), "{subject:?}");
    assert!(
        subject.starts_with("[osbs] auto_fail: app-main-1 "),
        "{subject:?}"
    );
    // The body keeps the value as it is.
    let body = mail["body"].as_str().context("no body")?;
    assert!(body.contains("Bcc: intruder@example.com"), "{body}");
    Ok(())
}

#[tokio::test]
async fn email_to_a_closed_relay_fails_quickly_naming_it() -> Result<()> {
    let port = closed_port()?;
    let notifier = Notifier::new(settings(&[], Some(smtp_to(port))))?;
    let delivery = only_delivery(&failed_autorebuild(), notifier.settings())?;

    let started = Instant::now();
    let err = notifier.send(&delivery).await.expect_err("nothing listens");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let relay = format!("127.0.0.1:{port}");
    assert!(
        matches!(&err, NotifyError::Email { relay: r, .. } if *r == relay),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("email through {relay}: ")),
        "{message}"
    );
    assert!(!message.ends_with('.'), "{message}");
    Ok(())
}

#[tokio::test]
async fn email_without_smtp_settings_is_not_configured() -> Result<()> {
    let notifier = Notifier::new(settings(&[], None))?;
    let mut delivery = deliveries_for(
        &failed_autorebuild(),
        &settings(&[], Some(smtp_to(25))),
        now(),
    );
    let delivery = delivery.pop().context("no delivery")?;
    let err = notifier.send(&delivery).await.expect_err("no smtp");
    assert!(matches!(err, NotifyError::NoSmtp), "{err:?}");
    Ok(())
}

// --- Which deliveries, and when --------------------------------------------------------------

#[test]
fn only_auto_fail_and_auto_canceled_are_sent_by_default() {
    let webhooks = ["http://a.example/hook", "http://b.example/hook"];
    let table = [
        (BuildPhase::Complete, true, EventKind::AutoSuccess, false),
        (BuildPhase::Failed, true, EventKind::AutoFail, true),
        (BuildPhase::Error, true, EventKind::AutoFail, true),
        (BuildPhase::Cancelled, true, EventKind::AutoCanceled, true),
        (BuildPhase::Complete, false, EventKind::ManualSuccess, false),
        (BuildPhase::Failed, false, EventKind::ManualFail, false),
        (BuildPhase::Error, false, EventKind::ManualFail, false),
        (
            BuildPhase::Cancelled,
            false,
            EventKind::ManualCanceled,
            false,
        ),
    ];
    for (phase, auto, kind, sent) in table {
        let build = ended_build(phase, auto);
        assert_eq!(EventKind::of(&build), Some(kind), "{phase:?} auto={auto}");
        for smtp in [None, Some(smtp_to(25))] {
            let with_email = smtp.is_some();
            let deliveries = deliveries_for(&build, &settings(&webhooks, smtp), now());
            let targets: Vec<Target> = deliveries.iter().map(|d| d.target.clone()).collect();
            let mut expected: Vec<Target> = Vec::new();
            if sent {
                expected.extend(webhooks.iter().map(|url| Target::Webhook {
                    url: (*url).to_owned(),
                }));
                if with_email {
                    expected.push(Target::Email);
                }
            }
            assert_eq!(targets, expected, "{kind} smtp={with_email}");
            for delivery in &deliveries {
                assert_eq!(delivery.event, kind);
                assert_eq!(delivery.build, build.name);
                assert_eq!(
                    delivery.payload,
                    serde_json::json!({ "event": kind.as_str(), "build": &build })
                );
                assert_eq!((delivery.id, delivery.attempts), (0, 0));
                assert_eq!((delivery.created, delivery.next_attempt), (now(), now()));
                assert_eq!(delivery.last_error, None);
            }
        }
    }
}

#[test]
fn builds_that_have_not_ended_send_nothing() {
    let all = NotifySettings {
        on: EventKind::ALL.into_iter().collect(),
        ..settings(&["http://a.example/hook"], Some(smtp_to(25)))
    };
    for phase in [BuildPhase::New, BuildPhase::Pending, BuildPhase::Running] {
        for auto in [true, false] {
            let build = ended_build(phase, auto);
            assert!(deliveries_for(&build, &all, now()).is_empty(), "{phase:?}");
        }
    }
    // With every kind on, every end is sent.
    let build = ended_build(BuildPhase::Complete, false);
    assert_eq!(deliveries_for(&build, &all, now()).len(), 2);
}

#[test]
fn retries_back_off_from_one_second_to_a_minute_and_stop_after_ten_minutes() {
    let created = now();
    let mut delivery = deliveries_for(
        &failed_autorebuild(),
        &settings(&["http://a.example/hook"], None),
        created,
    )
    .remove(0);
    let failed_at = created.plus_millis(5_000);
    let delays: Vec<u64> = (1..=10)
        .map(|attempts| {
            delivery.attempts = attempts;
            let due = next_attempt(&delivery, failed_at).expect("still retrying");
            due.millis_since(failed_at)
        })
        .collect();
    assert_eq!(
        delays,
        [
            1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000
        ]
    );

    delivery.attempts = 3;
    let last_chance = created.plus_millis(i64::try_from(RETRY_FOR_MS).expect("fits") - 1);
    assert_eq!(
        next_attempt(&delivery, last_chance),
        Some(last_chance.plus_millis(4_000))
    );
    let retry_for = i64::try_from(RETRY_FOR_MS).expect("fits");
    assert_eq!(RETRY_FOR_MS, 10 * 60 * 1_000);
    for late in [retry_for, retry_for + 1, retry_for * 6] {
        assert_eq!(next_attempt(&delivery, created.plus_millis(late)), None);
    }
}
