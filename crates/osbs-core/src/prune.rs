//! Which ended builds pruning removes (SPEC §10, like `oc adm prune builds`): never a queued
//! or active build, never the newest `Complete` build of a BuildConfig, never one of the newest
//! `keep` ended builds of a BuildConfig, and, with an age limit, never one that ended more
//! recently than that.

use std::collections::BTreeMap;

use crate::build::BuildPhase;
use crate::model::Build;
use crate::time::Timestamp;

/// What to keep when pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneRules {
    /// Ended builds kept per BuildConfig, newest first (`--keep`, `keep_builds`).
    pub keep: usize,
    /// Only builds that ended before this instant are removed (`--older-than`); `None`: any.
    pub ended_before: Option<Timestamp>,
}

/// The names of the builds among `builds` that `rules` remove, in name order. `builds` should
/// hold every build of the BuildConfigs concerned, so the newest `Complete` one is known.
pub fn prune(builds: &[Build], rules: &PruneRules) -> Vec<String> {
    let mut groups: BTreeMap<&str, Vec<&Build>> = BTreeMap::new();
    for build in builds {
        groups.entry(&build.build_config).or_default().push(build);
    }
    let mut removed = Vec::new();
    for (_, mut group) in groups {
        group.sort_by(|a, b| b.number.cmp(&a.number).then_with(|| b.name.cmp(&a.name)));
        let newest_complete = group
            .iter()
            .find(|b| b.phase == BuildPhase::Complete)
            .map(|b| b.name.as_str());
        let ended = group.iter().filter(|b| b.phase.is_finished());
        for build in ended.skip(rules.keep) {
            let old_enough = match (rules.ended_before, build.finished) {
                (None, _) => true,
                (Some(limit), Some(finished)) => finished < limit,
                (Some(_), None) => false,
            };
            if old_enough && Some(build.name.as_str()) != newest_complete {
                removed.push(build.name.clone());
            }
        }
    }
    removed.sort();
    removed
}
