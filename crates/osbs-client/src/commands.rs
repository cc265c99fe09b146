//! What each `osbs` command does, over any [`Backend`]: call the backend, print through
//! `output`, and say which exit code the command ends with.
//!
//! Text output shows untrusted text (build logs, names, causes, errors, warnings from a
//! repository) through `osbs_core::terminal`, so no escape sequence reaches the terminal; JSON
//! output is exact (serde escapes control characters).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use osbs_core::build::BuildPhase;
use osbs_core::model::{Build, ImageStreamTag};
use osbs_core::terminal::{safe_line, safe_text};
use osbs_core::variant::{BuildVariant, VariantError, parse_build_arg};
use osbs_repo_config::RepoConfig;

use crate::backend::{Backend, BuildFilter, BuildSubmission, ClientError, LogEvent};
use crate::cli::{BuildArgs, Command, OutputFormat};
use crate::output;
use crate::progress::{LogView, Terminals};

/// Where a command writes: results to `out`, progress and log lines to `err`.
pub struct Io<'a> {
    /// Standard output: what the command was asked for.
    pub out: &'a mut (dyn Write + Send),
    /// Standard error: progress, warnings, hints.
    pub err: &'a mut (dyn Write + Send),
    /// `--output`.
    pub format: OutputFormat,
    /// `-q`: no progress lines.
    pub quiet: bool,
    /// Which standard streams are terminals (layer progress bars are drawn only there).
    pub terminals: Terminals,
}

/// How a command ended, beyond errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the build ended, but not `Complete`.
    BuildNotComplete,
}

/// An error, or output that could not be written.
fn io_error(e: std::io::Error) -> ClientError {
    ClientError::Backend {
        context: "cannot write output".to_owned(),
        source: Box::new(e),
    }
}

macro_rules! say {
    ($io:expr, $($arg:tt)*) => {
        if !$io.quiet {
            writeln!($io.err, $($arg)*).map_err(io_error)?;
        }
    };
}

