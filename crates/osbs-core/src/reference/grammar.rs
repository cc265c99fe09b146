//! A hand-written matcher for the reference grammar of the distribution project's `reference`
//! package (`regexp.go`), plus the digest checks of `go-digest` that its `Parse` applies.
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | '[' IPv6address ']'
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! IPv6address      := /[a-fA-F0-9:]+/
//! port-number      := /[0-9]+/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! remote-name      := path-component ['/' path-component]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" /[0-9a-fA-F]{32,}/
//! algorithm        := component [ /[+.-_]/ component ]*
//! component        := /[A-Za-z][A-Za-z0-9]*/
//! identifier       := /[a-f0-9]{64}/
//! ```
//!
//! The regular expressions are anchored and none of `/`, `:` and `@` can appear in more than one
//! place, so the match is deterministic: the digest starts at the first `@`, the tag at the
//! first `:` after the last `/`, and the optional domain is the first `/`-separated segment when
//! it is a valid domain and the rest is a valid remote name (the optional group is greedy, so
//! the regular expression prefers the domain reading, exactly as below).
//!
//! Every function here works on `&str` with `split_once`, iterators and checked `get`, so no
//! input can make it panic.

/// The captures of the anchored reference expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// The domain capture of the name, when the first segment was read as one.
    pub(crate) domain: Option<&'a str>,
    /// The remote name (path) capture.
    pub(crate) path: &'a str,
    /// The tag after `:`, when present.
    pub(crate) tag: Option<&'a str>,
    /// The digest after `@`, when present (only checked against the grammar here).
    pub(crate) digest: Option<&'a str>,
}

/// Which part of a reference does not match the grammar, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The name (domain and remote name) does not match.
    Name,
    /// The tag does not match `[\w][\w.-]{0,127}`.
    Tag,
    /// The digest does not match `algorithm:hex`.
    Digest,
}

/// Why a digest that matched the grammar is still rejected, as `go-digest`'s `Validate` does
/// for the algorithms Docker registers (sha256, sha384, sha512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestProblem {
    /// Not of the form `algorithm:hex` with at least 32 hexadecimal digits.
    Format,
    /// An algorithm other than `sha256`, `sha384` and `sha512`.
    UnsupportedAlgorithm,
    /// The hex part has the wrong length for the algorithm.
    Length {
        /// The number of hex characters the algorithm needs.
        expected: usize,
        /// The number of hex characters given.
        actual: usize,
    },
    /// The hex part contains uppercase characters; digests are lowercase.
    UppercaseHex,
}

impl std::fmt::Display for DigestProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Format => f.write_str(
                "expected `algorithm:hex` with at least 32 hexadecimal digits after the colon",
            ),
            Self::UnsupportedAlgorithm => {
                f.write_str("unsupported algorithm, expected sha256, sha384 or sha512")
            }
            Self::Length { expected, actual } => {
                write!(f, "expected {expected} hexadecimal digits, got {actual}")
            }
            Self::UppercaseHex => f.write_str("hexadecimal digits must be lowercase"),
        }
    }
}

/// Matches `s` against the anchored reference expression and returns its captures.
pub(crate) fn match_reference(s: &str) -> Result<Parts<'_>, Mismatch> {
    let (name, tag, digest) = split(s);
    let (domain, path) = match_name(name).ok_or(Mismatch::Name)?;
    if tag.is_some_and(|tag| !is_tag(tag)) {
        return Err(Mismatch::Tag);
    }
    if digest.is_some_and(|digest| !is_digest(digest)) {
        return Err(Mismatch::Digest);
    }
    Ok(Parts {
        domain,
        path,
        tag,
        digest,
    })
}

/// Splits `s` into the text the name, tag and digest captures would cover, before checking
/// any of them.
pub(crate) fn split(s: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = split_digest(s);
    let (name, tag) = split_tag(rest);
    (name, tag, digest)
}

/// The part of `s` that the name capture would cover: everything before the tag and digest.
pub(crate) fn name_part(s: &str) -> &str {
    split(s).0
}

