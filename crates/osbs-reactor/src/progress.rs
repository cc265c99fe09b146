//! Layer progress in the build log: how a base-image pull, a push and a sync report bytes
//! moved per layer, in a form the `osbs` client turns into terminal progress bars.
//!
//! A build runs in another process (the local runner) or a Pod, and the client sees only its
//! log stream, so progress travels in that stream as lines of their own:
//!
//! ```text
//! @osbs-progress push sha256:0123456789ab 1048576/5242880
//! @osbs-progress push sha256:0123456789ab 5242880/5242880 done
//! @osbs-progress pull 4f4fb700ef54 0/? exists
//! ```
//!
//! `KIND ID DONE/TOTAL [STATE]`: kind `pull`, `push` or `sync`; a layer id of ASCII letters,
//! digits and `:._-`; bytes done and total (`?` when not known); state `done` (the layer
//! finished), `exists` (it was already there) or nothing (in flight). Lines are kept in the
//! stored log (the stream is the only channel to a client on either backend), so the reactor
//! writes an in-flight line for a layer only when it is due ([`due`]: at least
//! [`MIN_INTERVAL`] and 1% of the layer since its last line, or [`MAX_INTERVAL`]), plus its
//! first and last: a 1 GiB layer at 100 MiB/s adds about twenty short lines, and no layer more
//! than about a hundred plus one every ten seconds. The client never prints them:
//! `build-logs` drops them, and a follower on a terminal draws bars from them.
//!
//! The API for plugins is [`LayerProgress`] (one per transfer, created with its [`Kind`]):
//! `report(cx, id, done, total)` while bytes move, `finish(cx, id, done, total, state)` once.
//! [`SyncProgress`] is the same for osbs-registry-sync's `copy_image`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use osbs_registry_sync::{BlobOutcome, Progress};
use tokio::sync::mpsc;

use crate::pipeline::Context;

/// What starts a progress line in the build log.
pub const PREFIX: &str = "@osbs-progress ";

/// The least time between two in-flight lines of one layer.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// The most time between two in-flight lines of one layer that is still moving.
pub const MAX_INTERVAL: Duration = Duration::from_secs(10);

/// Whether an in-flight line is due for a layer whose last line was `since` ago and which
/// moved `moved` bytes since: never before [`MIN_INTERVAL`]; then once it moved 1% of
/// `total` (at once when the size is not known); always after [`MAX_INTERVAL`].
pub fn due(since: Duration, moved: u64, total: Option<u64>) -> bool {
    if since < MIN_INTERVAL {
        return false;
    }
    if since >= MAX_INTERVAL {
        return true;
    }
    match total.filter(|t| *t > 0) {
        Some(total) => u128::from(moved) * 100 >= u128::from(total),
        None => true,
    }
}

/// The longest layer id a progress line carries.
const MAX_ID: usize = 128;

/// What happens to a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Pulled from a registry into the Docker Engine (the base image).
    Pull,
    /// Pushed from the Docker Engine (or the reactor) to the target registry.
    Push,
    /// Copied from the target registry to the sync registry.
    Sync,
}

impl Kind {
    /// The word in a progress line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pull => "pull",
            Kind::Push => "push",
            Kind::Sync => "sync",
        }
    }

    fn parse(word: &str) -> Option<Kind> {
        match word {
            "pull" => Some(Kind::Pull),
            "push" => Some(Kind::Push),
            "sync" => Some(Kind::Sync),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Bytes are moving.
    Active,
    /// The layer finished moving.
    Done,
    /// The layer was already there (present, mounted): nothing moved.
    Exists,
}

/// One progress line of the build log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEvent {
    /// What happens to the layer.
    pub kind: Kind,
    /// The layer: a digest, or the Docker Engine's short layer id.
    pub id: String,
    /// Bytes moved so far.
    pub done: u64,
    /// The layer's size, when known.
    pub total: Option<u64>,
    /// Where the layer is.
    pub state: State,
}

/// Whether `c` may appear in a layer id of a progress line.
fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-')
}

