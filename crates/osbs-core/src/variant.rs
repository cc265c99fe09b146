//! Build variants (SPEC §3, last paragraph; osbs-client's `build` flags): what a build pushes,
//! whether it takes a release, whether it changes its BuildConfig and whether its import fires
//! triggers. Submission validates a [`BuildVariant`] with [`BuildVariant::validate`], the
//! reactor picks its tags with [`BuildVariant::tags`], and both backends' imports apply
//! [`import_policy`].
//!
//! Build arguments are part of the BuildConfig (as OpenShift keeps `buildArgs` on a
//! BuildConfig's strategy): a regular user build records them there, so its autorebuilds build
//! with the same arguments and the base image (a `FROM` with an `ARG`) their trigger was set
//! on. A scratch or isolated build leaves the BuildConfig alone; its arguments stay on the
//! Build.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::Build;
use crate::target::{self, LATEST, TargetError};
use crate::text::Excerpt;

/// The longest build argument value accepted (Docker has no limit; a value this long is a
/// mistake, and it ends up in the request and the Build).
pub const MAX_BUILD_ARG_LEN: usize = 4096;

/// How a build differs from a regular user build. The default is a regular build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BuildVariant {
    /// `--scratch`: push only the unique tag, take no release, import nothing, fire nothing,
    /// leave the BuildConfig's trigger and commit alone.
    #[serde(default)]
    pub scratch: bool,
    /// `--isolated` (with `--release`): push `version-release` and the unique tag only, never
    /// `version`/`latest`; leave the BuildConfig alone; the import fires no triggers.
    #[serde(default)]
    pub isolated: bool,
    /// `--release R`: the release instead of the Dockerfile's label or the next free number.
    #[serde(default)]
    pub release: Option<String>,
    /// `-A/--tag`: extra tags pushed (and digest-checked) besides the primary ones.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `--build-arg K=V`: the Docker build's arguments.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
}

/// A variant that cannot be submitted (a usage error, exit 2).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VariantError {
    /// `--isolated` without `--release`.
    #[error(
        "--isolated requires --release: an isolated build rebuilds one release of an existing version"
    )]
    IsolatedWithoutRelease,
    /// Two flags that exclude each other.
    #[error("--{0} cannot be used with --{1}")]
    Conflict(&'static str, &'static str),
    /// An extra tag that is not a valid Docker tag.
    #[error("invalid tag {} (-A/--tag): a tag is 1 to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`", Excerpt(.0))]
    Tag(String),
    /// An extra tag that is one of the build's own tags.
    #[error("tag `{tag}` (-A/--tag) is one of the build's primary tags{why}")]
    PrimaryTag {
        /// The tag.
        tag: String,
        /// What that means for this variant.
        why: &'static str,
    },
    /// `--release` that cannot be part of a tag.
    #[error("{}", release_message(.0))]
    Release(TargetError),
    /// A `--build-arg` that is not `K=V`.
    #[error("invalid build arg {} (--build-arg): expected NAME=VALUE", Excerpt(.0))]
    BuildArgSyntax(String),
    /// A `--build-arg` whose name cannot be an `ARG`.
    #[error("invalid build arg name {} (--build-arg): a name is a letter or `_` followed by letters, digits and `_`", Excerpt(.0))]
    BuildArgName(String),
    /// A `--build-arg` whose value holds control characters or is too long.
    #[error("invalid value of build arg {name} (--build-arg): {reason}")]
    BuildArgValue {
        /// The argument's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// A refused `--release`, worded for the flag rather than the Dockerfile label.
fn release_message(err: &TargetError) -> String {
    match err {
        TargetError::Label {
            label: "release",
            value,
            reason,
        } => format!("invalid release {} (--release): {reason}", Excerpt(value)),
        other => format!("--release: {other}"),
    }
}

/// Parses one `--build-arg NAME=VALUE`.
///
/// # Errors
///
/// [`VariantError::BuildArgSyntax`], [`VariantError::BuildArgName`] or
/// [`VariantError::BuildArgValue`].
pub fn parse_build_arg(arg: &str) -> Result<(String, String), VariantError> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| VariantError::BuildArgSyntax(arg.to_owned()))?;
    validate_build_arg(name, value)?;
    Ok((name.to_owned(), value.to_owned()))
}

