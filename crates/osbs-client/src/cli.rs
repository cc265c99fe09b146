//! The `osbs` command line: clap types only (SPEC §7). What each command does is in
//! `commands`; how results are printed is in `output`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build container images from git repositories, push them to a registry, and rebuild them
/// whenever their base image is rebuilt.
///
/// Without a config file, `osbs` uses the embedded local backend: state in SQLite, builds on
/// this machine's Docker Engine, images pushed to the registry at 127.0.0.1:5000.
#[derive(Debug, Parser)]
#[command(
    name = "osbs",
    version,
    propagate_version = true,
    after_help = "Exit codes: 0 success, 1 build ended not Complete, 2 usage or configuration \
                  error, 3 backend or registry unreachable.\n\
                  Start with: osbs build -g <git url> -b <branch>"
)]
pub struct Cli {
    /// Options that apply to every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by all commands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file [default: $OSBS_CONFIG, else ~/.config/osbs/osbs.conf, else /etc/osbs.conf;
    /// none at all means local defaults]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Instance (section of the config file) to use
    #[arg(
        short = 'i',
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME",
        default_value = "default"
    )]
    pub instance: String,
    /// Output format of read commands (dot and mermaid: rebuild-plan only)
    #[arg(
        short = 'o',
        long,
        global = true,
        help_heading = "Global options",
        value_enum,
        default_value_t = OutputFormat::Text
    )]
    pub output: OutputFormat,
    /// Say more: which config, instance, backend and registry are used
    #[arg(short, long, global = true, help_heading = "Global options", action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Say only what was asked for and errors
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
    // The kubernetes backend's cluster and namespace (issue 11), as kubectl's flags.
    /// Kubeconfig file of the kubernetes backend [default: $KUBECONFIG, else ~/.kube/config]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PATH"
    )]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context of the kubernetes backend [default: the current-context]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub context: Option<String>,
    /// Namespace of the kubernetes backend [default: osbs.conf's namespace, else the
    /// context's, else default]
    #[arg(
        short = 'n',
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub namespace: Option<String>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: tables and `key: value` lines.
    Text,
    /// For programs: the stable JSON schema documented in docs/json-output.md.
    Json,
    /// The same document as `json`, as YAML.
    Yaml,
    /// Only the objects' names, `build/NAME`, `bc/NAME`, `is/NAME`, one a line.
    Name,
    /// Text with more columns.
    Wide,
    /// `rebuild-plan` as a Graphviz digraph.
    Dot,
    /// `rebuild-plan` as a Mermaid flowchart.
    Mermaid,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a git repository and branch (waits and streams the log)
    Build(BuildArgs),
    /// List builds, newest first
    ListBuilds(ListBuildsArgs),
    /// Show one build with its results (a BuildConfig or bc/NAME: its newest build)
    GetBuild(BuildNameArg),
    /// Wait for a build to finish, printing its phase changes
    WatchBuild(BuildNameArg),
    /// Print a build's log
    BuildLogs(BuildLogsArgs),
    /// Cancel a queued or running build
    CancelBuild(BuildNameArg),
    /// List BuildConfigs (one per git repository and branch)
    ListBuildConfigs,
    /// Show one BuildConfig: its trigger, labels and last user commit
    GetBuildConfig(BuildConfigNameArg),
    /// List ImageStreams (one per image name)
    ListImageStreams,
    /// Show one ImageStream with its tags and their history
    GetImageStream(StreamNameArg),
    /// Re-read an ImageStream's image from the registry; a changed digest fires its triggers
    ImportImage(ImportImageArgs),
    /// Show what an image change would autorebuild, as a tree
    RebuildPlan(RebuildPlanArgs),
    /// Check a repository config file (.osbs-repo-config)
    CheckRepoConfig(CheckRepoConfigArgs),
    /// Print a shell completion script
    ///
    /// For completion of build, BuildConfig and ImageStream names too, load the dynamic one
    /// instead: `source <(COMPLETE=bash osbs)` (zsh, fish, elvish, powershell alike).
    Completions(CompletionsArgs),
    /// Print the JSON Schema of what a read command prints with -o json
    Schema(SchemaArgs),
    /// Queue a build of a BuildConfig, or re-run an earlier build
    ///
    /// Builds the branch's newest commit, or the commit given; with --from-build, that build's
    /// commit and kind again (e.g. to retry a failed autorebuild).
    StartBuild(StartBuildArgs),
    /// Remove ended builds and their logs
    ///
    /// Never an active build, never a BuildConfig's newest Complete build.
    Prune(PruneArgs),
    /// Print every build phase change, one line each, until Ctrl-C
    WatchBuilds(WatchBuildsArgs),
    /// Remove an ended build and its log
    DeleteBuild(DeleteArgs),
    /// Remove a BuildConfig with all its builds
    DeleteBuildConfig(DeleteArgs),
    /// Run the local service in the foreground until SIGTERM
    ///
    /// Queue supervision, the concurrency cap, scheduled import of external base images,
    /// notifications and pruning; one `osbs serve` per state directory does the work.
    Serve,
    /// Run one queued build on this machine (used by the local backend's runners)
    #[command(name = "__run-build", hide = true)]
    RunBuild(RunBuildArgs),
}

