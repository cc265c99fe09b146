//! The reactor's view of registries: the `registry_uri` rules (SPEC §6), credentials from the
//! `registry_secret` (only ever offered to the registry they belong to), listing a repository's
//! tags and reading a tag's manifest digest with a HEAD request.

use std::path::Path;

use bollard::auth::DockerCredentials;
use osbs_core::auth::{Credential, DockerConfig};
use osbs_registry_sync::{ClientOptions, RegistryClient, RegistryEndpoint};

use crate::error::{ReactorError, chain};

/// The credentials of the build's `registry_secret`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Auth {
    config: Option<DockerConfig>,
}

impl Auth {
    /// Reads a dockercfg file (`.dockercfg` or `config.json` form). Errors never quote it.
    pub(crate) fn load(path: &Path) -> Result<Self, ReactorError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReactorError::Secret {
            path: path.to_owned(),
            reason: format!("cannot read it: {e}"),
        })?;
        let config = DockerConfig::parse(&text).map_err(|e| ReactorError::Secret {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Auth {
            config: Some(config),
        })
    }

    fn credential(&self, registry: &str) -> Option<&Credential> {
        self.config.as_ref()?.credential_for(registry)
    }

    /// `X-Registry-Auth` credentials for `registry` only, for the Docker Engine.
    pub(crate) fn docker_credentials(&self, registry: &str) -> Option<DockerCredentials> {
        let credentials = match self.credential(registry)? {
            Credential::Basic { username, password } => DockerCredentials {
                username: Some(username.clone()),
                password: Some(password.expose().to_owned()),
                ..DockerCredentials::default()
            },
            Credential::IdentityToken { username, token } => DockerCredentials {
                username: username.clone(),
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
        let client = RegistryClient::new(endpoint, auth.config.as_ref(), &ClientOptions::default())
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
            config: Some(
                DockerConfig::parse(r#"{"127.0.0.1:5000": {"auth": "dTpwNHNz"}}"#).unwrap(),
            ),
        };
        let creds = auth.docker_credentials("127.0.0.1:5000").unwrap();
        assert_eq!(creds.username.as_deref(), Some("u"));
        assert_eq!(creds.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        assert!(auth.docker_credentials("127.0.0.1:5001").is_none());
    }
}
