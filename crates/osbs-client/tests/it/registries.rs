//! Several registries and registry TLS (SPEC §6): `registry_uri` lists several registries, each
//! receives every tag, `registry_secret` gives one secret per registry by position, and
//! `registry_ca` makes a registry behind a private CA usable. Config rules first, then one
//! `osbs build` (local backend, real runner and reactor) pushing to the services' registry, a
//! password-protected registry and a TLS registry, both started by the test.

use osbs_client::backend::{Backend as _, LogEvent};
use osbs_client::config;
use osbs_core::build::BuildPhase;
use osbs_testkit::registry::TestRegistry;

use crate::local::support::{World, build};

fn write_conf(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("osbs.conf");
    std::fs::write(&path, text).expect("write osbs.conf");
    (dir, path)
}

#[test]
fn several_registry_uris_with_secrets_by_position_and_a_ca() {
    let (dir, path) = write_conf(
        "[default]\nbackend = local\n\
         registry_uri = 127.0.0.1:5000, https://mirror.example:8443/v2 ,http://127.0.0.1:5001\n\
         registry_secret = , mirror.json\nregistry_ca = ca.pem\nverify_ssl = false\n",
    );
    std::fs::write(dir.path().join("mirror.json"), "{}").unwrap();
    std::fs::write(dir.path().join("ca.pem"), "").unwrap();
    let instance = config::load(Some(&path), "default").unwrap();
    assert_eq!(instance.registry.name(), "127.0.0.1:5000");
    assert_eq!(
        instance.registry_secret, None,
        "an empty position is no secret"
    );
    let extra: Vec<(String, Option<String>)> = instance
        .extra_registries
        .iter()
        .map(|r| (r.registry.base_url(), r.secret.clone()))
        .collect();
    assert_eq!(
        extra,
        [
            (
                "https://mirror.example:8443".to_owned(),
                Some(dir.path().join("mirror.json").display().to_string())
            ),
            ("http://127.0.0.1:5001".to_owned(), None),
        ]
    );
    assert_eq!(instance.registry_ca, Some(dir.path().join("ca.pem")));
    assert!(!instance.verify_ssl);

    // One registry: the secret is the whole value, commas and all (as before).
    let (dir, path) =
        write_conf("[default]\nregistry_uri = r.example\nregistry_secret = a,b.json\n");
    std::fs::write(dir.path().join("a,b.json"), "{}").unwrap();
    let instance = config::load(Some(&path), "default").unwrap();
    assert!(instance.extra_registries.is_empty());
    assert_eq!(
        instance.registry_secret,
        Some(dir.path().join("a,b.json").display().to_string())
    );
}

#[test]
fn bad_registry_lists_name_file_line_and_value() {
    let cases = [
        (
            "[default]\nregistry_uri = r.example,,s.example\n",
            "registry URIs separated by commas",
        ),
        (
            "[default]\nregistry_uri = r.example, s.example/v1\n",
            "OSBS no longer supports v1 builds",
        ),
        (
            "[default]\nregistry_uri = r.example, s.example\nregistry_secret = a.json,b.json,c.json\n",
            "at most one secret per registry",
        ),
        (
            "[default]\nregistry_uri = r.example\nregistry_ca = missing.pem\n",
            "a readable PEM file of CA certificates",
        ),
        (
            "[default]\nbackend = kubernetes\nregistry_ca = /etc/pki/ca.pem\n",
            "the name of a ConfigMap whose key ca.crt holds the CA certificates",
        ),
    ];
    for (text, expected) in cases {
        let (_dir, path) = write_conf(text);
        let err = config::load(Some(&path), "default").unwrap_err();
        let message = osbs_client::app::chain(&err);
        assert!(message.contains("osbs.conf:"), "{message}");
        assert!(message.contains(expected), "{text}: {message}");
    }
}

