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
#[derive(Serialize, schemars::JsonSchema)]
pub struct BuildListItem<'a> {
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

/// What `import-image` prints with `-o json`/`yaml`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ImportImageOutput {
    /// The ImageStream after the import.
    pub image_stream: ImageStream,
    /// The builds its triggers queued, if a tag changed.
    pub triggered: Vec<Build>,
}

/// What `check-repo-config` prints with `-o json`/`yaml`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct RepoConfigCheck {
    /// The file read; `null` when the directory has none and the defaults apply.
    pub file: Option<String>,
    /// The directory looked in, when a directory was given.
    pub directory: Option<String>,
    /// Whether autorebuilds are enabled.
    pub autorebuild_enabled: bool,
    /// Warnings about the file (unknown keys and the like).
    pub warnings: Vec<String>,
}

/// `list-builds` as JSON: the build objects without `dockerfile` and `plugins_metadata`,
/// which only `get-build` carries (the list stays small with thousands of builds).
pub fn builds_json(builds: &[Build]) -> String {
    let items: Vec<BuildListItem<'_>> = builds.iter().map(BuildListItem::from).collect();
    json(&items)
}

/// `list-builds` as YAML: the same documents as [`builds_json`].
pub fn builds_yaml(builds: &[Build]) -> String {
    let items: Vec<BuildListItem<'_>> = builds.iter().map(BuildListItem::from).collect();
    yaml(&items)
}

/// Serialises `value` as YAML (the same tree as [`json`]); strings holding control characters
/// are written quoted with escapes, so the output is exact and safe for a terminal.
pub fn yaml<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out =
        serde_saphyr::to_string(&value).unwrap_or_else(|e| format!("error: {:?}\n", e.to_string()));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    escape_json_controls(out)
}

