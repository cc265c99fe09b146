//! What a build pushes, checked before anything is built: the image's repository under the
//! push registry (Docker's reference rules) and the tags `version-release`, `version` and
//! `latest` made from the Dockerfile's `version` and `release` labels (SPEC §3).
//!
//! Submission (both backends) checks these so that a name or label the reactor would refuse
//! is a usage error at once (exit 2) instead of a failed build later; the reactor's
//! `bump_release` applies the same functions.

use thiserror::Error;

use crate::reference::{self, ImageReference, REPOSITORY_NAME_MAX_LEN, ReferenceError};
use crate::text::Excerpt;

/// The longest tag Docker accepts.
pub const MAX_TAG_LEN: usize = 128;
/// The longest `version` label: leaves room in a tag for `-release` (and an autorebuild's
/// `.N` counter).
pub const MAX_VERSION_LEN: usize = 100;
/// Room kept in `version-release` for the counter an autorebuild appends to an explicit
/// release (`.1` … `.99999`).
pub const AUTOREBUILD_SUFFIX_ROOM: usize = 6;
/// The longest full image name, `registry/repository`, as the distribution project limits it.
pub const MAX_FULL_NAME_LEN: usize = 255;
/// The tag every build moves.
pub const LATEST: &str = "latest";
/// A registry for checks that do not know the real one (its length is not counted).
const ANY_REGISTRY: &str = "localhost";

