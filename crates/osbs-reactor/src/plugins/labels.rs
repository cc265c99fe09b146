//! `add_labels`: write build-date, vcs-type, vcs-url, vcs-ref, architecture and release into
//! the Dockerfile before the build.

use std::collections::BTreeMap;
use std::time::SystemTime;

use osbs_core::dockerfile::with_labels;

use super::{PluginFuture, Step};
use crate::error::ReactorError;
use crate::git::redact_url;
use crate::pipeline::Context;
use crate::time::rfc3339;

/// The architecture label for this machine, in the kernel's spelling (`x86_64`, `aarch64`).
fn architecture() -> &'static str {
    std::env::consts::ARCH
}

/// Appends one `LABEL` with the build's labels to the Dockerfile in the checkout.
pub(crate) fn add_labels<'a>(cx: &'a mut Context<'_>) -> PluginFuture<'a> {
    Box::pin(async move {
        // A scratch build has no release (SPEC §3: it takes no release number).
        let release = match cx.results.release.clone() {
            Some(release) => Some(release),
            None if !cx.request.variant.takes_release() => None,
            None => {
                return Err(ReactorError::Missing {
                    what: "the release",
                });
            }
        };
        let commit = cx
            .results
            .commit_id
            .clone()
            .ok_or(ReactorError::Missing { what: "the commit" })?;
        let mut labels = BTreeMap::new();
        labels.insert("build-date".to_owned(), rfc3339(SystemTime::now()));
        labels.insert("vcs-type".to_owned(), "git".to_owned());
        labels.insert("vcs-url".to_owned(), redact_url(&cx.request.git_url));
        labels.insert("vcs-ref".to_owned(), commit);
        labels.insert("architecture".to_owned(), architecture().to_owned());
        if let Some(release) = release {
            labels.insert("release".to_owned(), release);
        }
        let labelled = with_labels(&cx.dockerfile_text()?, &labels);
        cx.set_dockerfile(labelled).await?;
        Ok(Step::Done)
    })
}
