//! The `osbs-controller` command line: `run` (the controller, with leader election, its
//! probe and metrics endpoint and its logs) and `crds` (the CustomResourceDefinitions as YAML,
//! what `deploy/crds.yaml` holds). Every option of `run` can also be set through its
//! environment variable (the Deployment in `deploy/controller.yaml` does), as osbs.conf's keys
//! of SPEC §10 are for the local service.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use osbs_core::notify::{EventKind, default_notify_on, parse_notify_on};
use osbs_engine::{EngineSettings, NotifySettings, notify::SmtpSettings};
use osbs_kube::pod::DEFAULT_DIND_IMAGE;
use osbs_kube::{DockerMode, PodSettings};

use crate::ControllerError;
use crate::leader::LeaderElector;
use crate::logging::{self, LogFormat};
use crate::metrics::Metrics;
use crate::probes::{self, Health};
use crate::reconcile::Settings;
use crate::runtime::{self, ControllerSettings};

/// A round runs at least this often, changes or not.
const TICK: Duration = Duration::from_secs(10);

/// `--import-interval`: a duration, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportInterval(pub Option<Duration>);

fn parse_import_interval(value: &str) -> Result<ImportInterval, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(ImportInterval(None));
    }
    osbs_core::time::parse_duration_ms(value)
        .ok()
        .filter(|ms| *ms > 0)
        .map(|ms| ImportInterval(Some(Duration::from_millis(ms))))
        .ok_or_else(|| format!("expected a duration such as 15m or 2s, or off, not {value:?}"))
}

fn parse_max_builds(value: &str) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a number of builds, at least 1, not {value:?}"))
}

fn parse_notify_kinds(value: &str) -> Result<BTreeSet<EventKind>, String> {
    parse_notify_on(value).map_err(|e| e.to_string())
}

/// An entry of a comma-separated list option (`--notify-webhook`,
/// `--allowed-build-secrets`): trimmed, and `None` when blank, so that an empty value (a
/// templated manifest's `OSBS_ALLOWED_BUILD_SECRETS=`), `a, b` and a trailing comma all mean
/// what they say rather than stopping the controller.
fn list_entry(
    value: &str,
    parse: impl Fn(&str) -> Result<String, String>,
) -> Result<Option<String>, String> {
    match value.trim() {
        "" => Ok(None),
        entry => parse(entry).map(Some),
    }
}

/// The entries of a list option, blank ones left out.
fn entries(values: &[Option<String>]) -> Vec<String> {
    values.iter().flatten().cloned().collect()
}

/// `--notify-webhook`: an http(s) URL.
fn parse_webhook(value: &str) -> Result<Option<String>, String> {
    list_entry(value, |url| {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(url.to_owned())
        } else {
            // Not the value itself: a webhook URL may carry a token.
            Err("expected an http:// or https:// URL".to_owned())
        }
    })
}

/// `--allowed-build-secrets`: the name of a Secret (a DNS-1123 subdomain).
fn parse_secret_name(value: &str) -> Result<Option<String>, String> {
    list_entry(value, |name| {
        if osbs_core::naming::is_dns1123_subdomain(name) {
            Ok(name.to_owned())
        } else {
            Err("expected the name of a Secret (a DNS-1123 subdomain)".to_owned())
        }
    })
}

/// `--notify-smtp`: `host:port` of an SMTP relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

fn parse_relay(value: &str) -> Result<Relay, String> {
    value
        .rsplit_once(':')
        .and_then(|(host, port)| {
            Some(Relay {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port: port.parse().ok()?,
            })
        })
        .filter(|r| !r.host.is_empty())
        .ok_or_else(|| format!("expected host:port of an SMTP relay, not {value:?}"))
}

/// The OSBS Kubernetes controller.
#[derive(Debug, Parser)]
#[command(name = "osbs-controller", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `osbs-controller` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
}

