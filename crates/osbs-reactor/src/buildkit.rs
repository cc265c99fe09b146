//! The BuildKit builder of `docker_api`: a solve through the Docker Engine's `/grpc` and
//! `/session` endpoints (bollard's `Moby` driver, the Engine's built-in Dockerfile frontend),
//! the session serving the build's secrets, and BuildKit's status stream (vertexes and their
//! logs) rendered into readable build-log lines, `docker build --progress=plain` style.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bollard::Docker;
use bollard::grpc::BuildRef;
use bollard::grpc::build::{ImageBuildFrontendOptions, ImageBuildLoadInput, SecretSource};
use bollard::grpc::driver::Build as _;
use bollard::grpc::driver::moby::Moby;
use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard::moby::buildkit::v1::{StatusRequest, StatusResponse};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The oldest Engine API with BuildKit builds over a session (Docker 18.09).
const BUILDKIT_API: (u32, u32) = (1, 39);

/// BuildKit takes the context whole (bollard's session upload serves it from memory): larger
/// contexts are refused with a message naming `builder = classic`, which streams it.
pub(crate) const MAX_CONTEXT: usize = 512 * 1024 * 1024;

/// How long the status stream may lag behind the end of the solve.
const STATUS_DRAIN: Duration = Duration::from_secs(2);

/// Whether the Engine behind `docker` builds with BuildKit: API 1.39 or newer (the `/session`
/// and `/grpc` endpoints; Debian's docker.io 20.10 has BuildKit built in) on Linux.
pub(crate) async fn engine_supports_buildkit(docker: &Docker) -> bool {
    match docker.version().await {
        Ok(version) => {
            version.os.as_deref().is_none_or(|os| os == "linux")
                && version
                    .api_version
                    .as_deref()
                    .and_then(parse_api_version)
                    .is_some_and(|v| v >= BUILDKIT_API)
        }
        Err(_) => false,
    }
}

/// `"1.41"` → `(1, 41)`.
fn parse_api_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The build context, collected from its tar stream (at most [`MAX_CONTEXT`] bytes).
pub(crate) async fn collect_context(
    stream: impl Stream<Item = io::Result<Bytes>>,
) -> Result<Bytes, io::Error> {
    let mut stream = std::pin::pin!(stream);
    let mut all = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if all.len() + chunk.len() > MAX_CONTEXT {
            return Err(io::Error::other(format!(
                "the build context is larger than {} MiB, which BuildKit takes in memory; \
                 set builder = classic for this instance to stream it",
                MAX_CONTEXT / (1024 * 1024)
            )));
        }
        all.extend_from_slice(&chunk);
    }
    Ok(all.freeze())
}

/// What one BuildKit build needs.
pub(crate) struct Solve<'a> {
    /// The local tag the built image gets (the Engine's `moby` exporter names it).
    pub tag: &'a str,
    /// The context tar, with the (pinned) Dockerfile at its root.
    pub context: Bytes,
    /// Build without the cache.
    pub no_cache: bool,
    /// `--build-arg`s.
    pub build_args: &'a BTreeMap<String, String>,
    /// `RUN --mount=type=secret,id=ID` sources: id → file.
    pub secrets: &'a BTreeMap<String, PathBuf>,
}

/// Builds `solve` through the Engine. `on_line` gets every rendered status line as it comes.
/// Returns the Engine's error message when the solve fails, `Ok(false)` when `cancel` stopped
/// it (dropping the solve's request makes BuildKit cancel the build).
pub(crate) async fn build(
    docker: &Docker,
    solve: Solve<'_>,
    cancel: &CancellationToken,
    on_line: &mut (dyn FnMut(String) + Send),
) -> Result<bool, String> {
    let mut options = ImageBuildFrontendOptions::builder()
        .dockerfile(Path::new("Dockerfile"))
        .pull(false)
        .nocache(solve.no_cache);
    for (key, value) in solve.build_args {
        options = options.buildarg(key, value);
    }
    for (id, file) in solve.secrets {
        options = options.set_secret(id, &SecretSource::File(file.clone()));
    }
    let build_ref = BuildRef::random();
    let status_ref = build_ref.as_ref().to_owned();
    // bollard's solve future is not `Send` (its driver's tear-down handler): it runs on a
    // blocking-pool thread of its own, on this runtime.
    let runtime = tokio::runtime::Handle::current();
    let (docker_solve, tag, options, context) = (
        docker.clone(),
        solve.tag.to_owned(),
        options.build(),
        solve.context,
    );
    let stop = cancel.clone();
    let solving = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let solving = Moby::new(&docker_solve).docker_build(
                &tag,
                options,
                ImageBuildLoadInput::Upload(context),
                None,
                Some(build_ref),
            );
            tokio::select! {
                result = solving => result.map(|()| true).map_err(|err| error_message(&err)),
                () = stop.cancelled() => Ok(false),
            }
        })
    });
    let mut solving = std::pin::pin!(solving);
    let mut render = Render::default();
    let mut status = match status_stream(status_ref).await {
        Ok(status) => Some(status),
        Err(err) => {
            on_line(format!(
                "warning: no BuildKit progress for this build (status stream: {err})"
            ));
            None
        }
    };
    let joined = loop {
        let Some(stream) = status.as_mut() else {
            break solving.await;
        };
        tokio::select! {
            result = &mut solving => break result,
            item = stream.next() => match item {
                Some(Ok(response)) => render.response(&response, on_line),
                Some(Err(_)) | None => status = None,
            },
        }
    };
    // The last vertexes (exporting, errors) may come just after the solve's answer.
    if let Some(mut stream) = status {
        let drain = async {
            while let Some(Ok(response)) = stream.next().await {
                render.response(&response, on_line);
            }
        };
        let _ = tokio::time::timeout(STATUS_DRAIN, drain).await;
    }
    joined.map_err(|err| format!("the BuildKit solve stopped: {err}"))?
}

