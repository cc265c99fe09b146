//! Reads what OSBS needs from a Dockerfile, without building it: the base image (the last
//! `FROM` of the final stage, with `ARG` defaults substituted; `None` for `FROM scratch`) and the
//! final image's labels (`name`, `version`, `release`, …). Also writes labels back
//! ([`with_labels`]) and pins the base image ([`with_base_image`]). Pure functions over text.

use std::collections::BTreeMap;

use thiserror::Error;

/// What is wrong with a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DockerfileError {
    /// There is no `FROM` instruction.
    #[error("the Dockerfile has no FROM instruction")]
    NoFrom,
    /// A `FROM` instruction names no image.
    #[error("line {line}: FROM names no image")]
    EmptyFrom {
        /// 1-based line of the instruction.
        line: usize,
    },
    /// An instruction other than `ARG` (or a comment) comes before the first `FROM`.
    #[error("line {line}: {} before the first FROM", crate::text::shorten(.instruction))]
    BeforeFrom {
        /// 1-based line of the instruction.
        line: usize,
        /// The instruction.
        instruction: String,
    },
    /// A quoted string is not closed.
    #[error("line {line}: unterminated quote")]
    UnterminatedQuote {
        /// 1-based line of the instruction.
        line: usize,
    },
    /// A `LABEL` instruction without a value.
    #[error("line {line}: LABEL `{}` has no value", crate::text::shorten(.key))]
    LabelWithoutValue {
        /// 1-based line of the instruction.
        line: usize,
        /// The key.
        key: String,
    },
    /// A `${...}` expression is not closed.
    #[error("line {line}: unterminated variable expansion")]
    BadSubstitution {
        /// 1-based line of the instruction.
        line: usize,
    },
}

/// What OSBS reads from a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The base image of the final stage with `ARG` defaults substituted; `None` for `scratch`.
    pub base_image: Option<String>,
    /// The line (1-based) of the `FROM` that names the base image.
    pub base_image_line: usize,
    /// The labels of the final image (inherited from earlier stages it is built `FROM`).
    pub labels: BTreeMap<String, String>,
    /// The escape character (`\` or a backtick from the `escape` parser directive).
    pub escape: char,
}

impl Dockerfile {
    /// The `version` label.
    pub fn version(&self) -> Option<&str> {
        self.labels.get("version").map(String::as_str)
    }

    /// The `release` label.
    pub fn release(&self) -> Option<&str> {
        self.labels.get("release").map(String::as_str)
    }

    /// The `name` label.
    pub fn name(&self) -> Option<&str> {
        self.labels.get("name").map(String::as_str)
    }
}

/// One instruction with its arguments and the line it starts on.
struct Instruction {
    line: usize,
    /// 1-based line the instruction ends on (after its continuation lines).
    end_line: usize,
    keyword: String,
    args: String,
}

/// The escape character chosen by a leading `# escape=` parser directive.
fn escape_directive(content: &str) -> char {
    for line in content.lines() {
        let Some(comment) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = comment.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") {
            return match value.trim() {
                "`" => '`',
                _ => '\\',
            };
        }
    }
    '\\'
}

/// Splits the text into instructions, joining continuation lines and dropping comments.
fn instructions(content: &str, escape: char) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<Instruction> = None;
    for (index, raw) in content.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || (current.is_none() && trimmed.is_empty()) {
            continue;
        }
        let continued = line.trim_end().ends_with(escape);
        let text = if continued {
            let t = line.trim_end();
            &t[..t.len() - escape.len_utf8()]
        } else {
            line
        };
        match current.as_mut() {
            Some(instruction) => {
                instruction.end_line = index + 1;
                instruction.args.push(' ');
                instruction.args.push_str(text.trim());
            }
            None => {
                let text = text.trim();
                let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
                current = Some(Instruction {
                    line: index + 1,
                    end_line: index + 1,
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                });
            }
        }
        if !continued && let Some(done) = current.take() {
            out.push(done);
        }
    }
    out.extend(current);
    out
}

