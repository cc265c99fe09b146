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
                autorebuild_disabled: false,
                truncated: false,
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
            depth_limit: None,
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    // Rebuild-plan annotations (`osbs rebuild-plan`, [`RebuildPlan::mark_autorebuild_disabled`]
    // and [`RebuildPlan::limit_depth`]).
    /// Its repository disabled autorebuilds: the build the trigger starts ends `Cancelled`.
    #[serde(default)]
    pub autorebuild_disabled: bool,
    /// What it triggers is deeper than the plan's depth limit and left out.
    #[serde(default)]
    pub truncated: bool,
}

/// The tree of BuildConfigs a change of one ImageStream tag would autorebuild, flattened in
/// depth-first order (each node's children follow it, as in `cargo tree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RebuildPlan {
    /// The tag whose change is planned.
    pub root: ImageStreamTag,
    /// The tree, depth-first.
    pub nodes: Vec<PlanNode>,
    /// The depth the tree was cut at (`--depth`), if any.
    #[serde(default)]
    pub depth_limit: Option<usize>,
}

/// What `osbs rebuild-plan` plans for: `STREAM[:TAG]`, or an image reference (`osbs/app`,
/// `host:port/osbs/app:tag`, anything with a `/`) turned into its ImageStream tag by the same
/// rule as triggers ([`ImageStreamTag::for_base_image`]: `osbs/app` → `osbs-app:latest`).
///
/// # Errors
///
/// The [`ModelError`] of `STREAM[:TAG]` when `input` is neither; an image reference pinned by
/// digest, which no trigger watches, is refused too.
pub fn plan_root(input: &str) -> Result<ImageStreamTag, crate::model::ModelError> {
    if input.contains('/')
        && let Ok(reference) = crate::ImageReference::parse(input)
    {
        return ImageStreamTag::for_base_image(&reference).ok_or_else(|| {
            crate::model::ModelError::InvalidStreamTag {
                input: input.to_owned(),
                problem: "an image pinned by digest triggers nothing; name a tag",
            }
        });
    }
    ImageStreamTag::parse(input)
}

/// The names among `known` closest to `wanted` (edit distance at most a third of its length,
/// or containing it or contained in it), best first, at most three: for "did you mean" hints.
pub fn closest<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = known
        .into_iter()
        .filter_map(|name| {
            let distance = edit_distance(wanted, name);
            let related = name.contains(wanted) || wanted.contains(name);
            (distance <= limit || related).then_some((distance, name))
        })
        .collect();
    scored.sort_unstable();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The `reason` of a build cancelled because its repository disabled autorebuilds (the
/// reactor's `stop_autorebuild_if_disabled`).
pub const AUTOREBUILD_DISABLED: &str = "autorebuild disabled in .osbs-repo-config";

/// Whether an autorebuild of `config` would end `Cancelled` because its repository disabled
/// autorebuilds, as far as `builds` (the BuildConfig's builds, any order) tell: the newest
/// autorebuild of the commit autorebuilds rebuild (its last user commit) was cancelled for
/// that reason. Autorebuilds rebuild that commit and its repo config decides, so the next one
/// ends the same way; a newer user build (another commit) makes it unknown again (`false`).
pub fn autorebuild_disabled<'a>(
    config: &BuildConfig,
    builds: impl IntoIterator<Item = &'a Build>,
) -> bool {
    let Some(commit) = config.last_user_commit.as_deref() else {
        return false;
    };
    builds
        .into_iter()
        .filter(|b| {
            b.build_config == config.name
                && b.cause.is_image_change()
                && b.commit.as_deref() == Some(commit)
                && b.phase.is_finished()
        })
        .max_by_key(|b| b.number)
        .is_some_and(|b| {
            b.phase == crate::build::BuildPhase::Cancelled
                && b.reason.as_deref() == Some(AUTOREBUILD_DISABLED)
        })
}

