//! Image-change triggers in scenarios: the autorebuild cascade, recorded commits, unchanged
//! digests, cycle protection, fan-out at scale, and the rebuild plan.

use std::collections::{HashMap, HashSet, VecDeque};

use osbs_core::build::BuildPhase;
use osbs_core::import::TagChange;
use osbs_core::model::{
    BuildCause, BuildConfig, ImageStreamTag, LABEL_IS_AUTOREBUILD, UserSubmission,
};
use osbs_core::time::Timestamp;
use osbs_core::trigger::{MAX_DRAWN_DEPTH, PlanMark, RebuildPlan, SkipReason, TriggerGraph};

use crate::world::{World, digest};

/// A BuildConfig of `repo` at `branch`, FROM the stream tag `from`, pushing `image`, with a
/// recorded user commit.
fn bc(repo: &str, branch: &str, from: Option<&str>, image: &str) -> BuildConfig {
    let mut config = BuildConfig::new(&format!("https://git.example.com/osbs/{repo}.git"), branch);
    config.record_user_build(UserSubmission {
        commit: format!("{repo}-{branch}-commit"),
        trigger: from.map(|f| ImageStreamTag::parse(f).expect("valid stream tag")),
        repo_config_name: ".osbs-repo-config".into(),
        image_name: Some(image.into()),
    });
    config
}

fn change(tag: &str, old: Option<u8>, new: u8) -> TagChange {
    TagChange {
        tag: tag.into(),
        old: old.map(digest),
        new: digest(new),
    }
}

#[test]
fn autorebuild_rebuilds_the_recorded_commit_not_the_branch_head() {
    let mut w = World::new();
    let base = w.add_config("base", None);
    let app = w.add_config("app", Some("osbs-base:latest"));
    let web = w.add_config("web", Some("osbs-app:latest"));
    let app_1 = w.user_build(&app, "app-c1");
    w.run(&app_1);
    let fired = w.complete(&app_1, &digest(1));
    assert_eq!(
        fired.requests[0].build_config, web,
        "the app's own build fires web"
    );
    assert_eq!(w.drain(100), [format!("{web}-1")]);
    assert!(
        w.config(&app).is_autorebuild(),
        "check_and_set_rebuild set the label"
    );
    // A newer commit lands on the app's branch, but nobody builds it.
    w.heads.insert(app.clone(), "app-c2".into());

    let base_1 = w.user_build(&base, "base-c1");
    w.run(&base_1);
    let fan_out = w.complete(&base_1, &digest(2));
    assert!(fan_out.skipped.is_empty());
    let [request] = fan_out.requests.as_slice() else {
        panic!("one autorebuild expected: {fan_out:?}");
    };
    assert_eq!(request.build_config, app);
    assert_eq!(request.commit, "app-c1");
    assert!(request.is_autorebuild);
    assert_eq!(
        request.cause,
        BuildCause::ImageChange {
            stream: "osbs-base".into(),
            tag: "latest".into(),
            digest: digest(2),
            chain: vec![base.clone()],
        }
    );

    let ran = w.drain(10);
    let app_2 = format!("{app}-2");
    assert_eq!(ran, [app_2.clone(), format!("{web}-2")]);
    let build = w.build(&app_2);
    assert_eq!(build.phase, BuildPhase::Complete);
    assert_eq!(build.commit.as_deref(), Some("app-c1"));
    assert!(build.is_autorebuild);
    let web_cause = &w.build(&format!("{web}-2")).cause;
    assert!(
        matches!(web_cause, BuildCause::ImageChange { stream, chain, .. }
            if stream == "osbs-app" && *chain == [base.clone(), app.clone()]),
        "{web_cause:?}"
    );
    w.assert_serial();
}

#[test]
fn a_rebuild_with_the_same_digest_fires_nothing() {
    let mut w = World::new();
    let app = w.add_config("app", Some("osbs-base:latest"));
    assert_eq!(w.manual_import("osbs-base", &digest(1)).requests.len(), 1);
    let fan_out = w.manual_import("osbs-base", &digest(1));
    assert_eq!(fan_out, Default::default());
    assert_eq!(w.streams["osbs-base"].tags["latest"].history.len(), 1);
    assert_eq!(w.builds.iter().filter(|b| b.build_config == app).count(), 1);
    // A change that is none is ignored by the fan-out itself, too.
    let graph = TriggerGraph::new(w.configs.values());
    let same = change("latest", Some(1), 1);
    assert!(graph.fan_out("osbs-base", &[same], &[]).requests.is_empty());
}