/// Checks a build argument: the name `[A-Za-z_][A-Za-z0-9_]*`, the value without control
/// characters and at most [`MAX_BUILD_ARG_LEN`] bytes.
///
/// # Errors
///
/// [`VariantError::BuildArgName`] or [`VariantError::BuildArgValue`].
pub fn validate_build_arg(name: &str, value: &str) -> Result<(), VariantError> {
    let mut chars = name.chars();
    let valid_name = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(VariantError::BuildArgName(name.to_owned()));
    }
    let refuse = |reason: String| VariantError::BuildArgValue {
        name: name.to_owned(),
        reason,
    };
    if value.chars().any(char::is_control) {
        return Err(refuse("it contains control characters".to_owned()));
    }
    if value.len() > MAX_BUILD_ARG_LEN {
        return Err(refuse(format!(
            "it is {} bytes long, more than the maximum of {MAX_BUILD_ARG_LEN}",
            value.len()
        )));
    }
    Ok(())
}

/// What an import by a build may do to the ImageStream ([`import_policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPolicy {
    /// Nothing: a scratch build's image is not recorded.
    Skip,
    /// Record the digests, fire no triggers (an isolated build, a baseline).
    Record,
    /// Record and fire the triggers on every changed tag.
    Fire,
}

/// What an import by `by` (none: a user's `import-image` or the scheduled import) may do, when
/// the caller would fire triggers (`fire`) or only record.
pub fn import_policy(by: Option<&Build>, fire: bool) -> ImportPolicy {
    match by.map(|b| &b.variant) {
        Some(v) if v.scratch => ImportPolicy::Skip,
        Some(v) if v.isolated => ImportPolicy::Record,
        _ if fire => ImportPolicy::Fire,
        _ => ImportPolicy::Record,
    }
}

impl BuildVariant {
    /// Whether this is a regular user build (no flag given, or only `--release`, `-A` or
    /// `--build-arg`).
    pub fn is_regular(&self) -> bool {
        !self.scratch && !self.isolated
    }

