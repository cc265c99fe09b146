//! Which notification a finished build sends (SPEC §10, OSBS's sendmail plugin): the event
//! kinds, the kind of a build, and the `notify_on` list.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::build::BuildPhase;
use crate::model::Build;

/// What happened to a build, as a notification names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An autorebuild ended `Failed` or `Error`.
    AutoFail,
    /// An autorebuild ended `Cancelled` (superseded, disabled in the repo config, by a user).
    AutoCanceled,
    /// An autorebuild ended `Complete`.
    AutoSuccess,
    /// A user build ended `Failed` or `Error`.
    ManualFail,
    /// A user build ended `Cancelled`.
    ManualCanceled,
    /// A user build ended `Complete`.
    ManualSuccess,
}

impl EventKind {
    /// Every kind, in the order of SPEC §10.
    pub const ALL: [EventKind; 6] = [
        EventKind::AutoFail,
        EventKind::AutoCanceled,
        EventKind::AutoSuccess,
        EventKind::ManualFail,
        EventKind::ManualCanceled,
        EventKind::ManualSuccess,
    ];

    /// The wire name, e.g. `auto_fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AutoFail => "auto_fail",
            EventKind::AutoCanceled => "auto_canceled",
            EventKind::AutoSuccess => "auto_success",
            EventKind::ManualFail => "manual_fail",
            EventKind::ManualCanceled => "manual_canceled",
            EventKind::ManualSuccess => "manual_success",
        }
    }

    /// The kind of `build`'s end, or `None` while it has not ended.
    pub fn of(build: &Build) -> Option<EventKind> {
        let auto = build.cause.is_image_change() || build.is_autorebuild;
        let kind = match (build.phase, auto) {
            (BuildPhase::Complete, true) => EventKind::AutoSuccess,
            (BuildPhase::Complete, false) => EventKind::ManualSuccess,
            (BuildPhase::Failed | BuildPhase::Error, true) => EventKind::AutoFail,
            (BuildPhase::Failed | BuildPhase::Error, false) => EventKind::ManualFail,
            (BuildPhase::Cancelled, true) => EventKind::AutoCanceled,
            (BuildPhase::Cancelled, false) => EventKind::ManualCanceled,
            (BuildPhase::New | BuildPhase::Pending | BuildPhase::Running, _) => return None,
        };
        Some(kind)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `notify_on` entry that is not an event kind.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown notification kind `{0}` (expected one of auto_fail, auto_canceled, auto_success, manual_fail, manual_canceled, manual_success)"
)]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted)
            .ok_or_else(|| UnknownEventKind(s.trim().to_owned()))
    }
}

/// The kinds sent when `notify_on` is not set: `auto_fail, auto_canceled`, as OSBS mailed.
pub fn default_notify_on() -> BTreeSet<EventKind> {
    BTreeSet::from([EventKind::AutoFail, EventKind::AutoCanceled])
}

/// Reads a `notify_on` value: kinds separated by commas or spaces; an empty value sends
/// nothing.
///
/// # Errors
///
/// [`UnknownEventKind`] naming the first entry that is not a kind.
pub fn parse_notify_on(value: &str) -> Result<BTreeSet<EventKind>, UnknownEventKind> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_on_lists_parse_and_name_bad_entries() {
        assert_eq!(
            parse_notify_on("auto_fail, MANUAL_SUCCESS").unwrap(),
            BTreeSet::from([EventKind::AutoFail, EventKind::ManualSuccess])
        );
        assert!(parse_notify_on("").unwrap().is_empty());
        assert_eq!(
            parse_notify_on("auto_fail,auto_cancelled").unwrap_err(),
            UnknownEventKind("auto_cancelled".to_owned())
        );
    }
}
