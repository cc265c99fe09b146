//! The test tables of the distribution project's `reference` package (`reference_test.go`,
//! `normalize_test.go`), with the outcomes `ParseNormalizedNamed` gives, which is what
//! `ImageReference::parse` implements.
//!
//! `TestReferenceParse` runs the non-normalising `Parse`; its inputs are kept and the expected
//! parts translated to their normalised form (`test_com` becomes `docker.io/library/test_com`).

use osbs_core::{DigestProblem, ImageReference};

use crate::support::{Expected, Kind, SHA256_F, check_all, err, ok, parse};

const SHA512_F: &str = "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

fn cases(list: Vec<(&str, Expected)>) -> Vec<(String, Expected)> {
    list.into_iter().map(|(i, e)| (i.to_owned(), e)).collect()
}

#[test]
fn reference_parse() {
    let d = Some(SHA256_F);
    let mut list = cases(vec![
        ("test_com", ok("docker.io", "library/test_com", None, None)),
        (
            "test.com:tag",
            ok("docker.io", "library/test.com", Some("tag"), None),
        ),
        (
            "test.com:5000",
            ok("docker.io", "library/test.com", Some("5000"), None),
        ),
        (
            "test.com/repo:tag",
            ok("test.com", "repo", Some("tag"), None),
        ),
        ("test:5000/repo", ok("test:5000", "repo", None, None)),
        (
            "test:5000/repo:tag",
            ok("test:5000", "repo", Some("tag"), None),
        ),
        (
            "test:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            ok("test:5000", "repo", None, d),
        ),
        (
            "test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            ok("test:5000", "repo", Some("tag"), d),
        ),
        ("", err(Kind::Empty)),
        (":justtag", err(Kind::InvalidFormat)),
        (
            "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            err(Kind::InvalidFormat),
        ),
        (
            "repo@sha256:ffffffffffffffffffffffffffffffffff",
            err(Kind::Digest(DigestProblem::Length {
                expected: 64,
                actual: 34,
            })),
        ),
        (
            "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            err(Kind::Digest(DigestProblem::UnsupportedAlgorithm)),
        ),
        ("Uppercase:tag", err(Kind::Uppercase)),
        // Upstream leaves this one commented out: `Uppercase` is read as a registry.
        (
            "Uppercase/lowercase:tag",
            ok("Uppercase", "lowercase", Some("tag"), None),
        ),
        ("test:5000/Uppercase/lowercase:tag", err(Kind::Uppercase)),
        (
            "lowercase:Uppercase",
            ok("docker.io", "library/lowercase", Some("Uppercase"), None),
        ),
        ("aa/asdf$$^/aa", err(Kind::InvalidFormat)),
        (
            "sub-dom1.foo.com/bar/baz/quux",
            ok("sub-dom1.foo.com", "bar/baz/quux", None, None),
        ),
        (
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            ok(
                "sub-dom1.foo.com",
                "bar/baz/quux",
                Some("some-long-tag"),
                None,
            ),
        ),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            ok(
                "b.gcr.io",
                "test.example.com/my-app",
                Some("test.example.com"),
                None,
            ),
        ),
        (
            "xn--n3h.com/myimage:xn--n3h.com",
            ok("xn--n3h.com", "myimage", Some("xn--n3h.com"), None),
        ),
        (
            "foo_bar.com:8080",
            ok("docker.io", "library/foo_bar.com", Some("8080"), None),
        ),
        (
            "foo/foo_bar.com:8080",
            ok("docker.io", "foo/foo_bar.com", Some("8080"), None),
        ),
        (
            "192.168.1.1",
            ok("docker.io", "library/192.168.1.1", None, None),
        ),
        (
            "192.168.1.1:tag",
            ok("docker.io", "library/192.168.1.1", Some("tag"), None),
        ),
        (
            "192.168.1.1:5000",
            ok("docker.io", "library/192.168.1.1", Some("5000"), None),
        ),
        ("192.168.1.1/repo", ok("192.168.1.1", "repo", None, None)),
        (
            "192.168.1.1:5000/repo",
            ok("192.168.1.1:5000", "repo", None, None),
        ),
        (
            "192.168.1.1:5000/repo:5050",
            ok("192.168.1.1:5000", "repo", Some("5050"), None),
        ),
        ("[2001:db8::1]", err(Kind::InvalidFormat)),
        ("[2001:db8::1]:5000", err(Kind::InvalidFormat)),
        ("[2001:db8::1]:tag", err(Kind::InvalidFormat)),
        (
            "[2001:db8::1]/repo",
            ok("[2001:db8::1]", "repo", None, None),
        ),
        (
            "[2001:db8:1:2:3:4:5:6]/repo:tag",
            ok("[2001:db8:1:2:3:4:5:6]", "repo", Some("tag"), None),
        ),
        (
            "[2001:db8::1]:5000/repo",
            ok("[2001:db8::1]:5000", "repo", None, None),
        ),
        (
            "[2001:db8::1]:5000/repo:tag",
            ok("[2001:db8::1]:5000", "repo", Some("tag"), None),
        ),
        (
            "[2001:db8::1]:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            ok("[2001:db8::1]:5000", "repo", None, d),
        ),
        (
            "[2001:db8::1]:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            ok("[2001:db8::1]:5000", "repo", Some("tag"), d),
        ),
        (
            "[2001:db8::]:5000/repo",
            ok("[2001:db8::]:5000", "repo", None, None),
        ),
        ("[::1]:5000/repo", ok("[::1]:5000", "repo", None, None)),
        ("[fe80::1%eth0]:5000/repo", err(Kind::InvalidFormat)),
        ("[fe80::1%@invalidzone]:5000/repo", err(Kind::InvalidFormat)),
    ]);
    // The length limit: 128 × "a/" + "a" is a 257-character path; 127 × is 255, the maximum.
    list.push((format!("{}a:tag", "a/".repeat(128)), err(Kind::NameTooLong)));
    list.push((
        format!("{}a:tag-puts-this-over-max", "a/".repeat(127)),
        ok(
            "docker.io",
            format!("{}a", "a/".repeat(127)),
            Some("tag-puts-this-over-max"),
            None,
        ),
    ));
    list.push((
        format!("xn--7o8h.com/myimage:xn--7o8h.com@{SHA512_F}"),
        ok(
            "xn--7o8h.com",
            "myimage",
            Some("xn--7o8h.com"),
            Some(SHA512_F),
        ),
    ));
    check_all(&list);
}

