//! Helpers shared by the test modules: expected outcomes and how to compare them.

use osbs_core::{DigestProblem, ImageReference, ReferenceError};

/// A sha256 digest of `f`s, the one the upstream tables use most.
pub const SHA256_F: &str =
    "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/// What parsing an input should give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A reference with these parts.
    Ok {
        registry: &'static str,
        repository: String,
        tag: Option<String>,
        digest: Option<String>,
    },
    /// An error of this kind.
    Err(Kind),
}

/// The kind of a [`ReferenceError`], without its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Empty,
    AmbiguousIdentifier,
    Uppercase,
    InvalidFormat,
    InvalidRegistry,
    NameTooLong,
    InvalidTag,
    Digest(DigestProblem),
}

/// The kind of `error`.
pub fn kind(error: &ReferenceError) -> Kind {
    match error {
        ReferenceError::Empty => Kind::Empty,
        ReferenceError::AmbiguousIdentifier { .. } => Kind::AmbiguousIdentifier,
        ReferenceError::Uppercase { .. } => Kind::Uppercase,
        ReferenceError::InvalidFormat { .. } => Kind::InvalidFormat,
        ReferenceError::InvalidRegistry { .. } => Kind::InvalidRegistry,
        ReferenceError::NameTooLong { .. } => Kind::NameTooLong,
        ReferenceError::InvalidTag { .. } => Kind::InvalidTag,
        ReferenceError::InvalidDigest { problem, .. } => Kind::Digest(*problem),
        other => panic!("a variant the tests do not know: {other:?}"),
    }
}

/// A successful parse into these parts.
pub fn ok(
    registry: &'static str,
    repository: impl Into<String>,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Expected {
    Expected::Ok {
        registry,
        repository: repository.into(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    }
}

/// A failed parse of this kind.
pub fn err(kind: Kind) -> Expected {
    Expected::Err(kind)
}

/// What parsing `input` actually gives, in the shape of [`Expected`].
pub fn actual(input: &str) -> Result<ImageReference, Kind> {
    input.parse::<ImageReference>().map_err(|e| kind(&e))
}

/// Checks every `(input, expected)` case and reports all mismatches at once.
pub fn check_all(cases: &[(String, Expected)]) {
    let mut failures = Vec::new();
    for (input, expected) in cases {
        let got = actual(input);
        let matches = match (&got, expected) {
            (
                Ok(r),
                Expected::Ok {
                    registry,
                    repository,
                    tag,
                    digest,
                },
            ) => {
                r.registry() == *registry
                    && r.repository() == repository
                    && r.tag() == tag.as_deref()
                    && r.digest() == digest.as_deref()
                    && round_trips(r)
            }
            (Err(kind), Expected::Err(expected_kind)) => kind == expected_kind,
            _ => false,
        };
        if !matches {
            failures.push(format!(
                "{input:?}: expected {expected:?}, got {:?}",
                got.as_ref().map(ToString::to_string)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whether the display and familiar forms of `r` parse back to `r`.
pub fn round_trips(r: &ImageReference) -> bool {
    r.to_string().parse::<ImageReference>().as_ref() == Ok(r)
        && r.familiar().parse::<ImageReference>().as_ref() == Ok(r)
}

/// Parses `input`, panicking with the error when it is invalid.
pub fn parse(input: &str) -> ImageReference {
    input
        .parse()
        .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}
