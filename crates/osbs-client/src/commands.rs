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
use osbs_core::time::Timestamp;
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
pub(crate) fn io_error(e: std::io::Error) -> ClientError {
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
        Command::ListBuilds(args) => list_builds(backend, args, io).await,
        Command::GetBuild(arg) => {
            let build = resolve_build(backend, &arg.name).await?;
            let now = now();
            emit(
                io,
                &build,
                || output::names("build", [build.name.as_str()]),
                |_| output::build_details(&build, now),
            )?;
            Ok(Outcome::Success)
        }
        Command::WatchBuild(arg) => {
            let name = resolve_build(backend, &arg.name).await?.name;
            let show = matches!(io.format, OutputFormat::Text | OutputFormat::Wide) && !io.quiet;
            let mut failed = None;
            let out = &mut *io.out;
            let build = backend
                .watch_build(&name, &mut |b: &Build| {
                    if show && let Err(e) = writeln!(out, "{}  {}", safe_line(&b.name), b.phase) {
                        failed.get_or_insert(e);
                    }
                })
                .await?;
            if let Some(e) = failed {
                return Err(io_error(e));
            }
            if !matches!(io.format, OutputFormat::Text | OutputFormat::Wide) {
                emit(
                    io,
                    &build,
                    || output::names("build", [build.name.as_str()]),
                    |_| String::new(),
                )?;
            }
            Ok(phase_outcome(&build))
        }
        Command::BuildLogs(args) => {
            let build = resolve_build_waiting(backend, &args.name, args.wait_if_missing).await?;
            if let Some(wait) = args.wait_if_missing
                && !args.follow
            {
                wait_for_start(backend, &build, wait).await?;
            }
            let mut failed = None;
            let out = &mut *io.out;
            // Bars only while following, with the log and the bars (stderr) on terminals.
            let view = LogView::new(
                args.follow && !io.quiet && io.terminals.stdout && io.terminals.stderr,
            );
            let timestamps = args.timestamps;
            backend
                .build_logs_timed(&build.name, args.follow, &mut |event, time| match event {
                    LogEvent::Line(line) => {
                        // Progress lines are the bars' input, never shown: no time on them.
                        let line = if timestamps && !osbs_reactor::progress::is_progress_line(&line)
                        {
                            let time = time.map_or_else(|| "-".to_owned(), |t| t.to_string());
                            format!("{time} {line}")
                        } else {
                            line
                        };
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
            let name = resolve_build(backend, &arg.name).await?.name;
            let build = backend.cancel_build(&name).await?;
            let name = safe_line(&build.name);
            let what = if build.phase == BuildPhase::Cancelled {
                format!("{name}: Cancelled\n")
            } else if build.phase.is_finished() {
                format!("{name} already ended {}; nothing to cancel\n", build.phase)
            } else {
                format!("{name}: cancel requested ({} now)\n", build.phase)
            };
            emit(
                io,
                &build,
                || output::names("build", [build.name.as_str()]),
                |_| what,
            )?;
            Ok(Outcome::Success)
        }
        Command::ListBuildConfigs => {
            let configs = backend.list_build_configs().await?;
            emit(
                io,
                &configs[..],
                || output::names("bc", configs.iter().map(|c| c.name.as_str())),
                |wide| output::build_configs_table(&configs, wide),
            )?;
            Ok(Outcome::Success)
        }
        Command::GetBuildConfig(arg) => {
            let name = strip_kind(&arg.name, &["bc/", "buildconfig/"]);
            let config = backend.get_build_config(name).await?;
            emit(
                io,
                &config,
                || output::names("bc", [config.name.as_str()]),
                |_| output::build_config_details(&config),
            )?;
            Ok(Outcome::Success)
        }
        Command::ListImageStreams => {
            let streams = backend.list_image_streams().await?;
            let now = now();
            emit(
                io,
                &streams[..],
                || output::names("is", streams.iter().map(|s| s.name.as_str())),
                |wide| output::image_streams_table(&streams, wide, now),
            )?;
            Ok(Outcome::Success)
        }
        Command::GetImageStream(arg) => {
            let name = strip_kind(&arg.name, &["is/", "imagestream/"]);
            let stream = backend.get_image_stream(name).await?;
            emit(
                io,
                &stream,
                || output::names("is", [stream.name.as_str()]),
                |_| output::image_stream_details(&stream),
            )?;
            Ok(Outcome::Success)
        }
        Command::ImportImage(args) => {
            let name = strip_kind(&args.name, &["is/", "imagestream/"]);
            let (stream, triggered) = backend.import_image(name, args.tag.as_deref()).await?;
            let value = output::ImportImageOutput {
                image_stream: stream,
                triggered,
            };
            emit(
                io,
                &value,
                || {
                    let mut names = output::names("is", [value.image_stream.name.as_str()]);
                    names.push_str(&output::names(
                        "build",
                        value.triggered.iter().map(|b| b.name.as_str()),
                    ));
                    names
                },
                |_| output::image_stream_details(&value.image_stream),
            )?;
            if matches!(io.format, OutputFormat::Text | OutputFormat::Wide) {
                report_triggered(io, &value.triggered)?;
            }
            Ok(Outcome::Success)
        }
        Command::RebuildPlan(args) => rebuild_plan(backend, args, io).await,
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
        | Command::Schema(_)
        | Command::RunBuild(_)
        | Command::Serve
        | Command::StartBuild(_)
        | Command::Prune(_) => Err(ClientError::Usage(
            "this command is not run through the generic backend".to_owned(),
        )),
    }
}

/// Prints `value` as JSON or YAML, or through its text renderer (every other format).
fn print<T: serde::Serialize + ?Sized>(
    io: &mut Io<'_>,
    value: &T,
    text: impl Fn(&T) -> String,
) -> Result<(), ClientError> {
    let rendered = match io.format {
        OutputFormat::Json => output::json(value),
        OutputFormat::Yaml => output::yaml(value),
        _ => text(value),
    };
    io.out.write_all(rendered.as_bytes()).map_err(io_error)
}

/// Prints `value` in the format asked for: the JSON or YAML document, `names` for `-o name`,
/// `text(wide)` for text and wide. `dot` and `mermaid` were refused before the command ran
/// ([`check_format`]).
pub(crate) fn emit<T: serde::Serialize + ?Sized>(
    io: &mut Io<'_>,
    value: &T,
    names: impl FnOnce() -> String,
    text: impl FnOnce(bool) -> String,
) -> Result<(), ClientError> {
    let rendered = match io.format {
        OutputFormat::Json => output::json(value),
        OutputFormat::Yaml => output::yaml(value),
        OutputFormat::Name => names(),
        OutputFormat::Wide => text(true),
        OutputFormat::Text | OutputFormat::Dot | OutputFormat::Mermaid => text(false),
    };
    io.out.write_all(rendered.as_bytes()).map_err(io_error)
}

/// Refuses an output format the command cannot print: `dot` and `mermaid` are graphs, which
/// only `rebuild-plan` has. Checked before anything is read, so the usage error needs no state.
///
/// # Errors
///
/// [`ClientError::Usage`] naming the format and the command that has it.
pub fn check_format(command: &Command, format: OutputFormat) -> Result<(), ClientError> {
    let graph = matches!(format, OutputFormat::Dot | OutputFormat::Mermaid);
    if graph && !matches!(command, Command::RebuildPlan(_)) {
        let name = format!("{format:?}").to_ascii_lowercase();
        return Err(ClientError::Usage(format!(
            "--output {name} draws a graph, which only rebuild-plan has; use text, json, yaml, \
             name or wide"
        )));
    }
    if let Command::ListBuilds(args) = command {
        if args.columns.is_some() && !matches!(format, OutputFormat::Text | OutputFormat::Wide) {
            return Err(ClientError::Usage(
                "--columns chooses the columns of the text table; it does not apply to \
                 --output json, yaml or name"
                    .to_owned(),
            ));
        }
        output::build_columns(args.columns.as_deref(), false).map_err(ClientError::Usage)?;
    }
    Ok(())
}

/// The time now, for relative times.
fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// `name` without a `kind/` prefix (`bc/NAME`, `is/NAME`), as kubectl and oc accept them.
fn strip_kind<'a>(name: &'a str, kinds: &[&str]) -> &'a str {
    kinds
        .iter()
        .find_map(|k| name.strip_prefix(k))
        .unwrap_or(name)
}

