//! Untrusted text made safe to show on a terminal ([`safe_line`], [`safe_text`]), and ANSI
//! escape sequences removed from text that is stored ([`strip_ansi`]).
//!
//! Build logs, Dockerfile words, label values, repository names and error messages come from
//! repositories and processes the service does not control. Printed raw, an `ESC ] 0;…BEL`
//! retitles the terminal, `ESC [ 2J` clears it, a `\r` hides what came before it on the line.
//! The renderers here make every such character visible instead:
//!
//! | character                                         | shown as            |
//! |---------------------------------------------------|---------------------|
//! | ESC (U+001B)                                      | `\e`                |
//! | `\n`, `\t` (only by [`safe_line`])                | `\n`, `\t`          |
//! | `\r`                                              | `\r`                |
//! | other C0 controls (U+0000–U+001F)                 | `^@` … `^_`         |
//! | DEL (U+007F)                                      | `^?`                |
//! | C1 controls (U+0080–U+009F)                       | `\x80` … `\x9f`     |
//! | bidi overrides, isolates (U+202A–E, U+2066–9)     | `\u{202e}` …        |
//!
//! and each line is cut after [`MAX_LINE_BYTES`] bytes of output with a `… N bytes more`
//! tail. A backslash is left as it is: the escapes are for reading, not for parsing back.
//! (Module `text` is the other half: short quoted excerpts of values inside messages.)
//!
//! JSON output needs none of this: serde escapes every control character already.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most bytes of one line [`safe_line`] and [`safe_text`] show; the rest of the line is
/// replaced by `… N bytes more` (N counts the input's bytes left out).
pub const MAX_LINE_BYTES: usize = 4096;

/// `text` as one line for a terminal: every control character escaped, `\n` and `\t`
/// included (a table cell, a name, a one-line message), cut after [`MAX_LINE_BYTES`].
///
/// ```
/// use osbs_core::terminal::safe_line;
///
/// assert_eq!(safe_line("a\u{1b}]0;pwned\u{7}\nb"), "a\\e]0;pwned^G\\nb");
/// ```
pub fn safe_line(text: &str) -> Cow<'_, str> {
    render(text, false)
}

/// `text` for a terminal, possibly several lines: `\n` and `\t` are kept, every other control
/// character is escaped, and each line is cut after [`MAX_LINE_BYTES`].
///
/// ```
/// use osbs_core::terminal::safe_text;
///
/// assert_eq!(safe_text("\u{1b}[31mred\u{1b}[0m\n\tok"), "\\e[31mred\\e[0m\n\tok");
/// ```
pub fn safe_text(text: &str) -> Cow<'_, str> {
    render(text, true)
}

