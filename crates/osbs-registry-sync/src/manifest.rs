//! Manifests as raw bytes (so digests are preserved byte for byte) plus just enough parsing to
//! find what they reference: config and layer blobs, or child manifests.

use bytes::Bytes;
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use serde::Deserialize;

/// Every manifest media type this crate copies, for `Accept` headers.
pub const SUPPORTED_MEDIA_TYPES: [&str; 4] = [
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
];

/// A manifest exactly as the registry sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The media type (`Content-Type` of the response, else the `mediaType` field).
    pub media_type: String,
    /// The digest of [`Self::bytes`].
    pub digest: String,
    /// The raw bytes; pushing exactly these preserves the digest.
    pub bytes: Bytes,
}

impl Manifest {
    /// Whether this is a manifest list or an OCI index (it references manifests, not blobs).
    pub fn is_index(&self) -> bool {
        self.media_type == IMAGE_MANIFEST_LIST_MEDIA_TYPE
            || self.media_type == OCI_IMAGE_INDEX_MEDIA_TYPE
    }
}

/// A content descriptor inside a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    /// Its media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    #[serde(default)]
    pub size: u64,
    /// External URLs of a foreign (non-distributable) layer.
    #[serde(default)]
    pub urls: Vec<String>,
}

impl Descriptor {
    /// Foreign / non-distributable layers are not stored in registries and are not copied
    /// (as `skopeo copy` does by default).
    pub fn is_foreign(&self) -> bool {
        !self.urls.is_empty()
            && (self.media_type.contains("foreign") || self.media_type.contains("nondistributable"))
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    manifests: Option<Vec<Descriptor>>,
}

/// What a manifest references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Contents {
    /// An image: its config and layer blobs (foreign layers left out).
    Image { blobs: Vec<Descriptor> },
    /// An index: its child manifests.
    Index { manifests: Vec<Descriptor> },
}

/// Works out the media type of `bytes` (preferring a supported `content_type`) and what it
/// references. The error is a short description of the problem.
pub(crate) fn inspect(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<(String, Contents), String> {
    let raw: Raw =
        serde_json::from_slice(bytes).map_err(|err| format!("not a valid manifest: {err}"))?;
    if raw.schema_version != Some(2) {
        return Err(format!(
            "schema version {} is not supported (only schema 2 and OCI manifests are)",
            raw.schema_version
                .map_or_else(|| "(none)".to_owned(), |v| v.to_string())
        ));
    }
    let content_type = content_type
        .map(|ct| ct.split(';').next().unwrap_or_default().trim())
        .filter(|ct| SUPPORTED_MEDIA_TYPES.contains(ct));
    let media_type = match (content_type, raw.media_type.as_deref()) {
        (Some(ct), _) => ct.to_owned(),
        (None, Some(mt)) => mt.to_owned(),
        // OCI allows leaving mediaType out; the structure tells which it is.
        (None, None) if raw.manifests.is_some() => OCI_IMAGE_INDEX_MEDIA_TYPE.to_owned(),
        (None, None) => OCI_IMAGE_MEDIA_TYPE.to_owned(),
    };
    if !SUPPORTED_MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(format!("media type {media_type:?} is not supported"));
    }
    let contents = if media_type == IMAGE_MANIFEST_LIST_MEDIA_TYPE
        || media_type == OCI_IMAGE_INDEX_MEDIA_TYPE
    {
        Contents::Index {
            manifests: raw.manifests.unwrap_or_default(),
        }
    } else {
        let config = raw
            .config
            .ok_or_else(|| "an image manifest without a config".to_owned())?;
        let mut blobs = vec![config];
        blobs.extend(raw.layers.into_iter().filter(|layer| !layer.is_foreign()));
        Contents::Image { blobs }
    };
    Ok((media_type, contents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_image() {
        let json = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
          "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"sha256:c"},
          "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3,"digest":"sha256:l1"},
                    {"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":3,"digest":"sha256:f","urls":["https://x"]}]}"#;
        let (mt, contents) = inspect(json, Some("text/plain")).unwrap();
        assert_eq!(mt, IMAGE_MANIFEST_MEDIA_TYPE);
        let Contents::Image { blobs } = contents else {
            panic!("not an image")
        };
        let digests: Vec<_> = blobs.iter().map(|b| b.digest.as_str()).collect();
        assert_eq!(digests, ["sha256:c", "sha256:l1"]);
    }

    #[test]
    fn oci_without_media_type() {
        let (mt, contents) = inspect(
            br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(mt, OCI_IMAGE_INDEX_MEDIA_TYPE);
        assert!(matches!(contents, Contents::Index { manifests } if manifests.len() == 1));
        let (mt, _) = inspect(
            br#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":1},"layers":[]}"#,
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
        )
        .unwrap();
        assert_eq!(mt, OCI_IMAGE_MEDIA_TYPE);
    }

    #[test]
    fn refuses_schema1_and_unknown() {
        let err = inspect(br#"{"schemaVersion":1,"name":"x"}"#, None).unwrap_err();
        assert!(err.contains("schema version 1"), "{err}");
        let err = inspect(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#, None).unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        assert!(inspect(b"nope", None).is_err());
    }
}