/// The build `name` names: a build (`NAME` or `build/NAME`), or a BuildConfig (`bc/NAME`, or
/// a plain `NAME` that is no build) meaning its newest build, as `oc logs bc/NAME` does.
///
/// # Errors
///
/// [`ClientError::NotFound`] for a build when neither exists or the BuildConfig has no build
/// yet; what the backend reports otherwise.
pub async fn resolve_build<B: Backend>(backend: &B, name: &str) -> Result<Build, ClientError> {
    let name = strip_kind(name, &["build/"]);
    if let Some(config) = ["bc/", "buildconfig/"]
        .iter()
        .find_map(|k| name.strip_prefix(k))
    {
        return newest_build(backend, config, name).await;
    }
    match backend.get_build(name).await {
        Err(ClientError::NotFound { .. }) => match newest_build(backend, name, name).await {
            Err(ClientError::NotFound { .. }) => Err(ClientError::NotFound {
                kind: "build",
                name: name.to_owned(),
            }),
            other => other,
        },
        other => other,
    }
}

/// The newest build of BuildConfig `config`; `asked` is what the user wrote.
async fn newest_build<B: Backend>(
    backend: &B,
    config: &str,
    asked: &str,
) -> Result<Build, ClientError> {
    let builds = backend
        .list_builds(&BuildFilter {
            build_config: Some(config.to_owned()),
            running: false,
        })
        .await?;
    match builds.into_iter().next() {
        Some(build) => Ok(build),
        None => {
            // Tell an unknown BuildConfig from one without builds.
            backend.get_build_config(config).await?;
            Err(ClientError::NotFound {
                kind: "build",
                name: format!("{asked} (the build config has no builds yet)"),
            })
        }
    }
}

