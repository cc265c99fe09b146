//! `osbs.conf` fixtures, one snapshot per file: what a valid file yields, or the error (with
//! file and line) an invalid one gives at start.

use std::error::Error as _;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use osbs_client::config::{self, ConfigError, Instance};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/osbs-conf")
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "too few fixtures in {}", dir.display());
    files
}

/// Loads a fixture under the stable name `osbs.conf` so snapshots do not carry paths.
fn load(path: &Path, instance: &str) -> Result<Instance, ConfigError> {
    let text = fs::read_to_string(path).expect("fixture readable");
    config::parse(&text, Path::new("osbs.conf"), instance)
}

fn render(i: &Instance) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "instance: {}", i.name);
    let _ = writeln!(out, "backend: {}", i.backend);
    let _ = writeln!(out, "state_dir: {:?}", i.state_dir);
    let _ = writeln!(out, "namespace: {:?}", i.namespace);
    let _ = writeln!(
        out,
        "registry: {} ({})",
        i.registry.name(),
        i.registry.base_url()
    );
    let _ = writeln!(out, "registry_secret: {:?}", i.registry_secret);
    match &i.sync {
        Some(s) => {
            let _ = writeln!(
                out,
                "sync: {} -> {} ({}), secret {:?}",
                s.name,
                s.registry.name(),
                s.registry.base_url(),
                s.secret
            );
        }
        None => out.push_str("sync: none\n"),
    }
    let _ = writeln!(out, "verify_ssl: {}", i.verify_ssl);
    let _ = writeln!(out, "repo_config_file: {}", i.repo_config_file);
    for w in &i.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn chain(err: &ConfigError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let _ = write!(out, "\n  caused by: {s}");
        source = s.source();
    }
    out
}

#[test]
fn valid_files() {
    for path in fixtures("valid") {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let instance = load(&path, "default").unwrap_or_else(|e| panic!("{name}: {}", chain(&e)));
        insta::assert_snapshot!(format!("valid-{name}"), render(&instance));
    }
}

#[test]
fn invalid_files() {
    for path in fixtures("invalid") {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let err = load(&path, "default").expect_err(&name);
        let text = chain(&err);
        assert!(text.starts_with("osbs.conf"), "{name}: {text}");
        insta::assert_snapshot!(format!("invalid-{name}"), text);
    }
}

#[test]
fn other_instances_and_unknown_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/osbs-conf/valid");
    let other = load(&dir.join("default-section.conf"), "other").expect("other instance");
    assert_eq!(other.registry.name(), "other.example.com");
    assert!(other.verify_ssl, "verify_ssl defaults to true");
    let err = load(&dir.join("default-section.conf"), "prod").expect_err("prod is unknown");
    assert_eq!(
        err.to_string(),
        "osbs.conf: unknown instance \"prod\"; instances in this file: default, other"
    );
    // A registry section is not an instance.
    let err = load(&dir.join("sync-fallback.conf"), "registry prod").expect_err("not an instance");
    assert!(matches!(err, ConfigError::UnknownInstance { .. }), "{err}");
}

#[test]
fn no_file_means_local_defaults_and_only_the_default_instance() {
    let defaults = config::load(None, "default").expect("defaults");
    assert_eq!(defaults, Instance::defaults());
    assert_eq!(defaults.registry.base_url(), "http://127.0.0.1:5000");
    let err = config::load(None, "prod").expect_err("no such instance");
    assert!(
        err.to_string()
            .starts_with("unknown instance \"prod\": no config file found ("),
        "{err}"
    );
}

