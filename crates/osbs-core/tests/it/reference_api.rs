//! The accessors, builders and conversions of `ImageReference`, and the cases beyond the
//! upstream tables: registry detection, lengths, tags, digests and the deliberate differences.

use std::collections::HashSet;

use osbs_core::reference::{self, DEFAULT_TAG, REPOSITORY_NAME_MAX_LEN};
use osbs_core::{DigestProblem, ImageReference};

use crate::support::{Kind, SHA256_F, actual, check_all, err, ok, parse};

#[test]
fn registry_detection() {
    let list = vec![
        ("localhost/foo", ok("localhost", "foo", None, None)),
        (
            "localhost:5000/foo",
            ok("localhost:5000", "foo", None, None),
        ),
        // A single component is always a Docker Hub official image, even `localhost:5000`
        // (upstream's FIXME in splitDockerDomain): the port becomes a tag.
        (
            "localhost",
            ok("docker.io", "library/localhost", None, None),
        ),
        (
            "localhost:5000",
            ok("docker.io", "library/localhost", Some("5000"), None),
        ),
        (
            "example.com",
            ok("docker.io", "library/example.com", None, None),
        ),
        ("LOCALHOST/foo", ok("LOCALHOST", "foo", None, None)),
        (
            "Registry.Example.COM/foo",
            ok("Registry.Example.COM", "foo", None, None),
        ),
        ("registry:5000/foo", ok("registry:5000", "foo", None, None)),
        ("registry/foo", ok("docker.io", "registry/foo", None, None)),
        (
            "127.0.0.1:5000/osbs/busybox",
            ok("127.0.0.1:5000", "osbs/busybox", None, None),
        ),
        (
            "docker.io/ubuntu",
            ok("docker.io", "library/ubuntu", None, None),
        ),
        (
            "index.docker.io/ubuntu",
            ok("docker.io", "library/ubuntu", None, None),
        ),
        (
            "index.docker.io/library/ubuntu",
            ok("docker.io", "library/ubuntu", None, None),
        ),
        // Only the exact legacy name is rewritten.
        (
            "INDEX.docker.io/ubuntu",
            ok("INDEX.docker.io", "ubuntu", None, None),
        ),
        (
            "registry-1.docker.io/ubuntu",
            ok("registry-1.docker.io", "ubuntu", None, None),
        ),
        ("docker.io/a/b/c/d", ok("docker.io", "a/b/c/d", None, None)),
        ("quay.io/ubuntu", ok("quay.io", "ubuntu", None, None)),
        ("[::1]/foo", ok("[::1]", "foo", None, None)),
        (
            "[::ffff]:65536/foo",
            ok("[::ffff]:65536", "foo", None, None),
        ),
        ("a.b:0000/foo", ok("a.b:0000", "foo", None, None)),
        // Deliberate difference: Go accepts these with an empty domain.
        ("my_registry.local/app", err(Kind::InvalidRegistry)),
        ("a_b.c/d:tag", err(Kind::InvalidRegistry)),
        // Uppercase first segments that are not host names: Parse's lowercase retry.
        ("Foo_x/bar", err(Kind::Uppercase)),
        ("Foo_/bar", err(Kind::InvalidFormat)),
        ("example.com:/foo", err(Kind::InvalidFormat)),
        ("example.com:http/foo", err(Kind::InvalidFormat)),
        ("/foo", err(Kind::InvalidFormat)),
        ("foo/", err(Kind::InvalidFormat)),
        ("example.com/", err(Kind::InvalidFormat)),
        (
            "example.com",
            ok("docker.io", "library/example.com", None, None),
        ),
    ];
    check_all(
        &list
            .into_iter()
            .map(|(i, e)| (i.to_owned(), e))
            .collect::<Vec<_>>(),
    );
}

