//! The `osbs-registry-sync` command line: argument parsing, credentials lookup, progress bars
//! and the summary output. `main.rs` only calls [`main`].
//!
//! Exit codes: 0 success, 1 the copy or sync failed, 2 usage or configuration error, 3 a
//! registry could not be reached.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use osbs_core::ImageReference;
use osbs_core::auth::{Credential, Secret};

use crate::progress::{LayerBars, format_bytes};
use crate::{
    ClientOptions, CopyOptions, Credentials, Error, ImageStatus, PlannedTag, Progress,
    RegistryClient, RegistryEndpoint, RetryPolicy, Summary, SyncOptions,
};

/// Copy container images between registries, digests preserved and verified.
#[derive(Debug, Parser)]
#[command(
    name = "osbs-registry-sync",
    version,
    max_term_width = 100,
    after_help = "Exit codes: 0 success, 1 the copy or sync failed, 2 usage or configuration \
                  error, 3 a registry could not be reached."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Copy one image (by tag or digest) to another registry or repository.
    ///
    /// SRC and DST are image references such as 127.0.0.1:5000/osbs/app:1.0 or
    /// quay.io/org/app@sha256:...; an optional docker://, http:// or https:// prefix is
    /// accepted (http:// forces plain HTTP; loopback registries use it anyway). Without a tag
    /// or digest, SRC means :latest and DST takes SRC's tag (or only SRC's digest).
    Copy {
        /// The image to read.
        src: String,
        /// Where to write it.
        dst: String,
        #[command(flatten)]
        sides: TwoSides,
    },
    /// Copy every tag of a repository (or those matching --tags) into another registry, as
    /// `skopeo sync --src docker --dest docker SRC DST` does.
    ///
    /// SRC is a repository, e.g. 127.0.0.1:5000/osbs/app (with :TAG, only that tag). DST is a
    /// registry with an optional namespace, e.g. 127.0.0.1:5001/mirror: the image goes to
    /// DST/<the last path component of SRC>, here 127.0.0.1:5001/mirror/app. Tags whose digest
    /// already matches cost one HEAD per side; tags only present at the destination are left
    /// alone.
    Sync {
        /// Source transport; only `docker` (a registry) is supported.
        #[arg(long, value_name = "TRANSPORT")]
        src: String,
        /// Destination transport; only `docker` (a registry) is supported.
        #[arg(long, value_name = "TRANSPORT")]
        dest: String,
        /// Source repository, e.g. 127.0.0.1:5000/osbs/app.
        #[arg(value_name = "SRC")]
        source: Option<String>,
        /// Destination registry and namespace, e.g. 127.0.0.1:5001/mirror.
        #[arg(value_name = "DST")]
        destination: Option<String>,
        /// Only tags matching this regex (unanchored; write ^...$ for whole tags).
        #[arg(long, value_name = "REGEX")]
        tags: Option<String>,
        /// Images compared or copied at once (blob transfers are bounded by --blob-jobs).
        #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
        /// Print what would be copied (each tag's digest on both sides) and copy nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        sides: TwoSides,
    },
    /// Print an image's digest, tags, platform, labels and layers as JSON (`skopeo inspect`).
    Inspect {
        /// The image, e.g. docker://127.0.0.1:5000/osbs/app:1.0 (without tag: :latest).
        image: String,
        /// Print the manifest exactly as the registry serves it.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        side: OneSide,
    },
    /// Print a repository's tags as JSON (`skopeo list-tags`).
    ListTags {
        /// The repository, e.g. docker://127.0.0.1:5000/osbs/app.
        repository: String,
        #[command(flatten)]
        side: OneSide,
    },
}

/// Credentials and TLS of the source and the destination (skopeo's flags).
#[derive(Debug, Args)]
struct TwoSides {
    /// Source credential, USER:PASSWORD (USER alone: the password is read from standard
    /// input). Overrides --authfile for the source; visible to other users in a process
    /// listing, so prefer --authfile.
    #[arg(long, value_name = "USER[:PASSWORD]", value_parser = parse_creds)]
    src_creds: Option<Creds>,
    /// Destination credential, as --src-creds.
    #[arg(long, value_name = "USER[:PASSWORD]", value_parser = parse_creds)]
    dest_creds: Option<Creds>,
    /// Verify the source registry's TLS certificate.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    src_tls_verify: bool,
    /// Verify the destination registry's TLS certificate.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    dest_tls_verify: bool,
    /// Directory whose *.crt files are CA certificates for the source registry.
    #[arg(long, value_name = "DIR")]
    src_cert_dir: Option<PathBuf>,
    /// Directory whose *.crt files are CA certificates for the destination registry.
    #[arg(long, value_name = "DIR")]
    dest_cert_dir: Option<PathBuf>,
}

