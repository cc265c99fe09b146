//! The INI reader: splits text into sections and options exactly as Python's configparser does.
//!
//! This module knows nothing about `[autorebuild]`; it mirrors `RawConfigParser._read` from
//! CPython with the default settings (`strict=True`, `allow_no_value=False`,
//! `empty_lines_in_values=True`, delimiters `=` and `:`, full-line comment prefixes `#` and `;`,
//! no inline comments, `default_section="DEFAULT"`). Where Python would collect several
//! parsing errors and raise them together at the end, this reader stops at the first one.
//!
//! It is public so that other OSBS configuration files in the same syntax (the client's
//! `osbs.conf`) are read by exactly the same rules.

use std::collections::HashMap;

use crate::error::ParseErrorKind;

/// The name of configparser's special section whose keys apply to every other section.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// One `key = value` option after multi-line values have been joined.
#[derive(Debug)]
pub struct Entry {
    /// The key, lowercased as configparser's `optionxform` does.
    pub key: String,
    /// The value: its lines joined with `\n`, trailing whitespace removed once the file is read.
    pub value: String,
    /// The 1-based line the key is on.
    pub line: usize,
}

/// A section header and the options under it.
#[derive(Debug)]
pub struct Section {
    /// The name between the brackets, verbatim (case and inner whitespace kept).
    pub name: String,
    /// The 1-based line of the header.
    pub line: usize,
    /// Text after the closing bracket, which configparser silently ignores.
    pub ignored: Option<String>,
    /// The options, in file order.
    pub entries: Vec<Entry>,
}

/// A whole file as configparser sees it.
#[derive(Debug, Default)]
pub struct Ini {
    /// Every `[DEFAULT]` header (configparser allows it more than once and merges them).
    pub default_headers: Vec<Section>,
    /// The options of all `[DEFAULT]` sections, in file order.
    pub defaults: Vec<Entry>,
    /// The ordinary sections, in file order.
    pub sections: Vec<Section>,
}

/// A failure while reading: the 1-based line and what is wrong there.
pub type Failure = (usize, ParseErrorKind);

/// Where new options go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// Before the first section header.
    Nowhere,
    /// Inside a `[DEFAULT]` section.
    Defaults,
    /// Inside `sections[i]`.
    Section(usize),
}