/// Substitutes `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}` from `vars`;
/// unknown names become empty, as in Docker.
pub fn substitute(
    text: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
    line: usize,
) -> Result<String, DockerfileError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == escape {
            match chars.next() {
                Some('$') => out.push('$'),
                Some(next) => {
                    out.push(c);
                    out.push(next);
                }
                None => out.push(c),
            }
            continue;
        }
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut expr = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(ch) => expr.push(ch),
                    None => return Err(DockerfileError::BadSubstitution { line }),
                }
            }
            let (name, modifier) = match expr.find(':') {
                Some(i) => (&expr[..i], Some(&expr[i + 1..])),
                None => (expr.as_str(), None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            match modifier {
                None => out.push_str(value.map_or("", String::as_str)),
                Some(m) if m.starts_with('-') => match value {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&substitute(&m[1..], vars, escape, line)?),
                },
                Some(m) if m.starts_with('+') => {
                    if value.is_some() {
                        out.push_str(&substitute(&m[1..], vars, escape, line)?);
                    }
                }
                Some(_) => return Err(DockerfileError::BadSubstitution { line }),
            }
        } else {
            let mut name = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_ascii_alphanumeric() || ch == '_' {
                    name.push(ch);
                    chars.next();
                } else {
                    break;
                }
            }
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(vars.get(&name).map_or("", String::as_str));
            }
        }
    }
    Ok(out)
}

