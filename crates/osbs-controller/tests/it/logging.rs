//! The controller's logs: `--log-format json` writes one JSON object per line (the fatal error
//! too), text has no ANSI escape codes when stderr is not a terminal.

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};

use osbs_controller::logging::{LogFormat, subscriber};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
    }
}

fn log_with(format: LogFormat, ansi: bool) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = subscriber(format, EnvFilter::new("info"), move || writer.clone(), ansi);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(build = "app-main-1a2b3-4", "started");
        tracing::warn!("cannot list the builds: \"forbidden\"\nsecond line");
        tracing::debug!("filtered out");
    });
    buffer.text()
}

#[test]
fn json_lines_parse_as_json() {
    let text = log_with(LogFormat::Json, true);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["fields"]["message"], "started");
    assert_eq!(lines[0]["fields"]["build"], "app-main-1a2b3-4");
    assert_eq!(
        lines[1]["fields"]["message"],
        "cannot list the builds: \"forbidden\"\nsecond line"
    );
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn text_has_colours_only_on_a_terminal() {
    let plain = log_with(LogFormat::Text, false);
    assert!(plain.contains("started"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    assert!(log_with(LogFormat::Text, true).contains("\u{1b}["));
}

/// `osbs-controller run` with no cluster to reach: it logs its start, then fails.
fn run_without_a_cluster(format: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_osbs-controller"))
        .args(["run", "--probe-addr", "127.0.0.1:0", "--log-format", format])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("RUST_LOG")
        .env_remove("OSBS_LOG_FORMAT")
        .env_remove("OSBS_PROBE_ADDR")
        .output()
        .expect("osbs-controller runs");
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8(output.stderr).expect("utf-8")
}

#[test]
fn the_binary_logs_json_lines_and_no_ansi_into_a_pipe() {
    let json = run_without_a_cluster("json");
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}\n{json}")))
        .collect();
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/healthz, /readyz and /metrics on 127.0.0.1:")),
        "{json}"
    );
    let last = lines.last().expect("an error line");
    assert_eq!(last["level"], "ERROR");
    assert!(
        last["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot reach the API server")),
        "{json}"
    );

    let text = run_without_a_cluster("text");
    assert!(text.contains("osbs-controller starting"), "{text}");
    assert!(
        text.contains("osbs-controller: error: cannot reach the API server"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "{text:?}");
}