/// A duration in the short relative form of `kubectl get`: `45s`, `5m3s` (under 10 minutes),
/// `42m`, `2h5m` (under 10 hours), `20h`, `3d`, `2y`; units are floored.
pub fn relative(millis: u64) -> String {
    let s = millis / 1000;
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    match s {
        0..60 => format!("{s}s"),
        60..600 if s.is_multiple_of(60) => format!("{m}m"),
        60..600 => format!("{m}m{}s", s % 60),
        600..3600 => format!("{m}m"),
        3600..36_000 if m.is_multiple_of(60) => format!("{h}h"),
        3600..36_000 => format!("{h}h{}m", m % 60),
        36_000..172_800 => format!("{h}h"),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

/// How long ago `time` was, relative to `now` (`0s` for a time in the future: clocks differ).
fn age(time: Timestamp, now: Timestamp) -> String {
    if time > now {
        return "0s".to_owned();
    }
    relative(now.millis_since(time))
}

/// How long a build ran: started to finished, or to `now` while it runs; `-` before it
/// started.
pub fn build_duration(b: &Build, now: Timestamp) -> Option<u64> {
    let started = b.started?;
    let end = b.finished.unwrap_or(now);
    Some(if end > started {
        end.millis_since(started)
    } else {
        0
    })
}

/// A column of the `list-builds` table.
pub struct BuildColumn {
    /// Its name for `--columns`.
    pub name: &'static str,
    /// Its header.
    pub header: &'static str,
    /// Its cell for a build, given the time now.
    cell: fn(&Build, Timestamp) -> String,
}

/// Every `list-builds` column, in `--output wide` order.
pub const BUILD_COLUMNS: &[BuildColumn] = &[
    BuildColumn {
        name: "name",
        header: "NAME",
        cell: |b, _| b.name.clone(),
    },
    BuildColumn {
        name: "build-config",
        header: "BUILD CONFIG",
        cell: |b, _| b.build_config.clone(),
    },
    BuildColumn {
        name: "phase",
        header: "PHASE",
        cell: |b, _| b.phase.to_string(),
    },
    BuildColumn {
        name: "autorebuild",
        header: "AUTOREBUILD",
        cell: |b, _| if b.is_autorebuild { "yes" } else { "no" }.to_owned(),
    },
    BuildColumn {
        name: "release",
        header: "RELEASE",
        cell: |b, _| or_dash(b.release.as_deref()).to_owned(),
    },
    BuildColumn {
        name: "commit",
        header: "COMMIT",
        cell: |b, _| short_commit(b.commit.as_deref()),
    },
    BuildColumn {
        name: "age",
        header: "AGE",
        cell: |b, now| age(b.created, now),
    },
    BuildColumn {
        name: "duration",
        header: "DURATION",
        cell: |b, now| build_duration(b, now).map_or_else(|| "-".to_owned(), relative),
    },
    BuildColumn {
        name: "cause",
        header: "CAUSE",
        cell: |b, _| cause_short(b),
    },
    BuildColumn {
        name: "git-url",
        header: "GIT URL",
        cell: |b, _| b.git_url.clone(),
    },
    BuildColumn {
        name: "git-branch",
        header: "BRANCH",
        cell: |b, _| b.git_branch.clone(),
    },
    BuildColumn {
        name: "image-id",
        header: "IMAGE ID",
        cell: |b, _| short_id(b.image_id.as_deref()),
    },
    BuildColumn {
        name: "created",
        header: "CREATED",
        cell: |b, _| b.created.to_string(),
    },
    BuildColumn {
        name: "error",
        header: "ERROR",
        cell: |b, _| or_dash(b.error.as_deref().or(b.reason.as_deref())).to_owned(),
    },
];

/// The columns of `list-builds` without `--columns`.
const DEFAULT_BUILD_COLUMNS: &[&str] = &[
    "name",
    "phase",
    "autorebuild",
    "release",
    "commit",
    "age",
    "duration",
    "cause",
];

/// The columns of `list-builds`: the ones named (`--columns`), else every column with
/// `wide`, else the default ones.
///
/// # Errors
///
/// A column name that does not exist, with the valid ones.
pub fn build_columns(
    names: Option<&[String]>,
    wide: bool,
) -> Result<Vec<&'static BuildColumn>, String> {
    let Some(names) = names else {
        return Ok(BUILD_COLUMNS
            .iter()
            .filter(|c| wide || DEFAULT_BUILD_COLUMNS.contains(&c.name))
            .collect());
    };
    names
        .iter()
        .map(|name| {
            let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
            BUILD_COLUMNS
                .iter()
                .find(|c| c.name == wanted)
                .ok_or_else(|| {
                    let valid: Vec<&str> = BUILD_COLUMNS.iter().map(|c| c.name).collect();
                    format!(
                        "unknown column {:?} (--columns); valid columns: {}",
                        name,
                        valid.join(", ")
                    )
                })
        })
        .collect()
}

/// `list-builds` as text, with `columns`, relative times counted to `now`.
pub fn builds_table(builds: &[Build], columns: &[&BuildColumn], now: Timestamp) -> String {
    if builds.is_empty() {
        return "no builds\n".to_owned();
    }
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| columns.iter().map(|c| (c.cell)(b, now)).collect())
        .collect();
    let header: Vec<&str> = columns.iter().map(|c| c.header).collect();
    table(&header, &rows)
}

/// `-o name`: one `KIND/NAME` a line (`build`, `bc`, `is`), as `kubectl get -o name`.
pub fn names<'a>(kind: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for name in names {
        let _ = writeln!(out, "{kind}/{}", safe_line(name));
    }
    out
}

