//! Image-change triggers on Kubernetes as a pure function: an import records its changed tags
//! as pending triggers on the ImageStream's status (in the same write as the tags);
//! [`plan_triggers`] turns them into the autorebuilds to queue with
//! `osbs_core::trigger::TriggerGraph::fan_out` (cycle protection through the causal chain comes
//! from there), leaving out those already queued, so that a fan-out cut short after creating
//! some builds but before clearing the pending triggers (a controller restart) does not queue
//! them twice when it is replayed. `KubeStore::fan_out` applies it.

use std::collections::BTreeMap;

use crate::PendingTrigger;
use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::trigger::{AutorebuildRequest, SkippedTrigger, TriggerGraph};

/// What the pending triggers of one ImageStream ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerPlan {
    /// Autorebuilds to queue.
    pub requests: Vec<AutorebuildRequest>,
    /// Triggered BuildConfigs that get no build (a cycle, no user commit yet).
    pub skipped: Vec<SkippedTrigger>,
    /// BuildConfigs that already have a build for the change (a restart replay).
    pub already_queued: Vec<String>,
}

/// The autorebuilds the `pending` triggers of ImageStream `stream` start, given every
/// BuildConfig (`configs`) and the existing builds (`builds`).
///
/// Triggers with the same causal chain are fanned out together, so each BuildConfig gets at
/// most one build per import even when several of its tags moved (`latest` and the version
/// tag); several imports in a row still queue several builds, which the run policy coalesces.
pub fn plan_triggers(
    stream: &str,
    pending: &[PendingTrigger],
    configs: &[BuildConfig],
    builds: &[Build],
) -> TriggerPlan {
    let graph = TriggerGraph::new(configs);
    let mut by_chain: BTreeMap<&[String], Vec<osbs_core::import::TagChange>> = BTreeMap::new();
    for trigger in pending {
        by_chain
            .entry(trigger.chain.as_slice())
            .or_default()
            .push(trigger.change());
    }
    let mut plan = TriggerPlan::default();
    for (chain, changes) in by_chain {
        let fan_out = graph.fan_out(stream, &changes, chain);
        plan.skipped.extend(fan_out.skipped);
        for request in fan_out.requests {
            let exists = builds.iter().any(|b| {
                b.build_config == request.build_config && same_change(&b.cause, &request.cause)
            });
            if exists {
                plan.already_queued.push(request.build_config.clone());
            } else {
                plan.requests.push(request);
            }
        }
    }
    plan
}

fn same_change(a: &BuildCause, b: &BuildCause) -> bool {
    match (a, b) {
        (
            BuildCause::ImageChange {
                stream: s1,
                tag: t1,
                digest: d1,
                ..
            },
            BuildCause::ImageChange {
                stream: s2,
                tag: t2,
                digest: d2,
                ..
            },
        ) => s1 == s2 && t1 == t2 && d1 == d2,
        _ => false,
    }
}
