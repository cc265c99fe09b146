//! Where a registry is and how to reach it: the `registry_uri` rules of SPEC §6.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The host that serves Docker Hub's registry API.
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// A registry's address: `host[:port]` plus whether it speaks plain HTTP.
///
/// Parsed from a `registry_uri` (SPEC §6): `host[:port]`, optionally with `http://` or
/// `https://` and an optional `/v2` suffix (accepted for backwards compatibility). `http://`
/// or a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`) means plain HTTP; anything else is
/// TLS. A `/v1` URI is refused with "OSBS no longer supports v1 builds".
///
/// ```
/// use osbs_registry_sync::RegistryEndpoint;
///
/// let local: RegistryEndpoint = "127.0.0.1:5000".parse()?;
/// assert!(local.is_plain_http());
/// assert_eq!(local.base_url(), "http://127.0.0.1:5000");
///
/// let remote: RegistryEndpoint = "https://registry.example.com/v2/".parse()?;
/// assert!(!remote.is_plain_http());
/// assert_eq!(remote.name(), "registry.example.com");
///
/// let err = "registry.example.com/v1".parse::<RegistryEndpoint>().unwrap_err();
/// assert!(err.to_string().contains("OSBS no longer supports v1 builds"));
/// # Ok::<(), osbs_registry_sync::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryEndpoint {
    name: String,
    api_host: String,
    plain_http: bool,
}

impl RegistryEndpoint {
    /// Parses a registry URI (see the type's documentation).
    ///
    /// # Errors
    ///
    /// [`Error::V1Registry`] for a `/v1` path, [`Error::InvalidRegistry`] for anything else
    /// that is not `[scheme://]host[:port][/v2]`.
    pub fn parse(uri: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidRegistry {
            uri: uri.to_owned(),
            reason,
        };
        let trimmed = uri.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, trimmed),
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        match path.trim_end_matches('/') {
            "" | "v2" => {}
            "v1" => {
                return Err(Error::V1Registry {
                    uri: uri.to_owned(),
                });
            }
            _ => return Err(invalid("only an optional /v2 path is allowed")),
        }
        if !valid_host_port(host) {
            return Err(invalid("expected host[:port]"));
        }
        let host = host.to_ascii_lowercase();
        let plain_http = match scheme.as_deref() {
            Some("http") => true,
            Some("https") => false,
            Some(_) => return Err(invalid("the scheme must be http:// or https://")),
            None => osbs_core::reference::is_loopback_host(&host),
        };
        let name = osbs_core::auth::normalize_registry(&host);
        let api_host = if name == osbs_core::auth::DOCKER_HUB {
            DOCKER_HUB_API_HOST.to_owned()
        } else {
            host
        };
        Ok(Self {
            name,
            api_host,
            plain_http,
        })
    }

    /// The registry's name as image references and docker configs spell it (`docker.io`,
    /// `127.0.0.1:5000`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `host[:port]` that serves the API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        &self.api_host
    }

    /// Whether requests go over plain HTTP.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    /// `http://host[:port]` or `https://host[:port]`, without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", self.api_host)
    }
}

impl FromStr for RegistryEndpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RegistryEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// `host[:port]` where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
fn valid_host_port(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("[v6]", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return false;
    }
    host == "[v6]"
        || (!host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> RegistryEndpoint {
        RegistryEndpoint::parse(uri).unwrap()
    }

    #[test]
    fn scheme_and_loopback_rules() {
        assert!(parse("127.0.0.1:5000").is_plain_http());
        assert!(parse("localhost:5000/v2/").is_plain_http());
        assert!(parse("[::1]:5000").is_plain_http());
        assert!(parse("127.1.2.3").is_plain_http());
        assert!(parse("http://registry.example.com").is_plain_http());
        assert!(!parse("registry.example.com:5000").is_plain_http());
        assert!(!parse("https://127.0.0.1:5000").is_plain_http());
        assert_eq!(parse("HTTPS://Quay.IO/v2").base_url(), "https://quay.io");
    }

    #[test]
    fn docker_hub() {
        let hub = parse("index.docker.io");
        assert_eq!(hub.name(), "docker.io");
        assert_eq!(hub.base_url(), "https://registry-1.docker.io");
        assert_eq!(parse("docker.io"), hub);
    }

    #[test]
    fn rejects() {
        for (uri, expected) in [
            ("reg.example/v1", "OSBS no longer supports v1 builds"),
            (
                "http://reg.example/v1/",
                "OSBS no longer supports v1 builds",
            ),
            ("reg.example/v3", "only an optional /v2 path"),
            ("ftp://reg.example", "scheme"),
            ("", "host[:port]"),
            ("reg.example:99999", "host[:port]"),
            ("reg_example", "host[:port]"),
            ("[::1", "host[:port]"),
        ] {
            let err = RegistryEndpoint::parse(uri).unwrap_err().to_string();
            assert!(err.contains(expected), "{uri}: {err}");
        }
    }
}