/// Reads `text` (without a byte order mark) into sections and options.
pub fn parse(text: &str) -> Result<Ini, Failure> {
    let mut ini = Ini::default();
    let mut seen_sections: HashMap<String, usize> = HashMap::new();
    let mut seen_keys: HashMap<(String, String), usize> = HashMap::new();
    let mut cursor = Cursor::Nowhere;
    // Whether the cursor's last option may still take continuation lines (`optname` in Python).
    let mut has_option = false;
    let mut indent_level = 0usize;

    for (index, line) in lines(text).enumerate() {
        let lineno = index + 1;
        let value = py_strip(line);
        if value.starts_with('#') || value.starts_with(';') {
            // A full-line comment, even when indented; it never becomes part of a value.
            continue;
        }
        if value.is_empty() {
            // Blank lines belong to the value being read; trailing ones are dropped at the end.
            if has_option && let Some(entry) = current(&mut ini, cursor) {
                entry.value.push('\n');
            }
            continue;
        }
        let indent = line.chars().take_while(|&c| is_py_space(c)).count();
        if has_option && indent > indent_level {
            if let Some(entry) = current(&mut ini, cursor) {
                entry.value.push('\n');
                entry.value.push_str(value);
            }
            continue;
        }
        indent_level = indent;

        if let Some((name, rest)) = section_header(value) {
            let ignored = (!rest.is_empty()).then(|| py_strip(rest).to_owned());
            let section = Section {
                name: name.to_owned(),
                line: lineno,
                ignored,
                entries: Vec::new(),
            };
            if name == DEFAULT_SECTION {
                ini.default_headers.push(section);
                cursor = Cursor::Defaults;
            } else {
                if let Some(&first_line) = seen_sections.get(name) {
                    return Err((
                        lineno,
                        ParseErrorKind::DuplicateSection {
                            section: name.to_owned(),
                            first_line,
                        },
                    ));
                }
                seen_sections.insert(name.to_owned(), lineno);
                ini.sections.push(section);
                cursor = Cursor::Section(ini.sections.len() - 1);
            }
            has_option = false;
            continue;
        }

        let section_name = match cursor {
            Cursor::Nowhere => {
                return Err((
                    lineno,
                    ParseErrorKind::MissingSectionHeader {
                        text: value.to_owned(),
                    },
                ));
            }
            Cursor::Defaults => DEFAULT_SECTION,
            Cursor::Section(i) => ini.sections.get(i).map_or("", |s| s.name.as_str()),
        };

        let Some(delimiter) = value.find(['=', ':']) else {
            let kind = if value.starts_with('[') {
                ParseErrorKind::MalformedSectionHeader {
                    text: value.to_owned(),
                }
            } else {
                ParseErrorKind::MissingDelimiter {
                    text: value.to_owned(),
                }
            };
            return Err((lineno, kind));
        };
        // Both delimiters are one byte long, so these slices are on character boundaries.
        let key = py_strip(&value[..delimiter]);
        if key.is_empty() {
            return Err((
                lineno,
                ParseErrorKind::MissingKey {
                    text: value.to_owned(),
                },
            ));
        }
        let key = key.to_lowercase();
        let option_value = py_strip(&value[delimiter + 1..]);

        let id = (section_name.to_owned(), key.clone());
        if let Some(&first_line) = seen_keys.get(&id) {
            return Err((
                lineno,
                ParseErrorKind::DuplicateKey {
                    section: id.0,
                    key,
                    first_line,
                },
            ));
        }
        seen_keys.insert(id, lineno);

        let entry = Entry {
            key,
            value: option_value.to_owned(),
            line: lineno,
        };
        match cursor {
            Cursor::Defaults => ini.defaults.push(entry),
            Cursor::Section(i) => {
                if let Some(section) = ini.sections.get_mut(i) {
                    section.entries.push(entry);
                }
            }
            Cursor::Nowhere => {}
        }
        has_option = true;
    }

    // `_join_multiline_values`: `'\n'.join(lines).rstrip()`.
    for entry in ini
        .defaults
        .iter_mut()
        .chain(ini.sections.iter_mut().flat_map(|s| s.entries.iter_mut()))
    {
        let end = entry.value.trim_end_matches(is_py_space).len();
        entry.value.truncate(end);
    }
    Ok(ini)
}

/// The option that continuation lines and blank lines currently extend.
fn current(ini: &mut Ini, cursor: Cursor) -> Option<&mut Entry> {
    match cursor {
        Cursor::Nowhere => None,
        Cursor::Defaults => ini.defaults.last_mut(),
        Cursor::Section(i) => ini.sections.get_mut(i)?.entries.last_mut(),
    }
}

/// Matches configparser's `SECTCRE` (`\[(?P<header>.+)\]`, anchored at the start only).
///
/// Returns the name, which runs to the *last* `]`, and whatever follows that bracket.
fn section_header(value: &str) -> Option<(&str, &str)> {
    let inner = value.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    if close == 0 {
        return None;
    }
    Some((&inner[..close], &inner[close + 1..]))
}

/// Python's `str.isspace`: Unicode white space plus the four ASCII separators U+001C..U+001F.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` without arguments.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Splits text into lines the way Python reads a file in text mode (universal newlines):
/// `\r\n`, `\r` and `\n` each end a line; the terminators are not part of the lines.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\r', '\n']) {
            None => Some(std::mem::take(&mut rest)),
            Some(end) => {
                let line = &rest[..end];
                let terminator = if rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[end + terminator..];
                Some(line)
            }
        }
    })
}
