//! `osbs.conf`: which config file applies, and the settings of one instance in it (SPEC §7).
//!
//! The file is INI as Python's configparser reads it (the same reader as `.osbs-repo-config`),
//! compatible with osbs-client's keys where they apply: one section per instance, plus
//! `[registry NAME]` sections for named sync targets. Every problem is reported when the
//! command starts, naming the file and line, instead of failing late in a build.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use osbs_registry_sync::RegistryEndpoint;
use osbs_repo_config::ini::{self, Entry, Ini, Section};
use osbs_repo_config::{ParseErrorKind, parse_bool};

/// The instance used when `-i/--instance` is not given.
pub const DEFAULT_INSTANCE: &str = "default";

/// The push registry of the embedded default (what `cargo xtask services up` starts).
pub const DEFAULT_REGISTRY_URI: &str = "127.0.0.1:5000";

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "OSBS_CONFIG";

/// The system-wide config file, the last place looked at.
pub const SYSTEM_CONFIG: &str = "/etc/osbs.conf";

/// Prefix of the sections that describe named registries (`[registry stage]`).
const REGISTRY_SECTION_PREFIX: &str = "registry ";

/// Where builds run and state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One machine: SQLite state and the local Docker Engine (the embedded default).
    Local,
    /// CustomResources in a Kubernetes cluster, run by `osbs-controller`.
    Kubernetes,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Local => "local",
            Backend::Kubernetes => "kubernetes",
        })
    }
}

/// A named registry that built images are synced to (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTarget {
    /// The name in `[registry NAME]`.
    pub name: String,
    /// The parsed `uri`.
    pub registry: RegistryEndpoint,
    /// The `secret`: a dockercfg file (local) or the name of a Secret (kubernetes).
    pub secret: Option<String>,
}

/// A registry after the first of `registry_uri` (SPEC §6): it receives every tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraRegistry {
    /// The parsed URI.
    pub registry: RegistryEndpoint,
    /// The `registry_secret` at its position: a dockercfg file (local) or the name of a
    /// Secret (kubernetes).
    pub secret: Option<String>,
}

/// The settings of one instance, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The instance (section) name.
    pub name: String,
    /// The file the settings came from; `None` for the built-in defaults.
    pub file: Option<PathBuf>,
    /// `backend`: where builds run.
    pub backend: Backend,
    /// `state_dir`: where the local backend keeps its database and build logs; `None` means
    /// the XDG data directory.
    pub state_dir: Option<PathBuf>,
    /// `namespace` (kubernetes); `None` when the file sets none. The namespace used is
    /// `--namespace`, else this, else the kubeconfig context's, else `default`
    /// (`osbs_kube::choose_namespace`).
    pub namespace: Option<String>,
    /// `registry_uri`: the registry built images are pushed to.
    pub registry: RegistryEndpoint,
    /// `registry_secret`: a dockercfg for that registry (local: a file; kubernetes: a Secret).
    pub registry_secret: Option<String>,
    /// The sync target chosen by `pulp_sync_registry_name`, else `pulp_registry_name`.
    pub sync: Option<SyncTarget>,
    /// `verify_ssl`: whether TLS certificates are checked.
    pub verify_ssl: bool,
    // Several registries and registry TLS (issue 11, SPEC §6).
    /// The registries after the first of a comma-separated `registry_uri`, each with the
    /// `registry_secret` at its position.
    pub extra_registries: Vec<ExtraRegistry>,
    /// `registry_ca`: a PEM file of CA certificates trusted for every registry call of the
    /// instance (relative to the config file's directory).
    pub registry_ca: Option<PathBuf>,
    /// `registry_ca` of a kubernetes instance: the ConfigMap whose key `ca.crt` holds the CA
    /// certificates, mounted into the build Pods.
    pub registry_ca_config_map: Option<String>,
    // The push path (issue 12).
    /// `push_method`: `reactor` (the reactor's own parallel push, the default) or `engine`
    /// (`docker push` through the Docker Engine).
    pub push_method: osbs_core::build::PushMethod,
    // The buildstep's builder and its secrets (issue 12).
    /// `builder`: `buildkit` or `classic`; `None` (unset) picks BuildKit where the Docker
    /// Engine supports it.
    pub builder: Option<osbs_core::build::Builder>,
    /// `build_secrets = id=FILE,...`: the sources of `RUN --mount=type=secret,id=ID`. Local: a
    /// file (relative to the config file's directory); kubernetes: a Secret with key `ID`,
    /// mounted into the build Pod.
    pub build_secrets: std::collections::BTreeMap<String, String>,
    /// `repo_config_file`: the name of the repository config file in built repositories.
    pub repo_config_file: String,
    /// The service settings of SPEC §10 (`max_concurrent_builds`, `import_interval`,
    /// `keep_builds`, `notify_*`).
    pub service: ServiceSettings,
    /// Keys and sections this version does not use, as `FILE:LINE: ...` messages.
    pub warnings: Vec<String>,
}