#[test]
fn validate_reference_name() {
    let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    let valid = [
        ("docker/docker", "docker.io/docker/docker"),
        ("library/debian", "docker.io/library/debian"),
        ("debian", "docker.io/library/debian"),
        ("docker.io/docker/docker", "docker.io/docker/docker"),
        ("docker.io/library/debian", "docker.io/library/debian"),
        ("docker.io/debian", "docker.io/library/debian"),
        ("index.docker.io/docker/docker", "docker.io/docker/docker"),
        ("index.docker.io/library/debian", "docker.io/library/debian"),
        ("index.docker.io/debian", "docker.io/library/debian"),
        (
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/docker/docker",
        ),
        (
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000/library/debian",
        ),
        ("127.0.0.1:5000/debian", "127.0.0.1:5000/debian"),
        ("192.168.0.1", "docker.io/library/192.168.0.1"),
        ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
        ("192.168.0.1:8/debian", "192.168.0.1:8/debian"),
        ("192.168.0.2:25000/debian", "192.168.0.2:25000/debian"),
        (
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        ),
        ("[fc00::1]:5000/docker", "[fc00::1]:5000/docker"),
        (
            "[fc00::1]:5000/docker/docker",
            "[fc00::1]:5000/docker/docker",
        ),
        (
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
        ),
        (
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        ),
        ("Docker/docker", "Docker/docker"),
        ("DOCKER/docker", "DOCKER/docker"),
    ];
    for (input, full) in valid {
        let r = parse(input);
        assert_eq!(r.to_string(), full, "{input:?}");
        assert!(crate::support::round_trips(&r), "{input:?}");
    }
    let invalid = [
        ("https://github.com/docker/docker", Kind::InvalidFormat),
        ("docker/Docker", Kind::Uppercase),
        ("-docker", Kind::InvalidFormat),
        ("-docker/docker", Kind::InvalidFormat),
        ("-docker.io/docker/docker", Kind::InvalidFormat),
        ("docker///docker", Kind::InvalidFormat),
        ("docker.io/docker/Docker", Kind::Uppercase),
        ("docker.io/docker///docker", Kind::InvalidFormat),
        ("[fc00::1]", Kind::InvalidFormat),
        ("[fc00::1]:5000", Kind::InvalidFormat),
        ("fc00::1:5000/debian", Kind::InvalidFormat),
        ("[fe80::1%eth0]:5000/debian", Kind::InvalidFormat),
        (
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            Kind::InvalidFormat,
        ),
        (hex, Kind::AmbiguousIdentifier),
    ];
    let list: Vec<_> = invalid
        .iter()
        .map(|(i, k)| (i.to_string(), err(*k)))
        .collect();
    check_all(&list);
}

