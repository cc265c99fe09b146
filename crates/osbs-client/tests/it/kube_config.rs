//! The kubernetes backend's cluster configuration through the real `osbs` binary, against a
//! wiremock API server and temporary kubeconfig files: the namespace follows kubectl
//! (`--namespace` > osbs.conf `namespace` > the context's > `default`), `--kubeconfig`,
//! `$KUBECONFIG` and `--context` choose the cluster, and each configuration problem is exit 2
//! (an unreachable server exit 3) with a message naming the file, server or context, pinned
//! by snapshots.

#![allow(
    clippy::unwrap_used,
    reason = "a broken test set-up should fail loudly, like the tests themselves"
)]

use std::path::PathBuf;

use osbs_testkit::kube_fake::kubeconfig;
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cli::{Home, Run, run_command};

fn write(home: &Home, name: &str, text: &str) -> String {
    let path: PathBuf = home.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// An API server that answers every BuildConfig list with an empty one.
async fn fake_api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/apis/osbs\.dev/v1alpha1/namespaces/[^/]+/buildconfigs$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "osbs.dev/v1alpha1", "kind": "BuildConfigList",
            "metadata": {}, "items": []
        })))
        .mount(&server)
        .await;
    server
}

/// The namespaces of the requests `server` received after the first `seen` ones, in order;
/// `seen` moves past them.
async fn namespaces(server: &MockServer, seen: &mut usize) -> Vec<String> {
    let requests = server.received_requests().await.unwrap_or_default();
    let new = requests.get(*seen..).unwrap_or_default().to_vec();
    *seen = requests.len();
    new.iter()
        .filter_map(|r| {
            let path = r.url.path();
            let rest = path.strip_prefix("/apis/osbs.dev/v1alpha1/namespaces/")?;
            Some(rest.split('/').next()?.to_owned())
        })
        .collect()
}

/// Runs `osbs ARGS` in `home` with `env` set, off the runtime's thread.
async fn osbs(home: &Home, args: &[String], env: &[(&str, String)]) -> Run {
    let mut cmd = home.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    for (key, value) in env {
        cmd.env(key, value);
    }
    tokio::task::spawn_blocking(move || run_command(&mut cmd))
        .await
        .unwrap()
}

