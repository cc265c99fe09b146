//! Build secrets on Kubernetes (osbs.conf `build_secrets = ID=SECRET`): a BuildConfig's
//! `spec.buildSecrets` (names only) becomes, through `KubeExecutor::create_pod`, a build Pod
//! that mounts each Secret's key `ID` for the reactor and lists the ids in its environment; an
//! entry no Pod could mount, or a Secret the controller does not allow, ends the build `Error`
//! naming the BuildConfig, and no Pod is created (against osbs-testkit's stateful fake API
//! server).

use osbs_core::model::{Build, BuildCause, BuildConfig};
use osbs_core::time::Timestamp;
use osbs_kube::{
    BuildConfigResource, BuildResource, BuildSecretSpec, KubeError, KubeExecutor, OsbsApi,
    PodSecrets, PodSettings, render_pod,
};
use osbs_testkit::kube_fake::{self as fake, Cluster, NS};
use serde_json::{Value, json};

/// The run lease of the started Builds here.
const LEASE: &str = "lease-1";

fn secret(id: &str, secret: &str) -> BuildSecretSpec {
    BuildSecretSpec {
        id: id.to_owned(),
        secret: secret.to_owned(),
    }
}

/// Stores a BuildConfig with `secrets` and a Build of it the engine started (`Pending` under
/// [`LEASE`], no Pod yet); returns the Build's name and the BuildConfig's.
fn insert_build(
    cluster: &Cluster,
    secrets: Vec<BuildSecretSpec>,
) -> anyhow::Result<(String, String)> {
    let mut config = BuildConfig::new("https://git.example.com/ns/app.git", "main");
    let mut resource = BuildConfigResource::from_model(
        &config,
        Some("https://registry.osbs.svc:5000".to_owned()),
        None,
    );
    resource.spec.build_secrets = secrets;
    cluster.insert(
        &fake::path("buildconfigs"),
        serde_json::to_value(&resource)?,
    );
    let build = Build::queued(
        &mut config,
        BuildCause::User,
        None,
        Timestamp::from_unix_millis(0),
    );
    let mut started = serde_json::to_value(BuildResource::from_model(&build, None))?;
    started["status"]["phase"] = json!("Pending");
    started["status"]["lease"] = json!(LEASE);
    cluster.insert(&fake::path("builds"), started);
    Ok((build.name, config.name))
}

/// An executor whose build Pods may mount the Secrets `allowed`.
fn executor(server: &wiremock::MockServer, allowed: &[&str]) -> KubeExecutor {
    KubeExecutor::new(
        OsbsApi::new(fake::client(server), NS),
        PodSettings {
            allowed_build_secrets: allowed.iter().map(|s| (*s).to_owned()).collect(),
            ..PodSettings::default()
        },
        600_000,
    )
}

#[test]
fn build_secrets_are_names_in_the_spec_and_older_objects_stay_valid() -> anyhow::Result<()> {
    let config = BuildConfig::new("https://git.example.com/ns/app.git", "main");
    let mut resource = BuildConfigResource::from_model(&config, None, None);
    let without = serde_json::to_value(&resource)?;
    assert!(
        without["spec"].get("buildSecrets").is_none(),
        "none: not written"
    );
    // A BuildConfig stored before build secrets reads as one without any.
    let older: BuildConfigResource = serde_json::from_value(without)?;
    assert!(older.spec.build_secrets.is_empty());
    resource.spec.build_secrets = vec![secret("npmrc", "osbs-npmrc")];
    assert_eq!(
        serde_json::to_value(&resource)?["spec"]["buildSecrets"],
        json!([{"id": "npmrc", "secret": "osbs-npmrc"}])
    );
    Ok(())
}