/// How the instance runs as a service (SPEC §10): the local backend's type, shared.
pub use osbs_local::ServiceSettings;

/// A config that cannot be used; every variant names the file and, where there is one, the
/// line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` or `$OSBS_CONFIG` names a file that does not exist.
    #[error("config file {path} (from {origin}) does not exist")]
    NotFound {
        /// The file.
        path: PathBuf,
        /// Where the name came from: `--config` or `$OSBS_CONFIG`.
        origin: &'static str,
    },
    /// The file exists but cannot be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid INI.
    #[error("{path}:{line}: {kind}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong there.
        kind: ParseErrorKind,
    },
    /// Keys before the first section header.
    #[error("{path}:{line}: expected an instance section such as [default], found {text:?}")]
    MissingSection {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The offending line.
        text: String,
    },
    /// The requested instance has no section.
    #[error("{path}: unknown instance {instance:?}; instances in this file: {known}")]
    UnknownInstance {
        /// The file.
        path: PathBuf,
        /// The instance asked for.
        instance: String,
        /// The instances the file has, comma-separated.
        known: String,
    },
    /// No config file exists and an instance other than `default` was asked for.
    #[error(
        "unknown instance {instance:?}: no config file found ({looked_at}); without one only \
         the \"default\" instance exists"
    )]
    NoConfigFile {
        /// The instance asked for.
        instance: String,
        /// The places looked at, comma-separated.
        looked_at: String,
    },
    /// A value that is not one of the accepted ones.
    #[error("{path}:{line}: invalid value {value:?} for {key}: expected {expected}")]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A registry URI that is not a v2 registry address.
    #[error("{path}:{line}: invalid {key} {value:?}")]
    Registry {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The key (`registry_uri` or `uri`).
        key: String,
        /// The value as written.
        value: String,
        /// Why it is refused.
        #[source]
        source: Box<osbs_registry_sync::Error>,
    },
    /// A file the local backend needs (`registry_secret`, a registry section's `secret`) that
    /// cannot be read.
    #[error("{path}:{line}: cannot read {key} {file}")]
    File {
        /// The config file.
        path: PathBuf,
        /// The 1-based line of the key.
        line: usize,
        /// The key.
        key: String,
        /// The file it names.
        file: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// A `state_dir` that exists and is not a directory.
    #[error("{path}:{line}: state_dir {dir} is not a directory")]
    StateDirNotADirectory {
        /// The config file.
        path: PathBuf,
        /// The 1-based line of the key.
        line: usize,
        /// The state directory, resolved.
        dir: PathBuf,
    },
    /// `pulp_sync_registry_name`/`pulp_registry_name` names no `[registry NAME]` section, or that
    /// section has no `uri`.
    #[error("{path}:{line}: {key} = {name}: {problem}")]
    SyncRegistry {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the key.
        line: usize,
        /// The key.
        key: String,
        /// The registry name.
        name: String,
        /// What is missing.
        problem: String,
    },
    // The kubernetes backend's configuration (issue 11).
    /// osbs-client's `openshift_url` without a `backend`: the instance meant a cluster, and
    /// would otherwise build on this machine.
    #[error(
        "{path}:{line}: openshift_url is osbs-client's OpenShift address, and this osbs does \
         not talk to OpenShift; without `backend` the instance would build on this machine. \
         Set backend = kubernetes (the cluster then comes from the kubeconfig: --kubeconfig, \
         --context, KUBECONFIG) or backend = local, and remove openshift_url"
    )]
    OpenshiftUrl {
        /// The file.
        path: PathBuf,
        /// The 1-based line of `openshift_url`.
        line: usize,
    },
}