/// Whether `c` is shown as an escape.
fn needs_escape(c: char, multiline: bool) -> bool {
    match c {
        '\n' | '\t' => !multiline,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// Appends the visible form of `c` (one that [`needs_escape`]) to `out`.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\u{1b}' => out.push_str("\\e"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\u{7f}' => out.push_str("^?"),
        '\u{0}'..='\u{1f}' => {
            // Caret notation: U+0007 is ^G, U+001F is ^_.
            out.push('^');
            out.push(char::from_u32(u32::from(c) + 0x40).unwrap_or('?'));
        }
        '\u{80}'..='\u{9f}' => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// The length in bytes of `c` as [`render`] writes it.
fn shown_len(c: char, multiline: bool) -> usize {
    if !needs_escape(c, multiline) {
        return c.len_utf8();
    }
    let mut s = String::new();
    push_escaped(&mut s, c);
    s.len()
}

fn render(text: &str, multiline: bool) -> Cow<'_, str> {
    let clean = !text.chars().any(|c| needs_escape(c, multiline))
        && if multiline {
            text.split('\n').all(|l| l.len() <= MAX_LINE_BYTES)
        } else {
            text.len() <= MAX_LINE_BYTES
        };
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len().min(MAX_LINE_BYTES) + 16);
    // Bytes of output on the current line, and bytes of input left out of it.
    let mut shown = 0usize;
    let mut left_out = 0usize;
    let end_line = |out: &mut String, left_out: &mut usize| {
        if *left_out > 0 {
            let _ = write!(out, "… {left_out} bytes more");
            *left_out = 0;
        }
    };
    for c in text.chars() {
        if multiline && c == '\n' {
            end_line(&mut out, &mut left_out);
            out.push('\n');
            shown = 0;
            continue;
        }
        if left_out > 0 {
            left_out += c.len_utf8();
            continue;
        }
        let len = shown_len(c, multiline);
        if shown + len > MAX_LINE_BYTES {
            left_out = c.len_utf8();
            continue;
        }
        shown += len;
        if needs_escape(c, multiline) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    end_line(&mut out, &mut left_out);
    Cow::Owned(out)
}

/// `text` without ANSI escape sequences, for logs that are stored: CSI sequences (`ESC [ … m`,
/// colours and cursor moves), OSC/DCS/SOS/PM/APC strings (`ESC ] 0;title BEL`, ended by BEL,
/// `ESC \` or the end of the line), the short `ESC` sequences (`ESC ( B`, `ESC 7`, `ESC c`)
/// and their single-character C1 forms (U+009B CSI, U+009D OSC, …). No ESC character is left,
/// even a stray one. Other control characters stay: [`safe_text`] shows them when the text is
/// printed.
///
/// ```
/// use osbs_core::terminal::strip_ansi;
///
/// assert_eq!(strip_ansi("\u{1b}[31mred\u{1b}[0m \u{1b}]0;pwned\u{7}ok"), "red ok");
/// ```
pub fn strip_ansi(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c == '\u{1b}' || ('\u{80}'..='\u{9f}').contains(&c))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let kind = match c {
            '\u{1b}' => match chars.peek().copied() {
                Some('[') => {
                    chars.next();
                    Sequence::Csi
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    chars.next();
                    Sequence::String
                }
                Some(' '..='/') => Sequence::Short,
                Some('0'..='~') => {
                    // A two-character sequence: ESC and its final character.
                    chars.next();
                    continue;
                }
                // A stray ESC (before a control character or at the end): dropped.
                _ => continue,
            },
            '\u{9b}' => Sequence::Csi,
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => Sequence::String,
            c => {
                out.push(c);
                continue;
            }
        };
        match kind {
            Sequence::Csi => {
                // Parameter and intermediate bytes, then one final byte.
                while chars.next_if(|c| (' '..='?').contains(c)).is_some() {}
                chars.next_if(|c| ('@'..='~').contains(c));
            }
            Sequence::String => {
                while let Some(&next) = chars.peek() {
                    match next {
                        '\u{7}' | '\u{9c}' => {
                            chars.next();
                            break;
                        }
                        '\u{1b}' => {
                            chars.next();
                            chars.next_if_eq(&'\\');
                            break;
                        }
                        '\n' => break,
                        _ => {
                            chars.next();
                        }
                    }
                }
            }
            Sequence::Short => {
                while chars.next_if(|c| (' '..='/').contains(c)).is_some() {}
                chars.next_if(|c| ('0'..='~').contains(c));
            }
        }
    }
    Cow::Owned(out)
}

