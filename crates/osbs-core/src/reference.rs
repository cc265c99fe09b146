//! Container image references (`registry/repository:tag@digest`), parsed and normalised the way
//! Docker does it: the grammar of the distribution project's `reference` package and the rules
//! of its `ParseNormalizedNamed`.
//!
//! # Normalisation
//!
//! Parsing an [`ImageReference`] is `ParseNormalizedNamed`:
//!
//! - a 64-character lowercase hexadecimal string alone is refused, because `docker` would read
//!   it as an image ID;
//! - the first `/`-separated segment is the registry when it is `localhost`, contains a `.` or
//!   a `:`, or contains an uppercase letter; otherwise the registry is `docker.io` and the whole
//!   input is the repository (`foo/bar` → `docker.io/foo/bar`);
//! - `index.docker.io` becomes `docker.io`, and a one-component repository on `docker.io` gets
//!   the `library/` prefix (`ubuntu` → `docker.io/library/ubuntu`);
//! - the repository must be lowercase and at most [`REPOSITORY_NAME_MAX_LEN`] characters
//!   (counted after normalisation, on the repository path without the registry, as the current
//!   `RepositoryNameTotalLengthMax` check does);
//! - a tag and a digest may both be given; digests must be sha256, sha384 or sha512 with
//!   exactly 64, 96 or 128 lowercase hex digits.
//!
//! # Default tag
//!
//! A missing tag is **not** filled in: [`ImageReference::tag`] returns what was written and
//! [`Display`](std::fmt::Display) prints only that, so `ubuntu` prints as
//! `docker.io/library/ubuntu`. Ask for the default explicitly with
//! [`ImageReference::tag_or_latest`] or [`ImageReference::with_default_tag`] (`TagNameOnly`),
//! or [`ImageReference::docker_ref`] (`ParseDockerRef`).
//!
//! # Deliberate differences from the Go package
//!
//! - A first segment that contains a `.` but is not a valid host name while still being a valid
//!   path component (such as `my_registry.local/app`) makes Go return a reference with an
//!   *empty* domain; here it is refused with [`ReferenceError::InvalidRegistry`], so every
//!   reference has a registry.
//! - [`ImageReference::familiar`] never prints a string that parses differently: it keeps
//!   `docker.io/` when the first path component would be read as a registry
//!   (`docker.io/example.com/app`) and keeps `library/` when the name alone would be a 64-hex
//!   image ID. Go's `FamiliarString` drops them.
//! - [`ImageReference::with_digest`] validates the digest fully, where Go's `WithDigest` only
//!   checks its grammar.

mod grammar;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

pub use grammar::DigestProblem;

use grammar::Mismatch;

/// The registry that names without one refer to (Docker Hub).
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Docker Hub's legacy ("Docker Index") name, normalised to [`DEFAULT_REGISTRY`].
pub const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";

/// The namespace of official images on Docker Hub, added to one-component repositories there.
pub const OFFICIAL_REPOSITORY_PREFIX: &str = "library/";

/// The tag Docker assumes when neither a tag nor a digest is given.
pub const DEFAULT_TAG: &str = "latest";

/// The maximum length of the repository path (without the registry), after normalisation.
pub const REPOSITORY_NAME_MAX_LEN: usize = 255;