/// Finds the config file: `--config PATH`, else `$OSBS_CONFIG`, else
/// `$XDG_CONFIG_HOME/osbs/osbs.conf` (`~/.config/osbs/osbs.conf`), else `/etc/osbs.conf`.
/// `Ok(None)` means no file at all: the local defaults apply.
///
/// # Errors
///
/// [`ConfigError::NotFound`] when `--config` or `$OSBS_CONFIG` names a missing file.
pub fn locate(
    explicit: Option<&Path>,
    env_value: Option<&OsStr>,
    user_config_dir: Option<&Path>,
) -> Result<Option<PathBuf>, ConfigError> {
    let named = [
        (explicit.map(Path::to_path_buf), "--config"),
        (
            env_value.filter(|v| !v.is_empty()).map(PathBuf::from),
            "$OSBS_CONFIG",
        ),
    ];
    for (path, origin) in named {
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::NotFound { path, origin });
            }
            return Ok(Some(path));
        }
    }
    Ok(default_locations(user_config_dir)
        .into_iter()
        .find(|p| p.is_file()))
}

/// The places looked at when neither `--config` nor `$OSBS_CONFIG` is given, in order.
pub fn default_locations(user_config_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut places = Vec::new();
    if let Some(dir) = user_config_dir {
        places.push(dir.join("osbs").join("osbs.conf"));
    }
    places.push(PathBuf::from(SYSTEM_CONFIG));
    places
}

/// The user's config directory: `$XDG_CONFIG_HOME`, else `$HOME/.config`.
pub fn user_config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
}

/// Loads `instance` from `file`, or the built-in defaults when there is no file.
///
/// Relative paths in the file (`state_dir`; for the local backend also `registry_secret` and
/// a registry section's `secret`) are relative to the file's directory, whatever the current
/// directory. For the local backend, the files the instance names are checked here, so a
/// missing secret or a `state_dir` that is a file is a configuration error at start (naming
/// file and line), not a failure of the first build.
///
/// # Errors
///
/// Any [`ConfigError`]: unreadable file, syntax, unknown instance, bad value, a file the
/// instance names that cannot be used.
pub fn load(file: Option<&Path>, instance: &str) -> Result<Instance, ConfigError> {
    let Some(path) = file else {
        if instance != DEFAULT_INSTANCE {
            let looked_at = default_locations(user_config_dir().as_deref())
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ConfigError::NoConfigFile {
                instance: instance.to_owned(),
                looked_at,
            });
        }
        return Ok(Instance::defaults());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Relative paths in the file are relative to its directory: make that one absolute now,
    // while the current directory is the one the name was given in.
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (instance, lines) = parse_with_lines(&text, &path, instance)?;
    if instance.backend == Backend::Local {
        check_local_files(&instance, &path, &lines)?;
    }
    Ok(instance)
}

/// Where the keys that name local files are, for messages.
#[derive(Debug, Default)]
struct FileKeys {
    /// `state_dir`'s line.
    state_dir: Option<usize>,
    /// `registry_secret`'s line.
    registry_secret: Option<usize>,
    /// The sync target's `secret`: its line.
    sync_secret: Option<usize>,
    /// `build_secrets`' line.
    build_secrets: Option<usize>,
}

/// The local backend's files: `registry_secret` and the sync target's `secret` must be readable
/// files, an existing `state_dir` must be a directory (a missing one is created on first use).
fn check_local_files(
    instance: &Instance,
    path: &Path,
    lines: &FileKeys,
) -> Result<(), ConfigError> {
    if let (Some(dir), Some(line)) = (&instance.state_dir, lines.state_dir)
        && dir.exists()
        && !dir.is_dir()
    {
        return Err(ConfigError::StateDirNotADirectory {
            path: path.to_path_buf(),
            line,
            dir: dir.clone(),
        });
    }
    let secrets = [
        (
            "registry_secret",
            instance.registry_secret.as_deref(),
            lines.registry_secret,
        ),
        (
            "secret",
            instance.sync.as_ref().and_then(|s| s.secret.as_deref()),
            lines.sync_secret,
        ),
    ];
    let build_secrets = instance
        .build_secrets
        .values()
        .map(|file| ("build_secrets", Some(file.as_str()), lines.build_secrets));
    // The secrets of the further registries of `registry_uri` (by position).
    let extra_secrets = instance.extra_registries.iter().map(|r| {
        (
            "registry_secret",
            r.secret.as_deref(),
            lines.registry_secret,
        )
    });
    for (key, file, line) in secrets
        .into_iter()
        .chain(build_secrets)
        .chain(extra_secrets)
    {
        let (Some(file), Some(line)) = (file, line) else {
            continue;
        };
        let readable = std::fs::metadata(file).and_then(|m| {
            if m.is_file() {
                std::fs::File::open(file).map(drop)
            } else {
                Err(std::io::Error::other("not a file"))
            }
        });
        if let Err(source) = readable {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                line,
                key: key.to_owned(),
                file: PathBuf::from(file),
                source,
            });
        }
    }
    Ok(())
}