/// `osbs build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Git URL of the repository (https, http, ssh, git or file)
    #[arg(short = 'g', long, value_name = "URL")]
    pub git_url: String,
    /// Branch to build
    #[arg(short = 'b', long, value_name = "BRANCH")]
    pub git_branch: String,
    /// Commit (or ref) to build instead of the branch head
    #[arg(long, value_name = "REF")]
    pub git_commit: Option<String>,
    /// Image name to use when the Dockerfile has no `name` label
    #[arg(short = 'c', long, value_name = "NAME")]
    pub component: Option<String>,
    /// Queue the build and return at once
    #[arg(long)]
    pub no_wait: bool,
    /// Wait for the build without streaming its log
    #[arg(long)]
    pub no_logs: bool,
    // Build variants (SPEC §3): checked by `osbs_core::variant::BuildVariant::validate`.
    /// Build and push only a unique tag: no release, no primary tags, no import, no triggers,
    /// the build config left alone
    #[arg(long, help_heading = "Build variants")]
    pub scratch: bool,
    /// Rebuild one release of an existing version (with --release): push version-release,
    /// never move version or latest, leave the build config alone, trigger nothing
    #[arg(long, help_heading = "Build variants")]
    pub isolated: bool,
    /// The release to build (fails if version-RELEASE is already in the registry)
    #[arg(long, value_name = "RELEASE", help_heading = "Build variants")]
    pub release: Option<String>,
    /// An extra tag to push besides the primary ones (repeatable)
    #[arg(
        short = 'A',
        long = "tag",
        value_name = "TAG",
        help_heading = "Build variants"
    )]
    pub tags: Vec<String>,
    /// A Docker build argument, NAME=VALUE (repeatable); kept on the build config, so
    /// autorebuilds use it too
    #[arg(
        long = "build-arg",
        value_name = "NAME=VALUE",
        help_heading = "Build variants"
    )]
    pub build_args: Vec<String>,
    /// Only update the build config (trigger, commit, build arguments); build nothing
    #[arg(long, help_heading = "Build variants", conflicts_with_all = ["no_wait", "no_logs"])]
    pub skip_build: bool,
}

/// `osbs list-builds`.
#[derive(Debug, Args)]
pub struct ListBuildsArgs {
    /// Only builds whose name or BuildConfig contains this text
    #[arg(value_name = "FILTER", add = crate::completion::builds())]
    pub filter: Option<String>,
    /// The columns of the text table, comma-separated (e.g. name,phase,age)
    #[arg(long, value_name = "COLUMNS", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Only builds of this BuildConfig
    #[arg(long, value_name = "NAME", add = crate::completion::build_configs())]
    pub build_config: Option<String>,
    /// Only queued and running builds
    #[arg(long)]
    pub running: bool,
}

/// A command that takes a BuildConfig.
#[derive(Debug, Args)]
pub struct BuildConfigNameArg {
    /// The BuildConfig (or `bc/NAME`)
    #[arg(value_name = "NAME", add = crate::completion::build_configs())]
    pub name: String,
}