#[test]
fn validate_remote_name() {
    let valid = [
        "docker/docker",
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker-rules/docker",
        "docker---rules/docker",
        "doc/docker",
        "d/docker",
        "jess/t",
        "dock__er/docker",
    ];
    for input in valid {
        let r = parse(input);
        assert_eq!(r.registry(), "docker.io", "{input:?}");
        assert_eq!(r.familiar(), input, "{input:?}");
    }
    let too_long_namespace = "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker";
    let invalid = [
        ("docker/Docker", Kind::Uppercase),
        ("docker///docker", Kind::InvalidFormat),
        (
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            Kind::AmbiguousIdentifier,
        ),
        ("-docker/docker", Kind::InvalidFormat),
        ("docker-/docker", Kind::InvalidFormat),
        ("-docker-/docker", Kind::InvalidFormat),
        ("____/____", Kind::InvalidFormat),
        ("_docker/_docker", Kind::InvalidFormat),
        ("dock..er/docker", Kind::InvalidFormat),
        ("dock_.er/docker", Kind::InvalidFormat),
        ("dock-.er/docker", Kind::InvalidFormat),
        ("docker/", Kind::InvalidFormat),
        (too_long_namespace, Kind::NameTooLong),
    ];
    let list: Vec<_> = invalid
        .iter()
        .map(|(i, k)| (i.to_string(), err(*k)))
        .collect();
    check_all(&list);
}