    /// `scratch`, `isolated` or `regular`, for text output.
    pub fn kind(&self) -> &'static str {
        if self.scratch {
            "scratch"
        } else if self.isolated {
            "isolated"
        } else {
            "regular"
        }
    }

    /// Whether the variant is the default (nothing to show).
    pub fn is_default(&self) -> bool {
        *self == BuildVariant::default()
    }

    /// Whether a submission of this variant records the build on its BuildConfig (trigger,
    /// commit, build arguments): only a regular build does.
    pub fn updates_build_config(&self) -> bool {
        self.is_regular()
    }

    /// Whether the build takes a release (`bump_release`): a scratch build does not.
    pub fn takes_release(&self) -> bool {
        !self.scratch
    }

    /// The checks made at submission before the repository is read: flags that exclude each
    /// other, `--isolated` without `--release`, extra tags, the release as a tag part and the
    /// build arguments.
    ///
    /// # Errors
    ///
    /// The first [`VariantError`] found.
    pub fn validate(&self) -> Result<(), VariantError> {
        if self.scratch && self.isolated {
            return Err(VariantError::Conflict("scratch", "isolated"));
        }
        if self.scratch && self.release.is_some() {
            return Err(VariantError::Conflict("scratch", "release"));
        }
        if self.scratch && !self.tags.is_empty() {
            return Err(VariantError::Conflict("scratch", "tag"));
        }
        if self.isolated && self.release.is_none() {
            return Err(VariantError::IsolatedWithoutRelease);
        }
        if let Some(release) = &self.release {
            // The version is not known yet; `validate_labels` checks the full tag later.
            target::validate_release("", release).map_err(VariantError::Release)?;
        }
        for tag in &self.tags {
            crate::reference::validate_tag(tag).map_err(|_| VariantError::Tag(tag.clone()))?;
            if tag == LATEST {
                return Err(self.primary_tag(tag));
            }
        }
        for (name, value) in &self.build_args {
            validate_build_arg(name, value)?;
        }
        Ok(())
    }

    fn primary_tag(&self, tag: &str) -> VariantError {
        VariantError::PrimaryTag {
            tag: tag.to_owned(),
            why: if self.isolated {
                " (an isolated build never moves it)"
            } else {
                " (it is pushed anyway)"
            },
        }
    }

    /// The checks made once the Dockerfile's labels are known: the release (this variant's or
    /// the label's) with the version, and no extra tag equal to a primary tag.
    ///
    /// # Errors
    ///
    /// A [`TargetError`] as a [`VariantError::Release`], or [`VariantError::PrimaryTag`].
    pub fn validate_with_labels(
        &self,
        version: Option<&str>,
        release_label: Option<&str>,
    ) -> Result<(), VariantError> {
        if let (Some(version), Some(release)) = (version, &self.release) {
            target::validate_labels(Some(version), Some(release)).map_err(VariantError::Release)?;
        }
        let release = self.release.as_deref().or(release_label);
        for tag in &self.tags {
            let is_primary = Some(tag.as_str()) == version
                || matches!((version, release), (Some(v), Some(r)) if *tag == format!("{v}-{r}"));
            if is_primary {
                return Err(self.primary_tag(tag));
            }
        }
        Ok(())
    }

    /// The tags a build of `version` with `release` pushes besides its unique tag: regular,
    /// `version-release`, `version`, `latest`; isolated, `version-release`; scratch, none;
    /// then the extra tags not already among them. The unique tag is pushed after these.
    pub fn tags(&self, version: &str, release: Option<&str>) -> Vec<String> {
        let mut primary: Vec<String> = match (self.scratch, self.isolated, release) {
            (true, _, _) | (_, _, None) => Vec::new(),
            (false, true, Some(r)) => vec![format!("{version}-{r}")],
            (false, false, Some(r)) => {
                vec![
                    format!("{version}-{r}"),
                    version.to_owned(),
                    LATEST.to_owned(),
                ]
            }
        };
        if !self.scratch {
            for tag in &self.tags {
                if !primary.contains(tag) {
                    primary.push(tag.clone());
                }
            }
        }
        primary
    }
}