#[test]
fn a_trigger_cycle_rebuilds_each_build_config_once() {
    // a FROM b FROM a.
    let mut w = World::new();
    let a = w.add_config("a", Some("osbs-b:latest"));
    let b = w.add_config("b", Some("osbs-a:latest"));
    let a_1 = w.user_build(&a, "a-c1");
    w.run(&a_1);
    let fired = w.complete(&a_1, &digest(1));
    assert_eq!(fired.requests.len(), 1);
    assert_eq!(fired.requests[0].build_config, b);
    let ran = w.drain(2);
    assert_eq!(ran, [format!("{b}-1")]);
    // b's import would fire a again: a is in the chain, so it is skipped.
    let names: Vec<&str> = w.builds.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, [a_1.as_str(), &format!("{b}-1")]);

    // The same cycle entered through a manual import: b, then a, then stop.
    let fired = w.manual_import("osbs-a", &digest(50));
    assert_eq!(fired.requests[0].build_config, b);
    let ran = w.drain(60);
    assert_eq!(ran, [format!("{b}-2"), format!("{a}-2")]);
    let graph = TriggerGraph::new(w.configs.values());
    let a_2 = w.build(&format!("{a}-2")).clone();
    let last = graph.fan_out(
        "osbs-a",
        &[change("latest", Some(50), 61)],
        &a_2.downstream_chain(),
    );
    assert!(last.requests.is_empty());
    assert_eq!(last.skipped.len(), 1);
    assert_eq!(last.skipped[0].build_config, b);
    assert_eq!(
        last.skipped[0].reason.to_string(),
        format!("trigger cycle: already rebuilt in this cascade ({b} → {a})")
    );
}

#[test]
fn an_image_built_from_itself_does_not_rebuild_itself() {
    let mut w = World::new();
    let a = w.add_config("a", Some("osbs-a:latest"));
    let a_1 = w.user_build(&a, "a-c1");
    w.run(&a_1);
    let fired = w.complete(&a_1, &digest(1));
    assert!(fired.requests.is_empty());
    assert_eq!(
        fired.skipped[0].reason,
        SkipReason::Cycle {
            chain: vec![a.clone()]
        }
    );
}

#[test]
fn is_autorebuild_comes_from_the_build_config_label() {
    let mut w = World::new();
    let app = w.add_config("app", Some("osbs-base:latest"));
    let fired = w.manual_import("osbs-base", &digest(1));
    assert!(!fired.requests[0].is_autorebuild, "label still false");
    assert!(!w.build(&format!("{app}-1")).is_autorebuild);
    w.configs
        .get_mut(&app)
        .unwrap()
        .labels
        .insert(LABEL_IS_AUTOREBUILD.into(), "true".into());
    let fired = w.manual_import("osbs-base", &digest(2));
    assert!(fired.requests[0].is_autorebuild);
    assert!(w.build(&format!("{app}-2")).is_autorebuild);
}

#[test]
fn only_the_changed_tags_fire() {
    let configs = [
        bc("latest", "main", Some("base:latest"), "osbs/l"),
        bc("one", "main", Some("base:1.0"), "osbs/o"),
        bc("two", "main", Some("base:2.0"), "osbs/t"),
        bc("other", "main", Some("other:1.0"), "osbs/x"),
        bc("scratch", "main", None, "osbs/s"),
    ];
    let mut never_built = BuildConfig::new("https://git.example.com/osbs/new.git", "main");
    never_built.trigger = Some(ImageStreamTag::new("base", "latest"));
    let graph = TriggerGraph::new(configs.iter().chain([&never_built]));
    let changes = [
        change("1.0", Some(1), 2),
        change("latest", None, 2),
        change("latest", None, 2),
        change("2.0", Some(3), 3),
    ];
    let fan_out = graph.fan_out("base", &changes, &[]);
    let fired: Vec<(&str, &str)> = fan_out
        .requests
        .iter()
        .map(|r| match &r.cause {
            BuildCause::ImageChange { tag, .. } => (r.build_config.as_str(), tag.as_str()),
            BuildCause::User => unreachable!(),
        })
        .collect();
    assert_eq!(
        fired,
        [
            (configs[1].name.as_str(), "1.0"),
            (configs[0].name.as_str(), "latest")
        ]
    );
    assert_eq!(fan_out.skipped.len(), 1);
    assert_eq!(fan_out.skipped[0].build_config, never_built.name);
    assert_eq!(
        fan_out.skipped[0].reason.to_string(),
        "no user build recorded a commit to rebuild"
    );
    assert!(graph.fan_out("nothing", &changes, &[]).requests.is_empty());
}