/// How often `--wait-if-missing` looks again.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// [`resolve_build`], retried until `wait` milliseconds have passed while the build (or the
/// BuildConfig, or its first build) does not exist yet.
async fn resolve_build_waiting<B: Backend>(
    backend: &B,
    name: &str,
    wait: Option<u64>,
) -> Result<Build, ClientError> {
    let Some(wait) = wait else {
        return resolve_build(backend, name).await;
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait);
    loop {
        match resolve_build(backend, name).await {
            Err(e @ ClientError::NotFound { .. }) if tokio::time::Instant::now() >= deadline => {
                return Err(ClientError::Usage(format!(
                    "{e} after waiting {} (--wait-if-missing)",
                    output::relative(wait)
                )));
            }
            Err(ClientError::NotFound { .. }) => tokio::time::sleep(WAIT_POLL).await,
            other => return other,
        }
    }
}

/// `--wait-if-missing` without `--follow`: waits (up to `wait` milliseconds) until `build`
/// leaves `New` and `Pending`, so the log printed is not the empty one of a queued build.
async fn wait_for_start<B: Backend>(
    backend: &B,
    build: &Build,
    wait: u64,
) -> Result<(), ClientError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait);
    let mut phase = build.phase;
    while matches!(phase, BuildPhase::New | BuildPhase::Pending) {
        if tokio::time::Instant::now() >= deadline {
            return Err(ClientError::Usage(format!(
                "build {} is still {phase} after waiting {}: it has no log yet",
                build.name,
                output::relative(wait)
            )));
        }
        tokio::time::sleep(WAIT_POLL).await;
        phase = backend.get_build(&build.name).await?.phase;
    }
    Ok(())
}

/// `osbs list-builds [FILTER] [--build-config NAME] [--running] [--columns a,b]`.
async fn list_builds<B: Backend>(
    backend: &B,
    args: &crate::cli::ListBuildsArgs,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    let columns = output::build_columns(args.columns.as_deref(), io.format == OutputFormat::Wide)
        .map_err(ClientError::Usage)?;
    let filter = BuildFilter {
        build_config: args
            .build_config
            .as_deref()
            .map(|n| strip_kind(n, &["bc/", "buildconfig/"]).to_owned()),
        running: args.running,
    };
    let mut builds = backend.list_builds(&filter).await?;
    if let Some(text) = &args.filter {
        builds.retain(|b| b.name.contains(text.as_str()) || b.build_config.contains(text.as_str()));
    }
    let rendered = match io.format {
        OutputFormat::Json => output::builds_json(&builds),
        OutputFormat::Yaml => output::builds_yaml(&builds),
        OutputFormat::Name => output::names("build", builds.iter().map(|b| b.name.as_str())),
        _ => output::builds_table(&builds, &columns, now()),
    };
    io.out.write_all(rendered.as_bytes()).map_err(io_error)?;
    Ok(Outcome::Success)
}