impl Instance {
    /// The embedded default: local backend, push registry on loopback, no sync.
    pub fn defaults() -> Instance {
        Instance {
            name: DEFAULT_INSTANCE.to_owned(),
            file: None,
            backend: Backend::Local,
            state_dir: None,
            namespace: None,
            registry: default_registry(),
            registry_secret: None,
            sync: None,
            verify_ssl: true,
            extra_registries: Vec::new(),
            registry_ca: None,
            registry_ca_config_map: None,
            push_method: osbs_core::build::PushMethod::default(),
            builder: None,
            build_secrets: std::collections::BTreeMap::new(),
            repo_config_file: osbs_repo_config::DEFAULT_FILE_NAME.to_owned(),
            service: ServiceSettings::default(),
            warnings: Vec::new(),
        }
    }
}

fn default_registry() -> RegistryEndpoint {
    // The constant is a valid loopback address; parsing it cannot fail.
    RegistryEndpoint::parse(DEFAULT_REGISTRY_URI)
        .unwrap_or_else(|_| unreachable!("DEFAULT_REGISTRY_URI parses"))
}

/// Parses `text` (the contents of `path`) and returns the settings of `instance`.
///
/// # Errors
///
/// Any [`ConfigError`] but `Read` and `NotFound`.
pub fn parse(text: &str, path: &Path, instance: &str) -> Result<Instance, ConfigError> {
    parse_with_lines(text, path, instance).map(|(instance, _)| instance)
}

/// [`parse`], and where the keys that name local files are.
fn parse_with_lines(
    text: &str,
    path: &Path,
    instance: &str,
) -> Result<(Instance, FileKeys), ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let ini = ini::parse(text).map_err(|(line, kind)| match kind {
        ParseErrorKind::MissingSectionHeader { text } => ConfigError::MissingSection {
            path: path.to_path_buf(),
            line,
            text,
        },
        kind => ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            kind,
        },
    })?;
    let reader = Reader { path, ini: &ini };
    reader.instance(instance)
}

/// Reads settings out of a parsed file, with the file's path for messages.
struct Reader<'a> {
    path: &'a Path,
    ini: &'a Ini,
}

/// The keys an instance section uses.
const INSTANCE_KEYS: &[&str] = &[
    "backend",
    "state_dir",
    "namespace",
    "registry_uri",
    "registry_secret",
    "pulp_registry_name",
    "pulp_sync_registry_name",
    "verify_ssl",
    "registry_ca",
    "push_method",
    "builder",
    "build_secrets",
    "repo_config_file",
    "max_concurrent_builds",
    "import_interval",
    "keep_builds",
    "notify_webhook",
    "notify_on",
    "notify_smtp",
    "notify_from",
    "notify_to",
];

/// The keys a `[registry NAME]` section uses.
const REGISTRY_KEYS: &[&str] = &["uri", "secret"];

