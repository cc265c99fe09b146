//! The CRDs generated from the Rust types: the committed `deploy/crds.yaml` must match them
//! (drift fails the test), and their shape is pinned by a snapshot.

use std::path::Path;

use kube::{CustomResourceExt, Resource};
use osbs_kube::{BuildConfigResource, BuildResource, GROUP, ImageStreamResource, VERSION};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn committed_crds_match_the_rust_types() {
    let generated = osbs_kube::crds_yaml().expect("yaml");
    let committed =
        std::fs::read_to_string(root().join("deploy/crds.yaml")).expect("deploy/crds.yaml");
    assert!(
        generated == committed,
        "deploy/crds.yaml is out of date; regenerate it with\n  cargo run -p osbs-controller -- crds > deploy/crds.yaml"
    );
}

#[test]
fn one_group_for_every_kind() {
    assert_eq!(BuildResource::group(&()), GROUP);
    assert_eq!(BuildConfigResource::group(&()), GROUP);
    assert_eq!(ImageStreamResource::group(&()), GROUP);
    assert_eq!(BuildResource::version(&()), VERSION);
    assert_eq!(osbs_kube::API_VERSION, format!("{GROUP}/{VERSION}"));
}

#[test]
fn crds_have_status_subresources_and_printer_columns() {
    let mut summary = String::new();
    for crd in osbs_kube::all_crds() {
        let version = &crd.spec.versions[0];
        let status = version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some();
        summary.push_str(&format!(
            "{} (status subresource: {status})\n",
            crd.metadata.name.unwrap_or_default()
        ));
        for column in version.additional_printer_columns.iter().flatten() {
            summary.push_str(&format!(
                "  {:<14} {:<8} {}\n",
                column.name, column.type_, column.json_path
            ));
        }
    }
    insta::assert_snapshot!(summary);
    insta::assert_snapshot!(
        "build_crd",
        serde_saphyr::to_string(&BuildResource::crd()).expect("yaml")
    );
}