/// `TestParseRepositoryInfo`: every spelling of a name gives the same familiar name, full
/// name, domain and remote name.
#[test]
fn parse_repository_info() {
    struct Case {
        remote_name: &'static str,
        familiar_name: &'static str,
        full_name: &'static str,
        ambiguous_name: &'static str,
        domain: &'static str,
    }
    let cases = [
        Case {
            remote_name: "fooo/bar",
            familiar_name: "fooo/bar",
            full_name: "docker.io/fooo/bar",
            ambiguous_name: "index.docker.io/fooo/bar",
            domain: "docker.io",
        },
        Case {
            remote_name: "library/ubuntu",
            familiar_name: "ubuntu",
            full_name: "docker.io/library/ubuntu",
            ambiguous_name: "library/ubuntu",
            domain: "docker.io",
        },
        Case {
            remote_name: "nonlibrary/ubuntu",
            familiar_name: "nonlibrary/ubuntu",
            full_name: "docker.io/nonlibrary/ubuntu",
            ambiguous_name: "",
            domain: "docker.io",
        },
        Case {
            remote_name: "other/library",
            familiar_name: "other/library",
            full_name: "docker.io/other/library",
            ambiguous_name: "",
            domain: "docker.io",
        },
        Case {
            remote_name: "private/moonbase",
            familiar_name: "127.0.0.1:8000/private/moonbase",
            full_name: "127.0.0.1:8000/private/moonbase",
            ambiguous_name: "",
            domain: "127.0.0.1:8000",
        },
        Case {
            remote_name: "privatebase",
            familiar_name: "127.0.0.1:8000/privatebase",
            full_name: "127.0.0.1:8000/privatebase",
            ambiguous_name: "",
            domain: "127.0.0.1:8000",
        },
        Case {
            remote_name: "private/moonbase",
            familiar_name: "example.com/private/moonbase",
            full_name: "example.com/private/moonbase",
            ambiguous_name: "",
            domain: "example.com",
        },
        Case {
            remote_name: "privatebase",
            familiar_name: "example.com/privatebase",
            full_name: "example.com/privatebase",
            ambiguous_name: "",
            domain: "example.com",
        },
        Case {
            remote_name: "private/moonbase",
            familiar_name: "example.com:8000/private/moonbase",
            full_name: "example.com:8000/private/moonbase",
            ambiguous_name: "",
            domain: "example.com:8000",
        },
        Case {
            remote_name: "privatebasee",
            familiar_name: "example.com:8000/privatebasee",
            full_name: "example.com:8000/privatebasee",
            ambiguous_name: "",
            domain: "example.com:8000",
        },
        Case {
            remote_name: "library/ubuntu-12.04-base",
            familiar_name: "ubuntu-12.04-base",
            full_name: "docker.io/library/ubuntu-12.04-base",
            ambiguous_name: "index.docker.io/library/ubuntu-12.04-base",
            domain: "docker.io",
        },
        Case {
            remote_name: "library/foo",
            familiar_name: "foo",
            full_name: "docker.io/library/foo",
            ambiguous_name: "docker.io/foo",
            domain: "docker.io",
        },
        Case {
            remote_name: "library/foo/bar",
            familiar_name: "library/foo/bar",
            full_name: "docker.io/library/foo/bar",
            ambiguous_name: "",
            domain: "docker.io",
        },
        Case {
            remote_name: "store/foo/bar",
            familiar_name: "store/foo/bar",
            full_name: "docker.io/store/foo/bar",
            ambiguous_name: "",
            domain: "docker.io",
        },
        Case {
            remote_name: "bar",
            familiar_name: "Foo/bar",
            full_name: "Foo/bar",
            ambiguous_name: "",
            domain: "Foo",
        },
        Case {
            remote_name: "bar",
            familiar_name: "FOO/bar",
            full_name: "FOO/bar",
            ambiguous_name: "",
            domain: "FOO",
        },
    ];
    for case in cases {
        let mut spellings = vec![case.familiar_name, case.full_name];
        if !case.ambiguous_name.is_empty() {
            spellings.push(case.ambiguous_name);
        }
        for spelling in spellings {
            let r = parse(spelling);
            assert_eq!(r.familiar_name(), case.familiar_name, "{spelling:?}");
            assert_eq!(r.familiar(), case.familiar_name, "{spelling:?}");
            assert_eq!(r.to_string(), case.full_name, "{spelling:?}");
            assert_eq!(r.name(), case.full_name, "{spelling:?}");
            assert_eq!(r.registry(), case.domain, "{spelling:?}");
            assert_eq!(r.repository(), case.remote_name, "{spelling:?}");
        }
    }
}

#[test]
fn parse_reference_with_tag_and_digest() {
    let short =
        "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
    let r = parse(short);
    assert_eq!(r.to_string(), format!("docker.io/library/{short}"));
    assert_eq!(r.tag(), Some("latest"));
    assert_eq!(
        r.digest(),
        Some("sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa")
    );
    assert_eq!(r.familiar(), short);
}

