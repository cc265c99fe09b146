//! Showing values from untrusted input in messages: [`Excerpt`] quotes a value and cuts it
//! after [`MAX_SHOWN_CHARS`] characters, so a megabyte of garbage in a repository never becomes
//! a megabyte-long error line (in a build's error, `list-builds`, notifications, logs).

use std::fmt;

/// How many characters of a value a message shows before cutting it.
pub const MAX_SHOWN_CHARS: usize = 200;

/// A value for a message: quoted and escaped like `{:?}`, and when longer than
/// [`MAX_SHOWN_CHARS`] characters cut there, followed by `… N bytes more`.
///
/// ```
/// use osbs_core::text::Excerpt;
///
/// assert_eq!(Excerpt("yes").to_string(), r#""yes""#);
/// let long = "x".repeat(1000);
/// assert_eq!(
///     Excerpt(&long).to_string(),
///     format!("\"{}\"… 800 bytes more", "x".repeat(200))
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Excerpt<'a>(pub &'a str);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (shown, rest) = split(self.0);
        write!(f, "{shown:?}")?;
        if rest > 0 {
            write!(f, "… {rest} bytes more")?;
        }
        Ok(())
    }
}

/// `text` cut after [`MAX_SHOWN_CHARS`] characters, with `… N bytes more` when it was cut;
/// unquoted, for values that are shown as they are (e.g. inside backticks).
pub fn shorten(text: &str) -> String {
    match split(text) {
        (shown, 0) => shown.to_owned(),
        (shown, rest) => format!("{shown}… {rest} bytes more"),
    }
}

/// The first [`MAX_SHOWN_CHARS`] characters of `text` and how many bytes follow them.
fn split(text: &str) -> (&str, usize) {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((end, _)) => (&text[..end], text.len() - end),
        None => (text, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole_and_long_ones_cut() {
        assert_eq!(Excerpt("").to_string(), r#""""#);
        assert_eq!(Excerpt("a\nb").to_string(), r#""a\nb""#);
        let exact = "é".repeat(MAX_SHOWN_CHARS);
        assert_eq!(Excerpt(&exact).to_string(), format!("{exact:?}"));
        assert_eq!(shorten(&exact), exact);
        let long = format!("{exact}éé");
        assert_eq!(
            Excerpt(&long).to_string(),
            format!("{exact:?}… 4 bytes more")
        );
        assert_eq!(shorten(&long), format!("{exact}… 4 bytes more"));
        let huge = "v".repeat(10 * 1024 * 1024);
        assert!(Excerpt(&huge).to_string().len() < 300);
    }
}