/// Splits at the first `@`: no other part of the grammar may contain one.
fn split_digest(s: &str) -> (&str, Option<&str>) {
    match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    }
}

/// Splits at the first `:` after the last `/`: a port can only be in the first segment and the
/// last path component cannot contain a colon.
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let (head, last) = match s.rsplit_once('/') {
        Some((head, last)) => (Some(head), last),
        None => (None, s),
    };
    let Some((last_name, tag)) = last.split_once(':') else {
        return (s, None);
    };
    let name_len = head.map_or(0, |head| head.len() + 1) + last_name.len();
    match s.get(..name_len) {
        Some(name) => (name, Some(tag)),
        None => (s, None),
    }
}

/// Matches the anchored name expression: `[domain '/'] remote-name`, preferring the domain.
pub(crate) fn match_name(name: &str) -> Option<(Option<&str>, &str)> {
    if let Some((first, rest)) = name.split_once('/')
        && is_domain_and_port(first)
        && is_remote_name(rest)
    {
        return Some((Some(first), rest));
    }
    is_remote_name(name).then_some((None, name))
}

/// `path-component ['/' path-component]*`.
pub(crate) fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+ ( ( [._] | __ | [-]+ ) [a-z0-9]+ )*`.
pub(crate) fn is_path_component(s: &str) -> bool {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        /// At the start, or right after a complete `.` separator: an alphanumeric must follow.
        NeedAlnum,
        /// Inside an alphanumeric run: the component may end here.
        Alnum,
        /// After one `_`: an alphanumeric or a second `_` may follow.
        Underscore,
        /// After `__`: an alphanumeric must follow.
        DoubleUnderscore,
        /// After one or more `-`: an alphanumeric or another `-` may follow.
        Dashes,
    }
    let mut state = State::NeedAlnum;
    for byte in s.bytes() {
        state = match (byte, state) {
            (b'a'..=b'z' | b'0'..=b'9', _) => State::Alnum,
            (b'.', State::Alnum) => State::NeedAlnum,
            (b'_', State::Alnum) => State::Underscore,
            (b'_', State::Underscore) => State::DoubleUnderscore,
            (b'-', State::Alnum | State::Dashes) => State::Dashes,
            _ => return false,
        };
    }
    state == State::Alnum
}

/// `host [':' port-number]` where `host := domain-name | '[' IPv6address ']'`.
pub(crate) fn is_domain_and_port(s: &str) -> bool {
    let port = if let Some(bracketed) = s.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return false;
        };
        if address.is_empty()
            || !address
                .bytes()
                .all(|byte| byte.is_ascii_hexdigit() || byte == b':')
        {
            return false;
        }
        if after.is_empty() {
            return true;
        }
        match after.strip_prefix(':') {
            Some(port) => port,
            None => return false,
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) if is_domain_name(host) => port,
            Some(_) => return false,
            None => return is_domain_name(s),
        }
    };
    !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit())
}

/// `domain-component ['.' domain-component]*`.
fn is_domain_name(s: &str) -> bool {
    s.split('.').all(|component| {
        let bytes = component.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && bytes
                        .iter()
                        .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'-')
            }
            _ => false,
        }
    })
}

/// `[\w][\w.-]{0,127}` where `\w` is ASCII `[0-9A-Za-z_]`.
pub(crate) fn is_tag(s: &str) -> bool {
    let mut bytes = s.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    s.len() <= 128
        && (first.is_ascii_alphanumeric() || first == b'_')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`.