#[test]
fn invalid_reference_components() {
    assert!("-foo".parse::<ImageReference>().is_err());
    let busybox = parse("busybox");
    assert!(busybox.with_tag("-foo").is_err());
    assert!(busybox.with_digest("foo").is_err());
}

/// The named cases of `TestParseAnyReference`; the two that `ParseAnyReference` reads as a bare
/// digest are what `ParseNormalizedNamed` makes of them.
#[test]
fn parse_any_reference_named() {
    let digest = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
    let cases = [
        ("redis".to_owned(), "docker.io/library/redis".to_owned()),
        (
            "redis:latest".to_owned(),
            "docker.io/library/redis:latest".to_owned(),
        ),
        (
            "docker.io/library/redis:latest".to_owned(),
            "docker.io/library/redis:latest".to_owned(),
        ),
        (
            format!("redis@{digest}"),
            format!("docker.io/library/redis@{digest}"),
        ),
        (
            format!("docker.io/library/redis@{digest}"),
            format!("docker.io/library/redis@{digest}"),
        ),
        (
            "dmcgowan/myapp".to_owned(),
            "docker.io/dmcgowan/myapp".to_owned(),
        ),
        (
            "dmcgowan/myapp:latest".to_owned(),
            "docker.io/dmcgowan/myapp:latest".to_owned(),
        ),
        (
            "docker.io/mcgowan/myapp:latest".to_owned(),
            "docker.io/mcgowan/myapp:latest".to_owned(),
        ),
        (
            format!("dmcgowan/myapp@{digest}"),
            format!("docker.io/dmcgowan/myapp@{digest}"),
        ),
        (
            format!("docker.io/dmcgowan/myapp@{digest}"),
            format!("docker.io/dmcgowan/myapp@{digest}"),
        ),
        (
            "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9".to_owned(),
            "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9"
                .to_owned(),
        ),
        ("dbcc1".to_owned(), "docker.io/library/dbcc1".to_owned()),
        // `ParseAnyReference` reads a bare `sha256:<hex>` as a digest; as a name it is the
        // repository `sha256` with the hex as its tag.
        (digest.to_owned(), format!("docker.io/library/{digest}")),
    ];
    for (input, full) in cases {
        assert_eq!(parse(&input).to_string(), full, "{input:?}");
    }
    assert_eq!(
        crate::support::actual(&digest["sha256:".len()..]),
        Err(Kind::AmbiguousIdentifier)
    );
}

