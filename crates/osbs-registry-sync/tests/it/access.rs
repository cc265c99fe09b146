//! Reaching registries the way docker, podman and skopeo do: credentials from the auth files
//! they search and from a `docker-credential-*` helper on `PATH` (against a password-protected
//! registry the test starts), TLS registries behind a CA made at test time (trusted with a CA
//! file or cert dir, or with verification off, and refused with a clear message otherwise), and
//! skopeo's verbs and flags: `inspect`, `list-tags`, `sync --dry-run`, `--creds`.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

use osbs_registry_sync::{ClientOptions, Error, RegistryClient, RegistryEndpoint};
use osbs_testkit::registry::TestRegistry;
use osbs_testkit::{push_registry, sync_registry};

use crate::support::{
    basic, cli, cli_env, client, client_with, fast_options, filters, push_image, render, services,
    small_image, unique,
};

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    for (from, to) in filters() {
        settings.add_filter(from, to);
    }
    settings.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Writes an executable `docker-credential-NAME` into `dir` that runs `script`.
fn helper_script(dir: &Path, name: &str, script: &str) {
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Writes an executable `docker-credential-NAME` into `dir` that answers `get` for `registry`
/// only (any other server URL: the protocol's "credentials not found", exit 1).
fn credential_helper(dir: &Path, name: &str, registry: &str, user: &str, secret: &str) {
    helper_script(
        dir,
        name,
        &format!(
            "#!/bin/sh\n\
             [ \"$1\" = get ] || exit 2\n\
             read -r server\n\
             if [ \"$server\" = \"{registry}\" ]; then\n\
               printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n\
             else\n\
               echo 'credentials not found in native keychain'; exit 1\n\
             fi\n"
        ),
    );
}

/// `list-tags` of a repository on `registry.example:5000` with `dir` first on `PATH`, `config`
/// as `$DOCKER_CONFIG/config.json` there, and `env` besides.
fn list_tags_with_config(dir: &Path, config: &str, env: &[(&str, &OsStr)]) -> Output {
    std::fs::write(dir.join("config.json"), config).unwrap();
    let path = path_with(dir);
    let mut env = env.to_vec();
    env.extend([
        ("PATH", path.as_os_str()),
        ("DOCKER_CONFIG", dir.as_os_str()),
    ]);
    cli_env(&["list-tags", "docker://registry.example:5000/a/b"], &env)
}

/// `PATH` with `dir` first.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut path = dir.as_os_str().to_owned();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helper_on_path_unlocks_a_protected_registry() {
    services();
    let registry = TestRegistry::builder()
        .htpasswd("helper-user", "helper-pass-81")
        .start();
    let name = unique("helper");
    let protected = client_with(&registry.addr, Some(basic("helper-user", "helper-pass-81")));
    push_image(&protected.repository(&name), "1.0", &small_image(&name)).await;

    let bin = tempfile::tempdir().unwrap();
    credential_helper(
        bin.path(),
        "osbstest",
        &registry.addr,
        "helper-user",
        "helper-pass-81",
    );
    // The helper is named in the file podman and skopeo read first ($REGISTRY_AUTH_FILE).
    let auth = bin.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(r#"{{"credHelpers": {{"{}": "osbstest"}}}}"#, registry.addr),
    )
    .unwrap();
    let repo = format!("docker://{}/{name}", registry.addr);
    let path = path_with(bin.path());
    let out = tokio::task::spawn_blocking(move || {
        let with_helper = cli_env(
            &["list-tags", &repo],
            &[
                ("PATH", path.as_os_str()),
                ("REGISTRY_AUTH_FILE", auth.as_os_str()),
            ],
        );
        // Without the helper on PATH: an error naming helper and registry, exit 2.
        let without = cli_env(
            &["list-tags", &repo],
            &[("REGISTRY_AUTH_FILE", auth.as_os_str())],
        );
        (with_helper, without)
    })
    .await
    .unwrap();
    assert_eq!(out.0.status.code(), Some(0), "{}", render(&out.0));
    let listing: serde_json::Value = serde_json::from_slice(&out.0.stdout).unwrap();
    assert_eq!(listing["Tags"], serde_json::json!(["1.0"]));
    let text = render(&out.1);
    assert!(!text.contains("helper-pass-81"), "{text}");
    snapshot("helper_missing", &text);
}

