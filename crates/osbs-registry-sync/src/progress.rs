//! Progress events, so a front end (the CLI's progress bars, a build log) can follow a copy
//! without the library knowing about terminals; human-readable sizes and rates; and, behind the
//! `cli` feature, [`LayerBars`]: the terminal bars that `osbs-registry-sync` and `osbs` (layer
//! pulls, pushes and syncs of a build) both draw.

use crate::summary::ImageResult;

/// How a blob reached the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Its bytes were streamed.
    Copied,
    /// It was already there.
    Skipped,
    /// It was linked from the source repository of the same registry.
    Mounted,
}

/// Receives progress events; every method has an empty default. Called from many tasks at
/// once, so implementations must be cheap and thread-safe.
pub trait Progress: Send + Sync {
    /// A blob of `size` bytes (`None` when unknown) starts streaming.
    fn blob_started(&self, digest: &str, size: Option<u64>) {
        let _ = (digest, size);
    }

    /// `bytes` more bytes of a blob went through.
    fn blob_advanced(&self, digest: &str, bytes: u64) {
        let _ = (digest, bytes);
    }

    /// A blob is done.
    fn blob_finished(&self, digest: &str, outcome: BlobOutcome) {
        let _ = (digest, outcome);
    }

    /// An image is done.
    fn image_finished(&self, image: &ImageResult) {
        let _ = image;
    }
}

/// A byte count for people, in binary units with one decimal: `512 B`, `12.3 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss above 2^53 bytes is far below the one decimal shown.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.95 would print as "1024.0": move up a unit before rounding does.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A transfer rate for people: `45.6 MiB/s` (`0 B/s` for a rate that is not a finite positive
/// number).
pub fn format_rate(bytes_per_second: f64) -> String {
    let bytes = if bytes_per_second.is_finite() && bytes_per_second > 0.0 {
        // Saturating: a rate above u64::MAX bytes per second is not a concern.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = bytes_per_second.round() as u64;
        whole
    } else {
        0
    };
    format!("{}/s", format_bytes(bytes))
}

/// `sha256:0123456789ab`, enough to tell blobs apart on screen; other ids are cut to 19
/// characters.
pub fn short_id(id: &str) -> &str {
    let end = match id.find(':') {
        Some(colon) => (colon + 13).min(id.len()),
        None => id.len().min(19),
    };
    // Ids are ASCII in practice; never cut inside a character.
    let mut end = end;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    &id[..end]
}

#[cfg(feature = "cli")]
pub use bars::LayerBars;

#[cfg(feature = "cli")]
mod bars {
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::Duration;

    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

    use super::{BlobOutcome, Progress, format_bytes, format_rate, short_id};

    /// Terminal progress bars, one per layer (blob) in flight, labelled with what happens to it
    /// (`pull`, `push`, `copy`) and showing `12.3 MiB/40.0 MiB  45.6 MiB/s`. Lines printed
    /// through [`LayerBars::println`] or inside [`LayerBars::suspend`] appear above the bars.
    ///
    /// Draws on stderr only when it is a terminal ([`LayerBars::stderr`]); callers decide
    /// whether to make one at all (`-q`, output not on a terminal).
    pub struct LayerBars {
        multi: MultiProgress,
        style: ProgressStyle,
        bars: Mutex<HashMap<String, ProgressBar>>,
    }