impl fmt::Display for BuildVariant {
    /// `scratch`, `isolated, release 1.1, tags a b, build args K=V`, …: what differs from a
    /// regular build.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if !self.is_regular() {
            parts.push(self.kind().to_owned());
        }
        if let Some(release) = &self.release {
            parts.push(format!("release {release}"));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags {}", self.tags.join(" ")));
        }
        if !self.build_args.is_empty() {
            let args: Vec<String> = self
                .build_args
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            parts.push(format!("build args {}", args.join(" ")));
        }
        if parts.is_empty() {
            f.write_str("regular")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant() -> BuildVariant {
        BuildVariant::default()
    }

    #[test]
    fn usage_errors() {
        let cases: Vec<(BuildVariant, &str)> = vec![
            (
                BuildVariant {
                    isolated: true,
                    ..variant()
                },
                "--isolated requires --release",
            ),
            (
                BuildVariant {
                    scratch: true,
                    isolated: true,
                    release: Some("1".into()),
                    ..variant()
                },
                "--scratch cannot be used with --isolated",
            ),
            (
                BuildVariant {
                    scratch: true,
                    release: Some("1".into()),
                    ..variant()
                },
                "--scratch cannot be used with --release",
            ),
            (
                BuildVariant {
                    scratch: true,
                    tags: vec!["x".into()],
                    ..variant()
                },
                "--scratch cannot be used with --tag",
            ),
            (
                BuildVariant {
                    tags: vec!["-bad".into()],
                    ..variant()
                },
                "invalid tag \"-bad\"",
            ),
            (
                BuildVariant {
                    tags: vec!["latest".into()],
                    ..variant()
                },
                "tag `latest` (-A/--tag) is one of the build's primary tags",
            ),
            (
                BuildVariant {
                    release: Some("1/2".into()),
                    ..variant()
                },
                "invalid release \"1/2\" (--release): a tag may only contain",
            ),
        ];
        for (variant, expected) in cases {
            let err = variant.validate().expect_err(expected).to_string();
            assert!(
                err.starts_with(expected),
                "{err:?} does not start with {expected:?}"
            );
        }
        let ok = BuildVariant {
            isolated: true,
            release: Some("1.1".into()),
            tags: vec!["stable".into()],
            build_args: BTreeMap::from([("BASE".into(), "x:1".into())]),
            ..variant()
        };
        ok.validate().expect("valid");
    }

    #[test]
    fn build_args() {
        assert_eq!(
            parse_build_arg("BASE=a=b").unwrap(),
            ("BASE".to_owned(), "a=b".to_owned())
        );
        assert_eq!(parse_build_arg("_x1=").unwrap().1, "");
        for bad in ["1X=a", "A-B=c", "=v", "A B=c"] {
            assert!(
                matches!(parse_build_arg(bad), Err(VariantError::BuildArgName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_build_arg("NOVALUE"),
            Err(VariantError::BuildArgSyntax(_))
        ));
        assert!(matches!(
            parse_build_arg("A=x\u{1b}[31m"),
            Err(VariantError::BuildArgValue { .. })
        ));
    }

    #[test]
    fn tags_by_variant() {
        let regular = BuildVariant {
            tags: vec!["stable".into(), "1.0".into()],
            ..variant()
        };
        assert_eq!(
            regular.tags("1.0", Some("3")),
            ["1.0-3", "1.0", "latest", "stable"]
        );
        let isolated = BuildVariant {
            isolated: true,
            release: Some("1.1".into()),
            tags: vec!["hotfix".into()],
            ..variant()
        };
        assert_eq!(isolated.tags("1.0", Some("1.1")), ["1.0-1.1", "hotfix"]);
        let scratch = BuildVariant {
            scratch: true,
            ..variant()
        };
        assert!(scratch.tags("1.0", None).is_empty());
    }

    #[test]
    fn extra_tags_against_the_labels() {
        let v = BuildVariant {
            tags: vec!["1.0".into()],
            ..variant()
        };
        assert!(v.validate_with_labels(Some("1.0"), None).is_err());
        let v = BuildVariant {
            tags: vec!["1.0-2".into()],
            release: Some("2".into()),
            ..variant()
        };
        assert!(v.validate_with_labels(Some("1.0"), None).is_err());
        assert!(v.validate_with_labels(Some("2.0"), None).is_ok());
    }

    #[test]
    fn import_policies() {
        let mut config = crate::model::BuildConfig::new("file:///r", "main");
        let mut build = Build::queued(
            &mut config,
            crate::model::BuildCause::User,
            None,
            crate::time::Timestamp::from_unix_millis(0),
        );
        assert_eq!(import_policy(Some(&build), true), ImportPolicy::Fire);
        assert_eq!(import_policy(None, false), ImportPolicy::Record);
        build.variant.isolated = true;
        assert_eq!(import_policy(Some(&build), true), ImportPolicy::Record);
        build.variant.isolated = false;
        build.variant.scratch = true;
        assert_eq!(import_policy(Some(&build), true), ImportPolicy::Skip);
    }

    #[test]
    fn display() {
        assert_eq!(variant().to_string(), "regular");
        let v = BuildVariant {
            isolated: true,
            release: Some("1.1".into()),
            build_args: BTreeMap::from([("A".into(), "b".into())]),
            ..variant()
        };
        assert_eq!(v.to_string(), "isolated, release 1.1, build args A=b");
    }
}
