//! When each line of a build log was written (`osbs build-logs --timestamps`), kept beside the
//! log in `logs/BUILD.log.times`: one line `OFFSET TIME` per log line, OFFSET the byte offset
//! where the log line starts in `BUILD.log`, TIME RFC 3339 with milliseconds. The log itself
//! stays plain text, readers that know nothing of the file are unaffected, and a log kept
//! before times were (no file) simply has no times. Offsets make the pairing exact: a line
//! without an entry has no time, it never takes another line's.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use osbs_core::time::Timestamp;

/// The times file of `build`'s log in the state directory `dir`.
pub(crate) fn times_path(dir: &Path, build: &str) -> PathBuf {
    dir.join("logs").join(format!("{build}.log.times"))
}

/// Appends the time of each log line, written by the build's runner alone.
pub(crate) struct TimesWriter {
    file: File,
    /// The log's length: where the next log line starts.
    log_len: u64,
}

impl TimesWriter {
    /// Opens (appending) the times of the log whose current length is `log_len`.
    pub(crate) fn open(dir: &Path, build: &str, log_len: u64) -> Option<TimesWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(times_path(dir, build))
            .ok()?;
        Some(TimesWriter { file, log_len })
    }

    /// Records that a log line of `len` bytes (its newline included) is written at `now`;
    /// called before the line is, so a reader that sees the line finds its time.
    pub(crate) fn record(&mut self, len: usize, now: Timestamp) {
        let _ = writeln!(self.file, "{} {now}", self.log_len);
        self.log_len += len as u64;
    }
}

/// Reads the times of a log as a reader of the log moves through it.
#[derive(Debug)]
pub(crate) struct TimesReader {
    path: PathBuf,
    read: u64,
    pending: Vec<u8>,
    entries: VecDeque<(u64, Timestamp)>,
}

impl TimesReader {
    /// A reader of `build`'s log times in the state directory `dir`.
    pub(crate) fn new(dir: &Path, build: &str) -> TimesReader {
        TimesReader {
            path: times_path(dir, build),
            read: 0,
            pending: Vec::new(),
            entries: VecDeque::new(),
        }
    }

    /// The time of the log line starting at byte `offset`, if one was recorded; lines are
    /// asked for in log order.
    pub(crate) fn time_of(&mut self, offset: u64) -> Option<Timestamp> {
        if self.entries.back().is_none_or(|(last, _)| *last < offset) {
            self.read_more();
        }
        while let Some(&(at, time)) = self.entries.front() {
            if at > offset {
                return None;
            }
            self.entries.pop_front();
            if at == offset {
                return Some(time);
            }
        }
        None
    }

    /// Reads what was appended since the last call.
    fn read_more(&mut self) {
        let Ok(mut file) = File::open(&self.path) else {
            return;
        };
        if file.seek(SeekFrom::Start(self.read)).is_err() {
            return;
        }
        let Ok(n) = file.read_to_end(&mut self.pending) else {
            return;
        };
        self.read += n as u64;
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let entry = std::str::from_utf8(&line).ok().and_then(|l| {
                let (offset, time) = l.trim_end().split_once(' ')?;
                Some((offset.parse().ok()?, Timestamp::parse(time).ok()?))
            });
            if let Some(entry) = entry {
                self.entries.push_back(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_pair_with_lines_by_offset() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("logs")).unwrap_or_else(|e| panic!("{e}"));
        let at = Timestamp::from_unix_millis;
        let mut writer = TimesWriter::open(dir.path(), "b-1", 10)
            .unwrap_or_else(|| panic!("times file not opened"));
        writer.record(4, at(1_000));
        writer.record(6, at(2_500));
        let mut reader = TimesReader::new(dir.path(), "b-1");
        // The first 10 bytes were logged before times were kept: no time, and no other's.
        assert_eq!(reader.time_of(0), None);
        assert_eq!(reader.time_of(10), Some(at(1_000)));
        // Appended while reading.
        writer.record(3, at(4_000));
        assert_eq!(reader.time_of(14), Some(at(2_500)));
        assert_eq!(reader.time_of(20), Some(at(4_000)));
        assert_eq!(reader.time_of(23), None);
        // No file at all: a log from before times were kept.
        assert_eq!(TimesReader::new(dir.path(), "old-1").time_of(0), None);
    }
}
