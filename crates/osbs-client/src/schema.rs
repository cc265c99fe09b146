//! `osbs schema [NAME]`: the JSON Schemas of what read commands print with `-o json` (and
//! `-o yaml`), generated from the output types themselves with schemars, so the schema cannot
//! drift from the output. docs/json-output.md documents the same fields; a test compares them.

use osbs_core::model::{Build, BuildConfig, ImageStream};
use osbs_core::trigger::RebuildPlan;
use schemars::Schema;

use crate::output::{BuildListItem, ImportImageOutput, RepoConfigCheck};

/// A documented output: its name for `osbs schema NAME`, which commands print it, its schema.
pub struct Output {
    /// `build`, `build-config`, …
    pub name: &'static str,
    /// The commands that print it.
    pub printed_by: &'static str,
    /// Its schema.
    pub schema: fn() -> Schema,
}

/// Every documented output, in docs/json-output.md order.
pub const OUTPUTS: &[Output] = &[
    Output {
        name: "build",
        printed_by: "get-build, build, watch-build, cancel-build, start-build",
        schema: || schemars::schema_for!(Build),
    },
    Output {
        name: "build-list",
        printed_by: "list-builds (an array, without dockerfile and plugins_metadata)",
        schema: || schemars::schema_for!(Vec<BuildListItem<'static>>),
    },
    Output {
        name: "build-config",
        printed_by: "get-build-config (list-build-configs: an array)",
        schema: || schemars::schema_for!(BuildConfig),
    },
    Output {
        name: "image-stream",
        printed_by: "get-image-stream (list-image-streams: an array)",
        schema: || schemars::schema_for!(ImageStream),
    },
    Output {
        name: "rebuild-plan",
        printed_by: "rebuild-plan",
        schema: || schemars::schema_for!(RebuildPlan),
    },
    Output {
        name: "import-image",
        printed_by: "import-image",
        schema: || schemars::schema_for!(ImportImageOutput),
    },
    Output {
        name: "check-repo-config",
        printed_by: "check-repo-config",
        schema: || schemars::schema_for!(RepoConfigCheck),
    },
];

/// The output called `name`.
///
/// # Errors
///
/// An unknown name, with the known ones.
pub fn find(name: &str) -> Result<&'static Output, String> {
    OUTPUTS.iter().find(|o| o.name == name).ok_or_else(|| {
        let known: Vec<&str> = OUTPUTS.iter().map(|o| o.name).collect();
        format!("no schema {name:?}; known: {}", known.join(", "))
    })
}

/// The top-level fields of `output`'s objects (of the items, for an array), in schema order.
pub fn fields(output: &Output) -> Vec<String> {
    let schema = (output.schema)();
    let value = schema.as_value();
    let object = match value.get("items") {
        Some(items) => resolve(value, items),
        None => value,
    };
    object
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// `node`, or what its `$ref` points to inside `root`.
fn resolve<'a>(root: &'a serde_json::Value, node: &'a serde_json::Value) -> &'a serde_json::Value {
    node.get("$ref")
        .and_then(serde_json::Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
        .unwrap_or(node)
}