/// `osbs rebuild-plan STREAM[:TAG]|IMAGE [--depth N]`: the plan, BuildConfigs whose
/// repository disabled autorebuilds marked; an unknown stream is an error with the closest
/// known names.
async fn rebuild_plan<B: Backend>(
    backend: &B,
    args: &crate::cli::RebuildPlanArgs,
    io: &mut Io<'_>,
) -> Result<Outcome, ClientError> {
    let root = osbs_core::trigger::plan_root(&args.stream_tag).map_err(|e| {
        let mut message = e.to_string();
        if args.stream_tag.contains('/') {
            message.push_str("; give an ImageStream tag (osbs-app:latest) or an image (osbs/app)");
        }
        ClientError::Usage(message)
    })?;
    let mut plan = backend.rebuild_plan(&root.stream, &root.tag).await?;
    if plan.is_empty() {
        unknown_stream_hint(backend, &root, &args.stream_tag).await?;
    }
    let disabled = autorebuild_disabled(backend, &plan).await?;
    plan.mark_autorebuild_disabled(|name| disabled.contains(name));
    if let Some(depth) = args.depth {
        plan.limit_depth(usize::try_from(depth).unwrap_or(usize::MAX));
    }
    let rendered = match io.format {
        OutputFormat::Json => output::json(&plan),
        OutputFormat::Yaml => output::yaml(&plan),
        OutputFormat::Name => output::names("bc", plan.build_configs()),
        OutputFormat::Dot => safe_text(&plan.render_dot()).into_owned(),
        OutputFormat::Mermaid => safe_text(&plan.render_mermaid()).into_owned(),
        OutputFormat::Text | OutputFormat::Wide => safe_text(&plan.render()).into_owned(),
    };
    io.out.write_all(rendered.as_bytes()).map_err(io_error)?;
    Ok(Outcome::Success)
}

/// The BuildConfigs of `plan` whose repository disabled autorebuilds, as the state records it
/// (`osbs_core::trigger::autorebuild_disabled`): only BuildConfigs with an autorebuild
/// cancelled for that reason are looked at further, so a plan over thousands of BuildConfigs
/// costs one indexed read of the cancelled builds.
async fn autorebuild_disabled<B: Backend>(
    backend: &B,
    plan: &osbs_core::trigger::RebuildPlan,
) -> Result<std::collections::HashSet<String>, ClientError> {
    let mut disabled = std::collections::HashSet::new();
    let in_plan: std::collections::HashSet<&str> = plan.build_configs().collect();
    if in_plan.is_empty() {
        return Ok(disabled);
    }
    let cancelled = backend.builds_in_phase(BuildPhase::Cancelled).await?;
    let candidates: std::collections::BTreeSet<&str> = cancelled
        .iter()
        .filter(|b| {
            b.reason.as_deref() == Some(osbs_core::trigger::AUTOREBUILD_DISABLED)
                && in_plan.contains(b.build_config.as_str())
        })
        .map(|b| b.build_config.as_str())
        .collect();
    for name in candidates {
        let config = backend.get_build_config(name).await?;
        let builds = backend
            .list_builds(&BuildFilter {
                build_config: Some(name.to_owned()),
                running: false,
            })
            .await?;
        if osbs_core::trigger::autorebuild_disabled(&config, &builds) {
            disabled.insert(name.to_owned());
        }
    }
    Ok(disabled)
}

