//! The crate's one error type: every variant names the registry, and where it applies the
//! repository and the digest or tag, so a failed sync says exactly what went wrong where.

use std::path::PathBuf;

/// Everything that can go wrong while talking to registries or copying images.
///
/// Messages are lowercase, without a trailing period, and never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `/v1` registry URI (SPEC §6).
    #[error("registry {uri:?} is a v1 registry: OSBS no longer supports v1 builds")]
    V1Registry {
        /// The URI as given.
        uri: String,
    },
    /// A registry URI that is not `[http[s]://]host[:port][/v2]`.
    #[error("invalid registry {uri:?}: {reason}")]
    InvalidRegistry {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An image reference given to the CLI does not parse.
    #[error("invalid image reference {input:?}")]
    InvalidReference {
        /// The text as given.
        input: String,
        /// Why it does not parse.
        #[source]
        source: osbs_core::ReferenceError,
    },
    /// The CA file cannot be read.
    #[error("cannot read CA file {}", path.display())]
    CaFile {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable PEM certificate.
    #[error("CA file {} holds no valid PEM certificate", path.display())]
    InvalidCaFile {
        /// The path given.
        path: PathBuf,
    },
    /// The HTTP client for a registry cannot be set up.
    #[error("cannot set up the HTTP client for registry {registry}")]
    HttpClient {
        /// The registry.
        registry: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// The docker config's credential for this registry is of a kind not supported yet.
    #[error("unsupported credential for registry {registry}: {reason}")]
    UnsupportedCredential {
        /// The registry.
        registry: String,
        /// Which kind, and what to use instead.
        reason: &'static str,
    },
    /// 401: the registry (or its token server) wants credentials we do not have, or rejected
    /// the ones we sent.
    #[error(
        "registry {registry} denied access to repository {repository} (401 unauthorized): {}",
        if *sent_credentials { "the credentials were rejected" } else { "no credentials for this registry in the docker config" }
    )]
    Unauthorized {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// Whether credentials were sent.
        sent_credentials: bool,
    },
    /// 403: authenticated, but not allowed.
    #[error("registry {registry} forbids {operation} in repository {repository} (403 forbidden)")]
    Forbidden {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// What was refused (`PUT manifest latest`, `POST blob upload`).
        operation: String,
    },
    /// 404 for a manifest, tag, blob or repository.
    #[error("{what} not found in repository {repository} at registry {registry} (404)")]
    NotFound {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// `manifest <tag or digest>`, `blob <digest>` or `tag list`.
        what: String,
    },
    /// Any other unexpected HTTP status (after retries, for the retryable ones).
    #[error(
        "registry {registry} answered {status} to {operation} in repository {repository}{}",
        detail_suffix(message)
    )]
    Status {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// What was being done (`HEAD manifest latest`, `PUT blob sha256:...`).
        operation: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's error message, if it sent one.
        message: String,
        /// The distribution error codes of the answer (`MANIFEST_INVALID`, `BLOB_UNKNOWN`).
        codes: Vec<String>,
    },
    /// The connection failed (after retries).
    #[error("cannot {operation} in repository {repository} at registry {registry}")]
    Transport {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// What was being done.
        operation: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// 401 `insufficient_scope`: the credentials were accepted, but the token the registry's
    /// token server issued does not grant everything the request needs (a mount's source
    /// repository, push to the destination): the account lacks that access.
    #[error(
        "registry {registry} refused {operation} in repository {repository} (401 insufficient_scope): \
         the token does not grant all of {scope}; the account lacks that access"
    )]
    InsufficientScope {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// What was refused (`POST blob mount sha256:... from src/app`).
        operation: String,
        /// Every scope the request needed, as the token was asked for them.
        scope: String,
    },
    /// The token server could not be used: an unexpected answer or no usable token in it.
    #[error(
        "cannot get a token for repository {repository} at registry {registry} from {realm}: {problem}"
    )]
    Auth {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The token server (the challenge's `realm`).
        realm: String,
        /// What went wrong.
        problem: String,
    },
    /// The bytes of a blob do not hash to its digest (or are not as long as the manifest says).
    #[error(
        "blob {digest} from repository {repository} at registry {registry} is corrupt: {problem}"
    )]
    BlobCorrupt {
        /// The registry the bytes came from.
        registry: String,
        /// The repository the bytes came from.
        repository: String,
        /// The digest the manifest names.
        digest: String,
        /// `its bytes hash to sha256:...`, or a size mismatch.
        problem: String,
    },
    /// A manifest's bytes do not hash to the digest they were asked by, or the destination
    /// reports a different digest than the source's after the copy.
    #[error(
        "manifest {reference} in repository {repository} at registry {registry} has digest {actual}, expected {expected}"
    )]
    ManifestDigestMismatch {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The tag or digest.
        reference: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A manifest that cannot be copied: schema 1, unknown media type, or invalid JSON.
    #[error(
        "cannot copy manifest {reference} in repository {repository} at registry {registry}: {problem}"
    )]
    InvalidManifest {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The tag or digest.
        reference: String,
        /// What is wrong.
        problem: String,
    },
    /// The registry sent a response that breaks the distribution spec (a missing `Location`).
    #[error(
        "registry {registry} sent an invalid response to {operation} in repository {repository}: {problem}"
    )]
    Protocol {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// What was being done.
        operation: String,
        /// What is wrong.
        problem: String,
    },
    /// The registry's TLS certificate is not signed by a trusted CA (or is not valid for it):
    /// the CA must be named, or verification turned off.
    #[error(
        "registry {registry} presented a TLS certificate that is not trusted ({problem}) during \
         {operation} in repository {repository}: name its CA bundle (osbs.conf registry_ca, \
         osbs-registry-sync --ca-file or --src-cert-dir/--dest-cert-dir) or turn verification \
         off (verify_ssl = false, --src-tls-verify=false/--dest-tls-verify=false)"
    )]
    UntrustedCertificate {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// What was being done.
        operation: String,
        /// What the TLS stack said (`invalid peer certificate: UnknownIssuer`).
        problem: String,
    },
    /// A Docker config file (`--authfile`, `registry_secret`, or one of the files docker,
    /// podman and skopeo read) cannot be read or parsed.
    #[error("cannot use docker config {}: {reason}", path.display())]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// Why (never its content).
        reason: String,
    },
    /// A `docker-credential-*` helper failed or answered nonsense. The message names the
    /// helper and the registry, never the secret.
    #[error(
        "credential helper docker-credential-{helper} failed for registry {registry}: {problem}"
    )]
    CredentialHelper {
        /// The helper's name (after `docker-credential-`).
        helper: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong (the helper's stderr, not its stdout).
        problem: String,
    },
    /// A local file to upload cannot be read (the reactor's compressed layers).
    #[error("cannot read {} to upload it to repository {repository} at registry {registry}", path.display())]
    LocalFile {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The `--tags` filter is not a valid regular expression.
    #[error("invalid tag filter {pattern:?}")]
    TagFilter {
        /// The pattern as given.
        pattern: String,
        /// What the regex crate said.
        #[source]
        source: regex::Error,
    },
}

fn detail_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl Error {
    /// Whether the error means a registry could not be reached at all (connection refused,
    /// DNS, TLS handshake, timeouts): the CLI's exit code 3.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Transport { source, .. } => source.is_connect() || source.is_timeout(),
            _ => false,
        }
    }

    /// Whether retrying the whole operation may help: connection errors, 429 and 5xx.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { source, .. } => {
                source.is_connect()
                    || source.is_timeout()
                    || source.is_request()
                    || source.is_body()
                    || source.is_decode()
            }
            Error::Status { status, .. } => *status == 429 || (500..600).contains(status),
            _ => false,
        }
    }

    /// Whether the registry refused the request as such (401, `insufficient_scope`, 403,
    /// 404): for a cross-repository mount, a reason to upload instead.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Unauthorized { .. }
                | Error::InsufficientScope { .. }
                | Error::Forbidden { .. }
                | Error::NotFound { .. }
        )
    }

    /// Whether a manifest `PUT` was answered 400 `MANIFEST_INVALID`, `BLOB_UNKNOWN` or
    /// `MANIFEST_BLOB_UNKNOWN`: what Pulp answers while another `PUT` to the repository is
    /// still being processed, although the blobs are there.
    pub(crate) fn is_manifest_put_race(&self) -> bool {
        match self {
            Error::Status {
                status: 400, codes, ..
            } => codes.iter().any(|code| {
                matches!(
                    code.as_str(),
                    "MANIFEST_INVALID" | "BLOB_UNKNOWN" | "MANIFEST_BLOB_UNKNOWN"
                )
            }),
            _ => false,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
