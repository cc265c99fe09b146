//! Which cluster a client talks to, as whom, and in which namespace: kubectl's rules for the
//! `osbs` client (`--kubeconfig`, `--context`, `--namespace`, osbs.conf's `namespace`).
//!
//! The kubeconfig is `--kubeconfig` if given, else the files of `$KUBECONFIG` (merged), else
//! `~/.kube/config`; without any, the in-cluster configuration of a Pod. The context is
//! `--context`, else the kubeconfig's `current-context`. The namespace is the first of: the
//! explicit `--namespace`, osbs.conf's `namespace`, the context's namespace (the service
//! account's inside a Pod), `default` ([`choose_namespace`]).

use std::path::{Path, PathBuf};

use kube::config::{InClusterError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

/// What the caller asks for; every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `--kubeconfig`: this file instead of `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: this context instead of the kubeconfig's `current-context`.
    pub context: Option<String>,
    /// `--namespace`: wins over everything else.
    pub namespace: Option<String>,
    /// osbs.conf's `namespace`: wins over the context's.
    pub configured_namespace: Option<String>,
}

/// Where the namespace came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceSource {
    /// `--namespace`.
    Flag,
    /// osbs.conf's `namespace`.
    ConfigFile,
    /// The kubeconfig context's `namespace` (or the Pod's service account namespace).
    Context,
    /// Nothing set one: `default`.
    Default,
}

impl std::fmt::Display for NamespaceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NamespaceSource::Flag => "--namespace",
            NamespaceSource::ConfigFile => "osbs.conf",
            NamespaceSource::Context => "the context",
            NamespaceSource::Default => "the default",
        })
    }
}

/// kubectl's precedence: `--namespace` > osbs.conf `namespace` > the context's namespace >
/// `default`. Empty values count as unset.
pub fn choose_namespace(
    flag: Option<&str>,
    configured: Option<&str>,
    context: Option<&str>,
) -> (String, NamespaceSource) {
    let set = |value: Option<&str>| value.filter(|v| !v.is_empty()).map(str::to_owned);
    if let Some(ns) = set(flag) {
        (ns, NamespaceSource::Flag)
    } else if let Some(ns) = set(configured) {
        (ns, NamespaceSource::ConfigFile)
    } else if let Some(ns) = set(context) {
        (ns, NamespaceSource::Context)
    } else {
        ("default".to_owned(), NamespaceSource::Default)
    }
}

/// The cluster a client was made for, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The API server's URL.
    pub server: String,
    /// The kubeconfig context, `None` for the in-cluster configuration.
    pub context: Option<String>,
    /// The kubeconfig it came from (the `--kubeconfig` path, `KUBECONFIG=...`, the path of
    /// `~/.kube/config`), `None` in a Pod.
    pub kubeconfig: Option<String>,
    /// The namespace the client works in.
    pub namespace: String,
    /// Where the namespace came from.
    pub namespace_source: NamespaceSource,
}

impl Target {
    /// `https://host:6443 (context kind-osbs)` or `https://10.0.0.1:443 (in-cluster)`.
    pub fn describe(&self) -> String {
        match &self.context {
            Some(context) => format!("{} (context {context:?})", self.server),
            None => format!("{} (in-cluster configuration)", self.server),
        }
    }
}

/// Why no client could be made. Each is a configuration problem (the `osbs` exit code 2); a
/// cluster that does not answer is found out by the first call.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig could not be read or parsed.
    #[error("cannot read kubeconfig {origin}")]
    Kubeconfig {
        /// The `--kubeconfig` path, `KUBECONFIG=...` or the path of `~/.kube/config`.
        origin: String,
        /// Why.
        #[source]
        source: KubeconfigError,
    },
    /// The kubeconfig names no current context and none was asked for.
    #[error("kubeconfig {origin} has no current-context; choose one with --context")]
    NoContext {
        /// Which kubeconfig.
        origin: String,
    },
    /// The context asked for (or the current one) is not in the kubeconfig.
    #[error("kubeconfig {origin} has no context {context:?} (it has: {known})")]
    UnknownContext {
        /// The context.
        context: String,
        /// Which kubeconfig.
        origin: String,
        /// The contexts it has, comma-separated, or `none`.
        known: String,
    },
    /// The context's cluster or user cannot be used.
    #[error("context {context:?} of kubeconfig {origin} cannot be used")]
    Context {
        /// The context.
        context: String,
        /// Which kubeconfig.
        origin: String,
        /// Why.
        #[source]
        source: KubeconfigError,
    },
    /// `--context` without any kubeconfig to find it in.
    #[error("--context {context:?} needs a kubeconfig, and there is none ({looked_at})")]
    ContextWithoutKubeconfig {
        /// The context.
        context: String,
        /// Where a kubeconfig was looked for.
        looked_at: String,
    },
    /// No kubeconfig, and not in a Pod.
    #[error(
        "no cluster configuration: no kubeconfig ({looked_at}) and not in a Pod; give \
         --kubeconfig or set KUBECONFIG"
    )]
    NoConfiguration {
        /// Where a kubeconfig was looked for.
        looked_at: String,
        /// Why the in-cluster configuration failed.
        #[source]
        source: InClusterError,
    },
    /// The configuration was read, but a client cannot be built from it (TLS material).
    #[error("cannot make a client for {target}")]
    Client {
        /// The server and context.
        target: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// A kubeconfig read, with where it came from.
struct Found {
    kubeconfig: Kubeconfig,
    origin: String,
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| Path::new(&home).join(".kube").join("config"))
}

