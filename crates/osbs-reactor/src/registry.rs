//! The reactor's view of registries: the `registry_uri` rules (SPEC §6), credentials (the
//! `registry_secret`, else the files docker, podman and skopeo read with the
//! `docker-credential-*` helpers they name; each credential only ever offered to the registry
//! it belongs to), the instance's TLS settings (`verify_ssl`, `registry_ca`) for every client,
//! listing a repository's tags and reading a tag's manifest digest with a HEAD request.

use std::path::{Path, PathBuf};

use bollard::auth::DockerCredentials;
use osbs_core::auth::Credential;
use osbs_core::build::BuildRequest;
use osbs_registry_sync::{ClientOptions, Credentials, RegistryClient, RegistryEndpoint};

use crate::error::{ReactorError, chain};

/// How the build reaches registries: its credentials and its TLS settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Auth {
    credentials: Credentials,
    options: ClientOptions,
}

impl Auth {
    /// The build's: its `registry_secret`, else the files docker, podman and skopeo read;
    /// `verify_ssl` and `registry_ca` for every client made with it.
    pub(crate) fn for_request(request: &BuildRequest) -> Result<Self, ReactorError> {
        let credentials = Credentials::from_secret_or_environment(
            request.registry_secret.as_deref().map(Path::new),
        )
        .map_err(secret_error)?;
        Ok(Auth {
            credentials,
            options: ClientOptions {
                verify_tls: !request.skip_tls_verify,
                ca_file: request.registry_ca.as_ref().map(PathBuf::from),
                ..ClientOptions::default()
            },
        })
    }

    /// The same TLS settings with the credentials of the dockercfg at `path` (a sync target's
    /// or a further registry's own secret). Errors never quote the file.
    pub(crate) fn with_secret(&self, path: &Path) -> Result<Self, ReactorError> {
        Ok(Auth {
            credentials: Credentials::from_file(path).map_err(secret_error)?,
            options: self.options.clone(),
        })
    }

    /// The credential for `registry`, asking a credential helper if the config names one.
    fn credential(&self, registry: &str) -> Result<Option<Credential>, ReactorError> {
        self.credentials
            .resolve(registry)
            .map_err(|e| ReactorError::Registry {
                registry: registry.to_owned(),
                action: "credential lookup".to_owned(),
                reason: chain(&e),
            })
    }

    /// `X-Registry-Auth` credentials for `registry` only, for the Docker Engine. A helper
    /// that fails gives none here: the registry client made for the same registry (every
    /// push and pull makes one first) reports that failure.
    pub(crate) fn docker_credentials(&self, registry: &str) -> Option<DockerCredentials> {
        let credentials = match self.credential(registry).ok()?? {
            Credential::Basic { username, password } => DockerCredentials {
                username: Some(username),
                password: Some(password.expose().to_owned()),
                ..DockerCredentials::default()
            },
            Credential::IdentityToken { username, token } => DockerCredentials {
                username,
                identitytoken: Some(token.expose().to_owned()),
                ..DockerCredentials::default()
            },
            Credential::RegistryToken(token) => DockerCredentials {
                registrytoken: Some(token.expose().to_owned()),
                ..DockerCredentials::default()
            },
            _ => return None,
        };
        Some(DockerCredentials {
            serveraddress: Some(registry.to_owned()),
            ..credentials
        })
    }
}

/// A docker config that cannot be used, as the reactor reports it.
fn secret_error(err: osbs_registry_sync::Error) -> ReactorError {
    match err {
        osbs_registry_sync::Error::AuthFile { path, reason } => {
            ReactorError::Secret { path, reason }
        }
        other => ReactorError::Registry {
            registry: String::new(),
            action: "credential lookup".to_owned(),
            reason: chain(&other),
        },
    }
}

/// A registry the reactor reads tags and digests from (osbs-registry-sync's client, with the
/// credential that belongs to this registry and no other).
pub(crate) struct Registry {
    client: RegistryClient,
}