#[test]
fn fan_out_to_a_thousand_build_configs() {
    let mut configs: Vec<BuildConfig> = (0..10_000)
        .map(|i| {
            let from = if i % 10 == 0 {
                "base:latest".to_owned()
            } else {
                format!("s{}:latest", i % 97)
            };
            bc(&format!("r{i}"), "main", Some(&from), &format!("osbs/r{i}"))
        })
        .collect();
    let graph = TriggerGraph::new(&configs);
    let chain = vec!["base-bc".to_owned()];
    let fan_out = graph.fan_out("base", &[change("latest", Some(1), 2)], &chain);
    assert_eq!(fan_out.requests.len(), 1000);
    assert!(fan_out.skipped.is_empty());
    let names: HashSet<&str> = fan_out
        .requests
        .iter()
        .map(|r| r.build_config.as_str())
        .collect();
    assert_eq!(names.len(), 1000);
    let mut by_name: HashMap<String, &mut BuildConfig> =
        configs.iter_mut().map(|c| (c.name.clone(), c)).collect();
    let now = Timestamp::from_unix_millis(1);
    for request in fan_out.requests.clone() {
        let config = by_name.get_mut(&request.build_config).unwrap();
        assert_eq!(config.trigger, Some(ImageStreamTag::new("base", "latest")));
        assert_eq!(Some(&request.commit), config.last_user_commit.as_ref());
        let build = request.into_build(config, now);
        assert_eq!(build.phase, BuildPhase::New);
        assert_eq!(build.number, 1);
        assert!(
            matches!(build.cause, BuildCause::ImageChange { ref chain, .. } if *chain == ["base-bc"])
        );
    }
}

/// The example graph of the rebuild-plan snapshot.
fn example_graph() -> Vec<BuildConfig> {
    vec![
        bc("app", "main", Some("osbs-base:latest"), "osbs/app"),
        // Another branch pushing the same image: a diamond.
        bc("app", "stable", Some("osbs-base:latest"), "osbs/app"),
        bc("web", "main", Some("osbs-app:latest"), "osbs/web"),
        bc("api", "main", Some("osbs-app:1.0"), "osbs/api"),
        bc("tools", "main", Some("osbs-base:latest"), "osbs/tools"),
        // Pushes the base again: a cycle back to the root.
        bc("rebase", "main", Some("osbs-web:latest"), "osbs/base"),
        bc("pinned", "main", Some("osbs-base:1.0"), "osbs/pinned"),
        bc("scratch", "main", None, "osbs/scratch"),
    ]
}

#[test]
fn rebuild_plan_tree() {
    let configs = example_graph();
    let plan = TriggerGraph::new(&configs).rebuild_plan("osbs-base", "latest");
    insta::assert_snapshot!(plan.render());
    let rebuilt: HashSet<&str> = plan.build_configs().collect();
    // Everything but scratch, once each. `pinned` (on osbs-base:1.0) is not triggered by the
    // root tag, but `rebase` pushes osbs-base again and its rebuild may move any tag of it.
    assert_eq!(rebuilt.len(), 7);
    assert!(!rebuilt.iter().any(|n| n.starts_with("scratch-")));
    assert_eq!(plan.nodes.iter().filter(|n| n.depth == 1).count(), 3);
    assert_check(&plan, &configs);
}

#[test]
fn rebuild_plan_json() {
    let configs = [
        bc("app", "main", Some("osbs-base:latest"), "osbs/app"),
        bc("web", "main", Some("osbs-app:latest"), "osbs/web"),
    ];
    let plan = TriggerGraph::new(&configs).rebuild_plan("osbs-base", "latest");
    insta::assert_json_snapshot!(plan);
}