pub(crate) fn is_digest(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|component| {
        let mut bytes = component.bytes();
        bytes.next().is_some_and(|byte| byte.is_ascii_alphabetic())
            && bytes.all(|byte| byte.is_ascii_alphanumeric())
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// The grammar check and `go-digest`'s validation: sha256, sha384 or sha512 with exactly 64,
/// 96 or 128 lowercase hexadecimal digits.
pub(crate) fn validate_digest(s: &str) -> Result<(), DigestProblem> {
    if !is_digest(s) {
        return Err(DigestProblem::Format);
    }
    let Some((algorithm, hex)) = s.split_once(':') else {
        return Err(DigestProblem::Format);
    };
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(DigestProblem::UnsupportedAlgorithm),
    };
    if hex.len() != expected {
        return Err(DigestProblem::Length {
            expected,
            actual: hex.len(),
        });
    }
    if !hex
        .bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    {
        return Err(DigestProblem::UppercaseHex);
    }
    Ok(())
}

/// `[a-f0-9]{64}`: a bare image ID, which `ParseNormalizedNamed` refuses as a name.
pub(crate) fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// Go's `unicode.ToLower` (the simple case mapping) of one character, which is what
/// `strings.ToLower` applies to each rune.
pub(crate) fn go_to_lower(c: char) -> char {
    if c == '\u{130}' {
        // The only character whose full lowercase mapping has two characters; its simple
        // mapping, which Go uses, is a plain `i`.
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

/// Whether Go's `strings.ToLower(s) != s`.
pub(crate) fn has_uppercase(s: &str) -> bool {
    s.chars().any(|c| go_to_lower(c) != c)
}

/// Go's `strings.ToLower`.
pub(crate) fn go_lowercase(s: &str) -> String {
    s.chars().map(go_to_lower).collect()
}

#[cfg(test)]
mod tests {
    //! The tables of `regexp_test.go` (`TestDomainRegexp`, `TestFullNameRegexp`,
    //! `TestReferenceRegexp`, `TestIdentifierRegexp`), run against the hand-written matcher.

    use super::*;

    #[test]
    fn domain_regexp() {
        let cases = [
            ("test.com", true),
            ("test.com:10304", true),
            ("test.com:http", false),
            ("localhost", true),
            ("localhost:8080", true),
            ("a", true),
            ("a.b", true),
            ("ab.cd.com", true),
            ("a-b.com", true),
            ("-ab.com", false),
            ("ab-.com", false),
            ("ab.c-om", true),
            ("ab.-com", false),
            ("ab.com-", false),
            ("0101.com", true),
            ("001a.com", true),
            ("b.gbc.io:443", true),
            ("b.gbc.io", true),
            ("xn--n3h.com", true),
            ("Asdf.com", true),
            ("192.168.1.1:75050", true),
            ("192.168.1.1:750050", true),
            ("[fd00:1:2::3]:75050", true),
            ("[fd00:1:2::3]75050", false),
            ("[fd00:1:2::3]::75050", false),
            ("[fd00:1:2::3%eth0]:75050", false),
            ("[fd00123123123]:75050", true),
            ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", true),
            ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", true),
            ("fd00:1:2::3:75050", false),
            // Beyond the upstream table.
            ("", false),
            ("[]", false),
            ("[::1]", true),
            ("[::1]:", false),
            ("test.com:", false),
            ("a..b", false),
            (".a", false),
            ("a.", false),
            ("a_b.com", false),
            ("[", false),
            ("[::1", false),
        ];
        for (input, expected) in cases {
            assert_eq!(is_domain_and_port(input), expected, "{input:?}");
        }
    }

    #[test]
    fn full_name_regexp() {
        let a128 = format!("{}a", "a/".repeat(128));
        let a127 = format!("{}a", "a/".repeat(127));
        let cases: Vec<(&str, Option<(&str, &str)>)> = vec![
            ("", None),
            ("short", Some(("", "short"))),
            ("simple/name", Some(("simple", "name"))),
            ("library/ubuntu", Some(("library", "ubuntu"))),
            ("docker/stevvooe/app", Some(("docker", "stevvooe/app"))),
            (
                "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
                Some(("aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb")),
            ),
            ("aa/aa/bb/bb/bb", Some(("aa", "aa/bb/bb/bb"))),
            ("a/a/a/a", Some(("a", "a/a/a"))),
            ("a/a/a/a/", None),
            ("a//a/a", None),
            ("a", Some(("", "a"))),
            ("a/aa", Some(("a", "aa"))),
            ("a/aa/a", Some(("a", "aa/a"))),
            ("foo.com", Some(("", "foo.com"))),
            ("foo.com/", None),
            ("foo.com:8080/bar", Some(("foo.com:8080", "bar"))),
            ("foo.com:http/bar", None),
            ("foo.com/bar", Some(("foo.com", "bar"))),
            ("foo.com/bar/baz", Some(("foo.com", "bar/baz"))),
            ("localhost:8080/bar", Some(("localhost:8080", "bar"))),
            (
                "sub-dom1.foo.com/bar/baz/quux",
                Some(("sub-dom1.foo.com", "bar/baz/quux")),
            ),
            ("blog.foo.com/bar/baz", Some(("blog.foo.com", "bar/baz"))),
            ("a^a", None),
            ("aa/asdf$$^/aa", None),
            ("asdf$$^/aa", None),
            ("aa-a/a", Some(("aa-a", "a"))),
            (a128.as_str(), Some(("a", a127.as_str()))),
            ("a-/a/a/a", None),
            ("foo.com/a-/a/a", None),
            ("-foo/bar", None),
            ("foo/bar-", None),
            ("foo-/bar", None),
            ("foo/-bar", None),
            ("_foo/bar", None),
            ("foo_bar", Some(("", "foo_bar"))),
            ("foo_bar.com", Some(("", "foo_bar.com"))),
            ("foo_bar.com:8080", None),
            ("foo_bar.com:8080/app", None),
            ("foo.com/foo_bar", Some(("foo.com", "foo_bar"))),
            ("____/____", None),
            ("_docker/_docker", None),
            ("docker_/docker_", None),
            (
                "b.gcr.io/test.example.com/my-app",
                Some(("b.gcr.io", "test.example.com/my-app")),
            ),
            ("xn--n3h.com/myimage", Some(("xn--n3h.com", "myimage"))),
            ("xn--7o8h.com/myimage", Some(("xn--7o8h.com", "myimage"))),
            (
                "example.com/xn--7o8h.com/myimage",
                Some(("example.com", "xn--7o8h.com/myimage")),
            ),
            (
                "example.com/some_separator__underscore/myimage",
                Some(("example.com", "some_separator__underscore/myimage")),
            ),
            ("example.com/__underscore/myimage", None),
            ("example.com/..dots/myimage", None),
            ("example.com/.dots/myimage", None),
            ("example.com/nodouble..dots/myimage", None),
            ("docker./docker", None),
            (".docker/docker", None),
            ("docker-/docker", None),
            ("-docker/docker", None),
            ("do..cker/docker", None),
            ("do__cker:8080/docker", None),
            ("do__cker/docker", Some(("", "do__cker/docker"))),
            (
                "registry.io/foo/project--id.module--name.ver---sion--name",
                Some((
                    "registry.io",
                    "foo/project--id.module--name.ver---sion--name",
                )),
            ),
            ("Asdf.com/foo/bar", Some(("Asdf.com", "foo/bar"))),
            ("Foo/FarB", None),
            // Beyond the upstream table: separators.
            ("a___b", None),
            ("a_.b", None),
            ("a._b", None),
            ("a.-b", None),
            ("a-.b", None),
            ("a-_b", None),
            ("a__b", Some(("", "a__b"))),
            ("a---b", Some(("", "a---b"))),
            ("a.b.c", Some(("", "a.b.c"))),
        ];
        for (input, expected) in cases {
            let actual = match_name(input).map(|(domain, path)| (domain.unwrap_or(""), path));
            assert_eq!(actual, expected, "{input:?}");
        }
    }

    #[test]
    fn reference_regexp() {
        let digest = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";
        /// The name, tag and digest captures, with "" for a missing one.
        type Captures<'a> = Option<(&'a str, &'a str, &'a str)>;
        let cases: Vec<(String, Captures<'_>)> = vec![
            (
                "registry.com:8080/myapp:tag".into(),
                Some(("registry.com:8080/myapp", "tag", "")),
            ),
            (
                format!("registry.com:8080/myapp@{digest}"),
                Some(("registry.com:8080/myapp", "", digest)),
            ),
            (
                format!("registry.com:8080/myapp:tag2@{digest}"),
                Some(("registry.com:8080/myapp", "tag2", digest)),
            ),
            ("registry.com:8080/myapp@sha256:badbadbadbad".into(), None),
            ("registry.com:8080/myapp:invalid~tag".into(), None),
            ("bad_hostname.com:8080/myapp:tag".into(), None),
            (
                format!("localhost:8080@{digest}"),
                Some(("localhost", "8080", digest)),
            ),
            (
                format!("localhost:8080/name@{digest}"),
                Some(("localhost:8080/name", "", digest)),
            ),
            (format!("localhost:http/name@{digest}"), None),
            (
                format!("localhost@{digest}"),
                Some(("localhost", "", digest)),
            ),
            ("registry.com:8080/myapp@bad".into(), None),
            ("registry.com:8080/myapp@2bad".into(), None),
        ];
        for (input, expected) in cases {
            let actual = match_reference(&input).ok().map(|parts| {
                (
                    name_part(&input),
                    parts.tag.unwrap_or(""),
                    parts.digest.unwrap_or(""),
                )
            });
            assert_eq!(actual, expected, "{input:?}");
        }
    }

    #[test]
    fn identifier_regexp() {
        let cases = [
            (
                "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821",
                true,
            ),
            (
                "7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C",
                false,
            ),
            (
                "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf",
                false,
            ),
            (
                "sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821",
                false,
            ),
            (
                "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482",
                false,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(is_identifier(input), expected, "{input:?}");
        }
    }

    #[test]
    fn tags() {
        let max = "a".repeat(128);
        let too_long = "a".repeat(129);
        let cases = [
            ("latest", true),
            ("_", true),
            ("Uppercase", true),
            ("1.0-rc.1_b", true),
            (max.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            ("-foo", false),
            (".foo", false),
            ("foo:bar", false),
            ("foo/bar", false),
            ("invalid~tag", false),
            ("é", false),
        ];
        for (input, expected) in cases {
            assert_eq!(is_tag(input), expected, "{input:?}");
        }
    }

    #[test]
    fn digests() {
        let f64 = "f".repeat(64);
        let cases = [
            (format!("sha256:{f64}"), Ok(())),
            (format!("sha384:{}", "0".repeat(96)), Ok(())),
            (format!("sha512:{}", "a".repeat(128)), Ok(())),
            (
                format!("sha256:{}", "F".repeat(64)),
                Err(DigestProblem::UppercaseHex),
            ),
            (
                format!("sha256:{}", "f".repeat(34)),
                Err(DigestProblem::Length {
                    expected: 64,
                    actual: 34,
                }),
            ),
            (
                format!("sha512:{f64}"),
                Err(DigestProblem::Length {
                    expected: 128,
                    actual: 64,
                }),
            ),
            (
                format!("invaliddigest:{f64}"),
                Err(DigestProblem::UnsupportedAlgorithm),
            ),
            (
                format!("SHA256:{f64}"),
                Err(DigestProblem::UnsupportedAlgorithm),
            ),
            (
                format!("sha256+b64:{f64}"),
                Err(DigestProblem::UnsupportedAlgorithm),
            ),
            ("sha256:ffff".to_owned(), Err(DigestProblem::Format)),
            (format!("sha256-:{f64}"), Err(DigestProblem::Format)),
            (format!("2sha:{f64}"), Err(DigestProblem::Format)),
            (format!(":{f64}"), Err(DigestProblem::Format)),
            (
                format!("sha256:{}g", "f".repeat(63)),
                Err(DigestProblem::Format),
            ),
            ("sha256".to_owned(), Err(DigestProblem::Format)),
            (String::new(), Err(DigestProblem::Format)),
        ];
        for (input, expected) in cases {
            assert_eq!(validate_digest(&input), expected, "{input:?}");
        }
    }

    #[test]
    fn go_lowercasing() {
        assert_eq!(go_lowercase("FOO.com"), "foo.com");
        assert_eq!(go_lowercase("\u{130}"), "i");
        assert_eq!(go_lowercase("\u{212a}"), "k");
        assert!(has_uppercase("fooBar"));
        assert!(!has_uppercase("foo_bar-é"));
    }
}
