//! Applying imports to ImageStreams: which tags change, the history, and refused imports that
//! change nothing.

use osbs_core::DigestProblem;
use osbs_core::build::ImageImport;
use osbs_core::import::{ImportError, TagChange, apply_import};
use osbs_core::model::{ImageStream, MAX_TAG_HISTORY};
use osbs_core::time::Timestamp;

use crate::world::digest;

fn import(tags: &[(&str, u8)]) -> ImageImport {
    ImageImport {
        image_stream: "osbs-app".into(),
        docker_image_repository: "127.0.0.1:5000/osbs/app".into(),
        tags: tags
            .iter()
            .map(|(t, d)| ((*t).to_owned(), digest(*d)))
            .collect(),
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

#[test]
fn first_import_creates_every_tag() {
    let mut stream = ImageStream::new("osbs-app");
    let changes = apply_import(
        &mut stream,
        &import(&[("latest", 1), ("1.0-1", 1), ("1.0", 1)]),
        Some("app-1"),
        at(1),
    )
    .unwrap();
    let tags: Vec<&str> = changes.iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(tags, ["1.0", "1.0-1", "latest"], "tag order");
    assert!(
        changes
            .iter()
            .all(|c| c.old.is_none() && c.new == digest(1))
    );
    assert_eq!(
        stream.docker_image_repository.as_deref(),
        Some("127.0.0.1:5000/osbs/app")
    );
    assert_eq!(stream.digest("latest"), Some(digest(1).as_str()));
    let event = &stream.tags["latest"].history[0];
    assert_eq!((event.build.as_deref(), event.time), (Some("app-1"), at(1)));
}

#[test]
fn a_rebuild_changes_the_moving_tags_only() {
    let mut stream = ImageStream::new("osbs-app");
    apply_import(
        &mut stream,
        &import(&[("latest", 1), ("1.0", 1), ("1.0-1", 1)]),
        Some("app-1"),
        at(1),
    )
    .unwrap();
    // The next build: new release tag, moved latest and version; a re-import of 1.0-1 as is.
    let changes = apply_import(
        &mut stream,
        &import(&[("latest", 2), ("1.0", 2), ("1.0-2", 2), ("1.0-1", 1)]),
        Some("app-2"),
        at(2),
    )
    .unwrap();
    assert_eq!(
        changes,
        [
            TagChange {
                tag: "1.0".into(),
                old: Some(digest(1)),
                new: digest(2)
            },
            TagChange {
                tag: "1.0-2".into(),
                old: None,
                new: digest(2)
            },
            TagChange {
                tag: "latest".into(),
                old: Some(digest(1)),
                new: digest(2)
            },
        ]
    );
    let history: Vec<(&str, Option<&str>)> = stream.tags["latest"]
        .history
        .iter()
        .map(|e| (e.digest.as_str(), e.build.as_deref()))
        .collect();
    assert_eq!(
        history,
        [
            (digest(1).as_str(), Some("app-1")),
            (digest(2).as_str(), Some("app-2"))
        ]
    );
    assert_eq!(
        stream.tags["1.0-1"].history.len(),
        1,
        "unchanged tag, no history entry"
    );
}

#[test]
fn the_same_digest_again_changes_nothing() {
    let mut stream = ImageStream::new("osbs-app");
    apply_import(&mut stream, &import(&[("latest", 1)]), None, at(1)).unwrap();
    let before = stream.clone();
    let changes = apply_import(
        &mut stream,
        &import(&[("latest", 1), ("latest", 1)]),
        None,
        at(2),
    )
    .unwrap();
    assert!(changes.is_empty());
    assert_eq!(stream, before);
}

#[test]
fn history_is_capped_keeping_the_newest() {
    let mut stream = ImageStream::new("osbs-app");
    for n in 0..(MAX_TAG_HISTORY + 20) {
        let d = u8::try_from(n % 2).unwrap();
        apply_import(
            &mut stream,
            &import(&[("latest", d)]),
            None,
            at(i64::try_from(n).unwrap()),
        )
        .unwrap();
    }
    let history = &stream.tags["latest"].history;
    assert_eq!(history.len(), MAX_TAG_HISTORY);
    assert_eq!(
        history.last().unwrap().time,
        at(i64::try_from(MAX_TAG_HISTORY + 19).unwrap())
    );
    assert_eq!(history.last().unwrap().digest, stream.tags["latest"].digest);
}

#[test]
fn refused_imports_change_nothing() {
    let mut stream = ImageStream::new("osbs-app");
    apply_import(&mut stream, &import(&[("latest", 1)]), None, at(1)).unwrap();
    let before = stream.clone();
    let mut wrong_stream = import(&[("latest", 2)]);
    wrong_stream.image_stream = "osbs-web".into();
    let mut bad_digest = import(&[("latest", 2)]);
    bad_digest.tags.push(("1.0".into(), "sha256:ABC".into()));
    let mut bad_tag = import(&[("latest", 2)]);
    bad_tag.tags.push((".hidden".into(), digest(2)));
    let conflict = import(&[("latest", 2), ("latest", 3)]);
    let errors: Vec<String> = [wrong_stream, bad_digest, bad_tag, conflict]
        .iter()
        .map(|i| {
            apply_import(&mut stream, i, None, at(2))
                .unwrap_err()
                .to_string()
        })
        .collect();
    assert_eq!(stream, before);
    insta::assert_debug_snapshot!(errors, @r#"
    [
        "import into image stream `osbs-web` applied to image stream `osbs-app`",
        "image stream `osbs-app`: tag `1.0` has an invalid digest `sha256:ABC`: expected `algorithm:hex` with at least 32 hexadecimal digits after the colon",
        "image stream `osbs-app`: invalid tag `.hidden`",
        "image stream `osbs-app`: tag `latest` imported as both sha256:0202020202020202020202020202020202020202020202020202020202020202 and sha256:0303030303030303030303030303030303030303030303030303030303030303",
    ]
    "#);
    let mut short_digest = import(&[]);
    short_digest
        .tags
        .push(("latest".into(), format!("sha256:{}", "a".repeat(63))));
    assert!(matches!(
        apply_import(&mut stream, &short_digest, None, at(3)),
        Err(ImportError::InvalidDigest {
            problem: DigestProblem::Length {
                expected: 64,
                actual: 63
            },
            ..
        })
    ));
}
