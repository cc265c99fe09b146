//! Image-change triggers: which BuildConfigs an import fires ([`TriggerGraph::fan_out`]) and
//! what a change of one ImageStream tag would rebuild transitively
//! ([`TriggerGraph::rebuild_plan`], drawn by [`RebuildPlan::render`]).
//!
//! [`TriggerGraph`] indexes BuildConfigs by the `stream:tag` they are triggered on, so a
//! fan-out costs the number of triggered BuildConfigs and a plan the size of the plan, however
//! many BuildConfigs exist.
//!
//! Cycle protection: every autorebuild carries the chain of BuildConfigs whose builds led to
//! it ([`BuildCause::ImageChange`]'s `chain`); a trigger never fires a BuildConfig already in
//! the chain of the import that fired it, so `A FROM B FROM A` rebuilds each once.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::import::TagChange;
use crate::model::{Build, BuildCause, BuildConfig, ImageStreamTag};
use crate::time::Timestamp;

/// The BuildConfigs by the ImageStream tag their trigger watches, borrowed from the caller's
/// collection (a SQLite query result, a Kubernetes reflector store).
#[derive(Debug, Clone, Default)]
pub struct TriggerGraph<'a> {
    /// stream → its triggered BuildConfigs, sorted by (tag, name).
    by_stream: HashMap<&'a str, Vec<&'a BuildConfig>>,
}

impl<'a> TriggerGraph<'a> {
    /// Indexes `configs` by trigger, in O(n log n). BuildConfigs without a trigger are left out.
    pub fn new(configs: impl IntoIterator<Item = &'a BuildConfig>) -> Self {
        let mut by_stream: HashMap<&'a str, Vec<&'a BuildConfig>> = HashMap::new();
        for config in configs {
            if let Some(trigger) = &config.trigger {
                by_stream.entry(&trigger.stream).or_default().push(config);
            }
        }
        for configs in by_stream.values_mut() {
            configs.sort_by(|a, b| {
                trigger_tag(a)
                    .cmp(trigger_tag(b))
                    .then_with(|| a.name.cmp(&b.name))
            });
        }
        TriggerGraph { by_stream }
    }

    /// The BuildConfigs triggered on `stream:tag`, sorted by name.
    pub fn triggered_by(&self, stream: &str, tag: &str) -> &[&'a BuildConfig] {
        let all = self.triggered_by_stream(stream);
        let start = all.partition_point(|c| trigger_tag(c) < tag);
        let end = start + all[start..].partition_point(|c| trigger_tag(c) == tag);
        all.get(start..end).unwrap_or_default()
    }

    /// The BuildConfigs triggered on any tag of `stream`, sorted by tag, then name.
    pub fn triggered_by_stream(&self, stream: &str) -> &[&'a BuildConfig] {
        self.by_stream.get(stream).map_or(&[], Vec::as_slice)
    }

    /// The autorebuilds an import into `stream` starts: for each changed tag, every
    /// BuildConfig triggered on it, asked to rebuild its last user commit.
    ///
    /// `chain` is the import's causal chain: [`Build::downstream_chain`] of the importing
    /// build, or empty for a manual `import-image`. A BuildConfig in it is skipped (a trigger
    /// cycle), as is one that never recorded a user commit. A change whose old and new
    /// digests are equal fires nothing. Each BuildConfig is asked at most once.
    pub fn fan_out(&self, stream: &str, changes: &[TagChange], chain: &[String]) -> FanOut {
        let in_chain: HashSet<&str> = chain.iter().map(String::as_str).collect();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut fan_out = FanOut::default();
        for change in changes {
            if change.old.as_deref() == Some(change.new.as_str()) {
                continue;
            }
            for config in self.triggered_by(stream, &change.tag) {
                if !seen.insert(config.name.as_str()) {
                    continue;
                }
                if in_chain.contains(config.name.as_str()) {
                    fan_out.skipped.push(SkippedTrigger {
                        build_config: config.name.clone(),
                        reason: SkipReason::Cycle {
                            chain: chain.to_vec(),
                        },
                    });
                    continue;
                }
                let Some(commit) = &config.last_user_commit else {
                    fan_out.skipped.push(SkippedTrigger {
                        build_config: config.name.clone(),
                        reason: SkipReason::NoUserCommit,
                    });
                    continue;
                };
                fan_out.requests.push(AutorebuildRequest {
                    build_config: config.name.clone(),
                    git_url: config.git_url.clone(),
                    git_branch: config.git_branch.clone(),
                    commit: commit.clone(),
                    is_autorebuild: config.is_autorebuild(),
                    cause: BuildCause::ImageChange {
                        stream: stream.to_owned(),
                        tag: change.tag.clone(),
                        digest: change.new.clone(),
                        chain: chain.to_vec(),
                    },
                });
            }
        }
        fan_out
    }

