//! Content digests (`sha256:<hex>`, also sha384 and sha512), computed incrementally.

use sha2::Digest as _;

/// An incremental hasher for one of the digest algorithms the OCI spec registers.
pub(crate) enum Digester {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Digester {
    /// A hasher for the algorithm of `digest` (`sha256:...`), or `None` for an unknown one.
    pub(crate) fn for_digest(digest: &str) -> Option<Self> {
        match digest.split_once(':')?.0 {
            "sha256" => Some(Self::Sha256(sha2::Sha256::new())),
            "sha384" => Some(Self::Sha384(sha2::Sha384::new())),
            "sha512" => Some(Self::Sha512(sha2::Sha512::new())),
            _ => None,
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// `algorithm:hex`.
    pub(crate) fn finish(self) -> String {
        match self {
            Self::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Self::Sha384(h) => format!("sha384:{}", hex::encode(h.finalize())),
            Self::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// The digest of `data` with the algorithm of `like` (sha256 when `like` is `None` or unknown).
pub(crate) fn digest_like(data: &[u8], like: Option<&str>) -> String {
    let mut digester = like
        .and_then(Digester::for_digest)
        .unwrap_or_else(|| Digester::Sha256(sha2::Sha256::new()));
    digester.update(data);
    digester.finish()
}

/// The sha256 digest of `data`, `sha256:<hex>`.
pub fn sha256_digest(data: &[u8]) -> String {
    digest_like(data, None)
}

/// Whether `s` looks like a digest (`algorithm:hex`) rather than a tag.
pub(crate) fn is_digest(s: &str) -> bool {
    s.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut d = Digester::for_digest("sha512:x").unwrap();
        d.update(b"abc");
        assert!(d.finish().starts_with("sha512:ddaf35a193617aba"));
        assert!(Digester::for_digest("md5:x").is_none());
        assert!(is_digest("sha256:abc"));
        assert!(!is_digest("latest"));
    }
}