/// Credentials and TLS of the one registry read (skopeo's flags).
#[derive(Debug, Args)]
struct OneSide {
    /// Credential, USER:PASSWORD (USER alone: the password is read from standard input).
    /// Overrides --authfile; visible to other users in a process listing, so prefer
    /// --authfile.
    #[arg(long, value_name = "USER[:PASSWORD]", value_parser = parse_creds)]
    creds: Option<Creds>,
    /// Verify the registry's TLS certificate.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Directory whose *.crt files are CA certificates for the registry.
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
}

/// A `--creds` value. `Debug` never shows the password.
#[derive(Debug, Clone)]
struct Creds {
    username: String,
    password: Option<Secret>,
}

/// Never fails: clap would quote the value (which may hold a password) in its error. An
/// empty user name is refused when the credential is used.
fn parse_creds(value: &str) -> Result<Creds, std::convert::Infallible> {
    let (username, password) = match value.split_once(':') {
        Some((user, password)) => (user, Some(Secret::new(password))),
        None => (value, None),
    };
    Ok(Creds {
        username: username.to_owned(),
        password,
    })
}

/// How one side of a command reaches its registry.
struct Side<'a> {
    creds: Option<&'a Creds>,
    tls_verify: bool,
    cert_dir: Option<&'a PathBuf>,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Docker config with registry credentials (.dockercfg, config.json or auth.json; its
    /// credHelpers and credsStore are asked through docker-credential-*) [default: the files
    /// docker, podman and skopeo read: $REGISTRY_AUTH_FILE,
    /// $XDG_RUNTIME_DIR/containers/auth.json, $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json, ~/.dockercfg; the first with an entry for the registry wins].
    #[arg(long, global = true, value_name = "PATH")]
    authfile: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust for every TLS registry.
    #[arg(long, global = true, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Blobs transferred at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    blob_jobs: u16,
    /// Retries after a connection error, 429 or 5xx (exponential backoff with jitter).
    #[arg(long, global = true, value_name = "N", default_value_t = 4)]
    retries: u32,
    /// Format of the summary on stdout (inspect and list-tags always print JSON).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// One line per image and a total.
    Text,
    /// The summary as a JSON object.
    Json,
}

/// Why the command failed, with its exit code.
enum Failure {
    /// Bad arguments or configuration (exit 2).
    Usage(String),
    /// The operation failed (exit 1, or 3 when a registry is unreachable). Boxed: the
    /// error's context fields make it large.
    Run(Box<Error>),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Run(Box::new(err))
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("osbs-registry-sync: error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(err)) => {
            eprintln!("osbs-registry-sync: error: {}", chain(&*err));
            let code = match &*err {
                err if err.is_unreachable() => 3,
                Error::V1Registry { .. }
                | Error::InvalidRegistry { .. }
                | Error::InvalidReference { .. }
                | Error::CaFile { .. }
                | Error::InvalidCaFile { .. }
                | Error::UnsupportedCredential { .. }
                | Error::AuthFile { .. }
                | Error::CredentialHelper { .. }
                | Error::UntrustedCertificate { .. }
                | Error::TagFilter { .. } => 2,
                _ => 1,
            };
            ExitCode::from(code)
        }
    }
}

/// `error: cause: cause`, each source once.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// What a command prints on success.
enum Outcome {
    /// A copy's or sync's summary, in the `--output` format.
    Summary(Summary),
    /// Text printed as it is (inspect, list-tags, a dry run).
    Text(String),
}

