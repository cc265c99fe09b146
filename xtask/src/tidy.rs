//! Tidy checks that `cargo test` enforces on the whole tree: every Rust file says what it is for
//! in a `//!` first line, every publishable crate carries the metadata and license files that
//! `cargo publish` and users need, and no crate under `crates/` has a dependency the
//! architecture forbids (module `crate_graph`, rules in `crate_graph::RULES`).

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use crate::workspace_root;

    /// Every `.rs` file below `dir`, skipping build output and fuzz corpora.
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "target" | "corpus" | "artifacts" | ".git") {
                    rust_files(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_rust_file_starts_with_a_module_doc() {
        let root = workspace_root();
        let mut files = Vec::new();
        for dir in ["crates", "xtask", "tests"] {
            rust_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 10, "found only {} files", files.len());
        let missing: Vec<String> = files
            .iter()
            .filter(|f| !fs::read_to_string(f).is_ok_and(|s| s.starts_with("//!")))
            .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "files without a `//!` first line: {missing:#?}"
        );
    }

    #[test]
    fn publishable_crates_have_metadata_and_licenses() {
        let root = workspace_root();
        let mut problems = Vec::new();
        let mut checked = 0;
        let root_manifest = fs::read_to_string(root.join("Cargo.toml")).expect("root manifest");
        for entry in fs::read_dir(root.join("crates"))
            .expect("crates/ exists")
            .flatten()
        {
            let dir = entry.path();
            let Ok(manifest) = fs::read_to_string(dir.join("Cargo.toml")) else {
                continue;
            };
            if manifest.contains("publish = false") {
                continue;
            }
            checked += 1;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !manifest.contains(&format!("name = \"{name}\"")) {
                problems.push(format!("{name}: package name differs from its folder"));
            }
            for key in [
                "description",
                "license",
                "repository",
                "readme",
                "keywords",
                "categories",
            ] {
                if !manifest.lines().any(|l| l.starts_with(key)) {
                    problems.push(format!("{name}: no `{key}` in Cargo.toml"));
                }
            }
            for file in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
                if !dir.join(file).is_file() {
                    problems.push(format!("{name}: no {file}"));
                }
            }
            // Dependents reach it through the root's [workspace.dependencies], with a version.
            let entry = root_manifest
                .lines()
                .find(|l| l.contains(&format!("path = \"crates/{name}\"")));
            if entry.is_some_and(|l| !l.contains("version")) {
                problems.push(format!(
                    "{name}: workspace path dependency without a version"
                ));
            }
        }
        assert!(checked >= 2, "checked only {checked} crates");
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

/// The crate graph of ARCHITECTURE.md's invariants, read from every `crates/*/Cargo.toml`: which
/// crate may not depend on which, directly or through workspace crates. The check is a pure
/// function over the graph so that a test can add a forbidden edge and see it fail.
#[cfg(test)]
mod crate_graph {
    use std::collections::{BTreeMap, BTreeSet, VecDeque};
    use std::fmt;
    use std::fs;

    use crate::workspace_root;

    /// Crate name → the names of its normal, build and target-specific dependencies (not its
    /// dev-dependencies). The keys are the workspace crates: every package under `crates/`.
    type Graph = BTreeMap<String, BTreeSet<String>>;

    /// What a [`Rule`] forbids its crate to depend on.
    #[derive(Debug)]
    enum Forbidden {
        /// Any workspace crate.
        WorkspaceCrates,
        /// These crates, workspace or third-party.
        Crates(&'static [&'static str]),
    }

    /// One architecture invariant about dependencies.
    #[derive(Debug)]
    struct Rule {
        /// The crate the rule is about.
        krate: &'static str,
        /// Whether dependencies reached through other workspace crates count too (third-party
        /// crates are not followed).
        transitive: bool,
        /// What it must not depend on.
        forbidden: Forbidden,
        /// Why, as ARCHITECTURE.md puts it.
        why: &'static str,
    }

    /// The rules, one per invariant.
    static RULES: &[Rule] = &[
        Rule {
            krate: "osbs-core",
            transitive: false,
            forbidden: Forbidden::WorkspaceCrates,
            why: "osbs-core is the pure base every crate shares; it depends on none of them",
        },
        Rule {
            krate: "osbs-repo-config",
            transitive: false,
            forbidden: Forbidden::WorkspaceCrates,
            why: "the repo config parser stands alone",
        },
        Rule {
            krate: "osbs-engine",
            transitive: true,
            forbidden: Forbidden::Crates(&[
                "rusqlite",
                "kube",
                "kube-runtime",
                "kube-client",
                "k8s-openapi",
                "bollard",
                "osbs-reactor",
                "osbs-local",
                "osbs-kube",
                "osbs-kube-pod",
            ]),
            why: "the engine is generic over its store and executor; SQLite, Kubernetes, \
                  Docker and the reactor belong to the backends",
        },
        Rule {
            krate: "osbs-controller",
            transitive: true,
            forbidden: Forbidden::Crates(&["osbs-reactor", "osbs-kube-pod", "bollard"]),
            why: "the controller names the build Pod's binary but never links the reactor or \
                  a Docker client",
        },
    ];

    impl Rule {
        fn forbids(&self, dependency: &str, graph: &Graph) -> bool {
            match self.forbidden {
                Forbidden::WorkspaceCrates => graph.contains_key(dependency),
                Forbidden::Crates(names) => names.contains(&dependency),
            }
        }
    }

    impl fmt::Display for Rule {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let how = if self.transitive {
                "directly or through workspace crates"
            } else {
                "directly"
            };
            match self.forbidden {
                Forbidden::WorkspaceCrates => {
                    write!(
                        f,
                        "{} must not depend {how} on any workspace crate",
                        self.krate
                    )
                }
                Forbidden::Crates(names) => write!(
                    f,
                    "{} must not depend {how} on {}",
                    self.krate,
                    names.join(", ")
                ),
            }
        }
    }

    /// A forbidden edge and how the rule's crate reaches it.
    #[derive(Debug)]
    struct Violation {
        /// The rule's crate.
        krate: &'static str,
        /// The forbidden edge, `(from, to)`; `from` is `krate` or a workspace crate it reaches.
        edge: (String, String),
        /// From `krate` to the forbidden dependency, both included.
        path: Vec<String>,
        /// The rule broken.
        rule: &'static Rule,
    }

    impl fmt::Display for Violation {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "{}: edge {} → {} (path {}) breaks the rule \"{}\": {}",
                self.krate,
                self.edge.0,
                self.edge.1,
                self.path.join(" → "),
                self.rule,
                self.rule.why
            )
        }
    }

    /// Every violation of `rules` in `graph`. A rule whose crate is not in the graph has
    /// nothing to check.
    fn violations(graph: &Graph, rules: &'static [Rule]) -> Vec<Violation> {
        let mut found = Vec::new();
        for rule in rules {
            if !graph.contains_key(rule.krate) {
                continue;
            }
            // Breadth first, so each crate is reached by a shortest path.
            let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = VecDeque::from([rule.krate]);
            let mut seen = BTreeSet::from([rule.krate]);
            let mut reported = BTreeSet::new();
            while let Some(from) = queue.pop_front() {
                for dependency in graph.get(from).into_iter().flatten() {
                    if rule.forbids(dependency, graph) && reported.insert(dependency.as_str()) {
                        let mut path = vec![dependency.clone(), from.to_owned()];
                        let mut at = from;
                        while let Some(&up) = parent.get(at) {
                            path.push(up.to_owned());
                            at = up;
                        }
                        path.reverse();
                        found.push(Violation {
                            krate: rule.krate,
                            edge: (from.to_owned(), dependency.clone()),
                            path,
                            rule,
                        });
                    }
                    if rule.transitive
                        && graph.contains_key(dependency)
                        && seen.insert(dependency.as_str())
                    {
                        parent.insert(dependency, from);
                        queue.push_back(dependency);
                    }
                }
            }
        }
        found
    }

    /// Where a manifest line is.
    #[derive(Debug, PartialEq)]
    enum Section {
        /// `[package]`.
        Package,
        /// A table of dependencies: `[dependencies]`, `[build-dependencies]`,
        /// `[target.'cfg(..)'.dependencies]`, `[target.X.build-dependencies]`.
        Dependencies,
        /// One dependency as a table, `[dependencies.NAME]` and the like.
        Dependency(String),
        /// Anything else, dev-dependencies included.
        Other,
    }

    /// The dotted keys of a table header, quotes removed: `target.'cfg(unix)'.dependencies` is
    /// `["target", "cfg(unix)", "dependencies"]`.
    fn dotted_keys(header: &str) -> Vec<String> {
        let mut keys = vec![String::new()];
        let mut quote = None;
        for c in header.chars() {
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), _) if c == q => quote = None,
                (None, '.') => keys.push(String::new()),
                (None, c) if c.is_whitespace() => {}
                (_, c) => keys.last_mut().expect("never empty").push(c),
            }
        }
        keys
    }

    fn section(header: &str) -> Section {
        let keys = dotted_keys(header);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let table = match keys.as_slice() {
            ["package"] => return Section::Package,
            ["target", _, table @ ..] => table,
            table => table,
        };
        match table {
            ["dependencies" | "build-dependencies"] => Section::Dependencies,
            ["dependencies" | "build-dependencies", name] => {
                Section::Dependency((*name).to_owned())
            }
            _ => Section::Other,
        }
    }

    /// `line` without a trailing `# comment` (a `#` inside a string is kept), and how many
    /// brackets and braces it leaves open.
    fn code_and_depth(line: &str) -> (&str, i32) {
        let mut depth = 0;
        let mut quote = None;
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), _) if c == q => quote = None,
                (None, '#') => return (&line[..i], depth),
                (None, '[' | '{') => depth += 1,
                (None, ']' | '}') => depth -= 1,
                _ => {}
            }
        }
        (line, depth)
    }

    /// The value of `key = "value"` inside an inline table or a line, if there.
    fn string_value<'a>(code: &'a str, key: &str) -> Option<&'a str> {
        let mut rest = code;
        while let Some(at) = rest.find(key) {
            let before = rest[..at].chars().next_back();
            let after = rest[at + key.len()..].trim_start();
            rest = &rest[at + key.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_') {
                continue;
            }
            if let Some(value) = after.strip_prefix('=') {
                return value.trim_start().strip_prefix('"')?.split('"').next();
            }
        }
        None
    }

    /// The package name and dependency names of one manifest, line by line: no TOML parser,
    /// since xtask depends on anyhow and osbs-testkit only. Renamed dependencies
    /// (`alias = { package = "real" }`) count under their real name.
    fn parse_manifest(text: &str) -> (Option<String>, BTreeSet<String>) {
        let mut name = None;
        let mut dependencies = BTreeSet::new();
        let mut current = Section::Other;
        let mut depth = 0;
        for line in text.lines() {
            let (code, change) = code_and_depth(line);
            let code = code.trim();
            let continued = depth > 0;
            depth += change;
            if continued || code.is_empty() {
                continue;
            }
            if let Some(header) = code.strip_prefix('[') {
                depth = 0;
                current = match header.strip_prefix('[') {
                    Some(_) => Section::Other,
                    None => section(header.trim_end_matches(']')),
                };
                if let Section::Dependency(alias) = &current {
                    dependencies.insert(alias.clone());
                }
                continue;
            }
            let Some((key, _)) = code.split_once('=') else {
                continue;
            };
            let key = dotted_keys(key);
            match &current {
                Section::Package if key == ["name"] => {
                    name = string_value(code, "name").map(str::to_owned);
                }
                Section::Dependencies => {
                    let real = string_value(code, "package").unwrap_or(&key[0]);
                    dependencies.insert(real.to_owned());
                }
                Section::Dependency(alias) if key == ["package"] => {
                    if let Some(real) = string_value(code, "package") {
                        dependencies.remove(alias);
                        dependencies.insert(real.to_owned());
                    }
                }
                _ => {}
            }
        }
        (name, dependencies)
    }

    /// The graph of the crates under `crates/` as they are on disk.
    fn workspace_graph() -> Graph {
        let root = workspace_root();
        let mut graph = Graph::new();
        for entry in fs::read_dir(root.join("crates"))
            .expect("crates/ exists")
            .flatten()
        {
            let Ok(text) = fs::read_to_string(entry.path().join("Cargo.toml")) else {
                continue;
            };
            let (name, dependencies) = parse_manifest(&text);
            let name = name.unwrap_or_else(|| entry.file_name().to_string_lossy().into_owned());
            graph.insert(name, dependencies);
        }
        graph
    }

    fn report(violations: &[Violation]) -> String {
        violations
            .iter()
            .map(|v| format!("\n  {v}"))
            .collect::<String>()
    }

    #[test]
    fn no_crate_depends_on_what_the_architecture_forbids() {
        let graph = workspace_graph();
        for rule in RULES {
            assert!(
                graph.contains_key(rule.krate),
                "the rule \"{rule}\" is about a crate that is not under crates/ (renamed?)"
            );
        }
        assert!(
            graph["osbs-controller"].contains("osbs-kube"),
            "the manifests were not read: {graph:#?}"
        );
        let found = violations(&graph, RULES);
        assert!(
            found.is_empty(),
            "forbidden dependencies (see ARCHITECTURE.md):{}",
            report(&found)
        );
    }

    #[test]
    fn an_edge_added_on_purpose_is_reported() {
        let mut graph = workspace_graph();
        for (from, to) in [
            ("osbs-engine", "rusqlite"),
            ("osbs-core", "osbs-repo-config"),
            ("osbs-controller", "osbs-kube-pod"),
            ("osbs-kube", "bollard"),
        ] {
            graph
                .get_mut(from)
                .unwrap_or_else(|| panic!("{from} is under crates/"))
                .insert(to.to_owned());
        }
        let found = violations(&graph, RULES);
        let has = |krate: &str, path: &[&str]| {
            found.iter().any(|v| {
                v.krate == krate
                    && v.path == path
                    && (v.edge.0.as_str(), v.edge.1.as_str())
                        == (path[path.len() - 2], path[path.len() - 1])
            })
        };
        let report = report(&found);
        assert!(has("osbs-engine", &["osbs-engine", "rusqlite"]), "{report}");
        assert!(
            has("osbs-core", &["osbs-core", "osbs-repo-config"]),
            "{report}"
        );
        assert!(
            has("osbs-controller", &["osbs-controller", "osbs-kube-pod"]),
            "{report}"
        );
        // Through a workspace crate: the controller reaches the reactor through osbs-kube-pod,
        // and bollard through osbs-kube.
        assert!(
            has(
                "osbs-controller",
                &["osbs-controller", "osbs-kube-pod", "osbs-reactor"]
            ),
            "{report}"
        );
        assert!(
            has(
                "osbs-controller",
                &["osbs-controller", "osbs-kube", "bollard"]
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "osbs-controller: edge osbs-kube → bollard (path osbs-controller → osbs-kube → \
                 bollard) breaks the rule \"osbs-controller must not depend directly or through \
                 workspace crates on osbs-reactor, osbs-kube-pod, bollard\""
            ),
            "{report}"
        );
    }

    #[test]
    fn third_party_crates_are_not_followed() {
        let graph = Graph::from([
            (
                "osbs-controller".to_owned(),
                BTreeSet::from(["kube".to_owned()]),
            ),
            ("kube".to_owned(), BTreeSet::new()),
        ]);
        assert!(violations(&graph, RULES).is_empty());
        let graph = Graph::from([(
            "osbs-controller".to_owned(),
            BTreeSet::from(["kube".to_owned()]),
        )]);
        assert!(violations(&graph, RULES).is_empty());
    }

    #[test]
    fn manifests_are_read_section_by_section() {
        let manifest = r#"
[package]
name = "demo"
description = "name = \"not-this\""

[[bin]]
name = "demo-bin"

[dependencies]
plain = "1"
inline = { workspace = true, features = [
    "multi-line",
    "array",
] }
dotted.workspace = true
alias = { package = "real-name", version = "1" } # a comment = "x"

[dependencies.tabled]
version = "1"
features = ["a"]

[dependencies.renamed]
package = "renamed-real"

[build-dependencies]
builder = "1"

[target.'cfg(target_os = "linux")'.dependencies]
linux-only = "1"

[target."cfg(unix)".dependencies.unix-table]
version = "1"

[dev-dependencies]
dev-only = "1"

[dev-dependencies.dev-table]
version = "1"

[target.'cfg(unix)'.dev-dependencies]
dev-unix = "1"

[features]
default = ["plain"]
"#;
        let (name, dependencies) = parse_manifest(manifest);
        assert_eq!(name.as_deref(), Some("demo"));
        let expected = [
            "builder",
            "dotted",
            "inline",
            "linux-only",
            "plain",
            "real-name",
            "renamed-real",
            "tabled",
            "unix-table",
        ];
        assert_eq!(
            dependencies.iter().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
    }
}