#[tokio::test]
async fn a_build_config_s_build_secrets_are_mounted_into_its_build_pod() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let secrets = vec![
        secret("npmrc", "osbs-npmrc"),
        secret("pip.conf", "osbs.pip-conf"),
    ];
    let (build, config) = insert_build(&cluster, secrets)?;
    executor(&server, &["osbs-npmrc", "osbs.pip-conf", "unused"])
        .create_pod(&build, Some(LEASE))
        .await?;

    let pod = cluster
        .get(&fake::core_path("pods"), &osbs_kube::pod_name(&build))
        .expect("the build Pod");
    let spec = &pod["spec"];
    // One Secret volume per id, holding only that key, readable by its owner alone.
    let volumes: Vec<&Value> = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("build-secret-"))
        })
        .collect();
    assert_eq!(
        volumes,
        [
            &json!({"name": "build-secret-0", "secret": {"secretName": "osbs-npmrc",
                "defaultMode": 0o400, "items": [{"key": "npmrc", "path": "npmrc"}]}}),
            &json!({"name": "build-secret-1", "secret": {"secretName": "osbs.pip-conf",
                "defaultMode": 0o400, "items": [{"key": "pip.conf", "path": "pip.conf"}]}}),
        ]
    );
    // Mounted read-only into the reactor, where `build_secret_path` points, ids listed.
    let reactor = &spec["containers"][0];
    assert_eq!(reactor["name"], "reactor");
    let mounts: Vec<(&str, &Value)> = reactor["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter(|m| {
            m["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("build-secret-"))
        })
        .filter_map(|m| Some((m["mountPath"].as_str()?, &m["readOnly"])))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/var/run/secrets/osbs/build/npmrc", &json!(true)),
            ("/var/run/secrets/osbs/build/pip.conf", &json!(true)),
        ]
    );
    assert!(osbs_kube::pod::build_secret_path("pip.conf").starts_with(mounts[1].0));
    let listed: Vec<&Value> = reactor["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter(|e| e["name"] == osbs_kube::pod::BUILD_SECRETS_ENV)
        .map(|e| &e["value"])
        .collect();
    assert_eq!(listed, [&json!("npmrc,pip.conf")]);
    // The Docker Engine sidecar mounts none of them.
    for container in spec["initContainers"].as_array().into_iter().flatten() {
        let text = container.to_string();
        assert!(!text.contains("build-secret"), "{text}");
    }
    // What was created is exactly what `render_pod` gives for these secrets.
    let build_secrets = [
        ("npmrc".to_owned(), "osbs-npmrc".to_owned()),
        ("pip.conf".to_owned(), "osbs.pip-conf".to_owned()),
    ];
    let hosts = ["registry.osbs.svc:5000".to_owned()];
    let rendered = render_pod(
        &build,
        &config,
        None,
        PodSecrets {
            build: &build_secrets,
            engine_registries: &hosts,
            ..PodSecrets::default()
        },
        Some(LEASE),
        &PodSettings::default(),
    );
    assert_eq!(spec, &serde_json::to_value(rendered.spec)?);
    Ok(())
}