/// Options of `osbs-controller run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The namespace to manage.
    #[arg(long, env = "OSBS_NAMESPACE", default_value = "osbs", value_parser = NonEmptyStringValueParser::new())]
    pub namespace: String,
    /// The reactor image of build Pods.
    #[arg(long, env = "OSBS_REACTOR_IMAGE", default_value = "osbs-reactor:dev", value_parser = NonEmptyStringValueParser::new())]
    pub reactor_image: String,
    /// The Docker-in-Docker sidecar image (pinned to a release; add `@sha256:…` to pin its
    /// digest too).
    #[arg(long, env = "OSBS_DIND_IMAGE", default_value = DEFAULT_DIND_IMAGE, value_parser = NonEmptyStringValueParser::new())]
    pub dind_image: String,
    /// Use the node's Docker socket at this path instead of a dind sidecar (empty: the
    /// sidecar, as unset).
    #[arg(long, env = "OSBS_DOCKER_SOCKET")]
    pub docker_socket: Option<String>,
    /// The service account of build Pods.
    #[arg(
        long,
        env = "OSBS_BUILDER_SERVICE_ACCOUNT",
        default_value = "osbs-builder",
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub builder_service_account: String,
    /// The registry builds push to when their BuildConfig names none.
    #[arg(
        long,
        env = "OSBS_DEFAULT_REGISTRY",
        default_value = "registry.osbs.svc:5000",
        value_parser = NonEmptyStringValueParser::new()
    )]
    pub default_registry: String,
    /// Seconds a build Pod may stay Pending (or not be created) before its build ends Error.
    #[arg(long, env = "OSBS_PENDING_TIMEOUT", default_value_t = 600)]
    pub pending_timeout: u64,
    /// Seconds a cancelled build's reactor gets for its exit plugins.
    #[arg(long, env = "OSBS_CANCEL_GRACE", default_value_t = 60)]
    pub cancel_grace: i64,
    /// Running builds across all BuildConfigs (`max_concurrent_builds`); unlimited unless set.
    #[arg(long, env = "OSBS_MAX_CONCURRENT_BUILDS", value_parser = parse_max_builds)]
    pub max_concurrent_builds: Option<usize>,
    /// How often external base images are re-read from their registries (`import_interval`):
    /// a duration such as `15m`, `2s`, `1h30m`, or `off`.
    #[arg(long, env = "OSBS_IMPORT_INTERVAL", default_value = "15m", value_parser = parse_import_interval)]
    pub import_interval: ImportInterval,
    /// The Secret (`kubernetes.io/dockerconfigjson`) with the registry credentials of the
    /// scheduled import; the controller needs `get` on it (deploy/rbac.yaml).
    #[arg(long, env = "OSBS_REGISTRY_SECRET")]
    pub registry_secret: Option<String>,
    /// The ConfigMap whose key `ca.crt` holds extra CA certificates (PEM) for the registries
    /// of the imports: the same name as `registry_ca` in the kubernetes instance's osbs.conf
    /// (which the build Pods mount); the controller needs `get` on it (deploy/rbac.yaml).
    #[arg(long, env = "OSBS_REGISTRY_CA", value_name = "CONFIGMAP")]
    pub registry_ca: Option<String>,
    /// The Secrets build Pods may mount as build secrets (osbs.conf `build_secrets = ID=SECRET`
    /// of the kubernetes instance names them); repeat it, or separate names with commas. A
    /// build whose BuildConfig names another ends `Error`; unset or empty, none is allowed.
    #[arg(long = "allowed-build-secrets", env = "OSBS_ALLOWED_BUILD_SECRETS", value_name = "SECRET", value_delimiter = ',', value_parser = parse_secret_name)]
    pub allowed_build_secrets: Vec<Option<String>>,
    /// Whether the imports verify registries' TLS certificates: `false` as osbs.conf's
    /// `verify_ssl = false`.
    #[arg(long, env = "OSBS_VERIFY_SSL", default_value_t = true, action = clap::ArgAction::Set)]
    pub verify_ssl: bool,
    /// Ended builds kept per BuildConfig by pruning (`keep_builds`).
    #[arg(long, env = "OSBS_KEEP_BUILDS", default_value_t = 50)]
    pub keep_builds: usize,
    /// A URL that gets an HTTP POST of `{"event": KIND, "build": {...}}` when a build ends
    /// (`notify_webhook`); repeat it, or separate URLs with commas (empty: none).
    #[arg(long = "notify-webhook", env = "OSBS_NOTIFY_WEBHOOK", value_delimiter = ',', value_parser = parse_webhook)]
    pub notify_webhooks: Vec<Option<String>>,
    /// The kinds of build ends notified (`notify_on`): `auto_fail`, `auto_canceled`,
    /// `auto_success`, `manual_fail`, `manual_canceled`, `manual_success`, comma-separated.
    #[arg(long, env = "OSBS_NOTIFY_ON", value_parser = parse_notify_kinds)]
    pub notify_on: Option<BTreeSet<EventKind>>,
    /// `host:port` of an SMTP relay for notification emails (`notify_smtp`; plain SMTP, no
    /// authentication); needs `--notify-from` and `--notify-to`.
    #[arg(long, env = "OSBS_NOTIFY_SMTP", value_parser = parse_relay)]
    pub notify_smtp: Option<Relay>,
    /// The sender of notification emails (`notify_from`).
    #[arg(long, env = "OSBS_NOTIFY_FROM")]
    pub notify_from: Option<String>,
    /// A recipient of notification emails (`notify_to`); repeat it, or separate addresses with
    /// commas.
    #[arg(long = "notify-to", env = "OSBS_NOTIFY_TO", value_delimiter = ',')]
    pub notify_to: Vec<String>,
    /// The Lease used for leader election.
    #[arg(long, default_value = "osbs-controller")]
    pub lease_name: String,
    /// This replica's identity in the Lease (the Pod name).
    #[arg(long, env = "POD_NAME", default_value = "osbs-controller")]
    pub identity: String,
    /// Run without leader election (a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    #[arg(long, env = "OSBS_PROBE_ADDR", default_value = "0.0.0.0:8081")]
    pub probe_addr: SocketAddr,
    /// How logs are written to stderr: `text` (colours only on a terminal) or `json` (one
    /// object per line). `RUST_LOG` filters them (default `info`).
    #[arg(long, env = "OSBS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Runs the command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match osbs_kube::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("osbs-controller: error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            let format = args.log_format;
            logging::init(format);
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("osbs-controller: error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let text = osbs_engine::error_chain(&e);
                    match format {
                        // A log collector reads every line as JSON.
                        LogFormat::Json => tracing::error!("{text}"),
                        LogFormat::Text => eprintln!("osbs-controller: error: {text}"),
                    }
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// An optional setting, `None` when blank: a templated manifest's `OSBS_REGISTRY_SECRET=`
/// means unset, never a Secret or a socket path named "".
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl RunArgs {
    /// The notification settings.
    ///
    /// # Errors
    ///
    /// [`ControllerError::Config`] for a relay without a sender or recipients.
    pub fn notify_settings(&self) -> Result<NotifySettings, ControllerError> {
        let smtp = match &self.notify_smtp {
            None => None,
            Some(relay) => {
                let from = given(self.notify_from.clone());
                let to: Vec<String> = self
                    .notify_to
                    .iter()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect();
                let (Some(from), false) = (from, to.is_empty()) else {
                    return Err(ControllerError::Config(
                        "--notify-smtp needs --notify-from and --notify-to".to_owned(),
                    ));
                };
                Some(SmtpSettings {
                    host: relay.host.clone(),
                    port: relay.port,
                    from,
                    to,
                })
            }
        };
        Ok(NotifySettings {
            webhooks: entries(&self.notify_webhooks),
            smtp,
            on: self.notify_on.clone().unwrap_or_else(default_notify_on),
        })
    }
}

async fn run(args: Box<RunArgs>) -> Result<(), ControllerError> {
    let args = *args;
    let notify = args.notify_settings()?;
    let (health, metrics) = (Health::new(), Metrics::new());
    let listener = tokio::net::TcpListener::bind(args.probe_addr)
        .await
        .map_err(|e| {
            ControllerError::Config(format!("cannot listen on {}: {e}", args.probe_addr))
        })?;
    let probe_addr = listener.local_addr().unwrap_or(args.probe_addr);
    tokio::spawn(probes::serve(listener, health.clone(), metrics.clone()));
    let allowed_build_secrets = entries(&args.allowed_build_secrets);
    let docker_socket = given(args.docker_socket.clone());
    // The Secrets build Pods may mount are in the log (which the controller's operators
    // read), not in a refused Build's status (which everyone who reads Builds does).
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        namespace = %args.namespace,
        %probe_addr,
        docker = %docker_socket
            .as_deref()
            .map_or_else(|| "dind".to_owned(), |path| format!("socket {path}")),
        allowed_build_secrets = %if allowed_build_secrets.is_empty() {
            "none".to_owned()
        } else {
            allowed_build_secrets.join(",")
        },
        "osbs-controller starting; /healthz, /readyz and /metrics on {probe_addr}"
    );
    let client = Client::try_default()
        .await
        .map_err(|e| ControllerError::Config(format!("cannot reach the API server: {e}")))?;
    let settings = ControllerSettings {
        namespace: args.namespace.clone(),
        pod: PodSettings {
            reactor_image: args.reactor_image,
            docker: match docker_socket {
                Some(path) => DockerMode::HostSocket { path },
                None => DockerMode::Dind {
                    image: args.dind_image,
                },
            },
            service_account: args.builder_service_account,
            default_registry: args.default_registry,
            grace_seconds: args.cancel_grace,
            allowed_build_secrets,
        },
        reconcile: Settings {
            cancel_grace_seconds: args.cancel_grace,
        },
        pending_timeout_ms: args.pending_timeout.saturating_mul(1000),
        engine: EngineSettings {
            max_concurrent_builds: args.max_concurrent_builds,
            import_interval: args.import_interval.0,
            keep_builds: args.keep_builds,
            notify,
            ..EngineSettings::default()
        },
        registry_secret: given(args.registry_secret),
        registry_ca: given(args.registry_ca),
        verify_tls: args.verify_ssl,
        tick: TICK,
        identity: args.identity.clone(),
    };
    if args.no_leader_election {
        return runtime::run(client, settings, health, metrics).await;
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), &args.namespace);
    let elector = LeaderElector::new(leases, &args.lease_name, &args.identity, 15)
        .reporting_to(health.clone());
    elector
        .run_while_leader(runtime::run(client, settings, health, metrics))
        .await
}