    /// What a change of `stream:tag` would autorebuild, transitively: the BuildConfigs
    /// triggered on it, then those triggered on any tag of the ImageStreams these produce
    /// (a rebuild moves `latest` and the version tag), and so on.
    ///
    /// This is an upper bound: a rebuild that produces the same digest, or a repository that
    /// disabled autorebuilds, stops the cascade at run time. Each BuildConfig is expanded once:
    /// a later occurrence is [`PlanMark::Repeated`], one already on its own path (a trigger
    /// cycle, which the run time chain never re-fires) is [`PlanMark::Cycle`]. Iterative and
    /// linear in the size of the plan, so any depth is fine.
    pub fn rebuild_plan(&self, stream: &str, tag: &str) -> RebuildPlan {
        struct Frame<'g, 'a> {
            consumers: &'g [&'a BuildConfig],
            next: usize,
            parent: Option<usize>,
            depth: usize,
        }
        let mut nodes: Vec<PlanNode> = Vec::new();
        let mut expanded: HashSet<&str> = HashSet::new();
        let mut on_path: HashSet<&str> = HashSet::new();
        let mut path: Vec<&str> = Vec::new();
        let mut stack = vec![Frame {
            consumers: self.triggered_by(stream, tag),
            next: 0,
            parent: None,
            depth: 1,
        }];
        while let Some(frame) = stack.last_mut() {
            let Some(&config) = frame.consumers.get(frame.next) else {
                if stack.pop().is_some_and(|f| f.parent.is_some())
                    && let Some(name) = path.pop()
                {
                    on_path.remove(name);
                }
                continue;
            };
            frame.next += 1;
            let (parent, depth) = (frame.parent, frame.depth);
            let name = config.name.as_str();
            let mark = if on_path.contains(name) {
                PlanMark::Cycle
            } else if !expanded.insert(name) {
                PlanMark::Repeated
            } else {
                PlanMark::Rebuild
            };
            let image_stream = config.image_stream();
            let index = nodes.len();
            let consumers = match (&mark, &image_stream) {
                (PlanMark::Rebuild, Some(produced)) => self.triggered_by_stream(produced),
                _ => &[],
            };
            nodes.push(PlanNode {
                build_config: config.name.clone(),
                // Indexed BuildConfigs always have a trigger.
                trigger: config
                    .trigger
                    .clone()
                    .unwrap_or_else(|| ImageStreamTag::new(stream, tag)),
                image_stream,
                parent,
                depth,
                mark,
            });
            if !consumers.is_empty() {
                path.push(name);
                on_path.insert(name);
                stack.push(Frame {
                    consumers,
                    next: 0,
                    parent: Some(index),
                    depth: depth + 1,
                });
            }
        }
        RebuildPlan {
            root: ImageStreamTag::new(stream, tag),
            nodes,
        }
    }
}

/// The tag of a BuildConfig's trigger; only called on indexed (triggered) ones.
fn trigger_tag(config: &BuildConfig) -> &str {
    config.trigger.as_ref().map_or("", |t| t.tag.as_str())
}

/// An autorebuild a trigger asks for; [`AutorebuildRequest::into_build`] turns it into a
/// queued [`Build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutorebuildRequest {
    /// The triggered BuildConfig.
    pub build_config: String,
    /// Its git URL.
    pub git_url: String,
    /// Its branch.
    pub git_branch: String,
    /// Its last user commit: what is rebuilt, never the branch head.
    pub commit: String,
    /// The BuildConfig's `is_autorebuild` label when the trigger fired.
    pub is_autorebuild: bool,
    /// The image change, with the causal chain.
    pub cause: BuildCause,
}

impl AutorebuildRequest {
    /// The queued build of this request in `config` (the BuildConfig it names, whose counter
    /// it takes).
    pub fn into_build(self, config: &mut BuildConfig, created: Timestamp) -> Build {
        let is_autorebuild = self.is_autorebuild;
        let mut build = Build::queued(config, self.cause, Some(self.commit), created);
        build.is_autorebuild = is_autorebuild;
        build
    }
}

/// What an import's triggers do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanOut {
    /// The autorebuilds to queue, by changed tag, then BuildConfig name.
    pub requests: Vec<AutorebuildRequest>,
    /// Triggered BuildConfigs that get no build, and why.
    pub skipped: Vec<SkippedTrigger>,
}

/// A triggered BuildConfig that is not rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTrigger {
    /// The BuildConfig.
    pub build_config: String,
    /// Why.
    pub reason: SkipReason,
}

/// Why a trigger does not start a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SkipReason {
    /// The BuildConfig is already in the import's causal chain.
    Cycle {
        /// The chain, oldest first.
        chain: Vec<String>,
    },
    /// No user build recorded a commit to rebuild.
    NoUserCommit,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Cycle { chain } => {
                write!(
                    f,
                    "trigger cycle: already rebuilt in this cascade ({})",
                    chain.join(" → ")
                )
            }
            SkipReason::NoUserCommit => f.write_str("no user build recorded a commit to rebuild"),
        }
    }
}