#[tokio::test]
async fn a_build_secret_no_pod_may_mount_ends_the_build_error_naming_the_build_config()
-> anyhow::Result<()> {
    let cases = [
        (
            vec![secret("npmrc", "Osbs_Npmrc")],
            "build secret \"npmrc\" names Secret \"Osbs_Npmrc\", which is not a DNS-1123 subdomain",
        ),
        (
            vec![secret("../npmrc", "osbs-npmrc")],
            "build secret id \"../npmrc\" is not 1-253 letters",
        ),
        (
            vec![secret("a,b", "osbs-npmrc")],
            "build secret id \"a,b\" is not",
        ),
        (
            vec![secret("npmrc", "osbs-npmrc"), secret("npmrc", "osbs-npmrc")],
            "build secret id \"npmrc\" is given twice",
        ),
        // A valid name, but not one the controller lets build Pods mount (people who may
        // write BuildConfigs must not get any Secret of the namespace into their build).
        (
            vec![secret("npmrc", "osbs-npmrc"), secret("sa", "osbs-registry")],
            "build secret \"sa\" names Secret \"osbs-registry\", which osbs-controller does not \
             allow build Pods to mount (its --allowed-build-secrets does not list it)",
        ),
    ];
    for (secrets, want) in cases {
        let (server, cluster) = Cluster::start().await;
        let (build, config) = insert_build(&cluster, secrets)?;
        let err = executor(&server, &["osbs-npmrc"])
            .create_pod(&build, Some(LEASE))
            .await
            .expect_err(want);
        assert!(matches!(err, KubeError::Invalid { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("invalid build config {config:?}: {want}")),
            "{shown}"
        );
        assert!(cluster.list(&fake::core_path("pods")).is_empty(), "{want}");
        // The build ends Error with that reason at once (no retry fixes it).
        let status = &cluster
            .get(&fake::path("builds"), &build)
            .expect("the Build")["status"];
        assert_eq!(status["phase"], "Error", "{want}");
        assert_eq!(status["error"], shown.as_str(), "{want}");
    }

    // The stored reason names the refused Secret, never the ones allowed: anyone who may read
    // Builds reads it.
    let (server, cluster) = Cluster::start().await;
    let (build, config) = insert_build(&cluster, vec![secret("sa", "osbs-registry")])?;
    let err = executor(&server, &["osbs-npmrc", "osbs-deploy-key"])
        .create_pod(&build, Some(LEASE))
        .await
        .expect_err("not allowed");
    let stored = cluster
        .get(&fake::path("builds"), &build)
        .expect("the Build")["status"]["error"]
        .clone();
    assert_eq!(stored, err.to_string().as_str());
    assert_eq!(
        stored,
        format!(
            "invalid build config {config:?}: build secret \"sa\" names Secret \"osbs-registry\", \
             which osbs-controller does not allow build Pods to mount (its \
             --allowed-build-secrets does not list it)"
        )
        .as_str()
    );
    for allowed in ["osbs-npmrc", "osbs-deploy-key"] {
        assert!(!stored.to_string().contains(allowed), "{stored}");
    }

    // Nothing allowed (the default): every build secret is refused.
    let (server, cluster) = Cluster::start().await;
    let (build, _) = insert_build(&cluster, vec![secret("npmrc", "osbs-npmrc")])?;
    let err = executor(&server, &[])
        .create_pod(&build, Some(LEASE))
        .await
        .expect_err("none allowed");
    assert!(
        err.to_string().ends_with(
            "does not allow build Pods to mount (its --allowed-build-secrets does not list it)"
        ),
        "{err}"
    );

    // A run that lost its lease writes nothing: the error is the fence's.
    let (server, cluster) = Cluster::start().await;
    let (build, _) = insert_build(&cluster, vec![secret("npmrc", "Osbs_Npmrc")])?;
    let err = executor(&server, &[])
        .create_pod(&build, Some("another-lease"))
        .await
        .expect_err("fenced");
    assert!(matches!(err, KubeError::Fenced { .. }), "{err:?}");
    let status = &cluster
        .get(&fake::path("builds"), &build)
        .expect("the Build")["status"];
    assert_eq!(status["phase"], "Pending");
    Ok(())
}

/// The CRD's patterns for `buildSecrets` (what the API server checks on every write, `kubectl
/// edit` included) accept exactly what `osbs_core::naming` accepts (what the client and the
/// executor check).
#[test]
fn the_crd_patterns_are_the_naming_rules() {
    use kube::CustomResourceExt;

    let crd = serde_json::to_value(BuildConfigResource::crd()).expect("json");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["buildSecrets"];
    assert_eq!(schema["x-kubernetes-list-type"], "map");
    assert_eq!(schema["x-kubernetes-list-map-keys"], json!(["id"]));
    let field = |name: &str| {
        let field = &schema["items"]["properties"][name];
        let pattern = regex::Regex::new(field["pattern"].as_str().expect("a pattern"))
            .expect("a valid pattern");
        let max = field["maxLength"].as_u64().expect("a maxLength");
        let min = field["minLength"].as_u64().expect("a minLength");
        move |value: &str| {
            let len = value.chars().count() as u64;
            pattern.is_match(value) && (min..=max).contains(&len)
        }
    };
    let (id_ok, secret_ok) = (field("id"), field("secret"));
    let long = "a".repeat(253);
    let too_long = "a".repeat(254);
    let samples = [
        "",
        "a",
        "npmrc",
        "NPM_TOKEN",
        "pip.conf",
        "a-b_c.d",
        "0",
        ".",
        "..",
        ".npmrc",
        "-x",
        "x-",
        "a/b",
        "a,b",
        "a=b",
        "a b",
        "a..b",
        "osbs.pip-conf",
        "Osbs",
        "é",
        "a\nb",
        &long,
        &too_long,
    ];
    for sample in samples {
        assert_eq!(
            id_ok(sample),
            osbs_core::naming::is_build_secret_id(sample),
            "id {sample:?}"
        );
        assert_eq!(
            secret_ok(sample),
            osbs_core::naming::is_dns1123_subdomain(sample),
            "secret {sample:?}"
        );
    }
}