fn short_id(id: Option<&str>) -> String {
    id.map_or_else(
        || "-".to_owned(),
        |id| {
            let hex = id.strip_prefix("sha256:").unwrap_or(id);
            hex.chars().take(12).collect()
        },
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

/// `get-build` as text: the build, its results, its sync results and a timeline of its
/// plugins; relative times counted to `now`.
pub fn build_details(b: &Build, now: Timestamp) -> String {
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
    let age = format!("{} ago", age(b.created, now));
    kv("age:", &age);
    let ran = build_duration(b, now).map_or_else(|| "-".to_owned(), relative);
    kv("duration:", &ran);
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
    for (title, pushed) in [("digests:", &b.digests), ("sync:", &b.sync)] {
        if !pushed.is_empty() {
            let _ = writeln!(out, "{title}");
            for d in pushed {
                let line = format!("{}/{}:{}  {}", d.registry, d.repository, d.tag, d.digest);
                let _ = writeln!(out, "  {}", safe_line(&line));
            }
        }
    }
    out.push_str(&timeline(&b.plugins_metadata));
    out
}

/// Width of the bars of [`timeline`].
const TIMELINE_WIDTH: usize = 40;

/// The plugins of a build as bars on one time axis, in the order they started:
///
/// ```text
/// timeline:
///   fetch_source   |#                                       |  0.02s
///   docker_api     | ###############################        |  0.65s
/// ```
///
/// A bar starts where the plugin started (`timestamps`) and is as long as it ran
/// (`durations`); plugins without a start time follow the one before, plugins that started in
/// the same millisecond are in the reactor's order. A failed plugin's line
/// ends with `failed`. Empty when no plugin recorded a duration.
pub fn timeline(metadata: &osbs_core::build::PluginsMetadata) -> String {
    if metadata.durations.is_empty() {
        return String::new();
    }
    let first = metadata.timestamps.values().min().copied();
    // (name, start ms from the first start, duration ms), in start order.
    let mut spans: Vec<(&str, u64, u64)> = Vec::new();
    let mut cursor = 0u64;
    // Start times have millisecond precision: plugins that started in the same millisecond
    // are in the order the reactor runs them.
    let position = |name: &str| {
        osbs_reactor::all_plugins()
            .iter()
            .position(|p| p.name == name)
            .unwrap_or(usize::MAX)
    };
    let mut by_start: Vec<(&String, &f64)> = metadata.durations.iter().collect();
    by_start.sort_by_key(|(name, _)| {
        (
            metadata.timestamps.get(*name).copied().or(first),
            position(name),
            (*name).clone(),
        )
    });
    for (name, seconds) in by_start {
        let millis = if seconds.is_finite() && *seconds > 0.0 {
            // Rounded to the millisecond; plugin durations fit in u64 milliseconds.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let ms = (seconds * 1000.0).round() as u64;
            ms
        } else {
            0
        };
        let start = match (metadata.timestamps.get(name), first) {
            (Some(t), Some(first)) => t.millis_since(first),
            _ => cursor,
        };
        cursor = start + millis;
        spans.push((name, start, millis));
    }
    let total = spans
        .iter()
        .map(|(_, s, d)| s + d)
        .max()
        .unwrap_or(0)
        .max(1);
    let name_width = spans
        .iter()
        .map(|(n, ..)| safe_line(n).chars().count())
        .max()
        .unwrap_or(0);
    let scale = |ms: u64| -> usize {
        usize::try_from(ms.saturating_mul(TIMELINE_WIDTH as u64) / total).unwrap_or(TIMELINE_WIDTH)
    };
    let mut out = String::from("timeline:\n");
    for (name, start, millis) in spans {
        let from = scale(start).min(TIMELINE_WIDTH - 1);
        let len = scale(millis).max(1).min(TIMELINE_WIDTH - from);
        let bar = format!(
            "{}{}{}",
            " ".repeat(from),
            "#".repeat(len),
            " ".repeat(TIMELINE_WIDTH - from - len)
        );
        let failed = if metadata.errors.contains_key(name) {
            "  failed"
        } else {
            ""
        };
        #[allow(clippy::cast_precision_loss)]
        let seconds = millis as f64 / 1000.0;
        let _ = writeln!(
            out,
            "  {:<name_width$}  |{bar}|  {seconds:.2}s{failed}",
            safe_line(name)
        );
    }
    out
}

/// `list-build-configs` as text; `wide` adds the image and the last user commit.
pub fn build_configs_table(configs: &[BuildConfig], wide: bool) -> String {
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
                or_dash(c.image_name.as_deref()).to_owned(),
                short_commit(c.last_user_commit.as_deref()),
                if c.is_autorebuild() { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "GIT URL",
        "BRANCH",
        "TRIGGER",
        "BUILDS",
        "IMAGE",
        "LAST USER COMMIT",
        "AUTOREBUILD",
    ];
    let shown = if wide { header.len() } else { 5 };
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut r| {
            r.truncate(shown);
            r
        })
        .collect();
    table(&header[..shown], &rows)
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

/// `list-image-streams` as text; `wide` adds when a tag last changed (relative to `now`)
/// and the digest of `latest`.
pub fn image_streams_table(streams: &[ImageStream], wide: bool, now: Timestamp) -> String {
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
                s.tags
                    .values()
                    .filter_map(|t| t.history.last().map(|e| e.time))
                    .max()
                    .map_or_else(|| "-".to_owned(), |t| age(t, now)),
                or_dash(s.digest("latest")).to_owned(),
            ]
        })
        .collect();
    let header = ["NAME", "IMAGE REPOSITORY", "TAGS", "UPDATED", "LATEST"];
    let shown = if wide { header.len() } else { 3 };
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut r| {
            r.truncate(shown);
            r
        })
        .collect();
    table(&header[..shown], &rows)
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

    #[test]
    fn relative_durations() {
        let s = 1000;
        let (m, h, d) = (60 * s, 3600 * s, 86_400 * s);
        for (millis, expected) in [
            (0, "0s"),
            (999, "0s"),
            (59 * s + 999, "59s"),
            (m, "1m"),
            (5 * m + 3 * s, "5m3s"),
            (9 * m + 59 * s, "9m59s"),
            (10 * m + 59 * s, "10m"),
            (59 * m + 59 * s, "59m"),
            (h, "1h"),
            (2 * h + 5 * m + 59 * s, "2h5m"),
            (9 * h + 59 * m, "9h59m"),
            (10 * h + 59 * m, "10h"),
            (47 * h + 59 * m, "47h"),
            (2 * d, "2d"),
            (3 * d + 23 * h, "3d"),
            (729 * d, "729d"),
            (730 * d, "2y"),
            (3650 * d, "10y"),
            (u64::MAX, "584942417y"),
        ] {
            assert_eq!(relative(millis), expected, "{millis} ms");
        }
    }

    #[test]
    fn timeline_orders_plugins_of_one_millisecond_as_the_reactor_runs_them() {
        let at = Timestamp::from_unix_millis;
        let metadata = osbs_core::build::PluginsMetadata {
            errors: [("docker_api".to_owned(), "exit 1".to_owned())].into(),
            durations: [
                ("fetch_source".to_owned(), 1.0),
                ("stop_autorebuild_if_disabled".to_owned(), 0.0001),
                ("bump_release".to_owned(), 0.0002),
                ("docker_api".to_owned(), 3.0),
            ]
            .into(),
            timestamps: [
                ("fetch_source".to_owned(), at(0)),
                ("stop_autorebuild_if_disabled".to_owned(), at(1_000)),
                ("bump_release".to_owned(), at(1_000)),
                ("docker_api".to_owned(), at(1_000)),
            ]
            .into(),
        };
        let text = timeline(&metadata);
        let names: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(
            names,
            [
                "fetch_source",
                "stop_autorebuild_if_disabled",
                "bump_release",
                "docker_api"
            ]
        );
        // 4 s in 40 columns: fetch_source fills the first 10, docker_api the last 30.
        assert!(
            text.contains(&format!("|{}{}|  1.00s\n", "#".repeat(10), " ".repeat(30))),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "|{}{}|  3.00s  failed\n",
                " ".repeat(10),
                "#".repeat(30)
            )),
            "{text}"
        );
        assert_eq!(timeline(&osbs_core::build::PluginsMetadata::default()), "");
    }

    #[test]
    fn columns_by_name() {
        let names = |cols: Vec<&BuildColumn>| cols.iter().map(|c| c.name).collect::<Vec<_>>();
        let default = build_columns(None, false).unwrap_or_default();
        assert_eq!(
            names(default),
            [
                "name",
                "phase",
                "autorebuild",
                "release",
                "commit",
                "age",
                "duration",
                "cause"
            ]
        );
        let wide = build_columns(None, true).unwrap_or_default();
        assert_eq!(wide.len(), BUILD_COLUMNS.len());
        let asked = ["Duration".to_owned(), " build_config".to_owned()];
        let chosen = build_columns(Some(&asked), false).unwrap_or_default();
        assert_eq!(names(chosen), ["duration", "build-config"]);
        let err = build_columns(Some(&["colour".to_owned()]), false).err();
        assert!(err.is_some_and(
            |e| e.contains("\"colour\"") && e.contains("valid columns: name, build-config")
        ));
    }

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

        let wide = build_columns(None, true).unwrap_or_default();
        assert_clean(
            "builds_table",
            &builds_table(std::slice::from_ref(&build), &wide, Timestamp::UNIX_EPOCH),
        );
        assert_clean(
            "build_details",
            &build_details(&build, Timestamp::UNIX_EPOCH),
        );
        assert_clean(
            "build_configs_table",
            &build_configs_table(std::slice::from_ref(&config), true),
        );
        assert_clean("build_config_details", &build_config_details(&config));
        assert_clean(
            "image_streams_table",
            &image_streams_table(std::slice::from_ref(&stream), true, Timestamp::UNIX_EPOCH),
        );
        assert_clean("names", &names("build", [HOSTILE]));
        assert_clean("yaml", &yaml(&build));
        assert_clean("image_stream_details", &image_stream_details(&stream));
        let details = build_details(&build, Timestamp::UNIX_EPOCH);
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