#[test]
fn normalized_split_hostname() {
    let cases = [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
        ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ("docker.io/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
    ];
    for (input, registry, repository) in cases {
        let r = parse(input);
        assert_eq!(
            (r.registry(), r.repository()),
            (registry, repository),
            "{input:?}"
        );
    }
}

#[test]
fn parse_docker_ref() {
    let digest = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    let cases = [
        (
            "busybox".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "busybox:latest".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            format!("busybox@{digest}"),
            format!("docker.io/library/busybox@{digest}"),
        ),
        (
            "library/busybox".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "docker.io/busybox".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "docker.io/library/busybox".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "docker.io/busybox:latest".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "library/busybox:latest".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "docker.io/library/busybox:latest".to_owned(),
            "docker.io/library/busybox:latest".to_owned(),
        ),
        (
            "gcr.io/library/busybox".to_owned(),
            "gcr.io/library/busybox:latest".to_owned(),
        ),
        (
            format!("gcr.io/library/busybox:latest@{digest}"),
            format!("gcr.io/library/busybox@{digest}"),
        ),
    ];
    for (input, expected) in cases {
        let docker_ref = parse(&input).docker_ref();
        assert_eq!(docker_ref.to_string(), expected, "{input:?}");
        assert_eq!(parse(&expected), docker_ref, "{input:?}");
    }
}

/// `TestParseNamed`: an input is canonical when it prints back unchanged.
#[test]
fn parse_named_canonical() {
    let cases = [
        ("test.com/foo", true),
        ("test:8080/foo", true),
        ("test_com/foo", false),
        ("test.com", false),
        ("foo", false),
        ("library/foo", false),
        ("docker.io/library/foo", true),
        ("docker.io/foo", false),
    ];
    for (input, canonical) in cases {
        assert_eq!(parse(input).to_string() == input, canonical, "{input:?}");
    }
}

/// `TestWithTag` and `TestWithDigest`. Upstream's short 37-digit digest only passes Go's
/// `WithDigest` grammar check; `with_digest` refuses it, so a full digest stands in for it.
#[test]
fn with_tag_and_with_digest() {
    let short = "sha256:1234567890098765432112345667890098765";
    assert_eq!(
        crate::support::kind(
            &parse("test.com/foo")
                .with_digest(short)
                .expect_err("short digest")
        ),
        Kind::Digest(DigestProblem::Length {
            expected: 64,
            actual: 37
        })
    );
    let full = "sha256:1234567890098765432112345667890098765432112345667890098765432112";
    let with_tag = [
        ("test.com/foo", None, "tag", "test.com/foo:tag"),
        ("foo", None, "tag2", "foo:tag2"),
        ("test.com:8000/foo", None, "tag4", "test.com:8000/foo:tag4"),
        ("test.com:8000/foo", None, "TAG5", "test.com:8000/foo:TAG5"),
        (
            "test.com:8000/foo",
            Some(full),
            "TAG5",
            "test.com:8000/foo:TAG5@sha256:1234567890098765432112345667890098765432112345667890098765432112",
        ),
    ];
    for (name, digest, tag, combined) in with_tag {
        let mut r = parse(name);
        if let Some(digest) = digest {
            r = r.with_digest(digest).expect("valid digest");
        }
        let tagged = r.with_tag(tag).expect("valid tag");
        assert_eq!(tagged.familiar(), combined, "{name:?} {tag:?}");
    }
    let with_digest = [
        ("test.com/foo", None, format!("test.com/foo@{full}")),
        ("foo", None, format!("foo@{full}")),
        (
            "test.com:8000/foo",
            None,
            format!("test.com:8000/foo@{full}"),
        ),
        (
            "test.com:8000/foo",
            Some("latest"),
            format!("test.com:8000/foo:latest@{full}"),
        ),
    ];
    for (name, tag, combined) in with_digest {
        let mut r = parse(name);
        if let Some(tag) = tag {
            r = r.with_tag(tag).expect("valid tag");
        }
        let digested = r.with_digest(full).expect("valid digest");
        assert_eq!(digested.familiar(), combined, "{name:?}");
    }
}

/// `TestSerialization`, with serde_json instead of Go's `Field`.
#[test]
fn serialization() {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct SerializationType {
        description: String,
        field: ImageReference,
    }
    let cases = [
        (
            "just a name",
            "example.com:8000/named",
            "example.com:8000/named",
            None,
            None,
        ),
        (
            "name with a tag",
            "example.com:8000/named:tagged",
            "example.com:8000/named",
            Some("tagged"),
            None,
        ),
        (
            "name with digest",
            "other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112",
            "other.com/named",
            None,
            Some("sha256:1234567890098765432112345667890098765432112345667890098765432112"),
        ),
    ];
    for (description, input, name, tag, digest) in cases {
        let json = serde_json::json!({ "Description": description, "Field": input }).to_string();
        let value: SerializationType = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(value.description, description);
        assert_eq!(value.field.name(), name);
        assert_eq!(value.field.tag(), tag);
        assert_eq!(value.field.digest(), digest);
        assert_eq!(serde_json::to_string(&value).expect("serialises"), json);
    }
    let empty =
        serde_json::from_str::<SerializationType>(r#"{"Description":"empty value","Field":""}"#)
            .expect_err("empty is invalid");
    assert!(
        empty.to_string().contains("the image reference is empty"),
        "{empty}"
    );
}