/// Why a string is not a valid image reference, a tag or a digest.
///
/// Every variant carries the offending input, quoted in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The input is the empty string.
    #[error("invalid reference format: the image reference is empty")]
    Empty,
    /// The input is a 64-character hexadecimal string, which Docker reads as an image ID.
    #[error("invalid repository name {input:?}: cannot specify 64-byte hexadecimal strings")]
    AmbiguousIdentifier {
        /// The input as given.
        input: String,
    },
    /// The repository name contains uppercase letters.
    #[error("invalid reference format: repository name {name:?} in {input:?} must be lowercase")]
    Uppercase {
        /// The input as given.
        input: String,
        /// The (normalised) name that contains uppercase letters.
        name: String,
    },
    /// The name does not match the grammar (bad characters, separators, empty components, a
    /// registry with a bad port, ...).
    #[error("invalid reference format: {input:?} is not a valid image name")]
    InvalidFormat {
        /// The input as given.
        input: String,
    },
    /// The first segment was taken as a registry because it contains a `.`, but it is not a
    /// valid host name (see the module documentation).
    #[error(
        "invalid reference format: registry {registry:?} in {input:?} is not a valid host name"
    )]
    InvalidRegistry {
        /// The input as given.
        input: String,
        /// The first segment of the input.
        registry: String,
    },
    /// The repository path is longer than [`REPOSITORY_NAME_MAX_LEN`].
    #[error(
        "invalid reference format: repository name in {input:?} is {length} characters long, more than the maximum of {REPOSITORY_NAME_MAX_LEN}"
    )]
    NameTooLong {
        /// The input as given.
        input: String,
        /// The length of the normalised repository path.
        length: usize,
    },
    /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid reference format: tag {tag:?} in {input:?} must be 1 to 128 of `A-Za-z0-9_.-` and not start with `.` or `-`"
    )]
    InvalidTag {
        /// The reference that was being parsed or built.
        input: String,
        /// The offending tag.
        tag: String,
    },
    /// The digest is malformed, of an unsupported algorithm, or of the wrong length.
    #[error("invalid digest {digest:?} in {input:?}: {problem}")]
    InvalidDigest {
        /// The reference that was being parsed or built.
        input: String,
        /// The offending digest.
        digest: String,
        /// What is wrong with it.
        problem: DigestProblem,
    },
}