#[test]
fn names_tags_and_digests() {
    let sha384 = format!("sha384:{}", "0".repeat(96));
    let sha512 = format!("sha512:{}", "a".repeat(128));
    let list = vec![
        (" ubuntu".to_owned(), err(Kind::InvalidFormat)),
        ("ubuntu ".to_owned(), err(Kind::InvalidFormat)),
        ("ubuntu\n".to_owned(), err(Kind::InvalidFormat)),
        ("ubüntu".to_owned(), err(Kind::InvalidFormat)),
        ("Übuntu".to_owned(), err(Kind::Uppercase)),
        ("ubuntu:".to_owned(), err(Kind::InvalidTag)),
        ("ubuntu:-rc".to_owned(), err(Kind::InvalidTag)),
        ("ubuntu:.rc".to_owned(), err(Kind::InvalidTag)),
        ("ubuntu:a:b".to_owned(), err(Kind::InvalidTag)),
        ("ubuntu:ü".to_owned(), err(Kind::InvalidTag)),
        (
            format!("ubuntu:{}", "t".repeat(128)),
            ok("docker.io", "library/ubuntu", Some(&"t".repeat(128)), None),
        ),
        (format!("ubuntu:{}", "t".repeat(129)), err(Kind::InvalidTag)),
        (
            "ubuntu:_".to_owned(),
            ok("docker.io", "library/ubuntu", Some("_"), None),
        ),
        (
            "ubuntu:1.0-RC_1".to_owned(),
            ok("docker.io", "library/ubuntu", Some("1.0-RC_1"), None),
        ),
        (
            "ubuntu@".to_owned(),
            err(Kind::Digest(DigestProblem::Format)),
        ),
        (
            "ubuntu@sha256".to_owned(),
            err(Kind::Digest(DigestProblem::Format)),
        ),
        (
            "ubuntu@sha256:abc".to_owned(),
            err(Kind::Digest(DigestProblem::Format)),
        ),
        (
            format!("ubuntu@{SHA256_F}@{SHA256_F}"),
            err(Kind::Digest(DigestProblem::Format)),
        ),
        (
            format!("ubuntu@sha256:{}", "F".repeat(64)),
            err(Kind::Digest(DigestProblem::UppercaseHex)),
        ),
        (
            format!("ubuntu@md5:{}", "f".repeat(32)),
            err(Kind::Digest(DigestProblem::UnsupportedAlgorithm)),
        ),
        (
            format!("ubuntu@sha256+b64:{}", "f".repeat(64)),
            err(Kind::Digest(DigestProblem::UnsupportedAlgorithm)),
        ),
        // `ParseNormalizedNamed` checks lowercase up to the first `:`, which here is inside
        // the digest, so an uppercase algorithm is reported as an uppercase name.
        (
            format!("ubuntu@SHA256:{}", "f".repeat(64)),
            err(Kind::Uppercase),
        ),
        (
            format!("ubuntu@{sha384}"),
            ok("docker.io", "library/ubuntu", None, Some(&sha384)),
        ),
        (
            format!("ubuntu@{sha512}"),
            ok("docker.io", "library/ubuntu", None, Some(&sha512)),
        ),
        (
            format!("ubuntu:{SHA256_F}"),
            err(Kind::InvalidTag), // `sha256:fff…` has a colon
        ),
        (
            format!("ubuntu:tag@{SHA256_F}"),
            ok("docker.io", "library/ubuntu", Some("tag"), Some(SHA256_F)),
        ),
        (
            format!("ubuntu:tag@{SHA256_F}").to_uppercase(),
            err(Kind::Uppercase),
        ),
        (
            "ubuntu@:tag".to_owned(),
            err(Kind::Digest(DigestProblem::Format)),
        ),
        // The tag comes after the last `/`.
        ("a/b:c/d".to_owned(), err(Kind::InvalidFormat)),
    ];
    check_all(&list);
}

#[test]
fn length_limit_counts_the_normalised_path() {
    // `library/` (8) + 247 = 255: the longest one-component Docker Hub name.
    let longest = "a".repeat(REPOSITORY_NAME_MAX_LEN - "library/".len());
    assert_eq!(parse(&longest).repository().len(), REPOSITORY_NAME_MAX_LEN);
    let too_long = format!("{longest}b");
    let error = too_long
        .parse::<ImageReference>()
        .expect_err("256 characters");
    assert!(
        matches!(
            error,
            osbs_core::ReferenceError::NameTooLong { length: 256, .. }
        ),
        "{error:?}"
    );
    // The registry does not count.
    let path = "b".repeat(REPOSITORY_NAME_MAX_LEN);
    let long_registry = format!("{}.example.com:5000", "r".repeat(60));
    let r = parse(&format!("{long_registry}/{path}"));
    assert_eq!(r.repository(), path);
    assert_eq!(
        actual(&format!("{long_registry}/{path}b")),
        Err(Kind::NameTooLong)
    );
    // Nor does the tag.
    assert!(actual(&format!("{path}:{}", "t".repeat(128))).is_err());
    assert!(actual(&format!("x/{}:{}", "b".repeat(253), "t".repeat(128))).is_ok());
}

