//! The probe and metrics endpoint on a loopback port: `/healthz` answers, `/readyz` follows
//! the replica's state (a standby is ready, a leader once synced), `/metrics` has every family
//! in the OpenMetrics text format, and anything else is refused.

use std::net::SocketAddr;

use osbs_controller::metrics::{ImportKind, Metrics};
use osbs_controller::probes::{self, Health};
use osbs_core::build::BuildPhase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start(health: &Health, metrics: &Metrics) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(probes::serve(listener, health.clone(), metrics.clone()));
    Ok(addr)
}

/// Status code, headers and body of `METHOD path`.
async fn call(addr: SocketAddr, method: &str, path: &str) -> anyhow::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: osbs\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no header end in {response:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no status in {head:?}"))?
        .parse()?;
    Ok((status, head.to_ascii_lowercase(), body.to_owned()))
}

#[tokio::test]
async fn healthz_answers_and_readyz_follows_the_replica() -> anyhow::Result<()> {
    let (health, metrics) = (Health::new(), Metrics::new());
    let addr = start(&health, &metrics).await?;
    let (status, _, body) = call(addr, "GET", "/healthz").await?;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // Before the Lease was read: not ready.
    assert_eq!(call(addr, "GET", "/readyz").await?.0, 503);
    // A standby is ready.
    health.following();
    assert_eq!(call(addr, "GET", "/readyz").await?.0, 200);
    // A new leader is not, until its first round has listed everything.
    health.leading();
    let (status, _, body) = call(addr, "GET", "/readyz").await?;
    assert_eq!(status, 503, "{body}");
    health.synced();
    assert_eq!(call(addr, "GET", "/readyz").await?.0, 200);
    // Renewing the Lease keeps it ready.
    health.leading();
    assert_eq!(call(addr, "GET", "/readyz").await?.0, 200);

    assert_eq!(call(addr, "GET", "/nothing").await?.0, 404);
    assert_eq!(call(addr, "POST", "/healthz").await?.0, 405);
    assert_eq!(call(addr, "HEAD", "/healthz").await?.0, 200);
    Ok(())
}

#[tokio::test]
async fn metrics_have_every_family() -> anyhow::Result<()> {
    let (health, metrics) = (Health::new(), Metrics::new());
    let addr = start(&health, &metrics).await?;
    metrics.set_builds([
        BuildPhase::New,
        BuildPhase::New,
        BuildPhase::Running,
        BuildPhase::Complete,
    ]);
    metrics.count_errors(2);
    metrics.observe_import(ImportKind::Requested, std::time::Duration::from_millis(120));
    metrics.set_leader(true);

    let (status, head, body) = call(addr, "GET", "/metrics").await?;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    for line in [
        "# TYPE osbs_builds gauge",
        "osbs_builds{phase=\"New\"} 2",
        "osbs_builds{phase=\"Running\"} 1",
        "osbs_builds{phase=\"Complete\"} 1",
        "osbs_builds{phase=\"Cancelled\"} 0",
        "# TYPE osbs_queue_depth gauge",
        "osbs_queue_depth 2",
        "# TYPE osbs_reconcile_errors counter",
        "osbs_reconcile_errors_total 2",
        "# TYPE osbs_import_duration_seconds histogram",
        "osbs_import_duration_seconds_count{kind=\"requested\"} 1",
        "osbs_import_duration_seconds_count{kind=\"scheduled\"} 0",
        "osbs_import_duration_seconds_bucket{le=\"0.2\",kind=\"requested\"} 1",
        "# TYPE osbs_leader gauge",
        "osbs_leader 1",
        "# EOF",
    ] {
        assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
    }
    Ok(())
}