impl Registry {
    /// A client for a `registry_uri` (SPEC §6: scheme, `/v2` suffix, `/v1` refused).
    pub(crate) fn from_uri(uri: &str, auth: &Auth) -> Result<Self, ReactorError> {
        let endpoint =
            RegistryEndpoint::parse(uri).map_err(|source| ReactorError::RegistryUri {
                uri: uri.to_owned(),
                source: Box::new(source),
            })?;
        let client = RegistryClient::with_credentials(endpoint, &auth.credentials, &auth.options)
            .map_err(|e| ReactorError::Registry {
            registry: uri.to_owned(),
            action: "client set-up".to_owned(),
            reason: chain(&e),
        })?;
        Ok(Registry { client })
    }

    /// The osbs-registry-sync client behind it.
    pub(crate) fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// `host[:port]` as image references spell it.
    pub(crate) fn host(&self) -> &str {
        self.client.endpoint().name()
    }

    fn error(&self, action: String, err: &osbs_registry_sync::Error) -> ReactorError {
        ReactorError::Registry {
            registry: self.host().to_owned(),
            action,
            reason: chain(err),
        }
    }

    /// Every tag of `repository`; none when the repository does not exist yet.
    pub(crate) async fn list_tags(&self, repository: &str) -> Result<Vec<String>, ReactorError> {
        match self.client.repository(repository).tags().await {
            Ok(tags) => Ok(tags),
            Err(osbs_registry_sync::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(err) => Err(self.error(format!("listing the tags of {repository}"), &err)),
        }
    }

    /// The digest the registry serves for `repository:tag` (a manifest HEAD).
    pub(crate) async fn manifest_digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<String, ReactorError> {
        let action = || format!("manifest HEAD of {repository}:{tag}");
        match self
            .client
            .repository(repository)
            .manifest_digest(tag)
            .await
        {
            Ok(Some(digest)) => Ok(digest),
            Ok(None) => Err(ReactorError::Registry {
                registry: self.host().to_owned(),
                action: action(),
                reason: "no such manifest".to_owned(),
            }),
            Err(err) => Err(self.error(action(), &err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use osbs_core::auth::DockerConfig;

    use super::*;

    #[test]
    fn registry_uris() {
        let auth = Auth::default();
        let registry = Registry::from_uri("http://127.0.0.1:5000/v2", &auth).unwrap();
        assert_eq!(registry.host(), "127.0.0.1:5000");
        let err = Registry::from_uri("r.example.com/v1", &auth).err().unwrap();
        assert!(
            chain(&err).contains("OSBS no longer supports v1 builds"),
            "{}",
            chain(&err)
        );
    }

    #[test]
    fn credentials_only_for_their_registry() {
        // base64("u:p4ss")
        let auth = Auth {
            credentials: Credentials::from_config(
                DockerConfig::parse(r#"{"127.0.0.1:5000": {"auth": "dTpwNHNz"}}"#).unwrap(),
            ),
            options: ClientOptions::default(),
        };
        let creds = auth.docker_credentials("127.0.0.1:5000").unwrap();
        assert_eq!(creds.username.as_deref(), Some("u"));
        assert_eq!(creds.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        assert!(auth.docker_credentials("127.0.0.1:5001").is_none());
    }

    #[test]
    fn tls_settings_reach_every_client() {
        let request: BuildRequest = serde_json::from_str(
            r#"{"build_name": "b-1", "build_config": "b", "git_url": "u", "git_branch": "m",
                "registry_uri": "r.example", "registry_secret": "/nonexistent/secret.json",
                "skip_tls_verify": true}"#,
        )
        .unwrap();
        let err = Auth::for_request(&request).unwrap_err();
        assert!(
            chain(&err).starts_with("registry secret /nonexistent/secret.json: cannot read it"),
            "{}",
            chain(&err)
        );
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("config.json");
        std::fs::write(&secret, "{}").unwrap();
        let request = BuildRequest {
            registry_secret: Some(secret.display().to_string()),
            ..request
        };
        let auth = Auth::for_request(&request).unwrap();
        let registry = Registry::from_uri("https://r.example", &auth).unwrap();
        assert!(!registry.client().verifies_tls());
        let other = auth.with_secret(&secret).unwrap();
        assert!(
            !Registry::from_uri("https://r.example", &other)
                .unwrap()
                .client()
                .verifies_tls()
        );
        let strict = Auth::default();
        assert!(
            Registry::from_uri("https://r.example", &strict)
                .unwrap()
                .client()
                .verifies_tls()
        );
    }
}
