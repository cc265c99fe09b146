//! Kubernetes Events on Builds, the ones OpenShift's build controller records, so that
//! `kubectl describe build NAME` and `kubectl get events` tell a build's story: `BuildStarted`,
//! `BuildCompleted`, `BuildFailed`, `BuildError`, `BuildCancelled`. [`phase_event`] is the pure
//! rule; `OsbsApi::update_build` publishes the event when it stores a Build entering that phase
//! (best effort: an Event that cannot be written never fails the update).

use osbs_core::build::BuildPhase;
use osbs_core::model::Build;

/// The most an Event's note may hold (the API rejects more than 1 kB).
pub const NOTE_LIMIT: usize = 1024;

/// An Event about one Build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEvent {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// The reason, e.g. `BuildCompleted`.
    pub reason: &'static str,
    /// The message, at most [`NOTE_LIMIT`] bytes.
    pub note: String,
}

/// `text` cut to at most `limit` bytes at a character boundary, with `…` when cut.
fn truncate(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let ellipsis = "…";
    let mut end = limit - ellipsis.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

/// The Event of `build` having just entered its phase; `None` for `New` and `Pending`, which
/// are not news.
pub fn phase_event(build: &Build) -> Option<BuildEvent> {
    // (warning, reason, what happened, whether the error or reason says why)
    let (warning, reason, what, explained) = match build.phase {
        BuildPhase::New | BuildPhase::Pending => return None,
        BuildPhase::Running => (false, "BuildStarted", "is now running", false),
        BuildPhase::Complete => (false, "BuildCompleted", "completed successfully", false),
        BuildPhase::Failed => (true, "BuildFailed", "failed", true),
        BuildPhase::Error => (true, "BuildError", "ended in error", true),
        BuildPhase::Cancelled => (false, "BuildCancelled", "was cancelled", true),
    };
    let mut note = format!("Build {} {what}", build.name);
    if let Some(why) = build
        .error
        .as_deref()
        .or(build.reason.as_deref())
        .filter(|_| explained)
    {
        note.push_str(": ");
        note.push_str(why);
    }
    Some(BuildEvent {
        warning,
        reason,
        note: truncate(note, NOTE_LIMIT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use osbs_core::model::{BuildCause, BuildConfig};
    use osbs_core::time::Timestamp;

    #[test]
    fn each_phase_entered_has_openshifts_event() {
        let mut config = BuildConfig::new("https://git.example.com/ns/app.git", "main");
        let mut build = Build::queued(
            &mut config,
            BuildCause::User,
            None,
            Timestamp::from_unix_millis(0),
        );
        let name = build.name.clone();
        let mut event = |phase, error: Option<&str>, reason: Option<&str>| {
            build.phase = phase;
            build.error = error.map(str::to_owned);
            build.reason = reason.map(str::to_owned);
            phase_event(&build).map(|e| (e.warning, e.reason, e.note.replace(&name, "B")))
        };
        assert_eq!(event(BuildPhase::New, None, None), None);
        assert_eq!(event(BuildPhase::Pending, None, None), None);
        assert_eq!(
            event(BuildPhase::Running, None, None),
            Some((false, "BuildStarted", "Build B is now running".to_owned()))
        );
        assert_eq!(
            event(BuildPhase::Complete, None, None),
            Some((
                false,
                "BuildCompleted",
                "Build B completed successfully".to_owned()
            ))
        );
        assert_eq!(
            event(
                BuildPhase::Failed,
                Some("Error in plugin docker_api: x"),
                None
            ),
            Some((
                true,
                "BuildFailed",
                "Build B failed: Error in plugin docker_api: x".to_owned()
            ))
        );
        assert_eq!(
            event(BuildPhase::Error, None, Some("the build Pod vanished")),
            Some((
                true,
                "BuildError",
                "Build B ended in error: the build Pod vanished".to_owned()
            ))
        );
        assert_eq!(
            event(BuildPhase::Cancelled, None, Some("build cancelled")),
            Some((
                false,
                "BuildCancelled",
                "Build B was cancelled: build cancelled".to_owned()
            ))
        );
    }

    #[test]
    fn long_notes_are_cut_at_a_character_boundary() {
        let text = "é".repeat(NOTE_LIMIT);
        let cut = truncate(text, NOTE_LIMIT);
        assert!(cut.len() <= NOTE_LIMIT, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".to_owned(), NOTE_LIMIT), "short");
    }
}
