//! How `osbs` prints what it read: text for people (tables, `key: value` lines) and the stable
//! JSON of docs/json-output.md for programs. Pure functions from models to strings, so every
//! format is pinned by snapshots.
//!
//! Every value in text output goes through `osbs_core::terminal::safe_line` (names, causes,
//! errors and image names come from repositories and registries): a control character in one
//! is shown escaped and cannot break a table or reach the terminal. JSON is exact.

use std::fmt::Write as _;

use osbs_core::model::{Build, BuildConfig, ImageStream};
use osbs_core::terminal::safe_line;
use osbs_core::time::Timestamp;
use serde::Serialize;

/// Serialises `value` as pretty JSON with a trailing newline, safe for a terminal (see
/// [`json_line`]).
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Models serialise to plain JSON trees; serialisation of them cannot fail.
    let mut out = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    out.push('\n');
    escape_json_controls(out)
}

/// Serialises `value` as JSON on one line (no trailing newline). serde escapes the C0 controls
/// (ESC is `\u001b`); DEL, the C1 controls (U+009B is a CSI to some terminals) and the bidi
/// overrides it leaves raw are written as `\uXXXX` escapes too, which every JSON reader reads
/// back as the same string: the output stays exact.
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> String {
    let out = serde_json::to_string(value)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    escape_json_controls(out)
}

/// `\uXXXX` for the characters serde leaves raw that a terminal may act on. JSON's structure
/// is ASCII, so they can only be inside strings, where the escape means the same character.
fn escape_json_controls(json: String) -> String {
    let raw = |c: char| matches!(c, '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !json.chars().any(raw) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if raw(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn or_dash(value: Option<&str>) -> &str {
    value.filter(|v| !v.is_empty()).unwrap_or("-")
}

fn time(value: Option<Timestamp>) -> String {
    value.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

/// A table with left-aligned columns separated by two spaces; cells shown with
/// [`safe_line`].
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| safe_line(c).into_owned()).collect())
        .collect();
    let rows = &rows[..];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let _ = write!(text, "{cell:<w$}");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A build object without `dockerfile` and `plugins_metadata`: what `list-builds` prints
/// (field order and names as [`Build`]'s).
#[derive(Serialize)]
struct BuildListItem<'a> {
    name: &'a str,
    build_config: &'a str,
    number: u64,
    phase: osbs_core::build::BuildPhase,
    is_autorebuild: bool,
    cause: &'a osbs_core::model::BuildCause,
    git_url: &'a str,
    git_branch: &'a str,
    commit: Option<&'a str>,
    release: Option<&'a str>,
    repositories: &'a osbs_core::build::Repositories,
    digests: &'a [osbs_core::build::PushedDigest],
    sync: &'a [osbs_core::build::PushedDigest],
    base_image_name: Option<&'a str>,
    base_image_id: Option<&'a str>,
    image_id: Option<&'a str>,
    error: Option<&'a str>,
    reason: Option<&'a str>,
    created: Timestamp,
    started: Option<Timestamp>,
    finished: Option<Timestamp>,
}

impl<'a> From<&'a Build> for BuildListItem<'a> {
    fn from(b: &'a Build) -> Self {
        BuildListItem {
            name: &b.name,
            build_config: &b.build_config,
            number: b.number,
            phase: b.phase,
            is_autorebuild: b.is_autorebuild,
            cause: &b.cause,
            git_url: &b.git_url,
            git_branch: &b.git_branch,
            commit: b.commit.as_deref(),
            release: b.release.as_deref(),
            repositories: &b.repositories,
            digests: &b.digests,
            sync: &b.sync,
            base_image_name: b.base_image_name.as_deref(),
            base_image_id: b.base_image_id.as_deref(),
            image_id: b.image_id.as_deref(),
            error: b.error.as_deref(),
            reason: b.reason.as_deref(),
            created: b.created,
            started: b.started,
            finished: b.finished,
        }
    }
}

/// `list-builds` as JSON: the build objects without `dockerfile` and `plugins_metadata`,
/// which only `get-build` carries (the list stays small with thousands of builds).
pub fn builds_json(builds: &[Build]) -> String {
    let items: Vec<BuildListItem<'_>> = builds.iter().map(BuildListItem::from).collect();
    json(&items)
}

