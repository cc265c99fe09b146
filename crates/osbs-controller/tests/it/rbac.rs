//! The Roles of `deploy/rbac.yaml`, read as k8s-openapi types: no Role meant for people writes
//! a status subresource (a status write forges a build's outcome or an image's digest, and so
//! fires triggers) or reads a Secret other than by name, the user Role still grants what the
//! `osbs` client does, and the two service accounts get exactly what their code needs.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde_json::Value;

/// One permission: API group, resource, verb and, when restricted, the object's name.
type Grant = (String, String, String, Option<String>);

fn manifests() -> (Vec<Role>, Vec<RoleBinding>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/rbac.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/rbac.yaml");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    let (mut roles, mut bindings) = (Vec::new(), Vec::new());
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        match doc["kind"].as_str() {
            Some("Role") => roles.push(serde_json::from_value(doc).expect("Role")),
            Some("RoleBinding") => bindings.push(serde_json::from_value(doc).expect("RoleBinding")),
            _ => {}
        }
    }
    (roles, bindings)
}

fn name(role: &Role) -> &str {
    role.metadata.name.as_deref().unwrap_or_default()
}

fn grants(role: &Role) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        let names: Vec<Option<String>> = match &rule.resource_names {
            Some(names) if !names.is_empty() => names.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for object in &names {
                        out.insert((
                            group.clone(),
                            resource.clone(),
                            verb.clone(),
                            object.clone(),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// `(group, resources, verbs)` rows as grants without object names.
fn table(rows: &[(&str, &[&str], &[&str])]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for (group, resources, verbs) in rows {
        for resource in *resources {
            for verb in *verbs {
                out.insert(((*group).into(), (*resource).into(), (*verb).into(), None));
            }
        }
    }
    out
}

/// The Roles bound to a ServiceAccount in the file; every other Role is for people.
fn service_roles(bindings: &[RoleBinding]) -> BTreeSet<String> {
    bindings
        .iter()
        .filter(|b| {
            b.subjects
                .iter()
                .flatten()
                .all(|s| s.kind == "ServiceAccount")
        })
        .map(|b| b.role_ref.name.clone())
        .collect()
}

#[test]
fn roles_for_people_write_no_status_and_read_secrets_only_by_name() {
    let (roles, bindings) = manifests();
    let services = service_roles(&bindings);
    let people: Vec<&Role> = roles
        .iter()
        .filter(|r| !services.contains(name(r)))
        .collect();
    assert_eq!(
        people.iter().map(|r| name(r)).collect::<Vec<_>>(),
        ["osbs-user"]
    );
    for role in people {
        for (group, resource, verb, object) in grants(role) {
            let what = format!("{}: {verb} {group}/{resource}", name(role));
            // A wildcard covers the status subresources (and Secrets) too.
            assert!(
                !resource.contains('*') && verb != "*" && group != "*",
                "{what}"
            );
            assert!(!resource.ends_with("/status"), "{what} writes a status");
            if group.is_empty() && resource.starts_with("secrets") {
                assert!(object.is_some(), "{what} reads every Secret");
            }
        }
    }
}

#[test]
fn the_user_role_grants_what_the_client_does() {
    let (roles, _) = manifests();
    let user = roles
        .iter()
        .find(|r| name(r) == "osbs-user")
        .expect("osbs-user");
    // What crates/osbs-client/src/kubernetes.rs calls: reads and watches, BuildConfig create
    // and spec update, Build create (`submit_build`), cancel (a spec patch), import (an
    // annotation patch), base ImageStream create, deletes, build logs.
    let needed = table(&[
        (
            "osbs.dev",
            &["buildconfigs", "builds", "imagestreams"],
            &["get", "list", "watch"],
        ),
        (
            "osbs.dev",
            &["buildconfigs"],
            &["create", "update", "delete"],
        ),
        ("osbs.dev", &["builds"], &["create", "patch", "delete"]),
        ("osbs.dev", &["imagestreams"], &["create", "patch"]),
        ("", &["pods/log"], &["get"]),
    ]);
    let granted = grants(user);
    let missing: Vec<_> = needed.difference(&granted).collect();
    assert!(missing.is_empty(), "osbs-user lacks {missing:?}");
}

#[test]
fn the_service_accounts_get_what_their_code_needs() {
    let (roles, _) = manifests();
    let role = |wanted: &str| {
        grants(
            roles
                .iter()
                .find(|r| name(r) == wanted)
                .unwrap_or_else(|| panic!("no role {wanted}")),
        )
    };
    let mut controller = table(&[
        // Everything it supervises, watched for rounds.
        (
            "osbs.dev",
            &["buildconfigs", "builds", "imagestreams"],
            &["get", "list", "watch"],
        ),
        // Autorebuilds, the notification outbox, pruning.
        ("osbs.dev", &["builds"], &["create", "patch", "delete"]),
        // An import of a stream that vanished; answers to import requests.
        ("osbs.dev", &["imagestreams"], &["create", "patch"]),
        // Phases and run leases, build counters, imports and pending triggers.
        (
            "osbs.dev",
            &[
                "builds/status",
                "buildconfigs/status",
                "imagestreams/status",
            ],
            &["update"],
        ),
        // Owner references that block deletion (Builds of BuildConfigs, Pods of Builds).
        (
            "osbs.dev",
            &["builds/finalizers", "buildconfigs/finalizers"],
            &["update"],
        ),
        ("", &["pods"], &["list", "watch", "create", "delete"]),
        (
            "coordination.k8s.io",
            &["leases"],
            &["get", "create", "update"],
        ),
        ("events.k8s.io", &["events"], &["create", "patch"]),
    ]);
    controller.insert((
        String::new(),
        "secrets".into(),
        "get".into(),
        Some("osbs-registry".into()),
    ));
    // The imports' registry CA (`--registry-ca`), by name too.
    controller.insert((
        String::new(),
        "configmaps".into(),
        "get".into(),
        Some("osbs-registry-ca".into()),
    ));
    assert_eq!(role("osbs-controller"), controller);

    let builder = table(&[
        // Its Build: read, results annotations, phase and results.
        ("osbs.dev", &["builds"], &["get", "patch"]),
        ("osbs.dev", &["builds/status"], &["update"]),
        // Its BuildConfig: read, the is_autorebuild label.
        ("osbs.dev", &["buildconfigs"], &["get", "update"]),
        // The import of what it pushed.
        ("osbs.dev", &["imagestreams"], &["get", "create"]),
        ("osbs.dev", &["imagestreams/status"], &["update"]),
        ("events.k8s.io", &["events"], &["create", "patch"]),
    ]);
    assert_eq!(role("osbs-builder"), builder);
}