/// Extra arguments, environment, and the namespace the request must go to.
type Case<'a> = (Vec<String>, Vec<(&'a str, String)>, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_follows_kubectl_and_the_kubeconfig_chooses_the_cluster() {
    let mut home = Home::new();
    let server = fake_api().await;
    let mut seen = 0;
    home.filter(&server.uri(), "[SERVER]");
    let kubeconfig = write(&home, "kubeconfig", &kubeconfig(&server.uri()));
    let plain = write(&home, "plain.conf", "[default]\nbackend = kubernetes\n");
    let with_ns = write(
        &home,
        "with-ns.conf",
        "[default]\nbackend = kubernetes\nnamespace = conf-ns\n",
    );
    let s = |v: &str| v.to_owned();
    let cases: Vec<Case<'_>> = vec![
        // The context's namespace, not `default`.
        (
            vec![s("--kubeconfig"), kubeconfig.clone()],
            vec![],
            "team-a",
        ),
        // $KUBECONFIG when --kubeconfig is not given.
        (vec![], vec![("KUBECONFIG", kubeconfig.clone())], "team-a"),
        // A context without a namespace: `default`.
        (
            vec![
                s("--kubeconfig"),
                kubeconfig.clone(),
                s("--context"),
                s("without-ns"),
            ],
            vec![],
            "default",
        ),
        // --namespace wins over the context's.
        (
            vec![s("--kubeconfig"), kubeconfig.clone(), s("-n"), s("flag-ns")],
            vec![],
            "flag-ns",
        ),
    ];
    for (extra, env, expected) in cases {
        let mut args = vec![s("--config"), plain.clone()];
        args.extend(extra.iter().cloned());
        args.push(s("list-build-configs"));
        let run = osbs(&home, &args, &env).await;
        assert_eq!(run.code, 0, "{args:?}\n{}", run.stderr);
        assert_eq!(
            namespaces(&server, &mut seen).await,
            [expected],
            "{args:?} {env:?}"
        );
    }
    // osbs.conf's namespace wins over the context's, --namespace over osbs.conf's.
    let conf = |extra: &[&str]| {
        let mut args = vec![
            s("--config"),
            with_ns.clone(),
            s("--kubeconfig"),
            kubeconfig.clone(),
        ];
        args.extend(extra.iter().map(|a| s(a)));
        args.push(s("list-build-configs"));
        args
    };
    let run = osbs(&home, &conf(&["-v"]), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(namespaces(&server, &mut seen).await, ["conf-ns"]);
    let said: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("cluster: "))
        .collect();
    home.settings().bind(|| {
        insta::assert_snapshot!("kube-config-verbose", said.join("\n"));
    });
    let run = osbs(&home, &conf(&["--namespace", "flag-ns"]), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(namespaces(&server, &mut seen).await, ["flag-ns"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_problems_name_the_file_server_and_context() {
    let mut home = Home::new();
    // Nothing listens on port 9 of loopback: connections are refused at once.
    let refused = write(&home, "refused", &kubeconfig("https://127.0.0.1:9"));
    let kube_conf = write(&home, "kube.conf", "[default]\nbackend = kubernetes\n");
    let local_conf = write(
        &home,
        "local.conf",
        "[default]\nbackend = local\nstate_dir = state\n",
    );
    let openshift = write(
        &home,
        "openshift.conf",
        "[default]\nopenshift_url = https://openshift.example.com:8443/\nnamespace = builds\n",
    );
    let bad_build_secret = write(
        &home,
        "bad-build-secret.conf",
        "[default]\nbackend = kubernetes\nbuild_secrets = npmrc=osbs-npmrc, token=Osbs_Token\n",
    );
    home.filter("127.0.0.1:9", "[REFUSED]");
    let s = |v: &str| v.to_owned();
    let cases: Vec<(&str, Vec<String>, i32)> = vec![
        (
            "unreachable-server",
            vec![
                s("--config"),
                kube_conf.clone(),
                s("--kubeconfig"),
                refused.clone(),
            ],
            3,
        ),
        (
            "unknown-context",
            vec![
                s("--config"),
                kube_conf.clone(),
                s("--kubeconfig"),
                refused.clone(),
                s("--context"),
                s("prod"),
            ],
            2,
        ),
        (
            "missing-kubeconfig-flag",
            vec![
                s("--config"),
                kube_conf.clone(),
                s("--kubeconfig"),
                s("nowhere/config"),
            ],
            2,
        ),
        (
            "openshift-url-without-backend",
            vec![s("--config"), openshift.clone()],
            2,
        ),
        (
            "cluster-flags-on-a-local-instance",
            vec![s("--config"), local_conf.clone(), s("-n"), s("team-a")],
            2,
        ),
        (
            // Refused when osbs.conf is read, before the kubeconfig or the server.
            "bad-build-secret-name",
            vec![
                s("--config"),
                bad_build_secret.clone(),
                s("--kubeconfig"),
                refused.clone(),
            ],
            2,
        ),
        (
            "bad-namespace-flag",
            vec![
                s("--config"),
                kube_conf.clone(),
                s("--namespace"),
                s("Team_A"),
            ],
            2,
        ),
    ];
    for (name, mut args, code) in cases {
        args.push(s("list-build-configs"));
        let run = osbs(&home, &args, &[]).await;
        assert_eq!(run.code, code, "{name}: {args:?}\n{}", run.stderr);
        home.settings().bind(|| {
            insta::assert_snapshot!(format!("kube-config-{name}"), run.stderr);
        });
    }
}
