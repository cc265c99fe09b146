//! The submission plan (SPEC §3 steps 3–5): what a resolved user submission does to the
//! BuildConfig, which base ImageStream must exist, and the build it queues. Both backends apply
//! the same plan; only how they store it differs (one SQLite transaction, a few conflict-retried
//! API calls).

use thiserror::Error;

use crate::ImageReference;
use crate::model::{Build, BuildCause, BuildConfig, ImageStream, ImageStreamTag, UserSubmission};
use crate::naming;
use crate::time::Timestamp;
use crate::variant::BuildVariant;

/// A user submission after the repository was read (SPEC §3 step 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSubmission {
    /// The git URL.
    pub git_url: String,
    /// The branch.
    pub git_branch: String,
    /// The commit it resolved to.
    pub commit: String,
    /// The final stage's base image; `None` for `FROM scratch`.
    pub base_image: Option<ImageReference>,
    /// The Dockerfile's `name` label.
    pub image_name: Option<String>,
    /// `-c/--component`: the image name when the Dockerfile has none.
    pub component: Option<String>,
    /// The repo config file's name.
    pub repo_config_name: String,
    // Build variants.
    /// How the build differs from a regular user build (validated).
    pub variant: BuildVariant,
}

/// A submission that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// Neither a `name` label nor `--component`.
    #[error("the Dockerfile has no `name` label; give the image name with -c/--component")]
    NoImageName,
}

/// What a submission does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionPlan {
    /// The BuildConfig found or created (`naming::build_config_name`).
    pub build_config: String,
    /// What is recorded on it (trigger, commit, repo config, image name).
    pub record: UserSubmission,
    /// The base's ImageStream to create if missing (an external base must know where its
    /// image lives, for `import-image` and the scheduled import): name and
    /// `registry/repository`.
    pub base_stream: Option<(String, String)>,
    /// The build's variant: a regular build records itself on the BuildConfig (with its
    /// build arguments); a scratch or isolated one does not.
    pub variant: BuildVariant,
}

/// Plans `submission`.
///
/// # Errors
///
/// [`PlanError::NoImageName`] when the image has no name.
pub fn plan(submission: &ResolvedSubmission) -> Result<SubmissionPlan, PlanError> {
    let image_name = submission
        .image_name
        .clone()
        .or_else(|| submission.component.clone())
        .ok_or(PlanError::NoImageName)?;
    let trigger = submission
        .base_image
        .as_ref()
        .and_then(ImageStreamTag::for_base_image);
    let base_stream = match (&trigger, &submission.base_image) {
        (Some(trigger), Some(base)) => Some((
            trigger.stream.clone(),
            format!("{}/{}", base.registry(), base.repository()),
        )),
        _ => None,
    };
    Ok(SubmissionPlan {
        build_config: naming::build_config_name(&submission.git_url, &submission.git_branch),
        record: UserSubmission {
            commit: submission.commit.clone(),
            trigger,
            repo_config_name: submission.repo_config_name.clone(),
            image_name: Some(image_name),
        },
        base_stream,
        variant: submission.variant.clone(),
    })
}

impl SubmissionPlan {
    /// The BuildConfig after the submission: `existing` (or a new one for `git_url` and
    /// `git_branch`) with the user build recorded (SPEC §3 step 4) and its build arguments.
    /// A scratch or isolated build leaves trigger, commit and build arguments alone; it only
    /// names the image of a BuildConfig that has no name yet (where the reactor pushes).
    pub fn build_config(
        &self,
        existing: Option<BuildConfig>,
        git_url: &str,
        git_branch: &str,
    ) -> BuildConfig {
        let mut config = existing.unwrap_or_else(|| BuildConfig::new(git_url, git_branch));
        if self.variant.updates_build_config() {
            config.record_user_build(self.record.clone());
            config.build_args.clone_from(&self.variant.build_args);
        } else if config.image_name.is_none() {
            config.image_name.clone_from(&self.record.image_name);
            config
                .repo_config_name
                .clone_from(&self.record.repo_config_name);
        }
        config
    }

    /// The user build it queues on `config` (whose counter it bumps), created `now`, with
    /// the submission's variant.
    pub fn queue(&self, config: &mut BuildConfig, now: Timestamp) -> Build {
        let mut build = Build::queued(
            config,
            BuildCause::User,
            Some(self.record.commit.clone()),
            now,
        );
        build.variant = self.variant.clone();
        build
    }

    /// The base ImageStream to create when `existing` is `None`.
    pub fn new_base_stream(&self, existing: Option<&ImageStream>) -> Option<ImageStream> {
        let (name, image) = self.base_stream.as_ref()?;
        if existing.is_some() {
            return None;
        }
        let mut stream = ImageStream::new(name.clone());
        stream.docker_image_repository = Some(image.clone());
        Some(stream)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn submission(commit: &str, base: &str, variant: BuildVariant) -> ResolvedSubmission {
        ResolvedSubmission {
            git_url: "https://git.example.com/ns/app.git".into(),
            git_branch: "main".into(),
            commit: commit.into(),
            base_image: Some(base.parse().unwrap()),
            image_name: Some("ns/app".into()),
            component: None,
            repo_config_name: ".osbs-repo-config".into(),
            variant,
        }
    }

    #[test]
    fn only_a_regular_build_is_recorded_on_its_build_config() {
        let args = BTreeMap::from([("BASE".to_owned(), "reg/base:2".to_owned())]);
        let regular = BuildVariant {
            build_args: args.clone(),
            ..BuildVariant::default()
        };
        let first = plan(&submission("c1", "reg/base:2", regular.clone())).unwrap();
        let mut config = first.build_config(None, "https://git.example.com/ns/app.git", "main");
        assert_eq!(config.last_user_commit.as_deref(), Some("c1"));
        assert_eq!(config.build_args, args);
        let build = first.queue(&mut config, Timestamp::UNIX_EPOCH);
        assert_eq!(build.variant, regular);

        for variant in [
            BuildVariant {
                scratch: true,
                ..BuildVariant::default()
            },
            BuildVariant {
                isolated: true,
                release: Some("1.1".into()),
                ..BuildVariant::default()
            },
        ] {
            let other = plan(&submission("c2", "reg/other:3", variant.clone())).unwrap();
            let mut after = other.build_config(Some(config.clone()), "", "");
            assert_eq!(
                after.last_user_commit, config.last_user_commit,
                "{variant:?}"
            );
            assert_eq!(after.trigger, config.trigger, "{variant:?}");
            assert_eq!(after.build_args, config.build_args, "{variant:?}");
            let build = other.queue(&mut after, Timestamp::UNIX_EPOCH);
            assert_eq!(build.variant, variant);
            assert_eq!(build.commit.as_deref(), Some("c2"));
        }

        // A scratch build of a BuildConfig that has no image yet names it (where to push).
        let scratch = plan(&submission(
            "c3",
            "reg/base:2",
            BuildVariant {
                scratch: true,
                ..BuildVariant::default()
            },
        ))
        .unwrap();
        let fresh = scratch.build_config(None, "https://git.example.com/ns/app.git", "main");
        assert_eq!(fresh.image_name.as_deref(), Some("ns/app"));
        assert_eq!(fresh.last_user_commit, None);
        assert_eq!(fresh.trigger, None);
    }
}