fn run(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    let credentials = Credentials::from_secret_or_environment(global.authfile.as_deref())?;
    let client_options = ClientOptions {
        ca_file: global.ca_file.clone(),
        retry: RetryPolicy {
            max_retries: global.retries,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    };
    let bars =
        (!global.quiet && std::io::stderr().is_terminal()).then(|| Arc::new(LayerBars::stderr()));
    let copy_options = CopyOptions {
        blob_jobs: usize::from(global.blob_jobs),
        progress: bars.clone().map(|bars| bars as Arc<dyn Progress>),
    };
    let cx = RunContext {
        credentials: &credentials,
        options: &client_options,
    };
    // One thread: the work is waiting on sockets plus hashing (SHA-NI, > 1 GB/s on one core).
    // Against a multi-threaded runtime it measured equal on a 300 MB copy and used a third
    // less CPU and a third of the context switches on a 100-tag re-sync, CPU that the
    // registries on the same machine can use.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::Usage(format!("cannot start the async runtime: {err}")))?;
    let outcome = runtime.block_on(async {
        match &cli.command {
            Command::Copy { src, dst, sides } => {
                let src = ImageArg::parse(src)?;
                let dst = ImageArg::parse(dst)?;
                let src_registry = src.client(&cx, &sides.source())?;
                let dst_registry = dst.client(&cx, &sides.destination())?;
                let reference = src
                    .reference
                    .digest()
                    .unwrap_or_else(|| src.reference.tag_or_latest())
                    .to_owned();
                let dst_tag = match (dst.reference.tag(), dst.reference.digest()) {
                    (Some(tag), _) => Some(tag.to_owned()),
                    (None, Some(_)) => None,
                    (None, None) => src.reference.tag().map(str::to_owned).or_else(|| {
                        src.reference
                            .digest()
                            .is_none()
                            .then(|| "latest".to_owned())
                    }),
                };
                let summary = crate::copy_image(
                    &src_registry.repository(src.reference.repository()),
                    &reference,
                    &dst_registry.repository(dst.reference.repository()),
                    dst_tag.as_deref(),
                    &copy_options,
                )
                .await?;
                if let (Some(wanted), Some(image)) =
                    (dst.reference.digest(), summary.images.first())
                    && wanted != image.digest
                {
                    return Err(Failure::Usage(format!(
                        "destination digest {wanted} differs from the source's {}",
                        image.digest
                    )));
                }
                Ok(Outcome::Summary(summary))
            }
            Command::Sync {
                src,
                dest,
                source,
                destination,
                tags,
                jobs,
                dry_run,
                sides,
            } => {
                // The transports first: the form before skopeo's (`--src REPO --dest REPO`,
                // no positionals) gets an explanation, not a missing-argument error.
                check_transport("--src", src)?;
                check_transport("--dest", dest)?;
                let (Some(source), Some(destination)) = (source, destination) else {
                    return Err(Failure::Usage(
                        "sync needs SRC and DST: osbs-registry-sync sync --src docker --dest \
                         docker SRC DST"
                            .to_owned(),
                    ));
                };
                let src = ImageArg::parse(source)?;
                if src.reference.digest().is_some() {
                    return Err(Failure::Usage(format!(
                        "sync source {source:?} must be a repository, optionally with a tag, \
                         not a digest (use copy for one image)"
                    )));
                }
                let dst = SyncDestination::parse(destination, src.reference.repository())?;
                let src_registry = src.client(&cx, &sides.source())?;
                let dst_registry = client_for(&dst.uri, &cx, &sides.destination())?;
                let mut options = SyncOptions {
                    image_jobs: usize::from(*jobs),
                    copy: copy_options.clone(),
                    ..SyncOptions::default()
                };
                if let Some(pattern) = tags {
                    options = options.with_tag_filter(pattern)?;
                }
                // SRC:TAG syncs that tag only (if --tags, too, lets it through).
                if let Some(tag) = src.reference.tag() {
                    let wanted = options.tags.as_ref().is_none_or(|re| re.is_match(tag));
                    let exact = if wanted {
                        format!("^{}$", regex::escape(tag))
                    } else {
                        "^$".to_owned()
                    };
                    options = options.with_tag_filter(&exact)?;
                }
                let src_repo = src_registry.repository(src.reference.repository());
                let dst_repo = dst_registry.repository(&dst.repository);
                if *dry_run {
                    let plan = crate::plan_sync(&src_repo, &dst_repo, &options).await?;
                    return Ok(Outcome::Text(dry_run_report(
                        &plan,
                        &format!("{}/{}", src_registry.endpoint().name(), src_repo.name()),
                        &format!("{}/{}", dst_registry.endpoint().name(), dst_repo.name()),
                        global.output,
                    )?));
                }
                Ok(Outcome::Summary(
                    crate::sync_repository(&src_repo, &dst_repo, &options).await?,
                ))
            }
            Command::Inspect { image, raw, side } => {
                let arg = ImageArg::parse(image)?;
                let registry = arg.client(&cx, &side.side())?;
                let repository = registry.repository(arg.reference.repository());
                let reference = arg
                    .reference
                    .digest()
                    .unwrap_or_else(|| arg.reference.tag_or_latest());
                if *raw {
                    let manifest = repository.manifest(reference).await?;
                    return Ok(Outcome::Text(format!(
                        "{}\n",
                        String::from_utf8_lossy(&manifest.bytes).trim_end()
                    )));
                }
                let inspection = crate::inspect_image(&repository, reference).await?;
                Ok(Outcome::Text(json_text(&inspection)?))
            }
            Command::ListTags { repository, side } => {
                let arg = ImageArg::parse_repository(repository)?;
                let registry = arg.client(&cx, &side.side())?;
                let mut tags = registry
                    .repository(arg.reference.repository())
                    .tags()
                    .await?;
                tags.sort();
                let listing = serde_json::json!({
                    "Repository": format!("{}/{}", registry.endpoint().name(), arg.reference.repository()),
                    "Tags": tags,
                });
                Ok(Outcome::Text(json_text(&listing)?))
            }
        }
    });
    if let Some(bars) = &bars {
        bars.clear();
    }
    match outcome? {
        Outcome::Text(text) => print!("{text}"),
        Outcome::Summary(summary) => match global.output {
            Output::Text => print!("{}", text_summary(&summary)),
            Output::Json => println!("{}", json_text(&summary)?.trim_end()),
        },
    }
    Ok(())
}

fn json_text(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|json| format!("{json}\n"))
        .map_err(|err| Failure::Usage(format!("cannot print the result: {err}")))
}