/// A name or label the build could not push under.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// The image name cannot be a repository in the registry.
    #[error("invalid image name {}: {reason}", Excerpt(.name))]
    ImageName {
        /// The name (the `name` label or `--component`).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The Dockerfile has no `version` label.
    #[error("the Dockerfile has no `version` label")]
    MissingVersion,
    /// The `version` or `release` label cannot be part of a tag.
    #[error("invalid `{label}` label {}: {reason}", Excerpt(.value))]
    Label {
        /// `version` or `release`.
        label: &'static str,
        /// The label's value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Two of the tags the build pushes are the same.
    #[error("the build would push tag `{tag}` twice (as `version` and as `{tag}`)")]
    DuplicateTag {
        /// The tag.
        tag: String,
    },
}

/// The repository `name` is under the registry `registry_host` (`host[:port]`): Docker's
/// reference grammar (lowercase path components of letters and digits joined by `.`, `_`,
/// `__` or `-`, separated by `/`), no tag or digest, the repository path at most 255
/// characters and `registry/repository` at most [`MAX_FULL_NAME_LEN`].
///
/// # Errors
///
/// [`TargetError::ImageName`] saying why.
pub fn repository(registry_host: &str, name: &str) -> Result<String, TargetError> {
    let refuse = |reason: String| TargetError::ImageName {
        name: name.to_owned(),
        reason,
    };
    let full = format!("{registry_host}/{name}");
    let parsed = ImageReference::parse(&full).map_err(|err| {
        refuse(match err {
            ReferenceError::Uppercase { .. } => "it must be lowercase".to_owned(),
            ReferenceError::NameTooLong { length, .. } => format!(
                "it is {length} characters long, more than the maximum of \
                 {REPOSITORY_NAME_MAX_LEN}"
            ),
            ReferenceError::Empty => "it is empty".to_owned(),
            _ => "it must be lowercase path components of letters and digits, joined by `.`, \
                  `_`, `__` or `-`, separated by `/`"
                .to_owned(),
        })
    })?;
    if parsed.tag().is_some() || parsed.digest().is_some() {
        return Err(refuse(
            "it must be a repository without tag or digest".to_owned(),
        ));
    }
    if parsed.registry() != registry_host {
        return Err(refuse(format!(
            "it does not name a repository in registry {registry_host}"
        )));
    }
    if registry_host != ANY_REGISTRY && full.len() > MAX_FULL_NAME_LEN {
        return Err(refuse(format!(
            "with the registry, `{registry_host}/` + the name is {} characters long, more than \
             the maximum of {MAX_FULL_NAME_LEN}",
            full.len()
        )));
    }
    Ok(parsed.repository().to_owned())
}

/// [`repository`] for a check that does not know the registry yet: the grammar and the
/// repository path's length.
///
/// # Errors
///
/// [`TargetError::ImageName`] saying why.
pub fn validate_image_name(name: &str) -> Result<(), TargetError> {
    repository(ANY_REGISTRY, name).map(drop)
}

/// Whether `value` can be part of a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]*`.
fn tag_part(label: &'static str, value: &str) -> Result<(), TargetError> {
    let refuse = |reason: &str| TargetError::Label {
        label,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let mut chars = value.chars();
    match chars.next() {
        None => return Err(refuse("it is empty")),
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {}
        Some(_) => return Err(refuse("it must start with a letter, digit or `_`")),
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(refuse(
            "a tag may only contain letters, digits, `_`, `.` and `-`",
        ));
    }
    Ok(())
}

/// Checks the `version` label: usable in a tag, at most [`MAX_VERSION_LEN`] characters (room
/// for `-release`), and not `latest` (the build pushes `latest` as a tag of its own).
///
/// # Errors
///
/// [`TargetError::Label`] or [`TargetError::DuplicateTag`].
pub fn validate_version(version: &str) -> Result<(), TargetError> {
    tag_part("version", version)?;
    if version.len() > MAX_VERSION_LEN {
        return Err(TargetError::Label {
            label: "version",
            value: version.to_owned(),
            reason: format!(
                "it is {} characters long, more than the maximum of {MAX_VERSION_LEN} (a tag \
                 has at most {MAX_TAG_LEN}, and `-release` must fit)",
                version.len()
            ),
        });
    }
    if version == LATEST {
        return Err(TargetError::DuplicateTag {
            tag: LATEST.to_owned(),
        });
    }
    Ok(())
}

/// Checks an explicit `release` label for `version`: usable in a tag, and
/// `version-release` short enough to leave room for an autorebuild's counter.
///
/// # Errors
///
/// [`TargetError::Label`].
pub fn validate_release(version: &str, release: &str) -> Result<(), TargetError> {
    tag_part("release", release)?;
    let max = MAX_TAG_LEN - AUTOREBUILD_SUFFIX_ROOM - version.len().min(MAX_VERSION_LEN) - 1;
    if release.len() > max {
        return Err(TargetError::Label {
            label: "release",
            value: release.to_owned(),
            reason: format!(
                "it is {} characters long; with version `{version}` it may have at most {max} \
                 (`version-release` is a tag of at most {MAX_TAG_LEN} characters, with room \
                 for an autorebuild's `.N`)",
                release.len()
            ),
        });
    }
    Ok(())
}

/// The primary tags of a build of `version` with `release`: `version-release`, `version`,
/// `latest` — each a valid tag, no two alike.
///
/// # Errors
///
/// [`TargetError::Label`] or [`TargetError::DuplicateTag`].
pub fn primary_tags(version: &str, release: &str) -> Result<[String; 3], TargetError> {
    validate_version(version)?;
    tag_part("release", release)?;
    let tags = [
        format!("{version}-{release}"),
        version.to_owned(),
        LATEST.to_owned(),
    ];
    for tag in &tags {
        reference::validate_tag(tag).map_err(|_| TargetError::Label {
            label: "release",
            value: release.to_owned(),
            reason: format!(
                "`{}` is not a valid tag (at most {MAX_TAG_LEN} characters)",
                crate::text::shorten(tag)
            ),
        })?;
    }
    Ok(tags)
}

/// What submission checks of the Dockerfile's labels: a valid `version`, a valid explicit
/// `release` if there is one, and the primary tags they make (with release `1` when the
/// release is chosen at build time).
///
/// # Errors
///
/// [`TargetError::MissingVersion`], [`TargetError::Label`] or [`TargetError::DuplicateTag`].
pub fn validate_labels(version: Option<&str>, release: Option<&str>) -> Result<(), TargetError> {
    let version = version.ok_or(TargetError::MissingVersion)?;
    validate_version(version)?;
    if let Some(release) = release {
        validate_release(version, release)?;
    }
    primary_tags(version, release.unwrap_or("1")).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        let host = "127.0.0.1:5000";
        for (name, expected) in [
            ("osbs/app", Ok("osbs/app")),
            ("app", Ok("app")),
            ("a.b_c__d-e/f--g", Ok("a.b_c__d-e/f--g")),
            ("quay.io/ns/app", Ok("quay.io/ns/app")),
            ("Osbs/App", Err("must be lowercase")),
            ("osbs/app:1.0", Err("without tag or digest")),
            ("osbs//app", Err("path components")),
            ("osbs/-app", Err("path components")),
            ("osbs/app_", Err("path components")),
            ("", Err("path components")),
        ] {
            let got = repository(host, name);
            match expected {
                Ok(repo) => assert_eq!(got.as_deref(), Ok(repo), "{name}"),
                Err(why) => {
                    let err = got.expect_err(name).to_string();
                    assert!(err.contains(why), "{name}: {err}");
                }
            }
        }
    }

    #[test]
    fn long_image_names() {
        let host = "127.0.0.1:5000";
        let fits = "a".repeat(MAX_FULL_NAME_LEN - host.len() - 1);
        assert!(repository(host, &fits).is_ok());
        let over = format!("{fits}b");
        let err = repository(host, &over).unwrap_err().to_string();
        assert!(err.contains("more than the maximum of 255"), "{err}");
        assert!(validate_image_name(&over).is_ok(), "no registry, no total");
        let huge = format!("osbs/{}", "x".repeat(300));
        let err = validate_image_name(&huge).unwrap_err().to_string();
        assert!(err.contains("305 characters long"), "{err}");
        assert!(err.contains("bytes more"), "the name is cut: {err}");
        assert!(err.len() < 400, "{err}");
    }

    #[test]
    fn versions_and_releases() {
        for (version, release, expected) in [
            (Some("1.0"), None, Ok(())),
            (Some("1.0"), Some("3.el9"), Ok(())),
            (Some("_x-1.2"), Some("_1"), Ok(())),
            (None, None, Err("has no `version` label")),
            (Some(""), None, Err("it is empty")),
            (Some("-1"), None, Err("must start with")),
            (Some(".1"), None, Err("must start with")),
            (Some("1.0 beta"), None, Err("may only contain")),
            (Some("1/0"), None, Err("may only contain")),
            (Some("latest"), None, Err("tag `latest` twice")),
            (Some("1.0"), Some("1 2"), Err("may only contain")),
            (Some("1.0"), Some("-1"), Err("must start with")),
        ] {
            let got = validate_labels(version, release).map_err(|e| e.to_string());
            match expected {
                Ok(()) => assert_eq!(got, Ok(()), "{version:?} {release:?}"),
                Err(why) => {
                    let err = got.expect_err("refused");
                    assert!(err.contains(why), "{version:?} {release:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn lengths_leave_room_for_the_release() {
        let longest = "v".repeat(MAX_VERSION_LEN);
        assert_eq!(validate_labels(Some(&longest), None), Ok(()));
        let too_long = "v".repeat(MAX_VERSION_LEN + 1);
        let err = validate_labels(Some(&too_long), None).unwrap_err();
        assert!(err.to_string().contains("101 characters long"), "{err}");
        // version + `-` + release + `.NNNNN` fits in a tag.
        let release = "r".repeat(MAX_TAG_LEN - AUTOREBUILD_SUFFIX_ROOM - 1 - 3);
        assert_eq!(validate_labels(Some("1.0"), Some(&release)), Ok(()));
        let err = validate_labels(Some("1.0"), Some(&format!("{release}r"))).unwrap_err();
        assert!(err.to_string().contains("at most 118"), "{err}");
        // A release from the registry's tags that makes too long a tag.
        let err = primary_tags(&longest, &"9".repeat(30)).unwrap_err();
        assert!(err.to_string().contains("not a valid tag"), "{err}");
    }

    #[test]
    fn primary_tags_in_order() {
        assert_eq!(
            primary_tags("1.0", "3").unwrap(),
            ["1.0-3".to_owned(), "1.0".to_owned(), "latest".to_owned()]
        );
        assert!(matches!(
            primary_tags("latest", "1"),
            Err(TargetError::DuplicateTag { .. })
        ));
    }
}