/// One build pushes every tag to three registries: the services' push registry (anonymous:
/// the first secret position is empty), a password-protected one (the second secret), and a
/// TLS one behind a CA made by the test (`registry_ca`). The digests of all three are
/// recorded, and each registry serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_build_pushes_to_every_registry_of_registry_uri() {
    osbs_testkit::require_services();
    let protected = TestRegistry::builder()
        .htpasswd("mirror-user", "mirror-pass-63")
        .start();
    let tls = TestRegistry::builder().tls().start();
    let uris = format!(
        "{}, http://{}, {}",
        osbs_testkit::push_registry(),
        protected.addr,
        tls.uri()
    );
    let world = World::with_registry(&uris, false);
    let secret = world.tmp.path().join("mirror.json");
    std::fs::write(
        &secret,
        format!(
            r#"{{"auths": {{"{}": {{"username": "mirror-user", "password": "mirror-pass-63"}}}}}}"#,
            protected.addr
        ),
    )
    .unwrap();
    world.set("registry_secret", &format!(", {}", secret.display()));
    world.set("registry_ca", &tls.ca_file().unwrap().display().to_string());
    let backend = world.backend();
    let base = world.repo("base");

    let built = build(&backend, &base).await;
    assert_eq!(built.phase, BuildPhase::Complete, "{built:#?}");
    let mut by_registry = std::collections::BTreeMap::<&str, Vec<(&str, &str)>>::new();
    for pushed in &built.digests {
        by_registry
            .entry(pushed.registry.as_str())
            .or_default()
            .push((pushed.tag.as_str(), pushed.digest.as_str()));
    }
    let primary = by_registry
        .get(osbs_testkit::push_registry().as_str())
        .cloned()
        .unwrap_or_default();
    assert!(!primary.is_empty(), "{built:#?}");
    for other in [protected.addr.as_str(), tls.addr.as_str()] {
        assert_eq!(
            by_registry.get(other),
            Some(&primary),
            "{other} got every tag with the primary's digests"
        );
    }
    // Each registry serves those digests (read with its own credential or CA).
    let repository = world.repository("base");
    let options = osbs_registry_sync::ClientOptions {
        ca_file: tls.ca_file().map(ToOwned::to_owned),
        ..Default::default()
    };
    let config =
        osbs_core::auth::DockerConfig::parse(&std::fs::read_to_string(&secret).unwrap()).unwrap();
    for uri in [format!("http://{}", protected.addr), tls.uri()] {
        let client =
            osbs_registry_sync::RegistryClient::new(uri.parse().unwrap(), Some(&config), &options)
                .unwrap();
        for (tag, digest) in &primary {
            let served = client
                .repository(&repository)
                .manifest_digest(tag)
                .await
                .unwrap();
            assert_eq!(served.as_deref(), Some(*digest), "{uri} {tag}");
        }
    }
    let mut lines = Vec::new();
    backend
        .build_logs(&built.name, false, &mut |event| {
            if let LogEvent::Line(line) = event {
                lines.push(line);
            }
        })
        .await
        .unwrap();
    let log = lines.join("\n");
    assert!(
        log.contains(&format!("to {}", tls.addr)),
        "the push to each further registry is logged: {log}"
    );
    assert!(
        !log.contains("mirror-pass-63"),
        "the password is never logged"
    );
}

/// Without `registry_secret`, `osbs build` (and the runner and reactor it starts) finds the
/// push registry's credential where docker, podman and skopeo look: here a `credHelpers` entry
/// in `$REGISTRY_AUTH_FILE` naming a `docker-credential-*` helper on `PATH`. The registry is
/// password-protected, so the build only completes if the helper was asked on the push path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osbs_build_asks_a_credential_helper_without_registry_secret() {
    use std::os::unix::fs::PermissionsExt as _;

    osbs_testkit::require_services();
    let protected = TestRegistry::builder()
        .htpasswd("helper-user", "helper-pass-48")
        .start();
    let world = World::with_registry(&format!("http://{}", protected.addr), false);
    let bin = world.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-osbstest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\n\
             if [ \"$server\" = \"{}\" ]; then\n\
               echo '{{\"Username\":\"helper-user\",\"Secret\":\"helper-pass-48\"}}'\n\
             else echo 'credentials not found in native keychain'; exit 1; fi\n",
            protected.addr
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let auth = world.tmp.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(r#"{{"credHelpers": {{"{}": "osbstest"}}}}"#, protected.addr),
    )
    .unwrap();
    let mut path = bin.as_os_str().to_owned();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let base = world.repo("base");
    let config = world.config.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::local::support::osbs_exe())
            .arg("--config")
            .arg(&config)
            .args(["build", "-g", &base.url, "-b", "main", "--no-logs"])
            .env("PATH", &path)
            .env("REGISTRY_AUTH_FILE", &auth)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("DOCKER_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("helper-pass-48"), "{text}");
    let client = osbs_registry_sync::RegistryClient::with_credential(
        format!("http://{}", protected.addr).parse().unwrap(),
        Some(osbs_core::auth::Credential::Basic {
            username: "helper-user".to_owned(),
            password: osbs_core::auth::Secret::new("helper-pass-48"),
        }),
        &osbs_registry_sync::ClientOptions::default(),
    )
    .unwrap();
    let tags = client
        .repository(&world.repository("base"))
        .tags()
        .await
        .unwrap();
    assert!(tags.contains(&"latest".to_owned()), "{tags:?}");
}

/// A push registry behind a CA osbs does not know is refused at submission (exit code 2),
/// naming the registry and the settings that fix it; nothing is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_push_registry_is_refused_before_anything_is_queued() {
    osbs_testkit::require_services();
    let tls = TestRegistry::builder().tls().start();
    let world = World::with_registry(&tls.uri(), false);
    let backend = world.backend();
    let base = world.repo("base");
    let err = crate::local::support::submit_err(&backend, base.submission()).await;
    let text = err.to_string();
    assert_eq!(err.exit_code(), 2, "{text}");
    assert!(text.contains(&tls.addr), "{text}");
    assert!(
        text.contains("registry_ca") && text.contains("verify_ssl"),
        "{text}"
    );
    let all = backend
        .list_builds(&osbs_client::backend::BuildFilter::default())
        .await
        .unwrap();
    assert!(all.is_empty(), "nothing may be queued: {all:?}");
}