/// A normalised container image reference: `registry/repository[:tag][@digest]`.
///
/// Parse one with [`str::parse`] or [`ImageReference::parse`]; see the
/// [module documentation](self) for the rules. Two references are equal when their normalised
/// forms are, so `ubuntu` equals `docker.io/library/ubuntu` but not `ubuntu:latest`.
///
/// ```
/// use osbs_core::ImageReference;
///
/// let r: ImageReference = "ubuntu:22.04".parse()?;
/// assert_eq!(r.registry(), "docker.io");
/// assert_eq!(r.repository(), "library/ubuntu");
/// assert_eq!(r.tag(), Some("22.04"));
/// assert_eq!(r.to_string(), "docker.io/library/ubuntu:22.04");
/// assert_eq!(r.familiar(), "ubuntu:22.04");
/// # Ok::<(), osbs_core::ReferenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageReference {
    /// Parses and normalises `input` (the same as [`str::parse`]).
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] saying which rule `input` breaks.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if grammar::is_identifier(input) {
            return Err(ReferenceError::AmbiguousIdentifier {
                input: input.to_owned(),
            });
        }

        let (domain, remainder) = split_docker_domain(input);
        let remote = remainder.split(':').next().unwrap_or_default();
        if grammar::has_uppercase(remote) {
            return Err(ReferenceError::Uppercase {
                input: input.to_owned(),
                name: remote.to_owned(),
            });
        }

        // `Parse(domain + "/" + remainder)`.
        let full = format!("{domain}/{remainder}");
        let parts = match grammar::match_reference(&full) {
            Ok(parts) => parts,
            Err(mismatch) => return Err(grammar_error(input, &full, mismatch)),
        };
        if parts.path.len() > REPOSITORY_NAME_MAX_LEN {
            return Err(ReferenceError::NameTooLong {
                input: input.to_owned(),
                length: parts.path.len(),
            });
        }
        if let Some(digest) = parts.digest {
            grammar::validate_digest(digest).map_err(|problem| ReferenceError::InvalidDigest {
                input: input.to_owned(),
                digest: digest.to_owned(),
                problem,
            })?;
        }
        let Some(registry) = parts.domain else {
            return Err(ReferenceError::InvalidRegistry {
                input: input.to_owned(),
                registry: domain.to_owned(),
            });
        };
        Ok(Self {
            registry: registry.to_owned(),
            repository: parts.path.to_owned(),
            tag: parts.tag.map(str::to_owned),
            digest: parts.digest.map(str::to_owned),
        })
    }

    /// The normalised registry (`docker.io`, `quay.io`, `127.0.0.1:5000`, `[::1]:5000`), with
    /// its port if one was given.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The registry without its port: `127.0.0.1` for `127.0.0.1:5000`, `[::1]` for
    /// `[::1]:5000`.
    pub fn registry_host(&self) -> &str {
        split_host_port(&self.registry).0
    }

    /// The registry's port as written (digits only, not range-checked), if any.
    pub fn registry_port(&self) -> Option<&str> {
        split_host_port(&self.registry).1
    }

    /// The repository path without the registry, normalised (`library/ubuntu`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The full name without tag or digest: `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag as written, if any (no `latest` is assumed; see [`Self::tag_or_latest`]).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag as written, or [`DEFAULT_TAG`] (`latest`) when there is none.
    ///
    /// This does not look at the digest: for a reference by digest only, the digest (not
    /// `latest`) is what a pull resolves.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// The digest (`sha256:<64 hex>`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether the registry is Docker Hub (`docker.io`).
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DEFAULT_REGISTRY
    }

    /// Whether the registry is on the loopback interface ([`is_loopback_host`]).
    pub fn is_loopback_registry(&self) -> bool {
        is_loopback_host(&self.registry)
    }

    /// The name the way `docker` shows it: without `docker.io/`, and without `library/` for
    /// official images (`ubuntu`, `foo/bar`, `quay.io/foo/bar`).
    ///
    /// Unlike Go's `FamiliarName`, the prefixes are kept when dropping them would change what
    /// the result parses to, so `familiar_name().parse()` always gives back this name.
    pub fn familiar_name(&self) -> String {
        if !self.is_docker_hub() {
            return self.name();
        }
        if let Some(official) = self.repository.strip_prefix(OFFICIAL_REPOSITORY_PREFIX)
            && !official.contains('/')
            && !grammar::is_identifier(official)
        {
            return official.to_owned();
        }
        let first = self.repository.split('/').next().unwrap_or_default();
        if first.contains('.') || first == "localhost" {
            return self.name();
        }
        self.repository.clone()
    }

    /// The short form `docker` prints (`FamiliarString`): the [familiar name](Self::familiar_name)
    /// with the tag and digest, such as `ubuntu:22.04` or `quay.io/foo/bar@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut familiar = self.familiar_name();
        push_tag_and_digest(&mut familiar, self.tag(), self.digest());
        familiar
    }

    /// This reference with `tag` instead of its tag; a digest is kept (Go's `WithTag`).
    ///
    /// # Errors
    ///
    /// [`ReferenceError::InvalidTag`] when `tag` is not a valid tag.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !grammar::is_tag(tag) {
            return Err(ReferenceError::InvalidTag {
                input: format!("{}:{tag}", self.name()),
                tag: tag.to_owned(),
            });
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// This reference with `digest` instead of its digest; a tag is kept (Go's `WithDigest`,
    /// but the digest must also pass the checks [`Self::parse`] applies).
    ///
    /// # Errors
    ///
    /// [`ReferenceError::InvalidDigest`] when `digest` is not a valid sha256, sha384 or sha512
    /// digest.
    pub fn with_digest(&self, digest: &str) -> Result<Self, ReferenceError> {
        validate_digest(digest).map_err(|problem| ReferenceError::InvalidDigest {
            input: format!("{}@{digest}", self.name()),
            digest: digest.to_owned(),
            problem,
        })?;
        Ok(Self {
            digest: Some(digest.to_owned()),
            ..self.clone()
        })
    }

    /// This reference without its tag.
    pub fn without_tag(&self) -> Self {
        Self {
            tag: None,
            ..self.clone()
        }
    }

    /// This reference without its digest.
    pub fn without_digest(&self) -> Self {
        Self {
            digest: None,
            ..self.clone()
        }
    }

    /// The name alone, without tag and digest (Go's `TrimNamed`).
    pub fn without_tag_and_digest(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: None,
        }
    }

    /// This reference with the tag `latest` when it has neither a tag nor a digest (Go's
    /// `TagNameOnly`); otherwise unchanged.
    pub fn with_default_tag(&self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            Self {
                tag: Some(DEFAULT_TAG.to_owned()),
                ..self.clone()
            }
        } else {
            self.clone()
        }
    }

    /// What Docker pulls (Go's `ParseDockerRef`): the digest alone when there is one (a tag
    /// beside it is dropped), otherwise the tag, defaulting to `latest`.
    pub fn docker_ref(&self) -> Self {
        if self.digest.is_some() {
            self.without_tag()
        } else {
            self.with_default_tag()
        }
    }
}