impl LayerEvent {
    /// The log line, `@osbs-progress KIND ID DONE/TOTAL [STATE]`. An id with other characters
    /// than those allowed has them replaced by `_` (and is cut to 128).
    pub fn to_line(&self) -> String {
        let id: String = self
            .id
            .chars()
            .take(MAX_ID)
            .map(|c| if id_char(c) { c } else { '_' })
            .collect();
        let id = if id.is_empty() { "_".to_owned() } else { id };
        let total = self
            .total
            .map_or_else(|| "?".to_owned(), |total| total.to_string());
        let state = match self.state {
            State::Active => "",
            State::Done => " done",
            State::Exists => " exists",
        };
        format!("{PREFIX}{} {id} {}/{total}{state}", self.kind, self.done)
    }

    /// The event of a progress line; `None` for any other line, and for a line that starts
    /// like one but is malformed (the client hides those too: see [`is_progress_line`]).
    pub fn parse(line: &str) -> Option<LayerEvent> {
        let rest = line.strip_prefix(PREFIX)?;
        let mut words = rest.split(' ');
        let kind = Kind::parse(words.next()?)?;
        let id = words.next()?;
        if id.is_empty() || id.len() > MAX_ID || !id.chars().all(id_char) {
            return None;
        }
        let (done, total) = words.next()?.split_once('/')?;
        let done: u64 = done.parse().ok()?;
        let total = match total {
            "?" => None,
            total => Some(total.parse().ok()?),
        };
        let state = match words.next() {
            None => State::Active,
            Some("done") => State::Done,
            Some("exists") => State::Exists,
            Some(_) => return None,
        };
        if words.next().is_some() {
            return None;
        }
        Some(LayerEvent {
            kind,
            id: id.to_owned(),
            done,
            total,
            state,
        })
    }
}

/// Writes a progress line this module made (a [`SyncProgress`] channel's) to the build log;
/// `Context::log` indents any other line that starts with [`PREFIX`], so build output cannot
/// pose as progress.
pub(crate) fn log_progress(cx: &Context<'_>, line: &str) {
    cx.host.log(line);
}

/// Whether a log line is meant as progress (well-formed or not): what readers of the log
/// leave out of what they show.
pub fn is_progress_line(line: &str) -> bool {
    line.starts_with(PREFIX)
}

/// The progress of one transfer (a pull, a tag's push, a sync): turns byte counts into
/// progress lines, an in-flight one per layer only when [`due`], besides the first and the
/// last.
#[derive(Debug)]
pub struct LayerProgress {
    kind: Kind,
    /// Per layer in flight: when its last line was written, and at how many bytes.
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LayerProgress {
    /// The progress of a transfer of `kind`.
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// The line for `done` of `total` bytes of layer `id`, or `None` when one is not [`due`]
    /// (the first line of a layer always is).
    pub fn line(&self, id: &str, done: u64, total: Option<u64>) -> Option<String> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, at_done)) = last.get(id)
            && !due(
                now.duration_since(*at),
                done.saturating_sub(*at_done),
                total,
            )
        {
            return None;
        }
        last.insert(id.to_owned(), (now, done));
        Some(self.event(id, done, total, State::Active).to_line())
    }

    /// The line that ends layer `id` (never held back).
    pub fn finish_line(&self, id: &str, done: u64, total: Option<u64>, state: State) -> String {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        self.event(id, done, total, state).to_line()
    }

    fn event(&self, id: &str, done: u64, total: Option<u64>, state: State) -> LayerEvent {
        LayerEvent {
            kind: self.kind,
            id: id.to_owned(),
            done,
            total,
            state,
        }
    }

    /// Reports `done` of `total` bytes of layer `id` in the build log (throttled).
    pub(crate) fn report(&self, cx: &Context<'_>, id: &str, done: u64, total: Option<u64>) {
        if let Some(line) = self.line(id, done, total) {
            log_progress(cx, &line);
        }
    }

    /// Reports the end of layer `id` in the build log.
    pub(crate) fn finish(
        &self,
        cx: &Context<'_>,
        id: &str,
        done: u64,
        total: Option<u64>,
        state: State,
    ) {
        log_progress(cx, &self.finish_line(id, done, total, state));
    }

    /// Ends every layer still in flight (`Done`, at the bytes last reported): a transfer that
    /// completed without a final word for each layer.
    pub(crate) fn finish_all(&self, cx: &Context<'_>) {
        let layers: Vec<(String, u64)> = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(id, (_, done))| (id, done))
            .collect();
        for (id, done) in layers {
            log_progress(cx, &self.event(&id, done, None, State::Done).to_line());
        }
    }
}

