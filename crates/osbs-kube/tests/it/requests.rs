//! What users may write instead of a status (deploy/rbac.yaml grants them none): a Build
//! queued by `submit_build` takes the next free number and writes no status, the controller
//! raises the counters past it (`raise_build_counters`), and an import is a request on the
//! ImageStream that the controller answers.

use osbs_core::model::{Build, BuildCause};
use osbs_core::time::Timestamp;
use osbs_engine::import::{ImportError, ReadError};
use osbs_kube::{ImportDone, ImportFailure, ImportRequest, OsbsApi};
use osbs_testkit::kube_fake::{self as fake, Cluster, NS};
use serde_json::json;

const BC: &str = "app-main-1a2b3";

fn numbered(number: i64) -> serde_json::Value {
    let mut build = fake::build(&format!("{BC}-{number}"), BC, "Complete", "1");
    build["spec"]["number"] = json!(number);
    build
}

#[tokio::test]
async fn a_submitted_build_takes_the_next_free_number_and_writes_no_status() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    cluster.insert(&fake::path("buildconfigs"), fake::build_config(BC, 2, "1"));
    cluster.insert(&fake::path("builds"), numbered(2));
    // Another user's build, which did not move the counter.
    cluster.insert(&fake::path("builds"), numbered(4));
    let api = OsbsApi::new(fake::client(&server), NS);

    let build = api
        .submit_build(BC, |config| {
            Build::queued(config, BuildCause::User, None, Timestamp::UNIX_EPOCH)
        })
        .await?;
    assert_eq!(build.name, format!("{BC}-5"));
    assert_eq!(cluster.writes(), [format!("POST {}", fake::path("builds"))]);
    let stored = cluster
        .get(&fake::path("builds"), &build.name)
        .expect("created");
    assert_eq!(stored["metadata"]["ownerReferences"][0]["name"], BC);
    assert_eq!(
        cluster.get(&fake::path("buildconfigs"), BC).expect("bc")["status"]["lastVersion"],
        2
    );

    // The controller raises the counter past it, once.
    let builds = api.list_build_resources(None).await?;
    assert_eq!(api.raise_build_counters(&builds).await?, [BC.to_owned()]);
    assert_eq!(
        cluster.get(&fake::path("buildconfigs"), BC).expect("bc")["status"]["lastVersion"],
        5
    );
    assert_eq!(
        api.raise_build_counters(&builds).await?,
        Vec::<String>::new()
    );
    Ok(())
}

#[tokio::test]
async fn an_import_request_is_pending_until_the_controller_answers_it() -> anyhow::Result<()> {
    let (server, cluster) = Cluster::start().await;
    let streams = fake::path("imagestreams");
    cluster.insert(
        &streams,
        json!({"apiVersion": "osbs.dev/v1alpha1", "kind": "ImageStream",
               "metadata": {"name": "osbs-app"}, "spec": {}}),
    );
    let api = OsbsApi::new(fake::client(&server), NS);
    let pending = || async {
        Ok::<_, anyhow::Error>(
            api.get_image_stream_resource("osbs-app")
                .await?
                .expect("stream")
                .pending_import_request(),
        )
    };
    assert_eq!(pending().await?, None);

    let first = ImportRequest {
        id: "osbs-app/1-a".into(),
        tag: Some("latest".into()),
    };
    api.request_import("osbs-app", &first).await?;
    assert_eq!(pending().await?, Some(first.clone()));

    let done = ImportDone {
        id: first.id.clone(),
        changed: vec!["latest".into()],
        queued: vec![format!("{BC}-3")],
        failure: None,
    };
    api.answer_import("osbs-app", &done).await?;
    let stream = api
        .get_image_stream_resource("osbs-app")
        .await?
        .expect("stream");
    assert_eq!(stream.pending_import_request(), None);
    assert_eq!(stream.import_done(), Some(done));

    let second = ImportRequest {
        id: "osbs-app/2-b".into(),
        tag: None,
    };
    api.request_import("osbs-app", &second).await?;
    assert_eq!(pending().await?, Some(second));
    // Annotations only: no status write.
    assert!(
        cluster
            .writes()
            .iter()
            .all(|w| *w == format!("PATCH {streams}/osbs-app")),
        "{:?}",
        cluster.writes()
    );
    Ok(())
}

#[test]
fn import_failures_keep_what_the_client_reports() {
    let missing = ImportError::Read(ReadError::MissingTag {
        image: "registry.example.com/osbs/app".into(),
        tag: "9".into(),
    });
    assert_eq!(
        ImportFailure::of(&missing),
        ImportFailure::MissingTag {
            image: "registry.example.com/osbs/app".into(),
            tag: "9".into()
        }
    );
    let unknown = ImportError::Read(ReadError::NoRepository {
        stream: "osbs-app".into(),
    });
    let failure = ImportFailure::of(&unknown);
    assert!(
        matches!(failure, ImportFailure::Invalid { .. }),
        "{failure:?}"
    );
    assert_eq!(failure.to_string(), unknown.to_string());
    // The wire form the client reads.
    assert_eq!(
        serde_json::to_value(ImportFailure::of(&missing)).expect("json"),
        json!({"kind": "missingTag", "image": "registry.example.com/osbs/app", "tag": "9"})
    );
}