/// `list-builds` as text.
pub fn builds_table(builds: &[Build]) -> String {
    if builds.is_empty() {
        return "no builds\n".to_owned();
    }
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            vec![
                b.name.clone(),
                b.phase.to_string(),
                if b.is_autorebuild { "yes" } else { "no" }.to_owned(),
                or_dash(b.release.as_deref()).to_owned(),
                short_commit(b.commit.as_deref()),
                b.created.to_string(),
                cause_short(b),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "PHASE",
            "AUTOREBUILD",
            "RELEASE",
            "COMMIT",
            "CREATED",
            "CAUSE",
        ],
        &rows,
    )
}

fn short_commit(commit: Option<&str>) -> String {
    commit.map_or_else(|| "-".to_owned(), |c| c.chars().take(12).collect())
}

fn cause_short(build: &Build) -> String {
    match &build.cause {
        osbs_core::model::BuildCause::User => "user".to_owned(),
        osbs_core::model::BuildCause::ImageChange { stream, tag, .. } => {
            format!("image change {stream}:{tag}")
        }
    }
}

/// `get-build` as text.
pub fn build_details(b: &Build) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: &str| {
        let _ = writeln!(out, "{k:<16}{}", safe_line(v));
    };
    kv("name:", &b.name);
    kv("build config:", &b.build_config);
    kv("phase:", &b.phase.to_string());
    kv("autorebuild:", if b.is_autorebuild { "yes" } else { "no" });
    kv("cause:", &b.cause.to_string());
    kv("git url:", &b.git_url);
    kv("git branch:", &b.git_branch);
    kv("commit:", or_dash(b.commit.as_deref()));
    kv("release:", or_dash(b.release.as_deref()));
    if !b.variant.is_default() {
        kv("variant:", &b.variant.to_string());
    }
    kv("base image:", or_dash(b.base_image_name.as_deref()));
    kv("base image id:", or_dash(b.base_image_id.as_deref()));
    kv("image id:", or_dash(b.image_id.as_deref()));
    kv("created:", &b.created.to_string());
    kv("started:", &time(b.started));
    kv("finished:", &time(b.finished));
    if let Some(error) = &b.error {
        kv("error:", error);
    }
    if let Some(reason) = &b.reason {
        kv("reason:", reason);
    }
    if !b.repositories.primary.is_empty() || !b.repositories.unique.is_empty() {
        out.push_str("repositories:\n");
        for r in &b.repositories.primary {
            let _ = writeln!(out, "  primary  {}", safe_line(r));
        }
        for r in &b.repositories.unique {
            let _ = writeln!(out, "  unique   {}", safe_line(r));
        }
    }
    if !b.digests.is_empty() {
        out.push_str("digests:\n");
        for d in &b.digests {
            let line = format!("{}/{}:{}  {}", d.registry, d.repository, d.tag, d.digest);
            let _ = writeln!(out, "  {}", safe_line(&line));
        }
    }
    out
}

/// `list-build-configs` as text.
pub fn build_configs_table(configs: &[BuildConfig]) -> String {
    if configs.is_empty() {
        return "no build configs\n".to_owned();
    }
    let rows: Vec<Vec<String>> = configs
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.git_url.clone(),
                c.git_branch.clone(),
                c.trigger
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string),
                c.build_counter.to_string(),
            ]
        })
        .collect();
    table(&["NAME", "GIT URL", "BRANCH", "TRIGGER", "BUILDS"], &rows)
}

/// `get-build-config` as text.
pub fn build_config_details(c: &BuildConfig) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: &str| {
        let _ = writeln!(out, "{k:<18}{}", safe_line(v));
    };
    kv("name:", &c.name);
    kv("git url:", &c.git_url);
    kv("git branch:", &c.git_branch);
    kv("last user commit:", or_dash(c.last_user_commit.as_deref()));
    let trigger = c
        .trigger
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    kv("trigger:", &trigger);
    kv("image:", or_dash(c.image_name.as_deref()));
    kv("repo config:", &c.repo_config_name);
    kv("builds:", &c.build_counter.to_string());
    if !c.build_args.is_empty() {
        out.push_str("build args:\n");
        for (k, v) in &c.build_args {
            let _ = writeln!(out, "  {}", safe_line(&format!("{k}={v}")));
        }
    }
    out.push_str("labels:\n");
    for (k, v) in &c.labels {
        let _ = writeln!(out, "  {}", safe_line(&format!("{k}={v}")));
    }
    out
}