#[test]
fn accessors() {
    let r = parse(&format!("[::1]:5000/osbs/app:1.0@{SHA256_F}"));
    assert_eq!(r.registry(), "[::1]:5000");
    assert_eq!(r.registry_host(), "[::1]");
    assert_eq!(r.registry_port(), Some("5000"));
    assert_eq!(r.repository(), "osbs/app");
    assert_eq!(r.name(), "[::1]:5000/osbs/app");
    assert_eq!(r.tag(), Some("1.0"));
    assert_eq!(r.tag_or_latest(), "1.0");
    assert_eq!(r.digest(), Some(SHA256_F));
    assert_eq!(r.to_string(), format!("[::1]:5000/osbs/app:1.0@{SHA256_F}"));
    assert_eq!(r.familiar(), r.to_string());
    assert!(!r.is_docker_hub());

    let hub = parse("ubuntu");
    assert_eq!(hub.registry_host(), "docker.io");
    assert_eq!(hub.registry_port(), None);
    assert_eq!(hub.tag(), None);
    assert_eq!(hub.tag_or_latest(), DEFAULT_TAG);
    assert_eq!(hub.digest(), None);
    assert!(hub.is_docker_hub());
    assert_eq!(hub.to_string(), "docker.io/library/ubuntu");

    let ported = parse("registry.example.com:443/team/app");
    assert_eq!(ported.registry_host(), "registry.example.com");
    assert_eq!(ported.registry_port(), Some("443"));
    assert_eq!(parse("[fe80::1]/x").registry_port(), None);
}

#[test]
fn loopback_registries() {
    let cases = [
        ("localhost/a", true),
        ("localhost:5000/a", true),
        ("LocalHost:5000/a", true),
        ("127.0.0.1:5000/a", true),
        ("127.0.0.1/a", true),
        ("127.1.2.3:5001/a", true),
        ("[::1]:5000/a", true),
        ("[::1]/a", true),
        ("[0:0:0:0:0:0:0:1]:5000/a", true),
        ("[::2]:5000/a", false),
        ("[fffff]:5000/a", false),
        ("128.0.0.1:5000/a", false),
        ("0127.0.0.1:5000/a", false),
        ("127.0.0.1.example.com/a", false),
        ("localhost.localdomain/a", false),
        ("localhost", false),
        ("quay.io/a", false),
        ("ubuntu", false),
    ];
    for (input, loopback) in cases {
        assert_eq!(parse(input).is_loopback_registry(), loopback, "{input:?}");
    }
}

#[test]
fn familiar_forms() {
    let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    let cases = [
        (
            "docker.io/library/ubuntu:22.04".to_owned(),
            "ubuntu:22.04".to_owned(),
        ),
        ("docker.io/foo/bar".to_owned(), "foo/bar".to_owned()),
        (
            "docker.io/library/foo/bar".to_owned(),
            "library/foo/bar".to_owned(),
        ),
        (
            "quay.io/library/ubuntu".to_owned(),
            "quay.io/library/ubuntu".to_owned(),
        ),
        (format!("ubuntu@{SHA256_F}"), format!("ubuntu@{SHA256_F}")),
        // Deliberate differences from Go's FamiliarString, which would print `example.com/app`,
        // `localhost/app` and the bare hex, each of which parses to something else.
        (
            "docker.io/example.com/app".to_owned(),
            "docker.io/example.com/app".to_owned(),
        ),
        (
            "docker.io/localhost/app".to_owned(),
            "docker.io/localhost/app".to_owned(),
        ),
        (
            "docker.io/index.docker.io/app".to_owned(),
            "docker.io/index.docker.io/app".to_owned(),
        ),
        (format!("docker.io/{hex}"), format!("library/{hex}")),
        (format!("docker.io/{hex}:tag"), format!("library/{hex}:tag")),
        // One component never needs the prefix.
        (
            "docker.io/library/example.com".to_owned(),
            "example.com".to_owned(),
        ),
        (
            "docker.io/library/localhost".to_owned(),
            "localhost".to_owned(),
        ),
    ];
    for (input, familiar) in cases {
        let r = parse(&input);
        assert_eq!(r.familiar(), familiar, "{input:?}");
        assert_eq!(parse(&familiar), r, "{input:?}");
    }
}