#[test]
fn locate_follows_the_documented_order() {
    let dir = std::env::temp_dir().join(format!("osbs-config-locate-{}", std::process::id()));
    let user = dir.join("user");
    fs::create_dir_all(user.join("osbs")).expect("mkdir");
    let user_file = user.join("osbs/osbs.conf");
    let explicit = dir.join("explicit.conf");
    fs::write(&explicit, "[default]\n").expect("write");

    // Nothing exists in the user dir: falls through to /etc/osbs.conf if present, else none.
    let found = config::locate(None, None, Some(&user)).expect("no error");
    assert_eq!(
        found.as_deref(),
        Path::new(config::SYSTEM_CONFIG)
            .is_file()
            .then(|| Path::new(config::SYSTEM_CONFIG))
    );
    fs::write(&user_file, "[default]\n").expect("write");
    assert_eq!(
        config::locate(None, None, Some(&user)).expect("ok"),
        Some(user_file.clone())
    );
    let env = explicit.as_os_str();
    assert_eq!(
        config::locate(None, Some(env), Some(&user)).expect("ok"),
        Some(explicit.clone())
    );
    assert_eq!(
        config::locate(Some(&user_file), Some(env), Some(&user)).expect("ok"),
        Some(user_file.clone())
    );
    let missing = dir.join("missing.conf");
    let err = config::locate(None, Some(missing.as_os_str()), Some(&user)).expect_err("missing");
    assert!(
        err.to_string()
            .contains("(from $OSBS_CONFIG) does not exist"),
        "{err}"
    );
    let err = config::locate(Some(&missing), None, Some(&user)).expect_err("missing");
    assert!(
        err.to_string().contains("(from --config) does not exist"),
        "{err}"
    );
    fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/osbs-conf/valid");
    let text = fs::read_to_string(dir.join("relative-paths.conf")).expect("fixture");
    let file = Path::new("/etc/osbs/osbs.conf");
    let local = config::parse(&text, file, "default").expect("valid");
    assert_eq!(
        local.state_dir.as_deref(),
        Some(Path::new("/etc/osbs/state"))
    );
    assert_eq!(
        local.registry_secret.as_deref(),
        Some("/etc/osbs/secrets/dockercfg.json")
    );
    let sync = local.sync.expect("sync target");
    assert_eq!(sync.secret.as_deref(), Some("/etc/osbs/secrets/stage.json"));
    let cluster = config::parse(&text, file, "cluster").expect("valid");
    assert_eq!(
        cluster.state_dir.as_deref(),
        Some(Path::new("/etc/osbs/../mirrors"))
    );
    assert_eq!(cluster.registry_secret.as_deref(), Some("osbs-push"));
}

/// What only `load` checks, because it reads the files an instance names: for the local
/// backend, secrets must be readable files and an existing `state_dir` a directory.
#[test]
fn load_checks_the_files_a_local_instance_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).expect("write");
        path
    };
    write("dockercfg.json", "{}");
    write("not-a-dir", "");
    let good = write(
        "good.conf",
        "[default]\nstate_dir = state\nregistry_secret = dockercfg.json\n",
    );
    let instance = config::load(Some(&good), "default").expect("good");
    assert_eq!(instance.state_dir, Some(dir.path().join("state")));

    let cases = [
        (
            "[default]\nregistry_secret = missing.json\n",
            "missing.conf:2: cannot read registry_secret ",
        ),
        (
            "[default]\nregistry_secret = .\n",
            "directory.conf:2: cannot read registry_secret ",
        ),
        (
            "[default]\n\nstate_dir = not-a-dir\n",
            "state.conf:3: state_dir ",
        ),
        (
            "[default]\npulp_registry_name = s\n[registry s]\nuri = 127.0.0.1:5001\nsecret = nope\n",
            "sync.conf:5: cannot read secret ",
        ),
    ];
    for (name, (text, want)) in ["missing", "directory", "state", "sync"].iter().zip(cases) {
        let path = write(&format!("{name}.conf"), text);
        let err = config::load(Some(&path), "default").expect_err(name);
        let shown = err.to_string();
        assert!(shown.contains(want), "{name}: {shown}");
        assert!(
            shown.starts_with(&dir.path().display().to_string()),
            "{name}: {shown}"
        );
    }
    // On kubernetes the secret names a Secret: nothing to check here.
    let kube = write(
        "kube.conf",
        "[default]\nbackend = kubernetes\nregistry_secret = osbs-push\n",
    );
    config::load(Some(&kube), "default").expect("a Secret name is not a file");
}

