//! Tidy checks that `cargo test` enforces on the whole tree: every Rust file says what it is for
//! in a `//!` first line, and every publishable crate carries the metadata and license files
//! that `cargo publish` and users need.

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
