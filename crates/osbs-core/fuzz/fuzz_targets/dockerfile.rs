//! Fuzz target: the Dockerfile reader never panics, and its writers round-trip: the labels
//! `with_labels` appends are what `parse` reads back (on top of the file's own), and the image
//! `with_base_image` pins is the base image `parse` reads back, on the same line.
//!
//! Input: the Dockerfile, then optionally NUL-separated label keys and values
//! (`Dockerfile\0key\0value\0key\0value…`).

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use osbs_core::dockerfile::{self, Dockerfile};

/// A digest reference no Dockerfile names as a stage.
const PINNED: &str = "registry.example:5000/pinned/base@sha256:\
                      0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Keys the label writer promises to round-trip: no whitespace (the `LABEL` form is told by the
/// first raw word), no `=` (the key/value separator), no control characters.
fn plain_key(key: &str) -> bool {
    !key.is_empty()
        && !key
            .chars()
            .any(|c| c.is_whitespace() || c == '=' || c.is_control())
}

fn plain_value(value: &str) -> bool {
    !value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Whether `with_labels` drops a literal escape character to end the last instruction: the
/// last line that is neither blank nor a comment ends in two escape characters, or in one and
/// is blank without it while the line before (which continues into it) ends in two.
fn ends_in_literal_escape(content: &str, escape: char) -> bool {
    let meaningful = content
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    for line in meaningful.collect::<Vec<_>>().into_iter().rev() {
        let Some(rest) = line.strip_suffix(escape) else {
            return false;
        };
        let rest = rest.trim_end();
        if rest.ends_with(escape) {
            return true;
        }
        if !rest.is_empty() {
            return false;
        }
    }
    false
}

fuzz_target!(|input: &str| {
    let mut parts = input.split('\0');
    let content = parts.next().unwrap_or_default();
    let mut labels = BTreeMap::new();
    while let (Some(key), Some(value)) = (parts.next(), parts.next()) {
        labels.insert(key.to_owned(), value.to_owned());
    }

    let parsed = dockerfile::parse(content);
    if let Err(err) = &parsed {
        let _ = err.to_string();
    }

    // Any line, any image: no panic.
    for line in 0..4 {
        let _ = dockerfile::with_base_image(content, line, "x");
    }

    let labelled = dockerfile::with_labels(content, &labels);
    let reparsed = dockerfile::parse(&labelled);
    if let Ok(original) = &parsed
        && labels.iter().all(|(k, v)| plain_key(k) && plain_value(v))
        && !ends_in_literal_escape(content, original.escape)
    {
        let Ok(reparsed) = &reparsed else {
            panic!("with_labels broke {content:?} with {labels:?}: {reparsed:?}");
        };
        let mut expected = original.labels.clone();
        expected.extend(
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.replace('\n', " "))),
        );
        assert_eq!(
            reparsed,
            &Dockerfile {
                labels: expected,
                ..original.clone()
            },
            "with_labels of {content:?} with {labels:?}"
        );
    }

    if let Ok(original) = &parsed
        && original.base_image.is_some()
    {
        let pinned = dockerfile::with_base_image(content, original.base_image_line, PINNED);
        // Only a variable standing for the image and more words makes it give up.
        let Some(pinned) = pinned else {
            assert!(
                content.contains('$'),
                "with_base_image found no FROM on line {}",
                original.base_image_line
            );
            return;
        };
        let reparsed = dockerfile::parse(&pinned);
        assert_eq!(
            reparsed,
            Ok(Dockerfile {
                base_image: Some(PINNED.to_owned()),
                ..original.clone()
            }),
            "with_base_image of {content:?} gave {pinned:?}"
        );
    }
});