#[test]
fn rebuild_plan_of_an_untriggered_tag() {
    let configs = example_graph();
    let plan = TriggerGraph::new(&configs).rebuild_plan("osbs-base", "2.0");
    assert!(plan.is_empty());
    insta::assert_snapshot!(plan.render(), @r"
    osbs-base:2.0
    (no BuildConfig is triggered on osbs-base:2.0)
    ");
}

#[test]
fn a_ten_thousand_deep_chain_neither_overflows_nor_explodes() {
    let configs: Vec<BuildConfig> = (0..10_000)
        .map(|i| {
            let from = if i == 0 {
                "root:latest".to_owned()
            } else {
                format!("osbs-c{}:latest", i - 1)
            };
            bc(&format!("c{i}"), "main", Some(&from), &format!("osbs/c{i}"))
        })
        .collect();
    let plan = TriggerGraph::new(&configs).rebuild_plan("root", "latest");
    assert_eq!(plan.nodes.len(), 10_000);
    assert_eq!(plan.nodes.last().map(|n| n.depth), Some(10_000));
    assert_check(&plan, &configs);
    let text = plan.render();
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest < MAX_DRAWN_DEPTH * 4 + 80, "{widest}");
    assert!(text.contains("…(depth 10000) └── c9999-main-"));
    // Dropping the plan is iterative too (a flat Vec), so this test finishing is the check.
    drop(plan);
}

/// A pseudo-random graph of 10,000 BuildConfigs with fan-out, diamonds (several BuildConfigs
/// pushing one image), cycles back to the root, unreachable parts and untriggered ones.
fn big_graph() -> Vec<BuildConfig> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    (0..10_000u64)
        .map(|i| {
            let from = match i {
                0..=9 => Some("root:latest".to_owned()),
                _ if i % 50 == 0 => Some("elsewhere:latest".to_owned()),
                _ if i % 77 == 0 => None,
                _ => Some(format!(
                    "osbs-i{}:{}",
                    next(i),
                    if next(5) == 0 { "1.0" } else { "latest" }
                )),
            };
            let image = match i {
                _ if i % 100 == 1 => "osbs/i0".to_owned(),
                _ if i % 333 == 0 => "root".to_owned(),
                _ => format!("osbs/i{i}"),
            };
            bc(&format!("i{i}"), "main", from.as_deref(), &image)
        })
        .collect()
}

#[test]
fn rebuild_plan_over_ten_thousand_build_configs() {
    let configs = big_graph();
    let graph = TriggerGraph::new(&configs);
    let plan = graph.rebuild_plan("root", "latest");
    assert_check(&plan, &configs);

    // Independently: what is reachable from root:latest, by breadth-first search over all
    // BuildConfigs, stream-level edges.
    let mut consumers: HashMap<&str, Vec<&BuildConfig>> = HashMap::new();
    for c in &configs {
        if let Some(t) = &c.trigger {
            consumers.entry(t.stream.as_str()).or_default().push(c);
        }
    }
    let mut reachable: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&BuildConfig> = configs
        .iter()
        .filter(|c| c.trigger == Some(ImageStreamTag::new("root", "latest")))
        .collect();
    while let Some(c) = queue.pop_front() {
        if reachable.insert(&c.name) {
            let stream = c.image_stream().unwrap();
            queue.extend(
                consumers
                    .get(stream.as_str())
                    .into_iter()
                    .flatten()
                    .copied(),
            );
        }
    }
    let planned: Vec<&str> = plan.build_configs().collect();
    assert_eq!(
        planned.len(),
        reachable.len(),
        "each reachable BuildConfig expanded once"
    );
    assert_eq!(planned.iter().copied().collect::<HashSet<_>>(), reachable);
    assert!(
        reachable.len() > 1000,
        "the graph is big enough to mean something: {}",
        reachable.len()
    );
    let marks = |m| plan.nodes.iter().filter(|n| n.mark == m).count();
    assert!(marks(PlanMark::Repeated) > 0 && marks(PlanMark::Cycle) > 0);

    // The fan-out of the same change agrees with the plan's first level.
    let fan_out = graph.fan_out("root", &[change("latest", None, 1)], &[]);
    let first: Vec<&str> = plan
        .nodes
        .iter()
        .filter(|n| n.depth == 1)
        .map(|n| n.build_config.as_str())
        .collect();
    let fired: Vec<&str> = fan_out
        .requests
        .iter()
        .map(|r| r.build_config.as_str())
        .collect();
    assert_eq!(first, fired);
}