/// The kubeconfig file `path`.
fn read_kubeconfig(path: &Path) -> Result<Found, ConnectError> {
    let origin = path.display().to_string();
    match Kubeconfig::read_from(path) {
        Ok(kubeconfig) => Ok(Found { kubeconfig, origin }),
        Err(source) => Err(ConnectError::Kubeconfig { origin, source }),
    }
}

/// The kubeconfig that applies, if any.
fn find_kubeconfig(explicit: Option<&Path>) -> Result<Option<Found>, ConnectError> {
    if let Some(path) = explicit {
        return read_kubeconfig(path).map(Some);
    }
    if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let origin = format!("KUBECONFIG={}", value.to_string_lossy());
        return match Kubeconfig::from_env() {
            Ok(Some(kubeconfig)) => Ok(Some(Found { kubeconfig, origin })),
            Ok(None) => Ok(None),
            Err(source) => Err(ConnectError::Kubeconfig { origin, source }),
        };
    }
    home_kubeconfig()
        .filter(|path| path.exists())
        .map(|path| read_kubeconfig(&path))
        .transpose()
}

fn looked_at() -> String {
    let home = home_kubeconfig().map_or_else(
        || "~/.kube/config".to_owned(),
        |path| path.display().to_string(),
    );
    format!("KUBECONFIG unset, {home} absent")
}

/// The configuration of the cluster `options` choose, before a client is made: the namespace
/// is already the chosen one (`Config::default_namespace`).
///
/// # Errors
///
/// Any [`ConnectError`] but `Client`.
pub async fn config(options: &ConnectOptions) -> Result<(Config, Target), ConnectError> {
    let (mut config, context, origin, context_namespace) =
        match find_kubeconfig(options.kubeconfig.as_deref())? {
            Some(Found { kubeconfig, origin }) => {
                let Some(context) = options
                    .context
                    .clone()
                    .or_else(|| kubeconfig.current_context.clone())
                    .filter(|c| !c.is_empty())
                else {
                    return Err(ConnectError::NoContext { origin });
                };
                let Some(named) = kubeconfig.contexts.iter().find(|c| c.name == context) else {
                    let known: Vec<&str> = kubeconfig
                        .contexts
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect();
                    return Err(ConnectError::UnknownContext {
                        context,
                        origin,
                        known: if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        },
                    });
                };
                let context_namespace = named.context.as_ref().and_then(|c| c.namespace.clone());
                let kube_options = KubeConfigOptions {
                    context: Some(context.clone()),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                    .await
                    .map_err(|source| ConnectError::Context {
                        context: context.clone(),
                        origin: origin.clone(),
                        source,
                    })?;
                (config, Some(context), Some(origin), context_namespace)
            }
            None => {
                if let Some(context) = &options.context {
                    return Err(ConnectError::ContextWithoutKubeconfig {
                        context: context.clone(),
                        looked_at: looked_at(),
                    });
                }
                let config =
                    Config::incluster().map_err(|source| ConnectError::NoConfiguration {
                        looked_at: looked_at(),
                        source,
                    })?;
                // In a Pod, the service account's namespace plays the context's part.
                let namespace = Some(config.default_namespace.clone());
                (config, None, None, namespace)
            }
        };
    let (namespace, namespace_source) = choose_namespace(
        options.namespace.as_deref(),
        options.configured_namespace.as_deref(),
        context_namespace.as_deref(),
    );
    config.default_namespace = namespace.clone();
    let target = Target {
        server: config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned(),
        context,
        kubeconfig: origin,
        namespace,
        namespace_source,
    };
    Ok((config, target))
}

/// A client for the cluster `options` choose, working in the chosen namespace
/// (`Client::default_namespace`).
///
/// # Errors
///
/// Any [`ConnectError`].
pub async fn connect(options: &ConnectOptions) -> Result<(Client, Target), ConnectError> {
    let (config, target) = config(options).await?;
    let client = Client::try_from(config).map_err(|source| ConnectError::Client {
        target: target.describe(),
        source,
    })?;
    Ok((client, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_precedence_is_kubectls() {
        let cases = [
            (
                (Some("a"), Some("b"), Some("c")),
                ("a", NamespaceSource::Flag),
            ),
            (
                (None, Some("b"), Some("c")),
                ("b", NamespaceSource::ConfigFile),
            ),
            ((None, None, Some("c")), ("c", NamespaceSource::Context)),
            ((None, None, None), ("default", NamespaceSource::Default)),
            ((Some(""), None, Some("c")), ("c", NamespaceSource::Context)),
            (
                (None, Some(""), Some("")),
                ("default", NamespaceSource::Default),
            ),
        ];
        for ((flag, conf, context), (ns, source)) in cases {
            assert_eq!(
                choose_namespace(flag, conf, context),
                (ns.to_owned(), source),
                "{flag:?} {conf:?} {context:?}"
            );
        }
    }
}