/// The kinds of escape sequence [`strip_ansi`] removes.
enum Sequence {
    /// Control Sequence Introducer: parameters, intermediates, a final byte.
    Csi,
    /// A control string (OSC, DCS, SOS, PM, APC) up to its terminator.
    String,
    /// `ESC`, intermediate bytes, a final byte (character set designations and the like).
    Short,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        for text in [
            "",
            "plain",
            "tab\tand\nnewline",
            "ünïcödé ✓ ├──",
            "C:\\path\\e",
        ] {
            assert!(matches!(safe_text(text), Cow::Borrowed(_)), "{text:?}");
            assert!(matches!(strip_ansi(text), Cow::Borrowed(_)), "{text:?}");
        }
        assert!(matches!(safe_line("a b"), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_are_shown_visibly() {
        // input, safe_line, safe_text
        let cases: &[(&str, &str, &str)] = &[
            ("\u{1b}]0;pwned\u{7}", "\\e]0;pwned^G", "\\e]0;pwned^G"),
            (
                "\u{1b}[31mred\u{1b}[0m",
                "\\e[31mred\\e[0m",
                "\\e[31mred\\e[0m",
            ),
            ("a\nb", "a\\nb", "a\nb"),
            ("a\tb", "a\\tb", "a\tb"),
            ("rm -rf /\rls", "rm -rf /\\rls", "rm -rf /\\rls"),
            ("nul\0", "nul^@", "nul^@"),
            ("bs\u{8}", "bs^H", "bs^H"),
            ("us\u{1f}", "us^_", "us^_"),
            ("del\u{7f}", "del^?", "del^?"),
            ("csi\u{9b}2J", "csi\\x9b2J", "csi\\x9b2J"),
            ("c1\u{80}\u{9f}", "c1\\x80\\x9f", "c1\\x80\\x9f"),
            ("abc\u{202e}cba", "abc\\u{202e}cba", "abc\\u{202e}cba"),
            (
                "iso\u{2066}x\u{2069}",
                "iso\\u{2066}x\\u{2069}",
                "iso\\u{2066}x\\u{2069}",
            ),
            ("ok é ✓", "ok é ✓", "ok é ✓"),
            ("nbsp\u{a0}", "nbsp\u{a0}", "nbsp\u{a0}"),
            ("a\r\n", "a\\r\\n", "a\\r\n"),
        ];
        for (input, line, text) in cases {
            assert_eq!(safe_line(input), *line, "line of {input:?}");
            assert_eq!(safe_text(input), *text, "text of {input:?}");
        }
    }

    #[test]
    fn no_control_character_survives() {
        let all: String = (0u32..0x2100).filter_map(char::from_u32).collect();
        let shown = safe_line(&all);
        assert!(!shown.chars().any(|c| needs_escape(c, false)), "{shown:?}");
        let shown = safe_text(&all);
        assert!(
            shown
                .chars()
                .all(|c| matches!(c, '\n' | '\t') || !needs_escape(c, true))
        );
    }

    #[test]
    fn long_lines_are_cut_with_a_count() {
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let shown = safe_line(&long);
        assert_eq!(
            shown,
            format!("{}… 10 bytes more", "x".repeat(MAX_LINE_BYTES))
        );
        // Each line of a multi-line text on its own.
        let text = format!("short\n{long}\nend");
        assert_eq!(
            safe_text(&text),
            format!("short\n{}… 10 bytes more\nend", "x".repeat(MAX_LINE_BYTES))
        );
        // The cut counts output bytes, escapes included, and never splits a character.
        let escapes = "\u{1b}".repeat(MAX_LINE_BYTES);
        assert_eq!(
            safe_line(&escapes),
            format!(
                "{}… {} bytes more",
                "\\e".repeat(MAX_LINE_BYTES / 2),
                MAX_LINE_BYTES / 2
            )
        );
        let wide = "é".repeat(MAX_LINE_BYTES);
        let shown = safe_line(&wide);
        assert!(shown.starts_with(&"é".repeat(MAX_LINE_BYTES / 2)));
        assert!(shown.ends_with(&format!("é… {MAX_LINE_BYTES} bytes more")));
        let exact = "y".repeat(MAX_LINE_BYTES);
        assert_eq!(safe_line(&exact), exact);
        // A megabyte line shows 4 KiB.
        let huge = "z".repeat(1 << 20);
        assert!(safe_text(&huge).len() < MAX_LINE_BYTES + 32);
    }

    #[test]
    fn ansi_sequences_are_stripped() {
        let cases: &[(&str, &str)] = &[
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}[1;32;40mbold\u{1b}[m", "bold"),
            ("\u{1b}[2J\u{1b}[Hhome", "home"),
            ("\u{1b}[?25lhidden cursor\u{1b}[?25h", "hidden cursor"),
            ("title \u{1b}]0;pwned\u{7}after", "title after"),
            (
                "osc st \u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\",
                "osc st link",
            ),
            ("unterminated \u{1b}]0;title", "unterminated "),
            ("dcs \u{1b}Pq#0;2\u{1b}\\done", "dcs done"),
            ("charset \u{1b}(Bascii", "charset ascii"),
            ("save \u{1b}7restore\u{1b}8", "save restore"),
            ("reset \u{1b}c", "reset "),
            ("c1 csi \u{9b}31mred", "c1 csi red"),
            ("c1 osc \u{9d}0;t\u{9c}x", "c1 osc x"),
            ("stray at end \u{1b}", "stray at end "),
            ("stray before nl \u{1b}\nnext", "stray before nl \nnext"),
            ("double \u{1b}\u{1b}[0mx", "double x"),
            ("keeps \r and \u{7} alone", "keeps \r and \u{7} alone"),
            (
                "Step 2/3 : LABEL evil=\"\u{1b}]0;pwned\u{7}\"",
                "Step 2/3 : LABEL evil=\"\"",
            ),
        ];
        for (input, want) in cases {
            let got = strip_ansi(input);
            assert_eq!(got, *want, "{input:?}");
            assert!(!got.contains('\u{1b}'), "{input:?}");
        }
    }

    #[test]
    fn no_esc_survives_stripping() {
        // Every ESC followed by every ASCII character, and one at the end.
        for b in 0u8..0x80 {
            let input = format!("a\u{1b}{}b\u{1b}", char::from(b));
            assert!(!strip_ansi(&input).contains('\u{1b}'), "{input:?}");
        }
    }
}
