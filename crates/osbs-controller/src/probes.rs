//! The controller's HTTP endpoint (`--probe-addr`, default `0.0.0.0:8081`), hyper's HTTP/1.1
//! server on the controller's own runtime:
//!
//! - `/healthz`: the process is alive and its runtime answers (the handler runs on the runtime
//!   the controller works on, so a stalled runtime fails the kubelet's probe by its timeout);
//! - `/readyz`: [`Health::is_ready`]: a replica that leads is ready once its first round has
//!   listed what it supervises; one that waits for the Lease is ready as soon as it has read
//!   the Lease (a standby is healthy, and a rollout must not wait for it to lead);
//! - `/metrics`: [`Metrics`] in the OpenMetrics text format.
//!
//! Anything else is 404; methods other than `GET` and `HEAD` are 405.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::metrics::{self, Metrics};

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const STARTING: u8 = 0;
const FOLLOWING: u8 = 1;
const LEADING: u8 = 2;
const SYNCED: u8 = 3;

/// Where this replica stands, for `/readyz` (cheap to clone: every clone is the same state).
#[derive(Debug, Clone, Default)]
pub struct Health {
    state: Arc<AtomicU8>,
}

impl Health {
    /// A replica that has not read the Lease yet: not ready.
    pub fn new() -> Self {
        Health::default()
    }

    /// Another replica holds the Lease: this one waits, and is ready.
    pub fn following(&self) {
        self.state.store(FOLLOWING, Ordering::SeqCst);
    }

    /// This replica took the Lease (or runs without election): ready once synced.
    pub fn leading(&self) {
        // A leader that synced stays synced while it renews.
        let _ = self
            .state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                (s != SYNCED).then_some(LEADING)
            });
    }

    /// The leader's first round has listed the Builds, build Pods and ImageStreams.
    pub fn synced(&self) {
        self.state.store(SYNCED, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        matches!(self.state.load(Ordering::SeqCst), FOLLOWING | SYNCED)
    }

    fn describe(&self) -> &'static str {
        match self.state.load(Ordering::SeqCst) {
            STARTING => "not ready: the leader Lease has not been read yet",
            FOLLOWING => "ok: waiting for the leader Lease",
            LEADING => "not ready: leading, first round not done",
            _ => "ok: leading",
        }
    }
}

fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The answer to `request`.
fn respond<B>(request: &Request<B>, health: &Health, metrics: &Metrics) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n",
            PLAIN,
        );
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n", PLAIN),
        "/readyz" => {
            let status = if health.is_ready() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, format!("{}\n", health.describe()), PLAIN)
        }
        "/metrics" => text(StatusCode::OK, metrics.encode(), metrics::CONTENT_TYPE),
        _ => text(StatusCode::NOT_FOUND, "not found\n", PLAIN),
    }
}

/// Serves the endpoints on `listener` until the task is dropped; each connection is its own
/// task. A failed connection is logged at debug level and never ends the server.
pub async fn serve(listener: TcpListener, health: Health, metrics: Metrics) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: try again shortly.
                tracing::warn!("probe endpoint: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (health, metrics) = (health.clone(), metrics.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(&request, &health, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = connection {
                tracing::debug!("probe endpoint: {e}");
            }
        });
    }
}