/// `builder` and `build_secrets` (issue 12): the values, secret files relative to the config
/// file (local) or Secret names (kubernetes), and errors naming the line, key and value.
#[test]
fn builder_and_build_secrets() {
    use osbs_core::build::Builder;
    use std::collections::BTreeMap;

    let file = Path::new("/etc/osbs/osbs.conf");
    let text = "[default]\nbuilder = Classic\nbuild_secrets = npmrc=secrets/npmrc, token=/run/token\n\
                [cluster]\nbackend = kubernetes\nbuild_secrets = token=osbs-build-token, \
                pip.conf=osbs.pip-conf\n";
    let local = config::parse(text, file, "default").expect("valid");
    assert_eq!(local.builder, Some(Builder::Classic));
    let want = BTreeMap::from([
        ("npmrc".to_owned(), "/etc/osbs/secrets/npmrc".to_owned()),
        ("token".to_owned(), "/run/token".to_owned()),
    ]);
    assert_eq!(local.build_secrets, want);
    let cluster = config::parse(text, file, "cluster").expect("valid");
    assert_eq!(
        cluster.builder, None,
        "unset: BuildKit where the Engine has it"
    );
    assert_eq!(
        cluster.build_secrets,
        BTreeMap::from([
            ("pip.conf".to_owned(), "osbs.pip-conf".to_owned()),
            ("token".to_owned(), "osbs-build-token".to_owned())
        ]),
        "a Secret's name is a DNS-1123 subdomain: dots allowed"
    );

    let cases = [
        (
            "[default]\nbuilder = fast\n",
            "osbs.conf:2: invalid value \"fast\" for builder: expected buildkit or classic",
        ),
        (
            "[default]\nbuild_secrets = npmrc\n",
            "osbs.conf:2: invalid value \"npmrc\" for build_secrets: expected id=FILE pairs",
        ),
        (
            "[default]\n\nbuild_secrets = a=x, a=y\n",
            "osbs.conf:3: invalid value \"a=x, a=y\" for build_secrets: expected each secret id once",
        ),
        (
            "[default]\nbuild_secrets = ..=x\n",
            "osbs.conf:2: invalid value \"..=x\" for build_secrets",
        ),
        (
            "[default]\nbuild_secrets = a/b=x\n",
            "osbs.conf:2: invalid value \"a/b=x\" for build_secrets",
        ),
        (
            "[default]\nbackend = kubernetes\nbuild_secrets = t=Not_A_Name\n",
            "osbs.conf:3: invalid value \"t=Not_A_Name\" for build_secrets: expected id=SECRET",
        ),
        (
            "[default]\nbackend = kubernetes\nbuild_secrets = t=osbs..token\n",
            "osbs.conf:3: invalid value \"t=osbs..token\" for build_secrets: expected id=SECRET \
             pairs naming Kubernetes Secrets (DNS-1123 subdomains)",
        ),
    ];
    for (text, want) in cases {
        let err = config::parse(text, Path::new("osbs.conf"), "default").expect_err(text);
        let shown = chain(&err);
        assert!(shown.starts_with(want), "{text:?}: {shown}");
    }

    // `load` reads the files a local instance names: a missing secret file names its line.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("osbs.conf");
    fs::write(&path, "[default]\nbuild_secrets = token=missing-token\n").expect("write");
    let err = config::load(Some(&path), "default").expect_err("missing secret file");
    assert!(
        err.to_string()
            .contains("osbs.conf:2: cannot read build_secrets "),
        "{err}"
    );
    fs::write(dir.path().join("missing-token"), "s3cr3t").expect("write");
    let instance = config::load(Some(&path), "default").expect("readable now");
    assert_eq!(
        instance.build_secrets["token"],
        dir.path().join("missing-token").display().to_string()
    );
}

#[test]
fn push_method_is_reactor_unless_engine_is_asked_for() {
    use osbs_core::build::PushMethod;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("osbs.conf");
    fs::write(&path, "[default]\n").expect("write");
    let instance = load(&path, "default").expect("defaults");
    assert_eq!(instance.push_method, PushMethod::Reactor);
    fs::write(&path, "[default]\npush_method = Engine\n").expect("write");
    let instance = load(&path, "default").expect("engine");
    assert_eq!(instance.push_method, PushMethod::Engine);
}