/// The Engine's message of a failed solve, without bollard's wrapping.
fn error_message(err: &bollard::grpc::error::GrpcError) -> String {
    match err {
        bollard::grpc::error::GrpcError::TonicStatus { err } => err.message().to_owned(),
        other => other.to_string(),
    }
}

/// BuildKit's status for build `build_ref`, on a `/grpc` connection of its own.
async fn status_stream(build_ref: String) -> Result<tonic::Streaming<StatusResponse>, String> {
    let connector = EngineGrpc::from_env()?;
    let channel = tonic::transport::Endpoint::from_static("http://docker.engine")
        .connect_with_connector(connector)
        .await
        .map_err(|err| format!("cannot connect to the Engine's /grpc endpoint: {err}"))?;
    let mut control = ControlClient::new(channel);
    control
        .status(StatusRequest { r#ref: build_ref })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| status.message().to_owned())
}

/// Where the Engine listens, as bollard's `connect_with_defaults` finds it.
#[derive(Debug, Clone)]
enum EngineAddress {
    Unix(PathBuf),
    Tcp(String),
}

/// Connects to the Engine's `/grpc` endpoint: an HTTP/1.1 request upgraded to h2c, over
/// which tonic speaks gRPC to the Engine's BuildKit controller.
#[derive(Debug, Clone)]
struct EngineGrpc {
    address: EngineAddress,
}

impl EngineGrpc {
    /// The Engine `DOCKER_HOST` names (`unix://` or `tcp://`), else the default socket.
    fn from_env() -> Result<Self, String> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        let address = if host.is_empty() {
            EngineAddress::Unix(PathBuf::from("/var/run/docker.sock"))
        } else if let Some(path) = host.strip_prefix("unix://") {
            EngineAddress::Unix(PathBuf::from(path))
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            EngineAddress::Tcp(addr.trim_end_matches('/').to_owned())
        } else {
            return Err(format!(
                "DOCKER_HOST {host:?} is neither unix:// nor tcp://"
            ));
        };
        Ok(EngineGrpc { address })
    }
}

/// The upgrade request; the Engine answers `101 Switching Protocols`.
const UPGRADE: &[u8] = b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
Upgrade: h2c\r\nContent-Length: 0\r\n\r\n";

/// Sends the upgrade request on `io` and reads the answer's head.
async fn upgrade<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    io: &mut S,
) -> io::Result<()> {
    io.write_all(UPGRADE).await?;
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("the Engine's /grpc answer has no end"));
        }
        let byte = io.read_u8().await?;
        head.push(byte);
    }
    let status_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    if status_line.starts_with(b"HTTP/1.1 101") {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the Engine refused the /grpc upgrade: {}",
            String::from_utf8_lossy(status_line)
        )))
    }
}

/// One upgraded connection to the Engine.
enum EngineIo {
    Unix(TokioIo<tokio::net::UnixStream>),
    Tcp(TokioIo<tokio::net::TcpStream>),
}

