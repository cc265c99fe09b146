//! Pushing blobs that are not copied from another registry: a local file (the reactor's
//! compressed layers) or bytes in memory (an image config), with retries per request and per
//! blob. A file upload streams one `PATCH`; when it breaks off, the registry is asked how much
//! it kept (`GET` of the upload session) and the upload resumes there, or restarts with a new
//! session when the registry no longer knows it. A commit whose answer was lost is recognised
//! by the blob being there.

use std::io::{Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use futures_util::stream;
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::auth::Access;
use crate::error::{Error, Result};
use crate::repository::{Mount, Repository};
use crate::request::header_str;

/// The size of each read from a file being uploaded.
const READ_CHUNK: usize = 256 * 1024;

/// What a blob upload took: for logs, benchmarks and tests of the retry rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Bytes sent in `PATCH` bodies, resent bytes included.
    pub bytes_sent: u64,
    /// Times an interrupted upload went on where the registry said it had got to.
    pub resumed: u32,
    /// Times an upload started again from the first byte with a new session.
    pub restarted: u32,
    /// Whether the blob turned out to be there already when a commit's answer was lost.
    pub found_after_failure: bool,
}

/// How far a file that is still being written has got: what
/// [`Repository::upload_blob_growing`] follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Growth {
    /// Bytes in the file so far (written to it, so a reader sees them).
    pub written: u64,
    /// Once the file is complete: its digest and size.
    pub complete: Option<(String, u64)>,
    /// The writer failed: the upload is abandoned.
    pub failed: bool,
}

/// Where an upload session stands.
struct Session {
    location: Url,
    offset: u64,
}