/// `sync --src`/`--dest` take a transport, as in skopeo; the repositories are positional.
fn check_transport(flag: &str, value: &str) -> Result<(), Failure> {
    match value {
        "docker" => Ok(()),
        "dir" | "yaml" | "oci" | "docker-archive" | "oci-archive" | "containers-storage" => {
            Err(Failure::Usage(format!(
                "{flag} {value}: only the docker transport (a registry) is supported"
            )))
        }
        _ => Err(Failure::Usage(format!(
            "{flag} takes a transport, as in skopeo sync, not a repository ({value:?}); write: \
             osbs-registry-sync sync --src docker --dest docker SRC DST, with SRC the source \
             repository and DST the destination registry and namespace (the image goes to \
             DST/<last component of SRC>)"
        ))),
    }
}

/// The destination of a sync: `DST/<last path component of the source repository>`.
struct SyncDestination {
    uri: String,
    repository: String,
}

impl SyncDestination {
    fn parse(input: &str, source_repository: &str) -> Result<Self, Failure> {
        let (scheme, rest) = split_scheme(input);
        let rest = rest.trim_end_matches('/');
        let (host, namespace) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() || host.contains(['@']) || namespace.contains([':', '@']) {
            return Err(Failure::Usage(format!(
                "sync destination {input:?} must be a registry with an optional namespace, \
                 e.g. 127.0.0.1:5001/mirror (no tag or digest)"
            )));
        }
        let last = source_repository
            .rsplit('/')
            .next()
            .unwrap_or(source_repository);
        let repository = if namespace.is_empty() {
            last.to_owned()
        } else {
            format!("{namespace}/{last}")
        };
        // The whole name must be a valid reference.
        ImageReference::parse(&format!("{host}/{repository}")).map_err(|source| {
            Error::InvalidReference {
                input: input.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            uri: registry_uri(scheme, host),
            repository,
        })
    }
}

/// What `sync --dry-run` prints.
fn dry_run_report(
    plan: &[PlannedTag],
    source: &str,
    destination: &str,
    output: Output,
) -> Result<String, Failure> {
    if output == Output::Json {
        return json_text(&serde_json::json!({
            "source": source,
            "destination": destination,
            "tags": plan,
        }));
    }
    let mut text = String::new();
    for tag in plan {
        let verb = if tag.copy { "would copy" } else { "unchanged" };
        text.push_str(&format!(
            "{verb} {source}:{} -> {destination}:{} ({})\n",
            tag.tag, tag.tag, tag.digest
        ));
    }
    let copies = plan.iter().filter(|t| t.copy).count();
    text.push_str(&format!(
        "dry run: {copies} of {} tags would be copied, nothing was\n",
        plan.len()
    ));
    Ok(text)
}

/// The credential store and client options shared by every side.
struct RunContext<'a> {
    credentials: &'a Credentials,
    options: &'a ClientOptions,
}

impl TwoSides {
    fn source(&self) -> Side<'_> {
        Side {
            creds: self.src_creds.as_ref(),
            tls_verify: self.src_tls_verify,
            cert_dir: self.src_cert_dir.as_ref(),
        }
    }

    fn destination(&self) -> Side<'_> {
        Side {
            creds: self.dest_creds.as_ref(),
            tls_verify: self.dest_tls_verify,
            cert_dir: self.dest_cert_dir.as_ref(),
        }
    }
}