/// A command that takes an ImageStream.
#[derive(Debug, Args)]
pub struct StreamNameArg {
    /// The ImageStream (or `is/NAME`)
    #[arg(value_name = "NAME", add = crate::completion::streams())]
    pub name: String,
}

/// A command that takes a build, or a BuildConfig meaning its newest build.
#[derive(Debug, Args)]
pub struct BuildNameArg {
    /// The build, or a BuildConfig (`bc/NAME`) for its newest build
    #[arg(value_name = "BUILD", add = crate::completion::builds())]
    pub name: String,
}

/// `osbs build-logs`.
#[derive(Debug, Args)]
pub struct BuildLogsArgs {
    /// The build, or a BuildConfig (`bc/NAME`) for its newest build
    #[arg(value_name = "BUILD", add = crate::completion::builds())]
    pub name: String,
    /// Keep printing new lines until the build finishes
    #[arg(short, long)]
    pub follow: bool,
    /// Wait up to this long (e.g. 30s; 5m when given alone) for the build to exist and start
    /// logging
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, num_args = 0..=1, default_missing_value = "5m")]
    pub wait_if_missing: Option<u64>,
    /// Prefix each line with the time it was logged (RFC 3339)
    #[arg(long)]
    pub timestamps: bool,
}

/// `osbs import-image`.
#[derive(Debug, Args)]
pub struct ImportImageArgs {
    /// The ImageStream's name
    pub name: String,
    /// Only this tag [default: every tag of the stream]
    #[arg(long)]
    pub tag: Option<String>,
}

/// `osbs rebuild-plan`.
#[derive(Debug, Args)]
pub struct RebuildPlanArgs {
    /// The ImageStream tag whose change is planned: `STREAM[:TAG]` (tag defaults to latest),
    /// or an image reference such as `osbs/app` or `host:port/osbs/app:tag`
    #[arg(value_name = "STREAM[:TAG]|IMAGE", add = crate::completion::streams())]
    pub stream_tag: String,
    /// Only this many levels of the tree
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub depth: Option<u32>,
}

/// `osbs check-repo-config`.
#[derive(Debug, Args)]
pub struct CheckRepoConfigArgs {
    /// The file, or a repository directory holding .osbs-repo-config [default: .]
    pub path: Option<PathBuf>,
}

/// `osbs schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The output: build, build-list, build-config, image-stream, rebuild-plan, import-image,
    /// check-repo-config [default: all of them, by name]
    #[arg(value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(
        crate::schema::OUTPUTS.iter().map(|o| o.name)
    ))]
    pub name: Option<String>,
}

/// `osbs completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `osbs __run-build` (hidden).
#[derive(Debug, Args)]
pub struct RunBuildArgs {
    /// The build to run
    pub name: String,
    /// The run's lease, given by the engine that started it
    #[arg(long)]
    pub lease: String,
}

/// `osbs start-build`.
#[derive(Debug, Args)]
pub struct StartBuildArgs {
    /// The BuildConfig (or `bc/NAME`)
    pub build_config: String,
    /// Commit (or ref) to build instead of the branch's newest commit
    #[arg(long, value_name = "REF", conflicts_with = "from_build")]
    pub commit: Option<String>,
    /// Re-run this build's commit and kind (an autorebuild stays an autorebuild)
    #[arg(long, value_name = "BUILD")]
    pub from_build: Option<String>,
}

/// `osbs prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Ended builds kept per BuildConfig, newest first [default: keep_builds, 50]
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Only remove builds that ended longer ago than this (e.g. 7d, 12h, 30m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<u64>,
}

/// A duration such as `7d` in milliseconds.
fn parse_duration(value: &str) -> Result<u64, String> {
    osbs_core::time::parse_duration_ms(value).map_err(|e| e.to_string())
}

/// `osbs delete-build`, `osbs delete-build-config`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The build or BuildConfig
    pub name: String,
    /// Cancel what is queued or running first, then delete
    #[arg(long)]
    pub force: bool,
}

/// `osbs watch-builds`.
#[derive(Debug, Args)]
pub struct WatchBuildsArgs {
    /// Only the builds of this BuildConfig
    #[arg(long, value_name = "NAME")]
    pub build_config: Option<String>,
    /// Stop after this long (e.g. 10m) instead of at Ctrl-C
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<u64>,
}