/// The structural invariants of a plan over `configs`, checked in one linear pass.
fn assert_check(plan: &RebuildPlan, configs: &[BuildConfig]) {
    let by_name: HashMap<&str, &BuildConfig> =
        configs.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut triggered_per_stream: HashMap<&str, usize> = HashMap::new();
    for c in configs {
        if let Some(t) = &c.trigger {
            *triggered_per_stream.entry(t.stream.as_str()).or_default() += 1;
        }
    }
    let mut children = vec![0usize; plan.nodes.len()];
    let mut shown: HashSet<&str> = HashSet::new();
    // The expanded ancestors of the current node, as indexes, and their names.
    let mut path: Vec<usize> = Vec::new();
    let mut on_path: HashSet<&str> = HashSet::new();
    for (i, node) in plan.nodes.iter().enumerate() {
        let name = node.build_config.as_str();
        let config = by_name[name];
        assert_eq!(Some(&node.trigger), config.trigger.as_ref());
        while let Some(&top) = path.last() {
            if plan.nodes[top].depth < node.depth {
                break;
            }
            path.pop();
            on_path.remove(plan.nodes[top].build_config.as_str());
        }
        assert_eq!(node.parent, path.last().copied(), "depth-first order");
        assert_eq!(node.depth, path.len() + 1);
        match node.parent {
            None => assert_eq!(node.trigger, plan.root),
            Some(p) => {
                let parent = &plan.nodes[p];
                assert_eq!(
                    parent.image_stream.as_deref(),
                    Some(node.trigger.stream.as_str())
                );
                children[p] += 1;
            }
        }
        match node.mark {
            PlanMark::Rebuild => {
                assert!(!on_path.contains(name));
                assert!(shown.insert(name), "{name} expanded twice");
                path.push(i);
                on_path.insert(name);
            }
            PlanMark::Cycle => assert!(on_path.contains(name), "{name} is no cycle"),
            PlanMark::Repeated => {
                assert!(!on_path.contains(name));
                assert!(shown.contains(name), "{name} was not shown before");
            }
        }
    }
    // Every expanded node lists every BuildConfig triggered on any tag of its stream.
    for (i, node) in plan.nodes.iter().enumerate() {
        if node.mark == PlanMark::Rebuild {
            let stream = node.image_stream.as_deref().unwrap_or("");
            let expected = triggered_per_stream.get(stream).copied().unwrap_or(0);
            assert_eq!(children[i], expected, "{}", node.build_config);
        }
    }
}

/// The example plan with `app-main` marked as autorebuild-disabled: what the dot and mermaid
/// snapshots draw.
fn annotated_example() -> RebuildPlan {
    let configs = example_graph();
    let mut plan = TriggerGraph::new(&configs).rebuild_plan("osbs-base", "latest");
    let app = configs[0].name.clone();
    plan.mark_autorebuild_disabled(|name| name == app);
    plan
}

#[test]
fn rebuild_plan_as_graphviz_and_mermaid() {
    let plan = annotated_example();
    let dot = plan.render_dot();
    insta::assert_snapshot!("rebuild_plan_dot", dot);
    // Each BuildConfig is one graph node, however often the tree repeats it.
    let distinct: HashSet<&str> = plan.nodes.iter().map(|n| n.build_config.as_str()).collect();
    let boxes = dot
        .lines()
        .filter(|l| l.contains("[label=") && !l.contains("->"))
        .count();
    assert_eq!(boxes, distinct.len());
    assert_eq!(dot.matches(" -> ").count(), plan.nodes.len());
    insta::assert_snapshot!("rebuild_plan_mermaid", plan.render_mermaid());
    insta::assert_snapshot!("rebuild_plan_disabled_text", plan.render());
}

