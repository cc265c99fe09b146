//! Release arithmetic of SPEC §3 step 7: the target repository's tags are the source of truth.
//!
//! - no release label: `1 +` the highest numeric `N` already tagged `version-N` (1 at first);
//! - an explicit release `R`: a user build uses `R` and fails if `version-R` exists; an
//!   autorebuild takes the next free `R.k` (`R.1`, `R.2`, …).

use thiserror::Error;

/// Why no release could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReleaseError {
    /// A user build asked for a release whose tag already exists.
    #[error("release {release} already exists: tag `{tag}` is in the target repository")]
    AlreadyExists {
        /// The explicit release.
        release: String,
        /// The existing tag, `version-release`.
        tag: String,
    },
    /// The explicit release or the version cannot be part of a tag.
    #[error("{what} `{value}` cannot be used in a tag")]
    InvalidTagPart {
        /// `version` or `release`.
        what: &'static str,
        /// The offending value.
        value: String,
    },
}

/// Whether `s` is usable in a Docker tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, leaving room for
/// the other half of `version-release`).
fn valid_tag_part(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {}
        _ => return false,
    }
    s.len() <= 100 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The release for a build of `version`.
///
/// `explicit` is the Dockerfile's release label, `existing_tags` the tags of the target
/// repository.
pub fn next_release<S: AsRef<str>>(
    version: &str,
    explicit: Option<&str>,
    is_autorebuild: bool,
    existing_tags: &[S],
) -> Result<String, ReleaseError> {
    if !valid_tag_part(version) {
        return Err(ReleaseError::InvalidTagPart {
            what: "version",
            value: version.to_owned(),
        });
    }
    let prefix = format!("{version}-");
    let releases = existing_tags
        .iter()
        .filter_map(|tag| tag.as_ref().strip_prefix(&prefix));
    match explicit {
        None => {
            let highest = releases
                .filter_map(|r| r.parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            Ok((highest + 1).to_string())
        }
        Some(release) => {
            if !valid_tag_part(release) {
                return Err(ReleaseError::InvalidTagPart {
                    what: "release",
                    value: release.to_owned(),
                });
            }
            if is_autorebuild {
                let counter_prefix = format!("{release}.");
                let highest = releases
                    .filter_map(|r| r.strip_prefix(&counter_prefix)?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0);
                Ok(format!("{release}.{}", highest + 1))
            } else if releases.clone().any(|r| r == release) {
                Err(ReleaseError::AlreadyExists {
                    release: release.to_owned(),
                    tag: format!("{version}-{release}"),
                })
            } else {
                Ok(release.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &[&str] = &[];

    #[test]
    fn first_build_gets_one() {
        assert_eq!(next_release("1", None, false, NONE).unwrap(), "1");
    }

    #[test]
    fn next_is_one_above_the_highest_numeric() {
        let tags = [
            "latest", "1", "1-1", "1-3", "1-2", "1-x", "1-4.1", "2-9", "10-7",
        ];
        assert_eq!(next_release("1", None, false, &tags).unwrap(), "4");
        assert_eq!(next_release("1", None, true, &tags).unwrap(), "4");
        assert_eq!(next_release("2", None, false, &tags).unwrap(), "10");
        assert_eq!(next_release("3", None, false, &tags).unwrap(), "1");
    }

    #[test]
    fn explicit_release_for_a_user_build() {
        assert_eq!(next_release("1", Some("5"), false, &["1-4"]).unwrap(), "5");
        let err = next_release("1", Some("5"), false, &["1-5"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "release 5 already exists: tag `1-5` is in the target repository"
        );
    }

    #[test]
    fn explicit_release_for_an_autorebuild_gets_a_counter() {
        assert_eq!(next_release("1", Some("5"), true, &["1-5"]).unwrap(), "5.1");
        let tags = ["1-5", "1-5.1", "1-5.3", "1-5.x", "1-50.9"];
        assert_eq!(next_release("1", Some("5"), true, &tags).unwrap(), "5.4");
    }

    #[test]
    fn invalid_parts() {
        assert!(next_release("1 2", None, false, NONE).is_err());
        assert!(next_release("", None, false, NONE).is_err());
        assert!(next_release("1", Some("-x"), false, NONE).is_err());
    }
}