/// One layer of a Docker Engine pull or push stream: its id (when the stream names one), its
/// status word and the progress detail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineStatus<'a> {
    /// The layer id the Engine gives (the short id of the layer).
    pub(crate) id: Option<&'a str>,
    /// `Downloading`, `Pushing`, `Pull complete`, `Already exists`, ...
    pub(crate) status: &'a str,
    /// Bytes done, per the Engine.
    pub(crate) current: Option<i64>,
    /// The layer's size, per the Engine.
    pub(crate) total: Option<i64>,
}

impl LayerProgress {
    /// Turns one status of a Docker Engine pull or push stream into progress lines; `true`
    /// when it was per-layer progress (so the caller does not log it as text).
    pub(crate) fn engine_status(&self, cx: &Context<'_>, status: EngineStatus<'_>) -> bool {
        let (per_layer, line) = self.engine_line(status);
        if let Some(line) = line {
            log_progress(cx, &line);
        }
        per_layer
    }

    /// [`LayerProgress::engine_status`] without the log: whether the status is per-layer, and
    /// the progress line it makes, if any (in-flight ones are throttled).
    pub(crate) fn engine_line(&self, status: EngineStatus<'_>) -> (bool, Option<String>) {
        let bytes = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        let Some(id) = status.id else {
            let per_layer = matches!(
                status.status,
                "Preparing" | "Waiting" | "Pushing" | "Pushed" | "Layer already exists"
            );
            return (per_layer, None);
        };
        match status.status {
            "Downloading" | "Pushing" => {
                let done = bytes(status.current).unwrap_or(0);
                (true, self.line(id, done, bytes(status.total)))
            }
            "Pull complete" | "Pushed" => (true, Some(self.finish_line(id, 0, None, State::Done))),
            "Already exists" | "Layer already exists" => {
                (true, Some(self.finish_line(id, 0, None, State::Exists)))
            }
            "Preparing" | "Waiting" | "Pulling fs layer" | "Verifying Checksum"
            | "Download complete" | "Extracting" => (true, None),
            _ => (false, None),
        }
    }
}

/// osbs-registry-sync's [`Progress`] as progress lines of kind `sync` (or another kind,
/// [`SyncProgress::channel_of`]): the copy runs on its own tasks, so the lines go through a
/// channel that the plugin drains into the build log ([`SyncProgress::channel`]).
#[derive(Debug)]
pub struct SyncProgress {
    progress: LayerProgress,
    layers: Mutex<HashMap<String, (u64, Option<u64>)>>,
    lines: mpsc::UnboundedSender<String>,
}

impl SyncProgress {
    /// A progress receiver and the lines it produces.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<String>) {
        Self::channel_of(Kind::Sync)
    }

    /// The same for blob transfers of another kind: the reactor's own push reports its
    /// uploads as `push` lines this way (any [`Progress`] caller, tasks of its own included).
    pub fn channel_of(kind: Kind) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (lines, receiver) = mpsc::unbounded_channel();
        let progress = Self {
            progress: LayerProgress::new(kind),
            layers: Mutex::new(HashMap::new()),
            lines,
        };
        (progress, receiver)
    }

    fn send(&self, line: String) {
        // The receiver is gone only when the plugin stopped waiting: nothing to report to.
        let _ = self.lines.send(line);
    }
}