/// Runs a command that needs a backend.
///
/// # Errors
///
/// What the backend reports, as [`ClientError`].
pub async fn run<B: Backend>(
    backend: &B,
    command: &Command,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    match command {
        Command::Build(args) => build(backend, args, io).await,
        Command::ListBuilds(args) => {
            let filter = BuildFilter {
                build_config: args.build_config.clone(),
                running: args.running,
            };
            let builds = backend.list_builds(&filter).await?;
            let rendered = match io.format {
                OutputFormat::Json => output::builds_json(&builds),
                OutputFormat::Text => output::builds_table(&builds),
            };
            io.out.write_all(rendered.as_bytes()).map_err(io_error)?;
            Ok(Outcome::Success)
        }
        Command::GetBuild(arg) => {
            let build = backend.get_build(&arg.name).await?;
            print(io, &build, output::build_details)?;
            Ok(Outcome::Success)
        }
        Command::WatchBuild(arg) => {
            let show = io.format == OutputFormat::Text && !io.quiet;
            let mut failed = None;
            let out = &mut *io.out;
            let build = backend
                .watch_build(&arg.name, &mut |b: &Build| {
                    if show && let Err(e) = writeln!(out, "{}  {}", safe_line(&b.name), b.phase) {
                        failed.get_or_insert(e);
                    }
                })
                .await?;
            if let Some(e) = failed {
                return Err(io_error(e));
            }
            if io.format == OutputFormat::Json {
                io.out
                    .write_all(output::json(&build).as_bytes())
                    .map_err(io_error)?;
            }
            Ok(phase_outcome(&build))
        }
        Command::BuildLogs(args) => {
            let mut failed = None;
            let out = &mut *io.out;
            // Bars only while following, with the log and the bars (stderr) on terminals.
            let view = LogView::new(
                args.follow && !io.quiet && io.terminals.stdout && io.terminals.stderr,
            );
            backend
                .build_logs(&args.name, args.follow, &mut |event| match event {
                    LogEvent::Line(line) => {
                        if let Err(e) = view.line(out, &line) {
                            failed.get_or_insert(e);
                        }
                    }
                    LogEvent::Finished(_) => {}
                })
                .await?;
            match failed {
                Some(e) => Err(io_error(e)),
                None => Ok(Outcome::Success),
            }
        }
        Command::CancelBuild(arg) => {
            let build = backend.cancel_build(&arg.name).await?;
            match io.format {
                OutputFormat::Json => io
                    .out
                    .write_all(output::json(&build).as_bytes())
                    .map_err(io_error)?,
                OutputFormat::Text => {
                    let name = safe_line(&build.name);
                    let what = if build.phase == BuildPhase::Cancelled {
                        format!("{name}: Cancelled")
                    } else if build.phase.is_finished() {
                        format!("{name} already ended {}; nothing to cancel", build.phase)
                    } else {
                        format!("{name}: cancel requested ({} now)", build.phase)
                    };
                    writeln!(io.out, "{what}").map_err(io_error)?;
                }
            }
            Ok(Outcome::Success)
        }
        Command::ListBuildConfigs => {
            let configs = backend.list_build_configs().await?;
            print(io, &configs[..], output::build_configs_table)?;
            Ok(Outcome::Success)
        }
        Command::GetBuildConfig(arg) => {
            let config = backend.get_build_config(&arg.name).await?;
            print(io, &config, output::build_config_details)?;
            Ok(Outcome::Success)
        }
        Command::ListImageStreams => {
            let streams = backend.list_image_streams().await?;
            print(io, &streams[..], output::image_streams_table)?;
            Ok(Outcome::Success)
        }
        Command::GetImageStream(arg) => {
            let stream = backend.get_image_stream(&arg.name).await?;
            print(io, &stream, output::image_stream_details)?;
            Ok(Outcome::Success)
        }
        Command::ImportImage(args) => {
            let (stream, triggered) = backend
                .import_image(&args.name, args.tag.as_deref())
                .await?;
            match io.format {
                OutputFormat::Json => {
                    let value =
                        serde_json::json!({ "image_stream": stream, "triggered": triggered });
                    io.out
                        .write_all(output::json(&value).as_bytes())
                        .map_err(io_error)?;
                }
                OutputFormat::Text => {
                    io.out
                        .write_all(output::image_stream_details(&stream).as_bytes())
                        .map_err(io_error)?;
                    report_triggered(io, &triggered)?;
                }
            }
            Ok(Outcome::Success)
        }
        Command::RebuildPlan(args) => {
            let tag = ImageStreamTag::parse(&args.stream_tag)
                .map_err(|e| ClientError::Usage(e.to_string()))?;
            let plan = backend.rebuild_plan(&tag.stream, &tag.tag).await?;
            match io.format {
                OutputFormat::Json => io
                    .out
                    .write_all(output::json(&plan).as_bytes())
                    .map_err(io_error)?,
                OutputFormat::Text => io
                    .out
                    .write_all(safe_text(&plan.render()).as_bytes())
                    .map_err(io_error)?,
            }
            Ok(Outcome::Success)
        }
        Command::WatchBuilds(args) => watch_builds(backend, args, io).await,
        Command::DeleteBuild(args) => {
            if args.force {
                cancel_and_wait(backend, &[backend.get_build(&args.name).await?]).await?;
            }
            backend.delete_build(&args.name).await?;
            if !io.quiet {
                writeln!(io.out, "deleted build {}", safe_line(&args.name)).map_err(io_error)?;
            }
            Ok(Outcome::Success)
        }
        Command::DeleteBuildConfig(args) => {
            let name = args.name.strip_prefix("bc/").unwrap_or(&args.name);
            if args.force {
                let active = backend
                    .list_builds(&BuildFilter {
                        build_config: Some(name.to_owned()),
                        running: true,
                    })
                    .await?;
                cancel_and_wait(backend, &active).await?;
            }
            let builds = backend.delete_build_config(name).await?;
            if !io.quiet {
                let count = match builds.len() {
                    1 => "1 build".to_owned(),
                    n => format!("{n} builds"),
                };
                writeln!(
                    io.out,
                    "deleted build config {} and its {count}",
                    safe_line(name)
                )
                .map_err(io_error)?;
            }
            Ok(Outcome::Success)
        }
        Command::CheckRepoConfig(_)
        | Command::Completions(_)
        | Command::RunBuild(_)
        | Command::Serve
        | Command::StartBuild(_)
        | Command::Prune(_) => Err(ClientError::Usage(
            "this command is not run through the generic backend".to_owned(),
        )),
    }
}

/// Prints `value` as JSON or through its text renderer.
fn print<T: serde::Serialize + ?Sized>(
    io: &mut Io<'_>,
    value: &T,
    text: impl Fn(&T) -> String,
) -> Result<(), ClientError> {
    let rendered = match io.format {
        OutputFormat::Json => output::json(value),
        OutputFormat::Text => text(value),
    };
    io.out.write_all(rendered.as_bytes()).map_err(io_error)
}

fn phase_outcome(build: &Build) -> Outcome {
    if build.phase == BuildPhase::Complete {
        Outcome::Success
    } else {
        Outcome::BuildNotComplete
    }
}