#[test]
fn builders() {
    let digest = SHA256_F;
    let r = parse("quay.io/team/app");
    let tagged = r.with_tag("v1").expect("valid tag");
    assert_eq!(tagged.to_string(), "quay.io/team/app:v1");
    let both = tagged.with_digest(digest).expect("valid digest");
    assert_eq!(both.to_string(), format!("quay.io/team/app:v1@{digest}"));
    assert_eq!(
        both.with_tag("v2").expect("valid tag").to_string(),
        format!("quay.io/team/app:v2@{digest}")
    );
    assert_eq!(
        both.without_tag().to_string(),
        format!("quay.io/team/app@{digest}")
    );
    assert_eq!(both.without_digest(), tagged);
    assert_eq!(both.without_tag_and_digest(), r);
    assert_eq!(r.with_default_tag().to_string(), "quay.io/team/app:latest");
    assert_eq!(tagged.with_default_tag(), tagged);
    assert_eq!(both.without_tag().with_default_tag(), both.without_tag());
    assert_eq!(both.docker_ref(), both.without_tag());
    assert_eq!(r.docker_ref().to_string(), "quay.io/team/app:latest");

    let error = r.with_tag("-v1").expect_err("invalid tag");
    assert_eq!(
        error.to_string(),
        r#"invalid reference format: tag "-v1" in "quay.io/team/app:-v1" must be 1 to 128 of `A-Za-z0-9_.-` and not start with `.` or `-`"#
    );
    let error = r.with_digest("sha256:abc").expect_err("invalid digest");
    assert_eq!(
        error.to_string(),
        r#"invalid digest "sha256:abc" in "quay.io/team/app@sha256:abc": expected `algorithm:hex` with at least 32 hexadecimal digits after the colon"#
    );
    assert!(r.with_tag("").is_err());
    assert!(r.with_tag(&"t".repeat(129)).is_err());
    assert!(
        r.with_digest(&format!("sha512:{}", "f".repeat(64)))
            .is_err()
    );
}

#[test]
fn validators() {
    assert!(reference::validate_tag("latest").is_ok());
    assert!(reference::validate_tag("v1.0_rc-1").is_ok());
    assert_eq!(
        reference::validate_tag("a/b").map_err(|e| e.to_string()),
        Err(r#"invalid reference format: tag "a/b" in "a/b" must be 1 to 128 of `A-Za-z0-9_.-` and not start with `.` or `-`"#.to_owned())
    );
    assert_eq!(reference::validate_digest(SHA256_F), Ok(()));
    assert_eq!(
        reference::validate_digest("sha1:0123456789abcdef0123456789abcdef01234567"),
        Err(DigestProblem::UnsupportedAlgorithm)
    );
    assert_eq!(
        reference::validate_digest("nope"),
        Err(DigestProblem::Format)
    );
}

#[test]
fn equality_hash_and_order_follow_the_normalised_form() {
    let spellings = [
        "ubuntu",
        "library/ubuntu",
        "docker.io/ubuntu",
        "index.docker.io/library/ubuntu",
    ];
    let set: HashSet<ImageReference> = spellings.iter().map(|s| parse(s)).collect();
    assert_eq!(set.len(), 1);
    assert_ne!(parse("ubuntu"), parse("ubuntu:latest"));
    let mut sorted = [
        parse("quay.io/b"),
        parse("docker.io/x/a"),
        parse("docker.io/x/a:1"),
    ];
    sorted.sort();
    let printed: Vec<String> = sorted.iter().map(ToString::to_string).collect();
    assert_eq!(printed, ["docker.io/x/a", "docker.io/x/a:1", "quay.io/b"]);
}

#[test]
fn serde_uses_the_string_form() {
    let r = parse("ubuntu:22.04");
    let json = serde_json::to_string(&r).expect("serialises");
    assert_eq!(json, r#""docker.io/library/ubuntu:22.04""#);
    let back: ImageReference = serde_json::from_str(r#""ubuntu:22.04""#).expect("deserialises");
    assert_eq!(back, r);
    let error = serde_json::from_str::<ImageReference>(r#""Ubuntu""#).expect_err("uppercase");
    assert_eq!(
        error.to_string(),
        r#"invalid reference format: repository name "library/Ubuntu" in "Ubuntu" must be lowercase"#
    );
    assert!(serde_json::from_str::<ImageReference>("42").is_err());
}