/// Ancestor levels drawn in full by [`RebuildPlan::render`]; deeper lines say how deep they are
/// instead, so a very deep chain renders in linear size.
pub const MAX_DRAWN_DEPTH: usize = 32;

impl RebuildPlan {
    /// The distinct BuildConfigs that would be rebuilt, in plan order (those whose
    /// repository disabled autorebuilds included: a build is started, and cancelled).
    pub fn build_configs(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(|n| n.mark == PlanMark::Rebuild)
            .map(|n| n.build_config.as_str())
    }

    /// Marks every node of a BuildConfig for which `disabled` says its repository disabled
    /// autorebuilds.
    pub fn mark_autorebuild_disabled(&mut self, disabled: impl Fn(&str) -> bool) {
        for node in &mut self.nodes {
            node.autorebuild_disabled = disabled(&node.build_config);
        }
    }

    /// Keeps the nodes up to `depth` (1: only what the root tag triggers); a kept node whose
    /// children were left out is marked [`PlanNode::truncated`]. Linear.
    pub fn limit_depth(&mut self, depth: usize) {
        let depth = depth.max(1);
        self.depth_limit = Some(depth);
        if self.nodes.iter().all(|n| n.depth <= depth) {
            return;
        }
        // Which BuildConfigs have children, and whether their expanded (first) occurrence is
        // kept: a repeat of one that was cut is expanded where it is kept instead.
        let mut has_children: HashSet<String> = HashSet::new();
        for node in &self.nodes {
            if let Some(p) = node.parent {
                has_children.insert(self.nodes[p].build_config.clone());
            }
        }
        let mut expanded: HashSet<String> = HashSet::new();
        let mut new_index: Vec<Option<usize>> = Vec::with_capacity(self.nodes.len());
        let mut kept: Vec<PlanNode> = Vec::new();
        for node in self.nodes.drain(..) {
            if node.depth > depth {
                if let Some(parent) = node.parent.and_then(|p| new_index[p])
                    && let Some(p) = kept.get_mut(parent)
                {
                    p.truncated = true;
                }
                new_index.push(None);
                continue;
            }
            new_index.push(Some(kept.len()));
            let mut node = node;
            node.parent = node.parent.and_then(|p| new_index[p]);
            if node.mark != PlanMark::Cycle && expanded.insert(node.build_config.clone()) {
                if node.mark == PlanMark::Repeated {
                    node.mark = PlanMark::Rebuild;
                    node.truncated = has_children.contains(&node.build_config);
                }
            } else if node.mark == PlanMark::Rebuild {
                node.mark = PlanMark::Repeated;
            }
            kept.push(node);
        }
        self.nodes = kept;
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
        let (mut repeated, mut cycle, mut truncated) = (false, false, false);
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
            if node.autorebuild_disabled && node.mark != PlanMark::Cycle {
                out.push_str(" (will be cancelled: autorebuild disabled)");
            }
            if node.truncated {
                truncated = true;
                out.push_str(" (…)");
            }
            out.push('\n');
            ancestors_last.push(is_last);
        }
        let count = self.build_configs().count();
        let _ = writeln!(
            out,
            "\n{count} BuildConfig{} would be rebuilt{}",
            if count == 1 { "" } else { "s" },
            self.depth_limit
                .map_or_else(String::new, |d| format!(" within --depth {d}"))
        );
        let disabled = self
            .nodes
            .iter()
            .filter(|n| n.mark == PlanMark::Rebuild && n.autorebuild_disabled)
            .count();
        if disabled > 0 {
            let _ = writeln!(
                out,
                "{disabled} of them will be cancelled: their repository disabled autorebuilds \
                 (.osbs-repo-config), so nothing below them is triggered by them"
            );
        }
        if repeated {
            out.push_str("(*) shown above with what it triggers\n");
        }
        if cycle {
            out.push_str("(cycle) already rebuilt on this path; cycle protection stops here\n");
        }
        if let Some(depth) = self.depth_limit
            && truncated
        {
            let _ = writeln!(out, "(…) triggers more, deeper than --depth {depth}");
        }
        out
    }

    /// Node ids for graph formats: the root is `n0`, each BuildConfig `n<first index + 1>`,
    /// so a repeated BuildConfig is one node with several edges.
    fn graph_ids(&self) -> Vec<usize> {
        let mut first: HashMap<&str, usize> = HashMap::new();
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| *first.entry(n.build_config.as_str()).or_insert(i + 1))
            .collect()
    }

    /// The plan as a Graphviz digraph (`dot -Tsvg`): the root tag as an ellipse, each
    /// BuildConfig once as a box with the ImageStream it produces, an edge per trigger labelled
    /// with the tag; cycles dashed, BuildConfigs whose autorebuild is disabled dashed and grey.
    pub fn render_dot(&self) -> String {
        let ids = self.graph_ids();
        let mut out = String::from("digraph rebuild_plan {\n  rankdir=LR;\n  node [shape=box];\n");
        let _ = writeln!(
            out,
            "  n0 [shape=ellipse, label=\"{}\"];",
            dot_escape(&self.root.to_string())
        );
        for (i, node) in self.nodes.iter().enumerate() {
            if ids[i] == i + 1 {
                let label = node_label(node, dot_escape, "\\n");
                let attrs = if node.autorebuild_disabled {
                    ", style=dashed, color=grey50"
                } else {
                    ""
                };
                let _ = writeln!(out, "  n{} [label=\"{label}\"{attrs}];", ids[i]);
            }
            let from = node.parent.map_or(0, |p| ids[p]);
            let style = if node.mark == PlanMark::Cycle {
                ", style=dashed"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  n{from} -> n{} [label=\"{}\"{style}];",
                ids[i],
                dot_escape(&node.trigger.to_string())
            );
        }
        out.push_str("}\n");
        out
    }

    /// The plan as a Mermaid flowchart (```` ```mermaid ```` in Markdown): as
    /// [`RebuildPlan::render_dot`], cycles drawn with a dotted arrow.
    pub fn render_mermaid(&self) -> String {
        let ids = self.graph_ids();
        let mut out = String::from("flowchart LR\n");
        let _ = writeln!(
            out,
            "  n0([\"{}\"])",
            mermaid_escape(&self.root.to_string())
        );
        for (i, node) in self.nodes.iter().enumerate() {
            if ids[i] == i + 1 {
                let label = node_label(node, mermaid_escape, "<br/>");
                let _ = writeln!(out, "  n{}[\"{label}\"]", ids[i]);
                if node.autorebuild_disabled {
                    let _ = writeln!(out, "  style n{} stroke-dasharray: 5 5", ids[i]);
                }
            }
            let from = node.parent.map_or(0, |p| ids[p]);
            let arrow = if node.mark == PlanMark::Cycle {
                "-.->"
            } else {
                "-->"
            };
            let _ = writeln!(
                out,
                "  n{from} {arrow}|\"{}\"| n{}",
                mermaid_escape(&node.trigger.to_string()),
                ids[i]
            );
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

/// A graph node's label: the BuildConfig, the ImageStream it produces, and whether it will be
/// cancelled or what it triggers is left out, as lines joined by `line_break`, each `escape`d.
fn node_label(node: &PlanNode, escape: fn(&str) -> String, line_break: &str) -> String {
    let mut label = escape(&node.build_config);
    if let Some(stream) = &node.image_stream {
        let _ = write!(label, "{line_break}→ {}", escape(stream));
    }
    if node.autorebuild_disabled {
        let _ = write!(
            label,
            "{line_break}(will be cancelled: autorebuild disabled)"
        );
    }
    if node.truncated {
        let _ = write!(label, "{line_break}(…)");
    }
    label
}

/// A string for inside DOT double quotes.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A string for inside a Mermaid `"…"` label: quotes and markup as entity codes.
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            c if c.is_control() => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for RebuildPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