/// Splits instruction arguments into words, honouring quotes and the escape character. Quotes
/// are removed; an escaped character is kept literally.
fn words(args: &str, escape: char, line: usize) -> Result<Vec<String>, DockerfileError> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c == escape => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(DockerfileError::UnterminatedQuote { line });
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// `KEY=VALUE ...` pairs (or the legacy `KEY VALUE` form) of a `LABEL` or `ENV` instruction.
fn pairs(
    instruction: &Instruction,
    escape: char,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, DockerfileError> {
    let line = instruction.line;
    let args = substitute(&instruction.args, vars, escape, line)?;
    let words = words(&args, escape, line)?;
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    // The first word of `instruction.args` tells the form: legacy when it has no `=`.
    let raw_first = instruction.args.split_whitespace().next().unwrap_or("");
    if !raw_first.contains('=') {
        let value = words[1..].join(" ");
        if words.len() < 2 {
            return Err(DockerfileError::LabelWithoutValue {
                line,
                key: first.clone(),
            });
        }
        return Ok(vec![(first.clone(), value)]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(DockerfileError::LabelWithoutValue {
                line,
                key: w.clone(),
            }),
        })
        .collect()
}

struct Stage {
    name: Option<String>,
    base: Option<String>,
    /// The line of the `FROM` that names `base` (that of an earlier stage built `FROM`).
    base_line: usize,
    labels: BTreeMap<String, String>,
}

/// Applies an `ARG` before the first `FROM`: its defaults (or the build's argument of that
/// name) are what `FROM` lines substitute.
fn set_global_args(
    instruction: &Instruction,
    escape: char,
    global_args: &mut BTreeMap<String, String>,
    build_args: &BTreeMap<String, String>,
) -> Result<(), DockerfileError> {
    let line = instruction.line;
    for word in words(&instruction.args, escape, line)? {
        let (name, default) = match word.split_once('=') {
            Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
            None => (word, None),
        };
        if let Some(given) = build_args.get(&name) {
            global_args.insert(name, given.clone());
            continue;
        }
        let value = default.map(|d| substitute(&d, global_args, escape, line));
        global_args.insert(name, value.transpose()?.unwrap_or_default());
    }
    Ok(())
}

/// Parses a Dockerfile.
pub fn parse(content: &str) -> Result<Dockerfile, DockerfileError> {
    parse_with_args(content, &BTreeMap::new())
}

/// Parses a Dockerfile built with `build_args` (`docker build --build-arg`): a declared `ARG`
/// takes the argument's value instead of its default, in `FROM` lines and in the stages.
pub fn parse_with_args(
    content: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Dockerfile, DockerfileError> {
    let escape = escape_directive(content);
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for instruction in instructions(content, escape) {
        let line = instruction.line;
        match instruction.keyword.as_str() {
            "ARG" if stages.is_empty() => {
                set_global_args(&instruction, escape, &mut global_args, build_args)?;
            }
            "ARG" => {
                for word in words(&instruction.args, escape, line)? {
                    let (name, default) = match word.split_once('=') {
                        Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
                        None => (word.clone(), None),
                    };
                    let value = match (build_args.get(&name), default) {
                        (Some(given), _) => given.clone(),
                        (None, Some(d)) => substitute(&d, &vars, escape, line)?,
                        (None, None) => global_args.get(&name).cloned().unwrap_or_default(),
                    };
                    vars.insert(name, value);
                }
            }
            "FROM" => {
                let args = substitute(&instruction.args, &global_args, escape, line)?;
                let mut parts = args
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect::<Vec<_>>()
                    .into_iter();
                let image = parts.next().ok_or(DockerfileError::EmptyFrom { line })?;
                let name = match (parts.next(), parts.next()) {
                    (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                let earlier = stages
                    .iter()
                    .rev()
                    .find(|s| s.name.as_deref() == Some(&image.to_ascii_lowercase()));
                let (base, base_line, labels) = match earlier {
                    Some(stage) => (stage.base.clone(), stage.base_line, stage.labels.clone()),
                    None if image.eq_ignore_ascii_case("scratch") => (None, line, BTreeMap::new()),
                    None => (Some(image.to_owned()), line, BTreeMap::new()),
                };
                vars = BTreeMap::new();
                stages.push(Stage {
                    name,
                    base,
                    base_line,
                    labels,
                });
            }
            keyword => {
                let Some(stage) = stages.last_mut() else {
                    return Err(DockerfileError::BeforeFrom {
                        line,
                        instruction: keyword.to_owned(),
                    });
                };
                match keyword {
                    "LABEL" => stage.labels.extend(pairs(&instruction, escape, &vars)?),
                    "ENV" => {
                        let env = pairs(&instruction, escape, &vars)?;
                        vars.extend(env);
                    }
                    _ => {}
                }
            }
        }
    }
    let last = stages.pop().ok_or(DockerfileError::NoFrom)?;
    Ok(Dockerfile {
        base_image: last.base,
        base_image_line: last.base_line,
        labels: last.labels,
        escape,
    })
}

/// Quotes a label key or value for a `LABEL` instruction.
fn quote(s: &str, escape: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == escape || c == '$' {
            out.push(escape);
        }
        if c == '\n' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// `content` with its last instruction ended: when the last line that is neither blank nor a
/// comment ends with the escape character, the instruction continues into the end of the file,
/// and a line appended after it would join it (a `RUN` would run the `LABEL` as arguments).
/// The trailing escape characters of that line are dropped, and when that leaves the line
/// blank, those of the line before (it continued into this one) too. The instruction reads
/// the same (at the end of the file the continuation ended it anyway), except that literal
/// escape characters ending it (`\\` at the very end) go too.
fn close_last_instruction(content: &str, escape: char) -> String {
    let mut lines = Vec::new();
    let mut offset = 0;
    for chunk in content.split_inclusive('\n') {
        lines.push((offset, chunk.trim_end().len()));
        offset += chunk.len();
    }
    // Byte ranges to drop, last first.
    let mut cuts = Vec::new();
    for &(start, len) in lines.iter().rev() {
        let line = &content[start..start + len];
        let text = line.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let mut kept = line;
        while let Some(rest) = kept.trim_end().strip_suffix(escape) {
            kept = rest;
        }
        if kept.len() == line.len() {
            break;
        }
        cuts.push((start + kept.len(), start + len));
        if !kept.trim().is_empty() {
            break;
        }
    }
    let mut out = String::with_capacity(content.len());
    let mut from = 0;
    for &(cut, to) in cuts.iter().rev() {
        out.push_str(&content[from..cut]);
        from = to;
    }
    out.push_str(&content[from..]);
    out
}

/// The Dockerfile with one `LABEL` instruction appended that sets `labels` on the final image.
pub fn with_labels(content: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return content.to_owned();
    }
    let escape = escape_directive(content);
    let mut out = close_last_instruction(content, escape);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("LABEL");
    for (key, value) in labels {
        out.push(' ');
        out.push_str(&quote(key, escape));
        out.push('=');
        out.push_str(&quote(value, escape));
    }
    out.push('\n');
    out
}

/// Splits `FROM` arguments into words as they stand before substitution, cutting only at
/// whitespace that [`substitute`] copies through as it is (whitespace inside a `${...}` stays
/// in its word). So the words substituted one by one, each split at whitespace, are the words
/// of the substituted arguments.
fn raw_words(args: &str, escape: char) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut chars = args.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(&args[s..i]);
            }
            continue;
        }
        start.get_or_insert(i);
        if c == escape {
            // The escape keeps the next character, but whitespace still ends the word.
            if chars.peek().is_some_and(|&(_, next)| !next.is_whitespace()) {
                chars.next();
            }
        } else if c == '$' && chars.peek().is_some_and(|&(_, c)| c == '{') {
            for (_, c) in chars.by_ref() {
                if c == '}' {
                    break;
                }
            }
        }
    }
    if let Some(s) = start {
        words.push(&args[s..]);
    }
    words
}

