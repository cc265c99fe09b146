//! Build variants through the kubernetes backend, against osbs-testkit's stateful fake API
//! server: the variant is written into the Build's spec (what the build Pod reads), a scratch
//! or isolated submission leaves the BuildConfig's trigger and commit alone, `--skip-build`
//! updates the BuildConfig (build args included) and creates no Build, and a bad variant is
//! refused before the repository is read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use osbs_client::backend::{Backend as _, BuildSubmission, SubmissionFacts};
use osbs_client::config::Instance;
use osbs_client::kubernetes::KubeBackend;
use osbs_core::ImageReference;
use osbs_core::variant::BuildVariant;
use osbs_testkit::kube_fake::{self as fake, Cluster};

/// A backend whose resolver answers the commit in `commit` and a base image from the
/// submission's `BASE` build arg (else `registry.example.com/osbs/base:latest`), as the local
/// resolver substitutes `ARG BASE` in `FROM $BASE`.
fn backend(server: &wiremock::MockServer, commit: Arc<Mutex<String>>) -> KubeBackend {
    let _ = rustls::crypto::ring::default_provider().install_default();
    KubeBackend::new(
        fake::client(server),
        &Instance::defaults(),
        Box::new(move |submission: &BuildSubmission| {
            let base = submission
                .variant
                .build_args
                .get("BASE")
                .map_or("registry.example.com/osbs/base:latest", String::as_str);
            Ok(SubmissionFacts {
                commit: commit.lock().expect("commit").clone(),
                base_image: Some(base.parse::<ImageReference>().expect("base")),
                image_name: Some("osbs/app".into()),
                warnings: vec![],
            })
        }),
    )
}

fn submission(variant: BuildVariant) -> BuildSubmission {
    BuildSubmission {
        git_url: "https://git.example.com/ns/app.git".into(),
        git_branch: "main".into(),
        git_commit: None,
        component: None,
        variant,
    }
}

#[tokio::test]
async fn variants_reach_the_build_and_leave_the_build_config_alone() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let commit = Arc::new(Mutex::new("a".repeat(40)));
    let backend = backend(&server, Arc::clone(&commit));

    let regular = backend
        .create_build(&submission(BuildVariant::default()))
        .await?;
    let bc_name = regular.build.build_config.clone();
    let stored = cluster
        .get(&fake::path("builds"), &regular.build.name)
        .expect("build");
    assert!(stored["spec"].get("variant").is_none(), "{stored}");
    let before = backend.get_build_config(&bc_name).await?;
    assert_eq!(
        before.last_user_commit.as_deref(),
        Some("a".repeat(40).as_str())
    );

    // A scratch build of a newer commit: the Build says scratch; the BuildConfig stays.
    *commit.lock().expect("commit") = "b".repeat(40);
    let scratch = backend
        .create_build(&submission(BuildVariant {
            scratch: true,
            ..BuildVariant::default()
        }))
        .await?;
    assert!(scratch.build.variant.scratch);
    let stored = cluster
        .get(&fake::path("builds"), &scratch.build.name)
        .expect("build");
    assert_eq!(stored["spec"]["variant"]["scratch"], true, "{stored}");
    assert_eq!(stored["spec"]["commit"], "b".repeat(40));
    let isolated = BuildVariant {
        isolated: true,
        release: Some("1.1".into()),
        tags: vec!["hotfix".into()],
        ..BuildVariant::default()
    };
    let isolated_build = backend.create_build(&submission(isolated.clone())).await?;
    assert_eq!(
        backend.get_build(&isolated_build.build.name).await?.variant,
        isolated
    );
    let after = backend.get_build_config(&bc_name).await?;
    assert_eq!(after.last_user_commit, before.last_user_commit);
    assert_eq!(after.trigger, before.trigger);

    // --skip-build: commit, trigger (from the build arg's base) and build args recorded, no
    // Build created.
    let builds = cluster.list(&fake::path("builds")).len();
    *commit.lock().expect("commit") = "c".repeat(40);
    let args = BTreeMap::from([(
        "BASE".to_owned(),
        "registry.example.com/osbs/other:2".to_owned(),
    )]);
    let (updated, _) = backend
        .update_build_config(&submission(BuildVariant {
            build_args: args.clone(),
            ..BuildVariant::default()
        }))
        .await?;
    assert_eq!(
        updated.last_user_commit.as_deref(),
        Some("c".repeat(40).as_str())
    );
    assert_eq!(
        updated.trigger.as_ref().map(ToString::to_string).as_deref(),
        Some("osbs-other:2")
    );
    assert_eq!(updated.build_args, args);
    assert_eq!(cluster.list(&fake::path("builds")).len(), builds);
    let stored = cluster
        .get(&fake::path("buildconfigs"), &bc_name)
        .expect("build config");
    assert_eq!(
        stored["spec"]["buildArgs"]["BASE"],
        "registry.example.com/osbs/other:2"
    );

    // A bad variant is a usage error before anything is read or written.
    let err = backend
        .create_build(&submission(BuildVariant {
            isolated: true,
            ..BuildVariant::default()
        }))
        .await
        .expect_err("refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    let err = backend
        .update_build_config(&submission(BuildVariant {
            scratch: true,
            ..BuildVariant::default()
        }))
        .await
        .expect_err("refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert_eq!(cluster.list(&fake::path("builds")).len(), builds);
    Ok(())
}