fn report_triggered(io: &mut Io<'_>, triggered: &[Build]) -> Result<(), ClientError> {
    if triggered.is_empty() {
        say!(io, "no autorebuild triggered");
    }
    for t in triggered {
        let name = safe_line(&t.name);
        say!(
            io,
            "triggered {name} ({}); follow it with: osbs build-logs -f {name}",
            safe_line(&t.cause.to_string())
        );
    }
    Ok(())
}

/// The submission of `osbs build`, its variant checked (a usage error before the repository
/// is read or the backend asked).
fn build_submission(args: &BuildArgs) -> Result<BuildSubmission, ClientError> {
    let usage = |e: VariantError| ClientError::Usage(e.to_string());
    let mut build_args = BTreeMap::new();
    for arg in &args.build_args {
        let (name, value) = parse_build_arg(arg).map_err(usage)?;
        build_args.insert(name, value);
    }
    let variant = BuildVariant {
        scratch: args.scratch,
        isolated: args.isolated,
        release: args.release.clone(),
        tags: args.tags.clone(),
        build_args,
    };
    variant.validate().map_err(usage)?;
    let submission = BuildSubmission {
        git_url: args.git_url.clone(),
        git_branch: args.git_branch.clone(),
        git_commit: args.git_commit.clone(),
        component: args.component.clone(),
        variant,
    };
    if args.skip_build {
        if submission.variant.release.is_some() || !submission.variant.tags.is_empty() {
            return Err(ClientError::Usage(
                "--skip-build builds nothing: --release and -A/--tag do not apply".to_owned(),
            ));
        }
        submission.check_skip_build()?;
    }
    Ok(submission)
}

/// `osbs build --skip-build`: the BuildConfig updated as a build's submission would, no build.
async fn skip_build<B: Backend>(
    backend: &B,
    submission: &BuildSubmission,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    let (config, warnings) = backend.update_build_config(submission).await?;
    for warning in &warnings {
        writeln!(io.err, "warning: {}", safe_line(warning)).map_err(io_error)?;
    }
    say!(
        io,
        "build config {} updated; no build started (--skip-build)",
        safe_line(&config.name)
    );
    print(io, &config, output::build_config_details)?;
    Ok(Outcome::Success)
}

/// `osbs build`: submit, then (unless `--no-wait`) stream the log and wait for the end.
async fn build<B: Backend>(
    backend: &B,
    args: &BuildArgs,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    let submission = build_submission(args)?;
    if args.skip_build {
        return skip_build(backend, &submission, io).await;
    }
    let submitted = backend.create_build(&submission).await?;
    for warning in &submitted.warnings {
        writeln!(io.err, "warning: {}", safe_line(warning)).map_err(io_error)?;
    }
    let name = submitted.build.name.clone();
    let shown = safe_line(&name).into_owned();
    match &submitted.queued_behind {
        Some(other) => say!(io, "build {shown} queued behind {}", safe_line(other)),
        None => say!(io, "build {shown} queued"),
    }
    if args.no_wait {
        match io.format {
            OutputFormat::Json => io
                .out
                .write_all(output::json(&submitted.build).as_bytes())
                .map_err(io_error)?,
            OutputFormat::Text => {
                writeln!(io.out, "{shown}").map_err(io_error)?;
                say!(io, "follow it with: osbs build-logs -f {shown}");
            }
        }
        return Ok(Outcome::Success);
    }
    let finished = if args.no_logs {
        backend.watch_build(&name, &mut |_| {}).await?
    } else {
        let mut last = None;
        let err = &mut *io.err;
        let quiet = io.quiet;
        let view = LogView::new(!quiet && io.terminals.stderr);
        backend
            .build_logs(&name, true, &mut |event| match event {
                LogEvent::Line(line) => {
                    if !quiet {
                        let _ = view.line(err, &line);
                    }
                }
                LogEvent::Finished(build) => last = Some(*build),
            })
            .await?;
        match last {
            Some(build) => build,
            None => backend.watch_build(&name, &mut |_| {}).await?,
        }
    };
    match io.format {
        OutputFormat::Json => io
            .out
            .write_all(output::json(&finished).as_bytes())
            .map_err(io_error)?,
        OutputFormat::Text => {
            let summary = match (&finished.error, &finished.reason) {
                (Some(error), _) => format!("build {name} {}: {error}", finished.phase),
                (None, Some(reason)) => format!("build {name} {}: {reason}", finished.phase),
                (None, None) => format!("build {name} {}", finished.phase),
            };
            writeln!(io.out, "{}", safe_text(&summary)).map_err(io_error)?;
            for r in finished
                .repositories
                .primary
                .iter()
                .chain(&finished.repositories.unique)
            {
                writeln!(io.out, "  {}", safe_line(r)).map_err(io_error)?;
            }
        }
    }
    if finished.phase == BuildPhase::Complete {
        let triggered = backend.triggered_by(&finished).await?;
        report_triggered(io, &triggered)?;
    }
    Ok(phase_outcome(&finished))
}