/// The Dockerfile with the image of the `FROM` instruction starting on `line` replaced by
/// `image`, keeping its flags and stage name. The instruction becomes one line and its
/// continuation lines become empty, so every other instruction keeps its line number. `None`
/// when no `FROM` naming an image starts on `line`, and when the image is not a word of its
/// own before substitution (a variable that expands to the image and more words).
pub fn with_base_image(content: &str, line: usize, image: &str) -> Option<String> {
    with_base_image_and_args(content, line, image, &BTreeMap::new())
}

/// [`with_base_image`] for a Dockerfile built with `build_args` (the `FROM` line's variables
/// take their values as [`parse_with_args`] gives them).
pub fn with_base_image_and_args(
    content: &str,
    line: usize,
    image: &str,
    build_args: &BTreeMap<String, String>,
) -> Option<String> {
    let escape = escape_directive(content);
    let instructions = instructions(content, escape);
    let from = instructions
        .iter()
        .find(|i| i.line == line && i.keyword == "FROM")?;
    // The image is the first word after substitution that is not a flag: find the word it
    // comes from, substituting as `parse` does (with the ARGs before the first FROM).
    let mut global_args = BTreeMap::new();
    for instruction in instructions.iter().take_while(|i| i.keyword != "FROM") {
        if instruction.keyword == "ARG" {
            set_global_args(instruction, escape, &mut global_args, build_args).ok()?;
        }
    }
    let mut words = raw_words(&from.args, escape);
    let position = words.iter().position(|word| {
        substitute(word, &global_args, escape, line)
            .is_ok_and(|w| w.split_whitespace().any(|w| !w.starts_with("--")))
    })?;
    let substituted = substitute(words[position], &global_args, escape, line).ok()?;
    if substituted.split_whitespace().count() != 1 {
        return None;
    }
    words[position] = image;
    let mut out = String::with_capacity(content.len() + image.len());
    for (index, raw) in content.split_inclusive('\n').enumerate() {
        let number = index + 1;
        if number < from.line || number > from.end_line {
            out.push_str(raw);
            continue;
        }
        let ending = &raw[raw.trim_end_matches(['\n', '\r']).len()..];
        if number == from.line {
            out.push_str("FROM ");
            out.push_str(&words.join(" "));
        }
        out.push_str(ending);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(df: &Dockerfile) -> Vec<(&str, &str)> {
        df.labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn simple() {
        let df = parse(
            "# comment\nFROM 127.0.0.1:5000/osbs/busybox:latest\nLABEL name=\"osbs/small\" \\\n      version=1\nRUN true\n",
        )
        .unwrap();
        assert_eq!(
            df.base_image.as_deref(),
            Some("127.0.0.1:5000/osbs/busybox:latest")
        );
        assert_eq!(df.base_image_line, 2);
        assert_eq!(labels(&df), [("name", "osbs/small"), ("version", "1")]);
        assert_eq!(df.version(), Some("1"));
        assert_eq!(df.release(), None);
    }

    #[test]
    fn arg_defaults_are_substituted_in_from() {
        let df = parse(
            "ARG REG=127.0.0.1:5000\nARG IMG=${REG}/osbs/busybox\nARG TAG\nFROM $IMG:${TAG:-latest}\n",
        )
        .unwrap();
        assert_eq!(
            df.base_image.as_deref(),
            Some("127.0.0.1:5000/osbs/busybox:latest")
        );
    }

    #[test]
    fn final_stage_wins_and_inherits_from_named_stages() {
        let df = parse(
            "FROM golang:1 AS build\nLABEL a=1\nRUN make\nFROM alpine:3 as base\nLABEL version=2 release=3\nFROM base\nLABEL name=x\n",
        )
        .unwrap();
        assert_eq!(df.base_image.as_deref(), Some("alpine:3"));
        assert_eq!(df.base_image_line, 4);
        assert_eq!(
            labels(&df),
            [("name", "x"), ("release", "3"), ("version", "2")]
        );
    }

    /// Found by fuzzing: the line was that of the last external `FROM`, not of the one the
    /// final stage descends from, so the wrong `FROM` got pinned.
    #[test]
    fn base_image_line_follows_the_stage_chain() {
        let df = parse(
            "FROM golang:1 AS build
FROM alpine:3 AS tools
FROM build
",
        )
        .unwrap();
        assert_eq!(df.base_image.as_deref(), Some("golang:1"));
        assert_eq!(df.base_image_line, 1);
        let df = parse(
            "FROM scratch AS empty
FROM alpine:3 AS tools
FROM empty
",
        )
        .unwrap();
        assert_eq!((df.base_image, df.base_image_line), (None, 1));
    }

    #[test]
    fn scratch_has_no_base() {
        let df = parse("FROM scratch\nCOPY x /\n").unwrap();
        assert_eq!(df.base_image, None);
        let df = parse("FROM --platform=linux/amd64 SCRATCH AS s\n").unwrap();
        assert_eq!(df.base_image, None);
    }

    #[test]
    fn legacy_label_form_env_and_quotes() {
        let df = parse(
            "FROM a\nENV V=7\nLABEL version $V\nLABEL \"com.example.x\"='single quoted' name=\"a \\\"b\\\"\"\n",
        )
        .unwrap();
        assert_eq!(
            labels(&df),
            [
                ("com.example.x", "single quoted"),
                ("name", "a \"b\""),
                ("version", "7")
            ]
        );
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nFROM a\nLABEL version=1 `\n  release=2\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(labels(&df), [("release", "2"), ("version", "1")]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse("").unwrap_err(), DockerfileError::NoFrom);
        assert_eq!(
            parse("FROM\n").unwrap_err(),
            DockerfileError::EmptyFrom { line: 1 }
        );
        assert_eq!(
            parse("RUN x\nFROM a\n").unwrap_err().to_string(),
            "line 1: RUN before the first FROM"
        );
        assert_eq!(
            parse("FROM a\nLABEL name=\"x\n").unwrap_err(),
            DockerfileError::UnterminatedQuote { line: 2 }
        );
        assert_eq!(
            parse("FROM ${X\n").unwrap_err(),
            DockerfileError::BadSubstitution { line: 1 }
        );
    }

    #[test]
    fn build_args_override_arg_defaults() {
        let text =
            "ARG BASE=reg/base:1\nFROM $BASE\nARG VERSION=1.0\nLABEL name=a version=$VERSION\n";
        let plain = parse(text).unwrap();
        assert_eq!(plain.base_image.as_deref(), Some("reg/base:1"));
        assert_eq!(plain.version(), Some("1.0"));
        let args = BTreeMap::from([
            ("BASE".to_owned(), "reg/other:2".to_owned()),
            ("VERSION".to_owned(), "2.0".to_owned()),
            ("UNDECLARED".to_owned(), "x".to_owned()),
        ]);
        let given = parse_with_args(text, &args).unwrap();
        assert_eq!(given.base_image.as_deref(), Some("reg/other:2"));
        assert_eq!(given.version(), Some("2.0"));
        // An argument the Dockerfile does not declare changes nothing.
        let undeclared = parse_with_args("FROM reg/a$UNDECLARED\n", &args).unwrap();
        assert_eq!(undeclared.base_image.as_deref(), Some("reg/a"));
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let garbage = "G".repeat(100_000);
        let err = parse(&format!("{garbage}\nFROM a\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 1: GGG"), "{err}");
        assert!(
            err.contains("… 99800 bytes more before the first FROM"),
            "{err}"
        );
        let err = parse(&format!("FROM a\nLABEL {garbage}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 300, "{err}");
    }

    #[test]
    fn labels_round_trip() {
        let mut new = BTreeMap::new();
        new.insert("release".to_owned(), "2".to_owned());
        new.insert("vcs-url".to_owned(), "file:///a \"b\" $HOME".to_owned());
        let content = with_labels("FROM a\nLABEL version=1 release=1", &new);
        assert_eq!(
            content,
            "FROM a\nLABEL version=1 release=1\nLABEL \"release\"=\"2\" \"vcs-url\"=\"file:///a \\\"b\\\" \\$HOME\"\n"
        );
        let df = parse(&content).unwrap();
        assert_eq!(
            labels(&df),
            [
                ("release", "2"),
                ("vcs-url", "file:///a \"b\" $HOME"),
                ("version", "1")
            ]
        );
    }

    /// Found by fuzzing: a file ending in a continuation swallowed the appended `LABEL`.
    #[test]
    fn labels_after_a_trailing_continuation() {
        let mut new = BTreeMap::new();
        new.insert("release".to_owned(), "2".to_owned());
        for (content, expected) in [
            (
                "FROM a\nRUN make \\",
                "FROM a\nRUN make \nLABEL \"release\"=\"2\"\n",
            ),
            (
                "FROM a\nRUN make \\  \r\n# done\n\n",
                "FROM a\nRUN make   \r\n# done\n\nLABEL \"release\"=\"2\"\n",
            ),
            (
                "# escape=`\nFROM a\nLABEL x=1 `",
                "# escape=`\nFROM a\nLABEL x=1 \nLABEL \"release\"=\"2\"\n",
            ),
            // The last line is only an escape: the line before continued into it.
            (
                "FROM a\nRUN make \\\n\\",
                "FROM a\nRUN make \nLABEL \"release\"=\"2\"\n",
            ),
        ] {
            let labelled = with_labels(content, &new);
            assert_eq!(labelled, expected);
            assert_eq!(
                parse(&labelled).unwrap().release(),
                Some("2"),
                "{content:?}"
            );
        }
    }

    /// Found by fuzzing: a `${...}` with a space in it was cut in two, so the word after it
    /// was taken for the image and the pinned line no longer parsed.
    #[test]
    fn base_image_word_is_found_as_substitution_finds_it() {
        let content = "ARG F=--platform=x\nFROM --${A }b $F img AS s\nFROM s\n";
        let df = parse(content).unwrap();
        assert_eq!(df.base_image.as_deref(), Some("img"));
        let pinned = with_base_image(content, 2, "sha256:0123").unwrap();
        assert_eq!(
            pinned,
            "ARG F=--platform=x\nFROM --${A }b $F sha256:0123 AS s\nFROM s\n"
        );
        assert_eq!(
            parse(&pinned).unwrap().base_image.as_deref(),
            Some("sha256:0123")
        );
        // A variable that is the image and the stage name cannot be pinned in place.
        assert_eq!(with_base_image("ARG I=\"a AS b\"\nFROM $I\n", 2, "x"), None);
    }

    #[test]
    fn base_image_is_pinned_in_place() {
        let id = "sha256:0123";
        let table: &[(&str, usize, Option<&str>)] = &[
            ("FROM a\nRUN x\n", 1, Some("FROM sha256:0123\nRUN x\n")),
            (
                "ARG BASE=a\nFROM $BASE\nLABEL version=1",
                2,
                Some("ARG BASE=a\nFROM sha256:0123\nLABEL version=1"),
            ),
            (
                "FROM a AS build\nRUN x\nfrom --platform=$P \\\n  b \\\n  as final\nRUN y\r\n",
                3,
                Some(
                    "FROM a AS build\nRUN x\nFROM --platform=$P sha256:0123 as final\n\n\nRUN y\r\n",
                ),
            ),
            (
                "# escape=`\nFROM `\n# inside\n a\nRUN x\n",
                2,
                Some("# escape=`\nFROM sha256:0123\n\n\nRUN x\n"),
            ),
            ("FROM a\nRUN x\n", 2, None),
            ("FROM a\nRUN x\n", 9, None),
            ("FROM --platform=x\n", 1, None),
        ];
        for (content, line, want) in table {
            let got = with_base_image(content, *line, id);
            assert_eq!(got.as_deref(), *want, "{content:?} at line {line}");
            if let Some(got) = got {
                let before = parse(content).unwrap();
                let after = parse(&got).unwrap();
                assert_eq!(after.base_image.as_deref(), Some(id), "{got:?}");
                assert_eq!(after.base_image_line, before.base_image_line);
                assert_eq!(after.labels, before.labels);
            }
        }
    }
}
