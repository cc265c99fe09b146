//! `osbs_kube::connect` with temporary kubeconfig files: which server, context and namespace
//! a client gets (kubectl's precedence), and the errors for a kubeconfig that cannot be used,
//! each naming the file and the context. A request through the client goes to the chosen
//! namespace of the fake API server.

use std::path::Path;

use osbs_kube::{ConnectError, ConnectOptions, NamespaceSource, OsbsApi, connect};
use osbs_testkit::kube_fake::kubeconfig;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).expect("kubeconfig written");
    file
}

fn options(file: &Path) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: Some(file.to_path_buf()),
        ..ConnectOptions::default()
    }
}

/// The error's chain on one line (each cause once, as `osbs` prints it), the temporary
/// directory as `[TMP]`.
fn shown(err: &ConnectError, dir: &Path) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace(&dir.display().to_string(), "[TMP]")
}

/// A fake API server; making its config installs the `ring` crypto provider the clients
/// need.
async fn fake_server() -> MockServer {
    let server = MockServer::start().await;
    let _ = osbs_testkit::kube_fake::config(&server);
    server
}

#[tokio::test]
async fn the_namespace_is_the_flag_then_osbs_conf_then_the_context_then_default() {
    let _server = fake_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "config", &kubeconfig("https://10.0.0.1:6443"));
    let cases = [
        (None, None, None, "team-a", NamespaceSource::Context),
        (
            None,
            None,
            Some("without-ns"),
            "default",
            NamespaceSource::Default,
        ),
        (
            None,
            Some("conf"),
            None,
            "conf",
            NamespaceSource::ConfigFile,
        ),
        (
            Some("flag"),
            Some("conf"),
            None,
            "flag",
            NamespaceSource::Flag,
        ),
        (
            Some("flag"),
            None,
            Some("without-ns"),
            "flag",
            NamespaceSource::Flag,
        ),
    ];
    for (flag, conf, context, namespace, source) in cases {
        let options = ConnectOptions {
            namespace: flag.map(str::to_owned),
            configured_namespace: conf.map(str::to_owned),
            context: context.map(str::to_owned),
            ..options(&file)
        };
        let (client, target) = connect(&options).await.expect("connects");
        let case = format!("{flag:?} {conf:?} {context:?}");
        assert_eq!(target.namespace, namespace, "{case}");
        assert_eq!(target.namespace_source, source, "{case}");
        assert_eq!(client.default_namespace(), namespace, "{case}");
        assert_eq!(target.server, "https://10.0.0.1:6443", "{case}");
        assert_eq!(
            target.context.as_deref(),
            Some(context.unwrap_or("with-ns")),
            "{case}"
        );
    }
}

#[tokio::test]
async fn requests_go_to_the_context_namespace() {
    let server = fake_server().await;
    Mock::given(method("GET"))
        .and(path(
            "/apis/osbs.dev/v1alpha1/namespaces/team-a/buildconfigs",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "BuildConfigList",
            "metadata": {}, "items": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "config", &kubeconfig(&server.uri()));
    let (client, target) = connect(&options(&file)).await.expect("connects");
    let api = OsbsApi::new(client.clone(), client.default_namespace());
    assert_eq!(api.namespace(), "team-a");
    assert!(api.list_build_configs().await.expect("listed").is_empty());
    assert_eq!(
        target.describe(),
        format!("{} (context \"with-ns\")", server.uri())
    );
}

#[tokio::test]
async fn unusable_kubeconfigs_are_named_with_their_context() {
    let _server = fake_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let good = kubeconfig("https://10.0.0.1:6443");
    let no_current = good.replace("current-context: with-ns\n", "");
    let no_cluster = good.replace(
        "{cluster: fake, user: me, namespace",
        "{cluster: gone, user: me, namespace",
    );
    let cases: [(&str, Option<&str>, Option<String>); 5] = [
        ("missing", None, None),
        ("not-yaml", None, Some("clusters: [\n".to_owned())),
        ("no-current-context", None, Some(no_current)),
        ("unknown-context", Some("prod"), Some(good)),
        ("context-without-cluster", None, Some(no_cluster)),
    ];
    for (name, context, text) in cases {
        let file = match &text {
            Some(text) => write(dir.path(), name, text),
            None => dir.path().join(name),
        };
        let options = ConnectOptions {
            context: context.map(str::to_owned),
            ..options(&file)
        };
        let Err(err) = connect(&options).await else {
            panic!("{name}: connected");
        };
        insta::assert_snapshot!(format!("connect_error_{name}"), shown(&err, dir.path()));
    }
}