impl hyper::rt::Read for EngineIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EngineIo::Unix(io) => Pin::new(io).poll_read(cx, buf),
            EngineIo::Tcp(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for EngineIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            EngineIo::Unix(io) => Pin::new(io).poll_write(cx, buf),
            EngineIo::Tcp(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EngineIo::Unix(io) => Pin::new(io).poll_flush(cx),
            EngineIo::Tcp(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EngineIo::Unix(io) => Pin::new(io).poll_shutdown(cx),
            EngineIo::Tcp(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}

impl tower_service::Service<tonic::codegen::http::Uri> for EngineGrpc {
    type Response = EngineIo;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<EngineIo>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: tonic::codegen::http::Uri) -> Self::Future {
        let address = self.address.clone();
        Box::pin(async move {
            Ok(match address {
                EngineAddress::Unix(path) => {
                    let mut io = tokio::net::UnixStream::connect(&path).await?;
                    upgrade(&mut io).await?;
                    EngineIo::Unix(TokioIo::new(io))
                }
                EngineAddress::Tcp(addr) => {
                    let mut io = tokio::net::TcpStream::connect(&addr).await?;
                    upgrade(&mut io).await?;
                    EngineIo::Tcp(TokioIo::new(io))
                }
            })
        })
    }
}

/// Turns status responses into lines: `#N NAME` when a vertex starts, its log lines as
/// `#N text`, `#N CACHED`, `#N DONE 0.3s` or `#N ERROR: message` when it ends.
#[derive(Default)]
struct Render {
    /// Vertex digest → its number (order of first appearance) and what was said of it.
    vertexes: HashMap<String, Vertex>,
    /// Partial log lines, by vertex digest and stream.
    partial: HashMap<(String, i64), String>,
}

/// What [`Render`] has said of one vertex.
struct Vertex {
    number: usize,
    announced: bool,
    ended: bool,
}

impl Render {
    fn number(&mut self, digest: &str) -> &mut Vertex {
        let next = self.vertexes.len() + 1;
        self.vertexes.entry(digest.to_owned()).or_insert(Vertex {
            number: next,
            announced: false,
            ended: false,
        })
    }

    fn response(&mut self, response: &StatusResponse, on_line: &mut (dyn FnMut(String) + Send)) {
        for vertex in &response.vertexes {
            let name = vertex.name.clone();
            let state = self.number(&vertex.digest);
            let number = state.number;
            if !state.announced && (vertex.started.is_some() || vertex.cached) {
                state.announced = true;
                on_line(format!("#{number} {name}"));
            }
            let state = self.number(&vertex.digest);
            if state.ended || !state.announced {
                continue;
            }
            if !vertex.error.is_empty() {
                state.ended = true;
                on_line(format!("#{number} ERROR: {}", vertex.error));
            } else if vertex.cached {
                state.ended = true;
                on_line(format!("#{number} CACHED"));
            } else if let (Some(started), Some(completed)) = (&vertex.started, &vertex.completed) {
                state.ended = true;
                let secs = (completed.seconds - started.seconds) as f64
                    + f64::from(completed.nanos - started.nanos) / 1e9;
                on_line(format!("#{number} DONE {:.1}s", secs.max(0.0)));
            }
        }
        for log in &response.logs {
            let number = self.number(&log.vertex).number;
            let key = (log.vertex.clone(), log.stream);
            let buffer = self.partial.entry(key).or_default();
            buffer.push_str(&String::from_utf8_lossy(&log.msg));
            while let Some(pos) = buffer.find('\n') {
                let line: String = buffer.drain(..=pos).collect();
                on_line(format!("#{number} {}", line.trim_end_matches(['\n', '\r'])));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::moby::buildkit::v1::{Vertex as PbVertex, VertexLog};

    fn ts(seconds: i64, nanos: i32) -> Option<bollard_buildkit_proto::google::protobuf::Timestamp> {
        Some(bollard_buildkit_proto::google::protobuf::Timestamp { seconds, nanos })
    }

    #[test]
    fn api_versions() {
        assert_eq!(parse_api_version("1.41"), Some((1, 41)));
        assert!(parse_api_version("1.41").unwrap() >= BUILDKIT_API);
        assert!(parse_api_version("1.38").unwrap() < BUILDKIT_API);
        assert_eq!(parse_api_version("x"), None);
    }

    #[test]
    fn status_becomes_plain_lines() {
        let mut lines = Vec::new();
        let mut on_line = |line: String| lines.push(line);
        let mut render = Render::default();
        let run = PbVertex {
            digest: "sha256:b".into(),
            name: "[2/2] RUN make".into(),
            started: ts(10, 0),
            ..Default::default()
        };
        let cached = PbVertex {
            digest: "sha256:a".into(),
            name: "[1/2] FROM base".into(),
            started: ts(9, 0),
            cached: true,
            ..Default::default()
        };
        render.response(
            &StatusResponse {
                vertexes: vec![cached, run.clone()],
                logs: vec![VertexLog {
                    vertex: "sha256:b".into(),
                    stream: 1,
                    msg: b"compiling\npart".to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &mut on_line,
        );
        render.response(
            &StatusResponse {
                vertexes: vec![PbVertex {
                    completed: ts(11, 500_000_000),
                    ..run
                }],
                logs: vec![VertexLog {
                    vertex: "sha256:b".into(),
                    stream: 1,
                    msg: b"ial\n".to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &mut on_line,
        );
        assert_eq!(
            lines,
            [
                "#1 [1/2] FROM base",
                "#1 CACHED",
                "#2 [2/2] RUN make",
                "#2 compiling",
                "#2 DONE 1.5s",
                "#2 partial",
            ]
        );
    }
}