/// `osbs check-repo-config [PATH]`: parses the file (or `DIR/.osbs-repo-config`) and prints
/// whether autorebuilds are enabled and every warning. Exit code 2 on an invalid file.
///
/// # Errors
///
/// [`ClientError::Usage`] naming file, line and value.
pub fn check_repo_config(path: Option<&Path>, io: &mut Io<'_>) -> Result<Outcome, ClientError> {
    let path = path.unwrap_or_else(|| Path::new("."));
    let (config, shown) = if path.is_dir() {
        let config = RepoConfig::load(path).map_err(|e| ClientError::Usage(e.to_string()))?;
        let file = path.join(osbs_repo_config::DEFAULT_FILE_NAME);
        let shown = if file.exists() {
            file.display().to_string()
        } else {
            format!("{} (absent: defaults apply)", file.display())
        };
        (config, shown)
    } else {
        let config = RepoConfig::load_file(path).map_err(|e| ClientError::Usage(e.to_string()))?;
        (config, path.display().to_string())
    };
    for warning in config.warnings() {
        writeln!(io.err, "warning: {}", safe_line(&warning.to_string())).map_err(io_error)?;
    }
    match io.format {
        OutputFormat::Json => {
            let value = serde_json::json!({
                "file": shown,
                "autorebuild_enabled": config.autorebuild_enabled(),
                "warnings": config.warnings().iter().map(ToString::to_string).collect::<Vec<_>>(),
            });
            io.out
                .write_all(output::json(&value).as_bytes())
                .map_err(io_error)?;
        }
        OutputFormat::Text => {
            let state = if config.autorebuild_enabled() {
                "enabled"
            } else {
                "disabled"
            };
            writeln!(io.out, "{}: ok, autorebuild {state}", safe_line(&shown)).map_err(io_error)?;
        }
    }
    Ok(Outcome::Success)
}

/// Cancels `builds` that are not finished and waits until each has ended (`--force`).
async fn cancel_and_wait<B: Backend>(backend: &B, builds: &[Build]) -> Result<(), ClientError> {
    for build in builds.iter().filter(|b| !b.phase.is_finished()) {
        backend.cancel_build(&build.name).await?;
    }
    for build in builds.iter().filter(|b| !b.phase.is_finished()) {
        backend.watch_build(&build.name, &mut |_| {}).await?;
    }
    Ok(())
}

/// How often `watch-builds` looks for changes.
const WATCH_BUILDS_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// `osbs watch-builds`: the unfinished builds first, then one line per phase change of any
/// build (`TIME  BUILD  PHASE  CAUSE`, or one JSON object per line), until Ctrl-C or the
/// timeout.
async fn watch_builds<B: Backend>(
    backend: &B,
    args: &crate::cli::WatchBuildsArgs,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    let filter = BuildFilter {
        build_config: args
            .build_config
            .as_deref()
            .map(|n| n.strip_prefix("bc/").unwrap_or(n).to_owned()),
        running: false,
    };
    let mut seen: std::collections::HashMap<String, BuildPhase> = backend
        .list_builds(&filter)
        .await?
        .into_iter()
        .map(|b| {
            let phase = b.phase;
            (b.name, phase)
        })
        .collect();
    let mut first = true;
    let deadline = args
        .timeout
        .map(|ms| tokio::time::Instant::now() + std::time::Duration::from_millis(ms));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let mut builds = backend.list_builds(&filter).await?;
        builds.reverse();
        for build in &builds {
            let changed = seen.get(&build.name) != Some(&build.phase);
            let show = changed || (first && !build.phase.is_finished());
            if show {
                let line = match io.format {
                    OutputFormat::Json => output::json_line(&serde_json::json!({
                        "build": build.name,
                        "build_config": build.build_config,
                        "phase": build.phase,
                        "cause": build.cause.to_string(),
                    })),
                    OutputFormat::Text => safe_line(&format!(
                        "{}  {}  {}  {}",
                        osbs_core::time::Timestamp::from_system_time(std::time::SystemTime::now()),
                        build.name,
                        build.phase,
                        build.cause
                    ))
                    .into_owned(),
                };
                writeln!(io.out, "{line}").map_err(io_error)?;
                io.out.flush().map_err(io_error)?;
            }
            seen.insert(build.name.clone(), build.phase);
        }
        first = false;
        let sleep = tokio::time::sleep(WATCH_BUILDS_POLL);
        tokio::select! {
            () = sleep => {}
            _ = &mut ctrl_c => return Ok(Outcome::Success),
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Ok(Outcome::Success);
        }
    }
}