#[test]
fn graph_labels_are_escaped() {
    let plan = RebuildPlan {
        root: ImageStreamTag::new("a\"b\\c", "latest"),
        nodes: Vec::new(),
        depth_limit: None,
    };
    assert!(plan.render_dot().contains(r#"label="a\"b\\c:latest""#));
    assert!(
        plan.render_mermaid()
            .contains(r#"n0(["a#quot;b\c:latest"])"#)
    );
}

#[test]
fn rebuild_plan_depth_limit() {
    let configs = example_graph();
    let full = TriggerGraph::new(&configs).rebuild_plan("osbs-base", "latest");
    let mut plan = full.clone();
    plan.limit_depth(1);
    assert_eq!(plan.nodes.len(), 3);
    assert!(
        plan.nodes
            .iter()
            .all(|n| n.depth == 1 && n.parent.is_none())
    );
    // app-main triggers web and api below the limit. app-stable was expanded deeper, under
    // rebase, which is cut: it is expanded here instead, and triggers more; tools triggers
    // nothing.
    let truncated: Vec<bool> = plan.nodes.iter().map(|n| n.truncated).collect();
    assert_eq!(truncated, [true, true, false]);
    assert!(plan.nodes.iter().all(|n| n.mark == PlanMark::Rebuild));
    insta::assert_snapshot!("rebuild_plan_depth_1", plan.render());

    // Parents are re-indexed into the shorter list.
    let mut plan = full.clone();
    plan.limit_depth(2);
    for (i, node) in plan.nodes.iter().enumerate() {
        match node.parent {
            None => assert_eq!(node.depth, 1),
            Some(p) => {
                assert!(p < i);
                assert_eq!(plan.nodes[p].depth + 1, node.depth);
            }
        }
    }
    let mut deep = full.clone();
    deep.limit_depth(100);
    assert_eq!(deep.nodes, full.nodes);
}

#[test]
fn autorebuild_disabled_comes_from_the_last_autorebuild_of_the_recorded_commit() {
    use osbs_core::model::Build;
    use osbs_core::trigger::{AUTOREBUILD_DISABLED, autorebuild_disabled};
    let mut config = bc("app", "main", Some("osbs-base:latest"), "osbs/app");
    let cause = BuildCause::ImageChange {
        stream: "osbs-base".into(),
        tag: "latest".into(),
        digest: digest(1),
        chain: Vec::new(),
    };
    let commit = config.last_user_commit.clone();
    let auto = |phase, reason: Option<&str>, commit: Option<String>, config: &mut BuildConfig| {
        let mut b = Build::queued(config, cause.clone(), commit, Timestamp::UNIX_EPOCH);
        b.phase = phase;
        b.reason = reason.map(str::to_owned);
        b
    };
    let cancelled = auto(
        BuildPhase::Cancelled,
        Some(AUTOREBUILD_DISABLED),
        commit.clone(),
        &mut config,
    );
    assert!(autorebuild_disabled(&config, [&cancelled]));
    // Cancelled for another reason: unknown.
    let other = auto(
        BuildPhase::Cancelled,
        Some("superseded"),
        commit.clone(),
        &mut config,
    );
    assert!(!autorebuild_disabled(&config, [&cancelled, &other]));
    // A later complete autorebuild of the same commit: enabled again.
    let done = auto(BuildPhase::Complete, None, commit.clone(), &mut config);
    assert!(!autorebuild_disabled(&config, [&done, &cancelled]));
    // A new user commit since: the old answer says nothing.
    let old = auto(
        BuildPhase::Cancelled,
        Some(AUTOREBUILD_DISABLED),
        Some("older".into()),
        &mut config,
    );
    assert!(!autorebuild_disabled(&config, [&old]));
}

#[test]
fn plan_roots_from_stream_tags_and_image_references() {
    use osbs_core::trigger::plan_root;
    for (input, expected) in [
        ("osbs-app", "osbs-app:latest"),
        ("osbs-app:1.0", "osbs-app:1.0"),
        ("osbs/app", "osbs-app:latest"),
        ("127.0.0.1:5000/osbs/app:1.0", "osbs-app:1.0"),
        ("registry.example.com/ns/sub/app", "ns-sub-app:latest"),
    ] {
        let root = plan_root(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(root.to_string(), expected, "{input}");
    }
    for bad in [
        "Bad Stream",
        "osbs/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "",
    ] {
        assert!(plan_root(bad).is_err(), "{bad}");
    }
}

#[test]
fn did_you_mean() {
    use osbs_core::trigger::closest;
    let known = ["osbs-app", "osbs-base", "osbs-web", "other"];
    assert_eq!(closest("osbs-ap", known), ["osbs-app"]);
    assert_eq!(closest("app", known), ["osbs-app"]);
    assert_eq!(closest("osbs-bsae", known), ["osbs-base"]);
    assert!(closest("zzzzzzzz", known).is_empty());
}
