//! Build logs on a terminal: the reactor's layer progress lines (`osbs_reactor::progress`)
//! become progress bars (osbs-registry-sync's `LayerBars`, the ones `osbs-registry-sync`
//! draws) while `osbs build` or `osbs build-logs -f` follows a log; everywhere else (a pipe, a
//! file, `-q`, a log read after the fact) they are left out. No progress line is ever printed
//! as text.

use std::io::{IsTerminal as _, Write};

use osbs_core::terminal::safe_text;
use osbs_reactor::progress::{LayerEvent, State, is_progress_line};
use osbs_registry_sync::LayerBars;

/// Which of the standard streams are terminals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminals {
    /// Standard output is a terminal.
    pub stdout: bool,
    /// Standard error is a terminal.
    pub stderr: bool,
}

impl Terminals {
    /// The process's standard streams.
    pub fn detect() -> Self {
        Terminals {
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        }
    }
}

/// Shows a followed build log: text lines as they are (through `safe_text`), progress lines
/// as bars on stderr, or not at all.
#[derive(Debug)]
pub struct LogView {
    bars: Option<LayerBars>,
}

impl LogView {
    /// A view that draws bars on stderr when `bars` (the caller checked that the log's stream
    /// and stderr are terminals and `-q` was not given).
    pub fn new(bars: bool) -> Self {
        LogView {
            bars: bars.then(LayerBars::stderr),
        }
    }

    /// A view over given bars (tests draw them on a hidden target).
    pub fn with_bars(bars: LayerBars) -> Self {
        LogView { bars: Some(bars) }
    }

    /// Shows one log line on `out`: a progress line moves a bar (or is dropped without bars),
    /// any other line is written above the bars.
    ///
    /// # Errors
    ///
    /// Writing to `out` failed.
    pub fn line(&self, out: &mut dyn Write, line: &str) -> std::io::Result<()> {
        if is_progress_line(line) {
            if let (Some(bars), Some(event)) = (&self.bars, LayerEvent::parse(line)) {
                show(bars, &event);
            }
            return Ok(());
        }
        let text = safe_text(line);
        match &self.bars {
            Some(bars) => bars.suspend(|| writeln!(out, "{text}")),
            None => writeln!(out, "{text}"),
        }
    }

    /// How many layers have a bar now.
    pub fn active(&self) -> usize {
        self.bars.as_ref().map_or(0, LayerBars::active)
    }

    /// Removes the bars (the log ended).
    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            bars.clear();
        }
    }
}

impl Drop for LogView {
    fn drop(&mut self) {
        self.finish();
    }
}

fn show(bars: &LayerBars, event: &LayerEvent) {
    let label = event.kind.as_str();
    match event.state {
        State::Active => bars.update(label, &event.id, event.done, event.total),
        State::Done | State::Exists => bars.finish(&event.id, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_become_bars_and_never_text() {
        let view = LogView::with_bars(LayerBars::hidden());
        let mut out = Vec::new();
        for line in [
            "pushing 127.0.0.1:5000/app:1",
            "@osbs-progress push layer-10 0/10",
            "@osbs-progress pull abc 1/?",
            "@osbs-progress push layer-10 5/10",
            "@osbs-progress push bad line",
            "@osbs-progress push layer-10 10/10 done",
            "pushed \u{1b}[31mred",
        ] {
            view.line(&mut out, line).expect("written");
        }
        assert_eq!(view.active(), 1, "the pull is still in flight");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "pushing 127.0.0.1:5000/app:1\npushed \\e[31mred\n"
        );
        view.finish();
        assert_eq!(view.active(), 0);
    }

    #[test]
    fn without_bars_progress_lines_are_dropped() {
        let view = LogView::new(false);
        let mut out = Vec::new();
        view.line(&mut out, "@osbs-progress sync sha256:aa 0/10")
            .expect("written");
        view.line(&mut out, "synced").expect("written");
        assert_eq!(out, b"synced\n");
    }
}