/// How a BuildConfig appears in a [`RebuildPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlanMark {
    /// Rebuilt; what it triggers follows as its children.
    Rebuild,
    /// Rebuilt, and already shown (with its children) earlier in the plan.
    Repeated,
    /// Already rebuilt on this path: the cycle protection does not fire it again.
    Cycle,
}

/// One line of a [`RebuildPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanNode {
    /// The BuildConfig.
    pub build_config: String,
    /// Its trigger.
    pub trigger: ImageStreamTag,
    /// The ImageStream its rebuild imports into, if known.
    pub image_stream: Option<String>,
    /// Index of the parent node; `None` for a BuildConfig triggered on the root tag.
    pub parent: Option<usize>,
    /// 1 for BuildConfigs triggered on the root tag, 2 for what they trigger, and so on.
    pub depth: usize,
    /// Whether it is expanded here, shown before, or a cycle.
    pub mark: PlanMark,
}

/// The tree of BuildConfigs a change of one ImageStream tag would autorebuild, flattened in
/// depth-first order (each node's children follow it, as in `cargo tree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildPlan {
    /// The tag whose change is planned.
    pub root: ImageStreamTag,
    /// The tree, depth-first.
    pub nodes: Vec<PlanNode>,
}

/// Ancestor levels drawn in full by [`RebuildPlan::render`]; deeper lines say how deep they are
/// instead, so a very deep chain renders in linear size.
pub const MAX_DRAWN_DEPTH: usize = 32;

impl RebuildPlan {
    /// The distinct BuildConfigs that would be rebuilt, in plan order.
    pub fn build_configs(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(|n| n.mark == PlanMark::Rebuild)
            .map(|n| n.build_config.as_str())
    }

    /// Whether nothing is triggered on the root tag.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The plan as a tree, like `cargo tree`:
    ///
    /// ```text
    /// osbs-base:latest
    /// └── app-main-1a2b3 [osbs-base:latest → osbs-app]
    ///     └── web-main-4c5d6 [osbs-app:latest]
    /// ```
    ///
    /// `(*)` marks a BuildConfig shown before, `(cycle)` one that would re-trigger itself;
    /// a legend follows when either appears.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.root);
        if self.nodes.is_empty() {
            let _ = writeln!(out, "(no BuildConfig is triggered on {})", self.root);
            return out;
        }
        let last = self.last_sibling_flags();
        // Whether each ancestor level (depth 1, 2, …) of the current line was a last child.
        let mut ancestors_last: Vec<bool> = Vec::new();
        let (mut repeated, mut cycle) = (false, false);
        for (node, &is_last) in self.nodes.iter().zip(&last) {
            let level = node.depth.saturating_sub(1);
            ancestors_last.truncate(level);
            for &ancestor_last in ancestors_last.iter().take(MAX_DRAWN_DEPTH) {
                out.push_str(if ancestor_last { "    " } else { "│   " });
            }
            if level > MAX_DRAWN_DEPTH {
                let _ = write!(out, "…(depth {}) ", node.depth);
            }
            out.push_str(if is_last { "└── " } else { "├── " });
            let _ = write!(out, "{} [{}", node.build_config, node.trigger);
            if let Some(stream) = &node.image_stream
                && node.mark == PlanMark::Rebuild
            {
                let _ = write!(out, " → {stream}");
            }
            out.push(']');
            match node.mark {
                PlanMark::Rebuild => {}
                PlanMark::Repeated => {
                    repeated = true;
                    out.push_str(" (*)");
                }
                PlanMark::Cycle => {
                    cycle = true;
                    out.push_str(" (cycle)");
                }
            }
            out.push('\n');
            ancestors_last.push(is_last);
        }
        let count = self.build_configs().count();
        let _ = writeln!(
            out,
            "\n{count} BuildConfig{} would be rebuilt",
            if count == 1 { "" } else { "s" }
        );
        if repeated {
            out.push_str("(*) shown above with what it triggers\n");
        }
        if cycle {
            out.push_str("(cycle) already rebuilt on this path; cycle protection stops here\n");
        }
        out
    }

    /// For each node, whether no later sibling follows it (linear: one backward pass).
    fn last_sibling_flags(&self) -> Vec<bool> {
        let mut last = vec![true; self.nodes.len()];
        // sibling_after[d]: a node of depth d+1 was seen after the current one, with no
        // shallower node in between.
        let mut sibling_after: Vec<bool> = Vec::new();
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let level = node.depth.saturating_sub(1);
            sibling_after.resize(level + 1, false);
            last[i] = !sibling_after[level];
            sibling_after[level] = true;
        }
        last
    }
}

impl fmt::Display for RebuildPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