impl OneSide {
    fn side(&self) -> Side<'_> {
        Side {
            creds: self.creds.as_ref(),
            tls_verify: self.tls_verify,
            cert_dir: self.cert_dir.as_ref(),
        }
    }
}

/// A client for `uri` with the side's credential (its --creds, else the auth files) and TLS.
fn client_for(uri: &str, cx: &RunContext<'_>, side: &Side<'_>) -> Result<RegistryClient, Failure> {
    let endpoint = RegistryEndpoint::parse(uri)?;
    let options = ClientOptions {
        verify_tls: side.tls_verify,
        ca_dir: side.cert_dir.cloned(),
        ..cx.options.clone()
    };
    let credential = match side.creds {
        Some(creds) if creds.username.is_empty() => {
            return Err(Failure::Usage(
                "a --creds value has an empty user name (expected USER[:PASSWORD])".to_owned(),
            ));
        }
        Some(creds) => Some(Credential::Basic {
            username: creds.username.clone(),
            password: match &creds.password {
                Some(password) => password.clone(),
                None => read_password(&creds.username)?,
            },
        }),
        None => cx.credentials.resolve(endpoint.name())?,
    };
    Ok(RegistryClient::with_credential(
        endpoint, credential, &options,
    )?)
}

/// The password of a `--creds USER`: the first line of standard input.
fn read_password(username: &str) -> Result<Secret, Failure> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|err| {
        Failure::Usage(format!(
            "cannot read the password of {username} from standard input: {err}"
        ))
    })?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(Failure::Usage(format!(
            "no password for {username} on standard input (give USER:PASSWORD, or the password \
             as the first line of standard input)"
        )));
    }
    Ok(Secret::new(password))
}

/// `docker://`, `http://` or `https://` off the front of `input`, and the scheme to force.
fn split_scheme(input: &str) -> (Option<&'static str>, &str) {
    if let Some(rest) = input.strip_prefix("docker://") {
        (None, rest)
    } else if let Some(rest) = input.strip_prefix("http://") {
        (Some("http"), rest)
    } else if let Some(rest) = input.strip_prefix("https://") {
        (Some("https"), rest)
    } else {
        (None, input)
    }
}

/// `host` with the scheme [`split_scheme`] took off the argument, if any.
fn registry_uri(scheme: Option<&str>, host: &str) -> String {
    match scheme {
        Some(scheme) => format!("{scheme}://{host}"),
        None => host.to_owned(),
    }
}

/// An image reference from the command line, with the scheme it may have carried.
struct ImageArg {
    scheme: Option<&'static str>,
    reference: ImageReference,
}

impl ImageArg {
    fn parse(input: &str) -> Result<Self, Failure> {
        let (scheme, rest) = split_scheme(input);
        let reference = ImageReference::parse(rest).map_err(|source| Error::InvalidReference {
            input: input.to_owned(),
            source,
        })?;
        Ok(Self { scheme, reference })
    }

    fn parse_repository(input: &str) -> Result<Self, Failure> {
        let arg = Self::parse(input)?;
        if arg.reference.tag().is_some() || arg.reference.digest().is_some() {
            return Err(Failure::Usage(format!(
                "{input:?} must be a repository, without tag or digest"
            )));
        }
        Ok(arg)
    }

    fn client(&self, cx: &RunContext<'_>, side: &Side<'_>) -> Result<RegistryClient, Failure> {
        client_for(
            &registry_uri(self.scheme, self.reference.registry()),
            cx,
            side,
        )
    }
}

fn text_summary(summary: &Summary) -> String {
    let mut text = String::new();
    for image in &summary.images {
        let verb = match image.status {
            ImageStatus::Copied => "copied",
            ImageStatus::Skipped => "unchanged",
        };
        text.push_str(&format!(
            "{verb} {} -> {} ({})\n",
            image.source, image.destination, image.digest
        ));
    }
    text.push_str(&format!(
        "images: {} copied, {} unchanged; blobs: {} copied ({}), {} skipped, {} mounted; {:.2} s\n",
        summary.images_copied,
        summary.images_skipped,
        summary.blobs_copied,
        format_bytes(summary.bytes_copied),
        summary.blobs_skipped,
        summary.blobs_mounted,
        summary.duration.as_secs_f64(),
    ));
    text
}