impl Repository {
    /// Asks the registry to link blob `digest` from repository `from` of the same registry;
    /// `true` when it did. A registry that cannot mount (it opens an upload session instead)
    /// or refuses (401, 403, 404) gives `false`: upload the blob then.
    ///
    /// # Errors
    ///
    /// Request errors other than a refusal.
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<bool> {
        match self.mount(digest, from).await {
            Ok(Mount::Mounted) => Ok(true),
            Ok(Mount::Upload(_)) => Ok(false),
            Err(err) if err.is_refusal() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Reads the blob `digest` into memory, verified against its digest; at most `limit`
    /// bytes (an image config, not a layer).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::BlobCorrupt`] when the bytes do not match or exceed
    /// `limit`, or request errors.
    pub async fn blob_bytes(&self, digest: &str, limit: usize) -> Result<Bytes> {
        let corrupt = |problem: String| Error::BlobCorrupt {
            registry: self.client().endpoint().name().to_owned(),
            repository: self.name().to_owned(),
            digest: digest.to_owned(),
            problem,
        };
        let response = self.open_blob(digest).await?;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(corrupt(format!("it is larger than {limit} bytes")));
        }
        let op = self.op(Access::Pull, "GET", format!("blob {digest}"));
        let bytes = response
            .bytes()
            .await
            .map_err(|source| op.transport(self.client(), source))?;
        if bytes.len() > limit {
            return Err(corrupt(format!("it is larger than {limit} bytes")));
        }
        let actual = crate::digest::digest_like(&bytes, Some(digest));
        if actual != digest {
            return Err(corrupt(format!("its bytes hash to {actual}")));
        }
        Ok(bytes)
    }

    /// Uploads `data` as blob `digest` (its sha256, computed by the caller) unless it is there
    /// already, retrying the whole blob on connection errors, 429 and 5xx.
    ///
    /// # Errors
    ///
    /// Request errors after the retries.
    pub async fn upload_blob_bytes(&self, data: Bytes, digest: &str) -> Result<UploadStats> {
        let retry = self.client().retry_policy();
        let mut stats = UploadStats::default();
        let mut failures = 0;
        loop {
            let attempt = async {
                let location = self.start_upload().await?;
                let size = data.len() as u64;
                let body = data.clone();
                self.finish_upload(&location, digest, Some(size), true, move || {
                    Some(reqwest::Body::from(body.clone()))
                })
                .await
            };
            match attempt.await {
                Ok(()) => return Ok(stats),
                Err(err) if failures < retry.max_retries && recoverable(&err) => {
                    if self.blob_exists(digest).await.unwrap_or(false) {
                        stats.found_after_failure = true;
                        return Ok(stats);
                    }
                    tokio::time::sleep(retry.backoff(failures, None)).await;
                    failures += 1;
                    stats.restarted += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Uploads the file at `path` (`size` bytes) as blob `digest`: one streaming `PATCH` and a
    /// committing `PUT`. An interrupted `PATCH` (connection error, 429, 5xx) resumes at the
    /// offset the registry reports for the session, or restarts with a new session when the
    /// registry does not know it any more (or refuses the offset); at most
    /// [`RetryPolicy::max_retries`] times in all. The registry checks the digest at the commit.
    ///
    /// [`RetryPolicy::max_retries`]: crate::RetryPolicy::max_retries
    ///
    /// # Errors
    ///
    /// [`Error::LocalFile`] when the file cannot be read, or request errors after the retries.
    pub async fn upload_blob_file(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
    ) -> Result<UploadStats> {
        let retry = self.client().retry_policy();
        let mut stats = UploadStats::default();
        let mut session: Option<Session> = None;
        let mut failures = 0;
        loop {
            match self
                .upload_file_once(path, digest, size, &mut session, &mut stats)
                .await
            {
                Ok(()) => return Ok(stats),
                Err(err) if failures < retry.max_retries && recoverable(&err) => {
                    tokio::time::sleep(retry.backoff(failures, None)).await;
                    failures += 1;
                    if self.blob_exists(digest).await.unwrap_or(false) {
                        stats.found_after_failure = true;
                        return Ok(stats);
                    }
                    session = match session.take() {
                        Some(open) => self.upload_status(&open.location).await.unwrap_or(None),
                        None => None,
                    };
                    match &session {
                        Some(open) if open.offset > 0 => stats.resumed += 1,
                        _ => stats.restarted += 1,
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Uploads the file at `path` while it is still being written (a layer being compressed),
    /// following `growth`: one streaming `PATCH` that sends bytes as they arrive and a commit
    /// once the writer reports the digest. When that fails (or the registry does not take a
    /// `PATCH` of unknown length), the upload waits for the file to be complete and goes on as
    /// [`Repository::upload_blob_file`], with its retries. Dropping the future abandons the
    /// session (nothing is committed).
    ///
    /// # Errors
    ///
    /// The writer failed, [`Error::LocalFile`], or request errors after the retries.
    pub async fn upload_blob_growing(
        &self,
        path: &Path,
        growth: watch::Receiver<Growth>,
    ) -> Result<UploadStats> {
        let local = |source| self.local_file_error(path, source);
        let first = self.stream_growing(path, growth.clone()).await;
        let mut stats = match first {
            Ok(stats) => return Ok(stats),
            // Anything but a refusal of access: the registry may just not take a `PATCH` of
            // unknown length (some answer 400 or 411), which the file upload does not need.
            Err(err) if !err.is_refusal() || matches!(err, Error::NotFound { .. }) => UploadStats {
                restarted: 1,
                ..UploadStats::default()
            },
            Err(err) => return Err(err),
        };
        let (digest, size) = complete(growth).await.map_err(local)?;
        let rest = self.upload_blob_file(path, &digest, size).await?;
        stats.bytes_sent += rest.bytes_sent;
        stats.resumed += rest.resumed;
        stats.restarted += rest.restarted;
        stats.found_after_failure = rest.found_after_failure;
        Ok(stats)
    }

    /// The first attempt of [`Repository::upload_blob_growing`].
    async fn stream_growing(
        &self,
        path: &Path,
        growth: watch::Receiver<Growth>,
    ) -> Result<UploadStats> {
        let local = |source| self.local_file_error(path, source);
        let location = self.start_upload().await?;
        let op = self.op(Access::Push, "PATCH", "blob upload".to_owned());
        let file = tokio::fs::File::open(path).await.map_err(local)?;
        let mut start = Some((file, growth.clone()));
        let response = self
            .client()
            .send(&op, &location, false, |http| {
                let (file, growth) = start.take()?;
                let body = stream::try_unfold(
                    (file, 0u64, growth),
                    |(mut file, sent, mut growth)| async move {
                        loop {
                            let now = growth.borrow_and_update().clone();
                            if now.failed {
                                return Err(std::io::Error::other("the blob's writer failed"));
                            }
                            if sent < now.written {
                                let chunk = read_chunk(&mut file, now.written - sent).await?;
                                let state = (file, sent + chunk.len() as u64, growth);
                                return Ok(Some((chunk, state)));
                            }
                            if now.complete.is_some() {
                                return Ok(None);
                            }
                            growth.changed().await.map_err(|_| {
                                std::io::Error::other("the blob's writer went away")
                            })?;
                        }
                    },
                );
                Some(
                    http.patch(location.clone())
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .body(reqwest::Body::wrap_stream(body)),
                )
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.client().unexpected(&op, response).await);
        }
        let next = self.client().location(&op, &response)?;
        let (digest, size) = complete(growth).await.map_err(local)?;
        self.finish_upload(&next, &digest, Some(0), true, || {
            Some(reqwest::Body::from(Vec::new()))
        })
        .await?;
        Ok(UploadStats {
            bytes_sent: size,
            ..UploadStats::default()
        })
    }

    /// One attempt: opens a session when there is none, sends what the registry does not have
    /// yet, and commits. Keeps `session` current so that a failure can resume.
    async fn upload_file_once(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
        session: &mut Option<Session>,
        stats: &mut UploadStats,
    ) -> Result<()> {
        let mut open = match session.take() {
            Some(open) => open,
            None => Session {
                location: self.start_upload().await?,
                offset: 0,
            },
        };
        if open.offset < size {
            let (sent, next) = self.patch_file(&open, path, size).await;
            stats.bytes_sent += sent;
            match next {
                Ok(next) => open.location = next,
                Err(err) => {
                    *session = Some(open);
                    return Err(err);
                }
            }
        }
        *session = Some(Session {
            location: open.location.clone(),
            offset: size,
        });
        self.finish_upload(&open.location, digest, Some(0), true, || {
            Some(reqwest::Body::from(Vec::new()))
        })
        .await
    }

    /// Sends the file from the session's offset to its end in one `PATCH`. Returns the bytes
    /// handed to the request body, and the `Location` the registry answered with.
    async fn patch_file(&self, session: &Session, path: &Path, size: u64) -> (u64, Result<Url>) {
        let (location, offset) = (&session.location, session.offset);
        let op = self.op(Access::Push, "PATCH", "blob upload".to_owned());
        let file = match std::fs::File::open(path).and_then(|mut file| {
            file.seek(SeekFrom::Start(offset))?;
            Ok(file)
        }) {
            Ok(file) => file,
            Err(source) => return (0, Err(self.local_file_error(path, source))),
        };
        let remaining = size - offset;
        let mut file = Some(tokio::fs::File::from_std(file));
        let range = format!("{offset}-{}", size - 1);
        let outcome = self
            .client()
            .send(&op, location, false, |http| {
                let file = file.take()?;
                let body = stream::try_unfold((file, remaining), |(mut file, left)| async move {
                    if left == 0 {
                        return Ok::<_, std::io::Error>(None);
                    }
                    let chunk = read_chunk(&mut file, left).await?;
                    let left = left - chunk.len() as u64;
                    Ok(Some((chunk, (file, left))))
                });
                Some(
                    http.patch(location.clone())
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_LENGTH, remaining)
                        .header(
                            header::CONTENT_RANGE,
                            HeaderValue::from_str(&range).unwrap_or(HeaderValue::from_static("")),
                        )
                        .body(reqwest::Body::wrap_stream(body)),
                )
            })
            .await;
        let next = match outcome {
            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                self.client().location(&op, &response)
            }
            Ok(response) => Err(self.client().unexpected(&op, response).await),
            Err(err) => Err(err),
        };
        (remaining, next)
    }

    /// [`Error::LocalFile`] for the file at `path`, to upload to this repository.
    fn local_file_error(&self, path: &Path, source: std::io::Error) -> Error {
        Error::LocalFile {
            registry: self.client().endpoint().name().to_owned(),
            repository: self.name().to_owned(),
            path: path.to_owned(),
            source,
        }
    }

    /// How far the upload session at `location` got (`GET`: `Range: 0-N`): `None` when the
    /// registry does not know the session any more.
    async fn upload_status(&self, location: &Url) -> Result<Option<Session>> {
        let op = self.op(Access::Push, "GET", "blob upload status".to_owned());
        let response = self
            .client()
            .send(&op, location, true, |http| Some(http.get(location.clone())))
            .await?;
        match response.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => {
                let offset = header_str(response.headers(), "range")
                    .and_then(parse_range_end)
                    .unwrap_or(0);
                let location = self
                    .client()
                    .location(&op, &response)
                    .unwrap_or_else(|_| location.clone());
                Ok(Some(Session { location, offset }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.client().unexpected(&op, response).await),
        }
    }
}

/// The next bytes of `file`, at most [`READ_CHUNK`] and at most `left` (more than 0); the file
/// ending before that is an error.
async fn read_chunk(file: &mut tokio::fs::File, left: u64) -> std::io::Result<Bytes> {
    let want = usize::try_from(left).unwrap_or(READ_CHUNK).min(READ_CHUNK);
    let mut buf = vec![0; want];
    let n = file.read(&mut buf).await?;
    if n == 0 {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
    }
    buf.truncate(n);
    Ok(Bytes::from(buf))
}

/// Waits until the file `growth` follows is complete: its digest and size.
async fn complete(mut growth: watch::Receiver<Growth>) -> std::io::Result<(String, u64)> {
    let done = growth
        .wait_for(|g| g.complete.is_some() || g.failed)
        .await
        .map_err(|_| std::io::Error::other("the blob's writer went away"))?
        .clone();
    match done.complete {
        Some(complete) if !done.failed => Ok(complete),
        _ => Err(std::io::Error::other("the blob's writer failed")),
    }
}

/// Whether a failed blob upload is worth another attempt: what is retryable for any request,
/// plus a 404 (the session is gone, or a commit's answer was lost) and a 416 (the registry
/// refused the offset).
fn recoverable(err: &Error) -> bool {
    err.is_retryable()
        || matches!(err, Error::NotFound { .. })
        || matches!(err, Error::Status { status: 416, .. })
}

/// The number of bytes a session holds from its `Range: 0-N` header. The distribution
/// registry sends `0-0` for an empty session (and, ambiguously, for one byte): taken as empty.
fn parse_range_end(range: &str) -> Option<u64> {
    let (start, end) = range.trim().trim_start_matches("bytes=").split_once('-')?;
    let (start, end) = (start.parse::<u64>().ok()?, end.parse::<u64>().ok()?);
    (start == 0 && end > 0).then_some(end + 1).or(Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges() {
        assert_eq!(parse_range_end("0-0"), Some(0));
        assert_eq!(parse_range_end("0-99"), Some(100));
        assert_eq!(parse_range_end("bytes=0-1023"), Some(1024));
        assert_eq!(parse_range_end("garbage"), None);
    }
}