impl Reader<'_> {
    /// `value` as a path: a relative one is relative to the config file's directory.
    fn relative_to_file(&self, value: &str) -> PathBuf {
        let value = Path::new(value);
        match self.path.parent() {
            Some(dir) if value.is_relative() => dir.join(value),
            _ => value.to_path_buf(),
        }
    }

    fn instance(&self, name: &str) -> Result<(Instance, FileKeys), ConfigError> {
        let Some(section) = self
            .ini
            .sections
            .iter()
            .find(|s| s.name == name && !s.name.starts_with(REGISTRY_SECTION_PREFIX))
        else {
            let known: Vec<&str> = self
                .ini
                .sections
                .iter()
                .map(|s| s.name.as_str())
                .filter(|n| !n.starts_with(REGISTRY_SECTION_PREFIX))
                .collect();
            return Err(ConfigError::UnknownInstance {
                path: self.path.to_path_buf(),
                instance: name.to_owned(),
                known: if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                },
            });
        };
        // configparser semantics: a key in the section wins over the same key in [DEFAULT].
        let get = |key: &str| -> Option<&Entry> {
            section
                .entries
                .iter()
                .find(|e| e.key == key)
                .or_else(|| self.ini.defaults.iter().find(|e| e.key == key))
        };
        let mut lines = FileKeys::default();
        let mut instance = Instance::defaults();
        instance.name = name.to_owned();
        instance.file = Some(self.path.to_path_buf());
        // An osbs-client config names its cluster with openshift_url: without a backend it
        // would silently build locally.
        if let (None, Some(e)) = (get("backend"), get("openshift_url")) {
            return Err(ConfigError::OpenshiftUrl {
                path: self.path.to_path_buf(),
                line: e.line,
            });
        }
        if let Some(e) = get("backend") {
            instance.backend = match e.value.to_ascii_lowercase().as_str() {
                "local" => Backend::Local,
                "kubernetes" => Backend::Kubernetes,
                _ => return Err(self.invalid(e, "local or kubernetes")),
            };
        }
        if let Some(e) = get("state_dir") {
            if e.value.is_empty() {
                return Err(self.invalid(e, "a directory"));
            }
            instance.state_dir = Some(self.relative_to_file(&e.value));
            lines.state_dir = Some(e.line);
        }
        if let Some(e) = get("namespace") {
            if !is_dns_label(&e.value) {
                return Err(self.invalid(e, "a Kubernetes namespace name (DNS-1123 label)"));
            }
            instance.namespace = Some(e.value.clone());
        }
        // Several registries, comma-separated (SPEC §6): the first is the primary.
        let mut extra_uris = Vec::new();
        if let Some(e) = get("registry_uri") {
            let mut uris = e.value.split(',').map(str::trim);
            let first = uris.next().unwrap_or_default();
            let part = |value: &str| Entry {
                key: e.key.clone(),
                value: value.to_owned(),
                line: e.line,
            };
            instance.registry = self.registry(&part(first))?;
            for uri in uris {
                if uri.is_empty() {
                    return Err(self.invalid(e, "registry URIs separated by commas"));
                }
                extra_uris.push(self.registry(&part(uri))?);
            }
        }
        // A local backend's secret is a file (relative to the config file's directory); a
        // kubernetes one names a Secret.
        let backend = instance.backend;
        let secret_value = |e: &Entry| match backend {
            Backend::Local => self.relative_to_file(&e.value).display().to_string(),
            Backend::Kubernetes => e.value.clone(),
        };
        if extra_uris.is_empty() {
            if let Some(e) = get("registry_secret").filter(|e| !e.value.is_empty()) {
                instance.registry_secret = Some(secret_value(e));
                lines.registry_secret = Some(e.line);
            }
        } else {
            // One secret per registry, by position; an empty position means none.
            let mut secrets: Vec<Option<String>> = Vec::new();
            if let Some(e) = get("registry_secret").filter(|e| !e.value.trim().is_empty()) {
                for item in e.value.split(',').map(str::trim) {
                    secrets.push((!item.is_empty()).then(|| {
                        secret_value(&Entry {
                            key: e.key.clone(),
                            value: item.to_owned(),
                            line: e.line,
                        })
                    }));
                }
                if secrets.len() > extra_uris.len() + 1 {
                    return Err(self.invalid(
                        e,
                        "at most one secret per registry of registry_uri, by position",
                    ));
                }
                lines.registry_secret = Some(e.line);
            }
            let mut secrets = secrets.into_iter();
            instance.registry_secret = secrets.next().flatten();
            instance.extra_registries = extra_uris
                .into_iter()
                .map(|registry| ExtraRegistry {
                    registry,
                    secret: secrets.next().flatten(),
                })
                .collect();
        }
        // A local backend's CA is a file; a kubernetes one names a ConfigMap (key `ca.crt`)
        // that the build Pods mount.
        if let Some(e) = get("registry_ca").filter(|e| !e.value.is_empty()) {
            match backend {
                Backend::Local => {
                    let ca = self.relative_to_file(&e.value);
                    if !ca.is_file() {
                        return Err(self.invalid(e, "a readable PEM file of CA certificates"));
                    }
                    instance.registry_ca = Some(ca);
                }
                Backend::Kubernetes if is_dns_label(&e.value) => {
                    instance.registry_ca_config_map = Some(e.value.clone());
                }
                Backend::Kubernetes => {
                    return Err(self.invalid(
                        e,
                        "the name of a ConfigMap whose key ca.crt holds the CA certificates",
                    ));
                }
            }
        }
        if let Some(e) = get("verify_ssl") {
            instance.verify_ssl =
                parse_bool(&e.value).ok_or_else(|| self.invalid(e, "one of 0, false, 1, true"))?;
        }
        if let Some(e) = get("builder").filter(|e| !e.value.is_empty()) {
            instance.builder = Some(
                osbs_core::build::Builder::parse(&e.value)
                    .ok_or_else(|| self.invalid(e, "buildkit or classic"))?,
            );
        }
        if let Some(e) = get("build_secrets").filter(|e| !e.value.trim().is_empty()) {
            for item in e.value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let expected =
                    "id=FILE pairs separated by commas (id: letters, digits, '.', '_', '-')";
                let (id, file) = item
                    .split_once('=')
                    .map(|(id, file)| (id.trim(), file.trim()))
                    .filter(|(id, file)| {
                        osbs_core::naming::is_build_secret_id(id) && !file.is_empty()
                    })
                    .ok_or_else(|| self.invalid(e, expected))?;
                if instance.build_secrets.contains_key(id) {
                    return Err(self.invalid(e, "each secret id once"));
                }
                let source = match backend {
                    Backend::Local => self.relative_to_file(file).display().to_string(),
                    Backend::Kubernetes if osbs_core::naming::is_dns1123_subdomain(file) => {
                        file.to_owned()
                    }
                    Backend::Kubernetes => {
                        return Err(self.invalid(
                            e,
                            "id=SECRET pairs naming Kubernetes Secrets (DNS-1123 subdomains)",
                        ));
                    }
                };
                instance.build_secrets.insert(id.to_owned(), source);
            }
            lines.build_secrets = Some(e.line);
        }
        if let Some(e) = get("push_method") {
            instance.push_method = osbs_core::build::PushMethod::parse(&e.value)
                .ok_or_else(|| self.invalid(e, "reactor or engine"))?;
        }
        if let Some(e) = get("repo_config_file") {
            if e.value.is_empty() || e.value.contains('/') || e.value == "." || e.value == ".." {
                return Err(self.invalid(e, "a file name at the top of the repository"));
            }
            instance.repo_config_file = e.value.clone();
        }
        // SPEC §6: pulp_sync_registry_name, else pulp_registry_name, else no sync.
        let sync_key = get("pulp_sync_registry_name")
            .filter(|e| !e.value.is_empty())
            .or_else(|| get("pulp_registry_name").filter(|e| !e.value.is_empty()));
        if let Some(e) = sync_key {
            let (mut target, secret_line) = self.sync_target(e)?;
            if instance.backend == Backend::Local {
                target.secret = target
                    .secret
                    .map(|s| self.relative_to_file(&s).display().to_string());
            }
            lines.sync_secret = secret_line;
            instance.sync = Some(target);
        }
        instance.service = self.service(&get)?;
        instance.warnings = self.warnings(section);
        Ok((instance, lines))
    }

    /// The SPEC §10 keys.
    fn service<'e>(
        &self,
        get: &dyn Fn(&str) -> Option<&'e Entry>,
    ) -> Result<ServiceSettings, ConfigError> {
        let mut service = ServiceSettings::default();
        let list = |value: &str| -> Vec<String> {
            value
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(e) = get("max_concurrent_builds") {
            service.max_concurrent_builds = Some(
                e.value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| self.invalid(e, "a number of builds, at least 1"))?,
            );
        }
        if let Some(e) = get("import_interval") {
            service.import_interval = if e.value.eq_ignore_ascii_case("off") {
                None
            } else {
                let ms = osbs_core::time::parse_duration_ms(&e.value)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| self.invalid(e, "a duration such as 15m or 2s, or off"))?;
                Some(std::time::Duration::from_millis(ms))
            };
        }
        if let Some(e) = get("keep_builds") {
            service.keep_builds = e
                .value
                .parse()
                .map_err(|_| self.invalid(e, "a number of builds"))?;
        }
        if let Some(e) = get("notify_webhook") {
            service.notify_webhooks = list(&e.value);
            for url in &service.notify_webhooks {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(self.invalid(e, "http:// or https:// URLs"));
                }
            }
        }
        if let Some(e) = get("notify_on") {
            service.notify_on = osbs_core::notify::parse_notify_on(&e.value)
                .map_err(|err| self.invalid(e, &format!("event kinds ({err})")))?;
        }
        if let Some(e) = get("notify_smtp").filter(|e| !e.value.is_empty()) {
            let relay = e
                .value
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
                .filter(|(host, _)| !host.is_empty())
                .ok_or_else(|| self.invalid(e, "host:port of an SMTP relay"))?;
            service.notify_smtp = Some(relay);
        }
        service.notify_from = get("notify_from")
            .map(|e| e.value.clone())
            .filter(|v| !v.is_empty());
        if let Some(e) = get("notify_to") {
            service.notify_to = list(&e.value);
        }
        if let Some(e) = get("notify_smtp").filter(|e| !e.value.is_empty())
            && (service.notify_from.is_none() || service.notify_to.is_empty())
        {
            return Err(self.invalid(e, "a relay together with notify_from and notify_to"));
        }
        Ok(service)
    }

    fn invalid(&self, entry: &Entry, expected: &str) -> ConfigError {
        ConfigError::InvalidValue {
            path: self.path.to_path_buf(),
            line: entry.line,
            key: entry.key.clone(),
            value: entry.value.clone(),
            expected: expected.to_owned(),
        }
    }

    fn registry(&self, entry: &Entry) -> Result<RegistryEndpoint, ConfigError> {
        RegistryEndpoint::parse(&entry.value).map_err(|source| ConfigError::Registry {
            path: self.path.to_path_buf(),
            line: entry.line,
            key: entry.key.clone(),
            value: entry.value.clone(),
            source: Box::new(source),
        })
    }

    /// The sync target named by `key`, and the line of its `secret`.
    fn sync_target(&self, key: &Entry) -> Result<(SyncTarget, Option<usize>), ConfigError> {
        let name = &key.value;
        let problem = |problem: String| ConfigError::SyncRegistry {
            path: self.path.to_path_buf(),
            line: key.line,
            key: key.key.clone(),
            name: name.clone(),
            problem,
        };
        let wanted = format!("{REGISTRY_SECTION_PREFIX}{name}");
        let section = self
            .ini
            .sections
            .iter()
            .find(|s| s.name == wanted)
            .ok_or_else(|| problem(format!("there is no [{wanted}] section")))?;
        let uri = section
            .entries
            .iter()
            .find(|e| e.key == "uri")
            .ok_or_else(|| problem(format!("[{wanted}] (line {}) has no uri", section.line)))?;
        let secret = section
            .entries
            .iter()
            .find(|e| e.key == "secret" && !e.value.is_empty());
        Ok((
            SyncTarget {
                name: name.clone(),
                registry: self.registry(uri)?,
                secret: secret.map(|e| e.value.clone()),
            },
            secret.map(|e| e.line),
        ))
    }

    /// Unknown keys of the chosen instance and of every registry section.
    fn warnings(&self, instance: &Section) -> Vec<String> {
        let mut out = Vec::new();
        let mut unknown = |entries: &[Entry], known: &[&str], section: &str| {
            for e in entries.iter().filter(|e| !known.contains(&e.key.as_str())) {
                out.push(format!(
                    "{}:{}: unknown key {:?} in [{section}] ignored",
                    self.path.display(),
                    e.line,
                    e.key
                ));
            }
        };
        unknown(&instance.entries, INSTANCE_KEYS, &instance.name);
        for section in &self.ini.sections {
            if section.name.starts_with(REGISTRY_SECTION_PREFIX) {
                unknown(&section.entries, REGISTRY_KEYS, &section.name);
            }
        }
        out
    }
}

/// Whether `s` is a DNS-1123 label (a Kubernetes namespace name).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