/// An empty plan for a stream nobody knows (no ImageStream, no trigger on it) is a typo, not an
/// answer: a usage error naming the closest ImageStreams and triggers.
async fn unknown_stream_hint<B: Backend>(
    backend: &B,
    root: &ImageStreamTag,
    asked: &str,
) -> Result<(), ClientError> {
    let streams = backend.list_image_streams().await?;
    let configs = backend.list_build_configs().await?;
    let mut known: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    known.extend(
        configs
            .iter()
            .filter_map(|c| c.trigger.as_ref().map(|t| t.stream.as_str())),
    );
    if known.contains(&root.stream.as_str()) {
        return Ok(());
    }
    let produced: Vec<String> = configs.iter().filter_map(|c| c.image_stream()).collect();
    if produced.contains(&root.stream) {
        return Ok(());
    }
    known.extend(produced.iter().map(String::as_str));
    known.sort_unstable();
    known.dedup();
    let hint = match osbs_core::trigger::closest(&root.stream, known.iter().copied())[..] {
        [] if known.is_empty() => "; there are no image streams yet".to_owned(),
        [] => format!(
            "; known image streams: {}",
            known
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ref close => format!(
            "; did you mean {}?",
            close
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    let read_as = if asked == root.stream || asked == root.to_string() {
        String::new()
    } else {
        format!(" ({asked} is ImageStream tag {root})")
    };
    Err(ClientError::Usage(format!(
        "no image stream {}{read_as}{hint}",
        root.stream
    )))
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
        emit(
            io,
            &submitted.build,
            || output::names("build", [name.as_str()]),
            |_| format!("{shown}\n"),
        )?;
        if matches!(io.format, OutputFormat::Text | OutputFormat::Wide) {
            say!(io, "follow it with: osbs build-logs -f {shown}");
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
    let summary = || {
        let mut text = match (&finished.error, &finished.reason) {
            (Some(error), _) => format!("build {name} {}: {error}", finished.phase),
            (None, Some(reason)) => format!("build {name} {}: {reason}", finished.phase),
            (None, None) => format!("build {name} {}", finished.phase),
        };
        text = format!("{}\n", safe_text(&text));
        for r in finished
            .repositories
            .primary
            .iter()
            .chain(&finished.repositories.unique)
        {
            text.push_str(&format!("  {}\n", safe_line(r)));
        }
        text
    };
    emit(
        io,
        &finished,
        || output::names("build", [finished.name.as_str()]),
        |_| summary(),
    )?;
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
    let (config, file, directory) = if path.is_dir() {
        let config = RepoConfig::load(path).map_err(|e| ClientError::Usage(e.to_string()))?;
        let file = path.join(osbs_repo_config::DEFAULT_FILE_NAME);
        let file = file.exists().then(|| file.display().to_string());
        (config, file, Some(path.display().to_string()))
    } else {
        let config = RepoConfig::load_file(path).map_err(|e| ClientError::Usage(e.to_string()))?;
        (config, Some(path.display().to_string()), None)
    };
    for warning in config.warnings() {
        writeln!(io.err, "warning: {}", safe_line(&warning.to_string())).map_err(io_error)?;
    }
    let value = output::RepoConfigCheck {
        file,
        directory,
        autorebuild_enabled: config.autorebuild_enabled(),
        warnings: config.warnings().iter().map(ToString::to_string).collect(),
    };
    let shown = match (&value.file, &value.directory) {
        (Some(file), _) => file.clone(),
        (None, Some(dir)) => format!(
            "{} (absent: defaults apply)",
            Path::new(dir)
                .join(osbs_repo_config::DEFAULT_FILE_NAME)
                .display()
        ),
        (None, None) => String::new(),
    };
    let state = if value.autorebuild_enabled {
        "enabled"
    } else {
        "disabled"
    };
    let text = format!("{}: ok, autorebuild {state}\n", safe_line(&shown));
    let name = value
        .file
        .as_deref()
        .map_or_else(String::new, |f| format!("{}\n", safe_line(f)));
    emit(io, &value, || name, |_| text)?;
    Ok(Outcome::Success)
}

/// `osbs schema [NAME]`: one output's JSON Schema, or all of them by name.
///
/// # Errors
///
/// Only output that cannot be written.
pub fn schema(name: Option<&str>, io: &mut Io<'_>) -> Result<Outcome, ClientError> {
    let value = match name {
        Some(name) => {
            let found = crate::schema::find(name).map_err(ClientError::Usage)?;
            serde_json::to_value((found.schema)())
        }
        None => serde_json::to_value(
            crate::schema::OUTPUTS
                .iter()
                .map(|o| (o.name, (o.schema)()))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
    .unwrap_or(serde_json::Value::Null);
    let rendered = match io.format {
        OutputFormat::Yaml => output::yaml(&value),
        _ => output::json(&value),
    };
    io.out.write_all(rendered.as_bytes()).map_err(io_error)?;
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
                    OutputFormat::Name => format!("build/{}", safe_line(&build.name)),
                    OutputFormat::Json | OutputFormat::Yaml => {
                        output::json_line(&serde_json::json!({
                            "build": build.name,
                            "build_config": build.build_config,
                            "phase": build.phase,
                            "cause": build.cause.to_string(),
                        }))
                    }
                    _ => safe_line(&format!(
                        "{}  {}  {}  {}",
                        now(),
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