impl FromStr for ImageReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The fully qualified form: `registry/repository[:tag][@digest]`, with the tag only if one was
/// given (`docker.io/library/ubuntu`, `quay.io/foo/bar:1@sha256:…`).
impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Serialises as the fully qualified string ([`Display`](fmt::Display)).
impl serde::Serialize for ImageReference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserialises from a string, parsed and normalised like [`ImageReference::parse`].
impl<'de> serde::Deserialize<'de> for ImageReference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `host[:port]` names the loopback interface: `localhost` (any case), an IPv4
/// address in `127.0.0.0/8`, or `[::1]`, with any port. Names are not resolved. One rule for
/// the reference's registry and osbs-registry-sync's endpoints (plain HTTP on loopback).
pub fn is_loopback_host(host_port: &str) -> bool {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest
            .split_once(']')
            .and_then(|(address, _)| address.parse::<Ipv6Addr>().ok())
            .is_some_and(|ip| ip.is_loopback());
    }
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks that `tag` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
///
/// # Errors
///
/// [`ReferenceError::InvalidTag`] (with `tag` as the input).
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    if grammar::is_tag(tag) {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag {
            input: tag.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

/// Checks that `digest` is a digest [`ImageReference::parse`] accepts: sha256, sha384 or
/// sha512 with exactly 64, 96 or 128 lowercase hexadecimal digits.
///
/// # Errors
///
/// The [`DigestProblem`] found.
pub fn validate_digest(digest: &str) -> Result<(), DigestProblem> {
    grammar::validate_digest(digest)
}

/// Go's `splitDockerDomain`: the registry and the rest of `input` (repository, tag, digest),
/// with `docker.io` and `library/` filled in.
fn split_docker_domain(input: &str) -> (&str, String) {
    let Some((first, rest)) = input.split_once('/') else {
        return (
            DEFAULT_REGISTRY,
            format!("{OFFICIAL_REPOSITORY_PREFIX}{input}"),
        );
    };
    let (domain, remote) = if first == "localhost" {
        (first, rest)
    } else if first == LEGACY_DEFAULT_REGISTRY {
        (DEFAULT_REGISTRY, rest)
    } else if first.contains(['.', ':']) || grammar::has_uppercase(first) {
        (first, rest)
    } else {
        (DEFAULT_REGISTRY, input)
    };
    if domain == DEFAULT_REGISTRY && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPOSITORY_PREFIX}{remote}"))
    } else {
        (domain, remote.to_owned())
    }
}

/// The [`ReferenceError`] for a string `full` (built from `input`) that failed the grammar,
/// with `Parse`'s check for names that only fail because of uppercase letters.
fn grammar_error(input: &str, full: &str, mismatch: Mismatch) -> ReferenceError {
    let lowered = grammar::go_lowercase(full);
    if lowered != full && grammar::match_reference(&lowered).is_ok() {
        return ReferenceError::Uppercase {
            input: input.to_owned(),
            name: grammar::name_part(full).to_owned(),
        };
    }
    match mismatch {
        Mismatch::Name => ReferenceError::InvalidFormat {
            input: input.to_owned(),
        },
        Mismatch::Tag => ReferenceError::InvalidTag {
            input: input.to_owned(),
            tag: grammar::split(full).1.unwrap_or_default().to_owned(),
        },
        Mismatch::Digest => ReferenceError::InvalidDigest {
            input: input.to_owned(),
            digest: grammar::split(full).2.unwrap_or_default().to_owned(),
            problem: DigestProblem::Format,
        },
    }
}

/// Splits a registry into host and port; an IPv6 host keeps its brackets.
fn split_host_port(registry: &str) -> (&str, Option<&str>) {
    if registry.starts_with('[') {
        if let Some((address, after)) = registry.split_once(']') {
            let host_len = address.len() + 1;
            let host = registry.get(..host_len).unwrap_or(registry);
            return (host, after.strip_prefix(':'));
        }
        return (registry, None);
    }
    match registry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    }
}

/// Appends `:tag` and `@digest` when present.
fn push_tag_and_digest(out: &mut String, tag: Option<&str>, digest: Option<&str>) {
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest);
    }
}