    impl std::fmt::Debug for LayerBars {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("LayerBars")
                .field("layers", &self.bars().len())
                .finish_non_exhaustive()
        }
    }

    impl LayerBars {
        /// Bars on stderr (drawn only if it is a terminal).
        pub fn stderr() -> Self {
            Self::with_target(ProgressDrawTarget::stderr())
        }

        /// Bars that are kept but never drawn (tests).
        pub fn hidden() -> Self {
            Self::with_target(ProgressDrawTarget::hidden())
        }

        /// Bars on any indicatif draw target (tests use a hidden or in-memory one).
        pub fn with_target(target: ProgressDrawTarget) -> Self {
            let style = ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30}] {done:>10}/{total:<10} {rate:>12} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "done",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&format_bytes(state.pos()));
                },
            )
            .with_key(
                "total",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = match state.len().filter(|len| *len > 0) {
                        Some(len) => w.write_str(&format_bytes(len)),
                        None => w.write_str("?"),
                    };
                },
            )
            .with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&format_rate(state.per_sec()));
                },
            )
            .progress_chars("=> ");
            Self {
                multi: MultiProgress::with_draw_target(target),
                style,
                bars: Mutex::new(HashMap::new()),
            }
        }

        fn bars(&self) -> MutexGuard<'_, HashMap<String, ProgressBar>> {
            self.bars.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// The bar of layer `id`, made (labelled `label`, `total` bytes long if known) if it
        /// has none yet.
        fn bar(&self, label: &str, id: &str, total: Option<u64>) -> ProgressBar {
            let mut bars = self.bars();
            if let Some(bar) = bars.get(id) {
                return bar.clone();
            }
            // Sized before it is first drawn, so a bar never shows `?` or full for a moment.
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::no_length(),
            };
            let bar = self.multi.add(bar);
            bar.set_style(self.style.clone());
            let mut prefix = String::new();
            let _ = write!(prefix, "{label:<4} {:<19}", short_id(id));
            bar.set_prefix(prefix);
            bar.enable_steady_tick(Duration::from_millis(200));
            bars.insert(id.to_owned(), bar.clone());
            bar
        }

        /// Layer `id` is at `done` of `total` bytes (`None`: not known yet).
        pub fn update(&self, label: &str, id: &str, done: u64, total: Option<u64>) {
            let bar = self.bar(label, id, total);
            if let Some(total) = total {
                bar.set_length(total.max(done));
            }
            bar.set_position(done);
        }

        /// Layer `id` moved `bytes` further.
        pub fn advance(&self, label: &str, id: &str, bytes: u64) {
            self.bar(label, id, None).inc(bytes);
        }

        /// Layer `id` is done: its bar goes away and `message`, if any, is printed above the
        /// others.
        pub fn finish(&self, id: &str, message: Option<&str>) {
            if let Some(bar) = self.bars().remove(id) {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
            if let Some(message) = message {
                self.println(message);
            }
        }

        /// Prints a line above the bars.
        pub fn println(&self, line: &str) {
            let _ = self.multi.println(line);
        }

        /// Runs `f` (which writes to the terminal) with the bars hidden, and draws them again.
        pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            self.multi.suspend(f)
        }

        /// How many layers have a bar now.
        pub fn active(&self) -> usize {
            self.bars().len()
        }

        /// Removes every bar.
        pub fn clear(&self) {
            for (_, bar) in self.bars().drain() {
                bar.finish_and_clear();
            }
            let _ = self.multi.clear();
        }
    }

    impl Progress for LayerBars {
        fn blob_started(&self, digest: &str, size: Option<u64>) {
            // A retried blob starts again with a fresh bar.
            self.finish(digest, None);
            self.update("copy", digest, 0, size);
        }

        fn blob_advanced(&self, digest: &str, bytes: u64) {
            self.advance("copy", digest, bytes);
        }

        fn blob_finished(&self, digest: &str, outcome: BlobOutcome) {
            let what = match outcome {
                BlobOutcome::Copied => "copied",
                BlobOutcome::Skipped => "already present",
                BlobOutcome::Mounted => "mounted",
            };
            self.finish(digest, Some(&format!("blob {} {what}", short_id(digest))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (12_897_485, "12.3 MiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(format_bytes(bytes), text, "{bytes} bytes");
        }
    }

    #[test]
    fn rates_read_like_people_write_them() {
        assert_eq!(format_rate(47_815_065.6), "45.6 MiB/s");
        assert_eq!(format_rate(0.0), "0 B/s");
        assert_eq!(format_rate(f64::NAN), "0 B/s");
        assert_eq!(format_rate(-3.0), "0 B/s");
        assert_eq!(format_rate(f64::INFINITY), "0 B/s");
    }

    #[test]
    fn short_ids() {
        assert_eq!(
            short_id("sha256:0123456789abcdef0123456789abcdef"),
            "sha256:0123456789ab"
        );
        assert_eq!(short_id("a1b2c3d4e5f6"), "a1b2c3d4e5f6");
        assert_eq!(
            short_id("0123456789abcdef0123456789"),
            "0123456789abcdef012"
        );
        assert_eq!(short_id("sha256:ab"), "sha256:ab");
    }

    #[cfg(feature = "cli")]
    #[test]
    fn bars_come_and_go_with_their_layers() {
        let bars = LayerBars::hidden();
        bars.update("push", "sha256:aaa", 10, Some(100));
        bars.update("push", "sha256:aaa", 50, Some(100));
        bars.update("pull", "bbb", 0, None);
        assert_eq!(bars.active(), 2);
        bars.finish("sha256:aaa", Some("pushed"));
        assert_eq!(bars.active(), 1);
        Progress::blob_started(&bars, "sha256:ccc", Some(5));
        Progress::blob_advanced(&bars, "sha256:ccc", 5);
        Progress::blob_finished(&bars, "sha256:ccc", BlobOutcome::Copied);
        assert_eq!(bars.active(), 1);
        bars.clear();
        assert_eq!(bars.active(), 0);
    }
}