/// `list-image-streams` as text.
pub fn image_streams_table(streams: &[ImageStream]) -> String {
    if streams.is_empty() {
        return "no image streams\n".to_owned();
    }
    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                or_dash(s.docker_image_repository.as_deref()).to_owned(),
                s.tags.keys().cloned().collect::<Vec<_>>().join(","),
            ]
        })
        .collect();
    table(&["NAME", "IMAGE REPOSITORY", "TAGS"], &rows)
}

/// `get-image-stream` as text.
pub fn image_stream_details(s: &ImageStream) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name:        {}", safe_line(&s.name));
    let _ = writeln!(
        out,
        "repository:  {}",
        safe_line(or_dash(s.docker_image_repository.as_deref()))
    );
    if s.tags.is_empty() {
        out.push_str("tags:        none\n");
    }
    for (tag, status) in &s.tags {
        let line = format!("tag {tag}: {}", status.digest);
        let _ = writeln!(out, "{}", safe_line(&line));
        for event in status.history.iter().rev() {
            let line = format!(
                "{}  {}  {}",
                event.time,
                event.digest,
                or_dash(event.build.as_deref())
            );
            let _ = writeln!(out, "  {}", safe_line(&line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use osbs_core::build::BuildPhase;
    use osbs_core::model::{BuildCause, ImageStreamTag};

    use super::*;

    const HOSTILE: &str = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\r\n\t\u{9b}31m\u{7f}";

    /// No control character but the newlines that end lines.
    fn assert_clean(what: &str, text: &str) {
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
            "{what}: {text:?}"
        );
    }

    #[test]
    fn text_output_escapes_what_repositories_and_registries_put_in() {
        let mut config = BuildConfig::new("https://h/ns/app.git", "main");
        config
            .labels
            .insert("git-branch".to_owned(), HOSTILE.to_owned());
        config.image_name = Some(format!("osbs/{HOSTILE}"));
        config.trigger = Some(ImageStreamTag::new(HOSTILE, "latest"));
        let mut build = Build::queued(
            &mut config,
            BuildCause::ImageChange {
                stream: HOSTILE.to_owned(),
                tag: "latest".to_owned(),
                digest: HOSTILE.to_owned(),
                chain: Vec::new(),
            },
            Some(HOSTILE.to_owned()),
            Timestamp::UNIX_EPOCH,
        );
        build.phase = BuildPhase::Failed;
        build.error = Some(format!("Error in plugin docker_api: {HOSTILE}"));
        build.reason = Some(HOSTILE.to_owned());
        build.release = Some(HOSTILE.to_owned());
        build.base_image_name = Some(HOSTILE.to_owned());
        build.repositories.primary.push(HOSTILE.to_owned());
        build.repositories.unique.push(HOSTILE.to_owned());
        let mut stream = ImageStream::new(HOSTILE.to_owned());
        stream.docker_image_repository = Some(HOSTILE.to_owned());

        assert_clean("builds_table", &builds_table(std::slice::from_ref(&build)));
        assert_clean("build_details", &build_details(&build));
        assert_clean(
            "build_configs_table",
            &build_configs_table(std::slice::from_ref(&config)),
        );
        assert_clean("build_config_details", &build_config_details(&config));
        assert_clean(
            "image_streams_table",
            &image_streams_table(std::slice::from_ref(&stream)),
        );
        assert_clean("image_stream_details", &image_stream_details(&stream));
        let details = build_details(&build);
        assert!(
            details.contains(&format!(
                "{:<16}Error in plugin docker_api: x\\e]0;pwned^G",
                "error:"
            )),
            "{details}"
        );

        // JSON is exact: every control character is a JSON escape, nothing is lost.
        for json in [json(&build), json_line(&build)] {
            assert_clean("json", &json);
            let back: Build = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, build);
        }
        assert_eq!(json_line("\u{9b}\u{202e}"), r#""\u009b\u202e""#);
    }
}