impl Progress for SyncProgress {
    fn blob_started(&self, digest: &str, size: Option<u64>) {
        self.layers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.to_owned(), (0, size));
        if let Some(line) = self.progress.line(digest, 0, size) {
            self.send(line);
        }
    }

    fn blob_advanced(&self, digest: &str, bytes: u64) {
        let (done, total) = {
            let mut layers = self.layers.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = layers.entry(digest.to_owned()).or_insert((0, None));
            entry.0 += bytes;
            *entry
        };
        if let Some(line) = self.progress.line(digest, done, total) {
            self.send(line);
        }
    }

    fn blob_finished(&self, digest: &str, outcome: BlobOutcome) {
        let started = self
            .layers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(digest);
        let state = match outcome {
            BlobOutcome::Copied => State::Done,
            BlobOutcome::Skipped | BlobOutcome::Mounted => State::Exists,
        };
        // A blob found at the destination without moving a byte has no bar to end: saying so
        // for every blob of every tag would only lengthen the log.
        if started.is_none() && state == State::Exists {
            return;
        }
        let (done, total) = started.unwrap_or((0, None));
        self.send(self.progress.finish_line(digest, done, total, state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, id: &str, done: u64, total: Option<u64>, state: State) -> LayerEvent {
        LayerEvent {
            kind,
            id: id.to_owned(),
            done,
            total,
            state,
        }
    }

    #[test]
    fn lines_read_back_as_the_events_written() {
        let events = [
            event(
                Kind::Push,
                "sha256:0123abcd",
                1_048_576,
                Some(5_242_880),
                State::Active,
            ),
            event(Kind::Pull, "4f4fb700ef54", 0, None, State::Exists),
            event(Kind::Sync, "sha256:ff", 9, Some(9), State::Done),
        ];
        for e in events {
            let line = e.to_line();
            assert!(is_progress_line(&line), "{line}");
            assert_eq!(LayerEvent::parse(&line), Some(e), "{line}");
        }
        assert_eq!(
            event(Kind::Push, "sha256:0123abcd", 1, Some(2), State::Done).to_line(),
            "@osbs-progress push sha256:0123abcd 1/2 done"
        );
    }

    #[test]
    fn ids_are_made_safe_when_written() {
        let line = event(Kind::Pull, "a b\u{1b}[2J", 0, None, State::Active).to_line();
        assert_eq!(line, "@osbs-progress pull a_b__2J 0/?");
        assert!(LayerEvent::parse(&line).is_some());
    }

    #[test]
    fn other_and_malformed_lines_are_not_events() {
        for line in [
            "Step 1/3 : FROM base",
            "@osbs-progress",
            "@osbs-progress push",
            "@osbs-progress push abc",
            "@osbs-progress push abc 1",
            "@osbs-progress push abc x/2",
            "@osbs-progress push abc 1/-2",
            "@osbs-progress copy abc 1/2",
            "@osbs-progress push abc 1/2 later",
            "@osbs-progress push abc 1/2 done extra",
            "@osbs-progress push a\u{1b}c 1/2",
            " @osbs-progress push abc 1/2",
        ] {
            assert_eq!(LayerEvent::parse(line), None, "{line:?}");
        }
        assert!(is_progress_line("@osbs-progress push abc x/2"));
        assert!(!is_progress_line("pushing 127.0.0.1:5000/app:1"));
    }

    #[test]
    fn a_line_is_due_after_half_a_second_and_a_percent_or_after_ten_seconds() {
        let ms = Duration::from_millis;
        let cases = [
            (ms(100), 1 << 30, Some(100), false),
            (ms(499), 50, Some(100), false),
            (ms(500), 1, Some(100), true),
            (ms(500), 9, Some(1000), false),
            (ms(500), 10, Some(1000), true),
            (ms(9_999), 0, Some(1000), false),
            (ms(10_000), 0, Some(1000), true),
            (ms(500), 0, None, true),
            (ms(500), 0, Some(0), true),
            (ms(500), u64::MAX, Some(u64::MAX), true),
        ];
        for (since, moved, total, want) in cases {
            assert_eq!(
                due(since, moved, total),
                want,
                "{since:?} {moved} {total:?}"
            );
        }
    }

    #[test]
    fn in_flight_lines_are_throttled_per_layer_but_ends_never_are() {
        let progress = LayerProgress::new(Kind::Push);
        assert!(progress.line("a", 0, Some(10)).is_some());
        assert!(progress.line("a", 5, Some(10)).is_none());
        assert!(progress.line("b", 1, Some(10)).is_some());
        assert_eq!(
            progress.finish_line("a", 10, Some(10), State::Done),
            "@osbs-progress push a 10/10 done"
        );
        // A finished layer starts afresh.
        assert!(progress.line("a", 0, Some(10)).is_some());
    }

    #[test]
    fn engine_statuses_become_progress_lines() {
        let pull = LayerProgress::new(Kind::Pull);
        let status = |id, status, current, total| EngineStatus {
            id,
            status,
            current,
            total,
        };
        let cases = [
            (
                status(Some("a1"), "Pulling fs layer", None, None),
                true,
                None,
            ),
            (
                status(Some("a1"), "Downloading", Some(10), Some(100)),
                true,
                Some("@osbs-progress pull a1 10/100"),
            ),
            // Throttled: the same layer again at once.
            (
                status(Some("a1"), "Downloading", Some(20), Some(100)),
                true,
                None,
            ),
            (
                status(Some("a1"), "Extracting", Some(5), Some(100)),
                true,
                None,
            ),
            (
                status(Some("a1"), "Pull complete", None, None),
                true,
                Some("@osbs-progress pull a1 0/? done"),
            ),
            (
                status(Some("b2"), "Already exists", None, None),
                true,
                Some("@osbs-progress pull b2 0/? exists"),
            ),
            (status(None, "Digest: sha256:abc", None, None), false, None),
            (
                status(Some("latest"), "Pulling from osbs/busybox", None, None),
                false,
                None,
            ),
            (status(None, "Pushing", Some(1), Some(2)), true, None),
            (
                status(Some("x"), "Downloading", Some(-1), Some(-1)),
                true,
                Some("@osbs-progress pull x 0/?"),
            ),
        ];
        for (status, per_layer, line) in cases {
            let text = format!("{status:?}");
            assert_eq!(
                pull.engine_line(status),
                (per_layer, line.map(str::to_owned)),
                "{text}"
            );
        }
    }

    #[test]
    fn channel_progress_of_another_kind() {
        let (progress, mut lines) = SyncProgress::channel_of(Kind::Push);
        progress.blob_started("sha256:cc", None);
        progress.blob_finished("sha256:cc", BlobOutcome::Copied);
        assert_eq!(
            lines.try_recv().ok().as_deref(),
            Some("@osbs-progress push sha256:cc 0/?")
        );
        assert_eq!(
            lines.try_recv().ok().as_deref(),
            Some("@osbs-progress push sha256:cc 0/? done")
        );
    }

    #[test]
    fn sync_progress_counts_bytes_and_ends_each_blob() {
        let (progress, mut lines) = SyncProgress::channel();
        progress.blob_started("sha256:aa", Some(10));
        progress.blob_advanced("sha256:aa", 4);
        progress.blob_advanced("sha256:aa", 6);
        progress.blob_finished("sha256:aa", BlobOutcome::Copied);
        // Never started (present, or mounted): nothing to say.
        progress.blob_finished("sha256:bb", BlobOutcome::Mounted);
        progress.blob_started("sha256:cc", Some(3));
        progress.blob_finished("sha256:cc", BlobOutcome::Skipped);
        let mut got = Vec::new();
        while let Ok(line) = lines.try_recv() {
            got.push(line);
        }
        assert_eq!(
            got,
            [
                "@osbs-progress sync sha256:aa 0/10",
                "@osbs-progress sync sha256:aa 10/10 done",
                "@osbs-progress sync sha256:cc 0/3",
                "@osbs-progress sync sha256:cc 0/3 exists",
            ]
        );
    }
}