#[test]
fn failing_helper_names_helper_and_registry_but_never_the_secret() {
    let bin = tempfile::tempdir().unwrap();
    // Prints a secret-looking text on stdout and fails: stdout is never quoted.
    helper_script(
        bin.path(),
        "broken",
        "#!/bin/sh\necho '{\"Secret\":\"leaked-42\"}'; echo 'keyring locked' >&2; exit 3\n",
    );
    // The legacy place, ~/.docker/config.json via $DOCKER_CONFIG, names the store.
    let out = list_tags_with_config(bin.path(), r#"{"credsStore": "broken"}"#, &[]);
    let text = render(&out);
    assert!(!text.contains("leaked-42"), "{text}");
    snapshot("helper_fails", &text);
}

#[test]
fn hanging_helper_is_killed_after_the_timeout_naming_helper_and_registry() {
    let bin = tempfile::tempdir().unwrap();
    // Never answers: the shell waits on a child that holds the pipes open too, so only
    // killing the whole group lets the lookup end.
    helper_script(
        bin.path(),
        "slow",
        "#!/bin/sh\nsleep 60\necho '{\"Secret\":\"late-17\"}'\n",
    );
    let started = std::time::Instant::now();
    let out = list_tags_with_config(
        bin.path(),
        r#"{"credHelpers": {"registry.example:5000": "slow"}}"#,
        &[("OSBS_CREDENTIAL_HELPER_TIMEOUT", "1".as_ref())],
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < std::time::Duration::from_secs(15),
        "the helper was waited for {elapsed:?}"
    );
    let text = render(&out);
    assert!(!text.contains("late-17"), "{text}");
    snapshot("helper_times_out", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_registry_needs_its_ca_or_verification_off() {
    services();
    let registry = TestRegistry::builder().tls().start();
    let ca = registry.ca_file().unwrap().to_owned();
    let endpoint: RegistryEndpoint = registry.uri().parse().unwrap();
    assert!(!endpoint.is_plain_http());
    let name = unique("tls");

    // With the CA: push and read.
    let trusted = RegistryClient::new(
        endpoint.clone(),
        None,
        &ClientOptions {
            ca_file: Some(ca.clone()),
            ..fast_options()
        },
    )
    .unwrap();
    push_image(&trusted.repository(&name), "1.0", &small_image(&name)).await;
    assert_eq!(trusted.repository(&name).tags().await.unwrap(), ["1.0"]);

    // Verification off: reads without the CA.
    let unverified = RegistryClient::new(
        endpoint.clone(),
        None,
        &ClientOptions {
            verify_tls: false,
            ..fast_options()
        },
    )
    .unwrap();
    assert!(!unverified.verifies_tls());
    assert_eq!(unverified.repository(&name).tags().await.unwrap(), ["1.0"]);

    // Neither: refused at once (no retries), naming the registry and the fix.
    let strict = RegistryClient::new(endpoint, None, &fast_options()).unwrap();
    let err = strict.repository(&name).tags().await.unwrap_err();
    assert!(matches!(err, Error::UntrustedCertificate { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&registry.addr), "{message}");
    assert!(
        message.contains("registry_ca") && message.contains("verify_ssl"),
        "{message}"
    );

    // The CLI: --cert-dir (skopeo's), --tls-verify=false, and the refusal (exit 2).
    let cert_dir = registry.scratch_dir().join("certs.d");
    std::fs::create_dir_all(&cert_dir).unwrap();
    std::fs::copy(&ca, cert_dir.join("ca.crt")).unwrap();
    let image = format!("https://{}/{name}", registry.addr);
    let out = tokio::task::spawn_blocking(move || {
        let cert_dir = cert_dir.display().to_string();
        [
            cli(&["list-tags", &image, "--cert-dir", &cert_dir]),
            cli(&["list-tags", &image, "--tls-verify=false"]),
            cli(&["--retries", "0", "list-tags", &image]),
        ]
    })
    .await
    .unwrap();
    for ok in &out[..2] {
        assert_eq!(ok.status.code(), Some(0), "{}", render(ok));
        assert!(String::from_utf8_lossy(&ok.stdout).contains("\"1.0\""));
    }
    snapshot("tls_untrusted", &render(&out[2]));
}

/// inspect, list-tags and sync --dry-run against the services' registries, pinned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_list_tags_and_dry_run() {
    services();
    let name = unique("cli-verbs");
    let seed = client(&push_registry()).repository(&name);
    push_image(
        &seed,
        "1.0",
        &small_image("osbs-registry-sync cli verbs one"),
    )
    .await;
    push_image(
        &seed,
        "2.0",
        &small_image("osbs-registry-sync cli verbs two"),
    )
    .await;
    let (namespace, last) = name.rsplit_once('/').unwrap();
    // The destination already has 1.0 (same digest): only 2.0 would be copied.
    let dest = client(&sync_registry()).repository(&format!("{namespace}/{last}"));
    push_image(
        &dest,
        "1.0",
        &small_image("osbs-registry-sync cli verbs one"),
    )
    .await;

    let source = format!("docker://{}/{name}", push_registry());
    let target = format!("docker://{}/{namespace}", sync_registry());
    let out = tokio::task::spawn_blocking(move || {
        [
            cli(&["inspect", &format!("{source}:2.0")]),
            cli(&["list-tags", &source]),
            cli(&[
                "sync",
                "--src",
                "docker",
                "--dest",
                "docker",
                "--dry-run",
                &source,
                &target,
            ]),
            cli(&[
                "--output",
                "json",
                "sync",
                "--src",
                "docker",
                "--dest",
                "docker",
                "--dry-run",
                &source,
                &target,
            ]),
            cli(&["inspect", "--raw", &format!("{source}:1.0")]),
            cli(&["list-tags", &format!("{source}:1.0")]),
        ]
    })
    .await
    .unwrap();
    for (case, output) in ["inspect", "list_tags", "sync_dry_run", "sync_dry_run_json"]
        .iter()
        .zip(&out)
    {
        assert_eq!(output.status.code(), Some(0), "{case}: {}", render(output));
        snapshot(case, &render(output));
    }
    let raw = &out[4];
    assert_eq!(raw.status.code(), Some(0), "{}", render(raw));
    let digest = osbs_registry_sync::sha256_digest(raw.stdout.trim_ascii_end());
    let expected = small_image("osbs-registry-sync cli verbs one")
        .manifest
        .digest;
    assert_eq!(digest, expected, "--raw prints the manifest byte for byte");
    snapshot("list_tags_with_tag", &render(&out[5]));
    // The dry run copied nothing.
    assert_eq!(dest.manifest_digest("2.0").await.unwrap(), None);
}

/// `--creds` reaches the registry, and a wrong password never shows up in the output.
#[test]
fn creds_flag_is_used_and_never_printed() {
    services();
    let registry = TestRegistry::builder()
        .htpasswd("flag-user", "flag-pass-77")
        .start();
    let repo = format!("docker://{}/{}", registry.addr, unique("creds"));
    let wrong = cli(&["list-tags", &repo, "--creds", "flag-user:wrong-pass-99"]);
    let text = render(&wrong);
    assert_eq!(wrong.status.code(), Some(1), "{text}");
    assert!(!text.contains("wrong-pass-99"), "{text}");
    assert!(text.contains("the credentials were rejected"), "{text}");
    let right = cli(&["list-tags", &repo, "--creds", "flag-user:flag-pass-77"]);
    let text = render(&right);
    // Right credentials: the repository is simply not there yet.
    assert!(!text.contains("flag-pass-77"), "{text}");
    assert!(text.contains("(404)"), "{text}");
    let bad = cli(&["list-tags", &repo, "--creds", ":only-a-pass-55"]);
    let text = render(&bad);
    assert_eq!(bad.status.code(), Some(2), "{text}");
    assert!(!text.contains("only-a-pass-55"), "{text}");
}

/// The auth files are searched in docker's, podman's and skopeo's order, the first with an
/// entry for the registry deciding: `$REGISTRY_AUTH_FILE` (here without one for it), then
/// `$XDG_RUNTIME_DIR/containers/auth.json`, then `$DOCKER_CONFIG/config.json`.
#[test]
fn auth_files_are_searched_in_order() {
    services();
    let registry = TestRegistry::builder()
        .htpasswd("order-user", "order-pass-12")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let auth = |user: &str, password: &str| {
        format!(
            r#"{{"auths": {{"{}": {{"username": "{user}", "password": "{password}"}}}}}}"#,
            registry.addr
        )
    };
    let first = dir.path().join("registry-auth.json");
    std::fs::write(&first, r#"{"auths": {"other.example": {"auth": "eDp5"}}}"#).unwrap();
    let xdg = dir.path().join("run");
    std::fs::create_dir_all(xdg.join("containers")).unwrap();
    std::fs::write(
        xdg.join("containers/auth.json"),
        auth("order-user", "order-pass-12"),
    )
    .unwrap();
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), auth("order-user", "stale-pass")).unwrap();
    let repo = format!("docker://{}/{}", registry.addr, unique("order"));

    let with_xdg = cli_env(
        &["list-tags", &repo],
        &[
            ("REGISTRY_AUTH_FILE", first.as_os_str()),
            ("XDG_RUNTIME_DIR", xdg.as_os_str()),
            ("DOCKER_CONFIG", docker.as_os_str()),
        ],
    );
    // Accepted credentials: the repository is simply not there yet.
    assert!(render(&with_xdg).contains("(404)"), "{}", render(&with_xdg));
    let without_xdg = cli_env(
        &["list-tags", &repo],
        &[
            ("REGISTRY_AUTH_FILE", first.as_os_str()),
            ("DOCKER_CONFIG", docker.as_os_str()),
        ],
    );
    let text = render(&without_xdg);
    assert!(text.contains("the credentials were rejected"), "{text}");
    assert!(!text.contains("stale-pass"), "{text}");
}
