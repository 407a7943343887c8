//! A lenient reading of manifests: enough to know what kind a manifest is, which blobs and child
//! manifests it references, its subject and artifact type. Unknown fields are ignored, so new
//! artifact kinds pass; what the registry must check (references, subject) is extracted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media_type as mt;

/// A content descriptor as it appears in manifests and indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes of the referenced content.
    pub size: i64,
    /// Artifact type, on index entries and referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform, on index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    /// Alternate locations (foreign layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

/// Whether a manifest is a single image/artifact or an index of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// OCI image manifest or Docker schema 2 manifest: a config plus layers.
    Image,
    /// OCI index or Docker manifest list: child manifests.
    Index,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    blobs: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
    #[serde(rename = "fsLayers")]
    fs_layers: Option<serde_json::Value>,
}

/// What berth needs to know of a manifest it stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// Image or index.
    pub kind: ManifestKind,
    /// The media type the manifest is stored and served under.
    pub media_type: String,
    /// The artifact type: the manifest's `artifactType`, else its config media type (images).
    pub artifact_type: Option<String>,
    /// Blobs this manifest needs (config and layers), foreign layers excluded.
    pub blobs: Vec<Descriptor>,
    /// Child manifests (indexes only).
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to, if any.
    pub subject: Option<Descriptor>,
    /// Top-level annotations.
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ParsedManifest {
    /// Parse `body`, which arrived with `content_type` (may be empty when unknown).
    ///
    /// The media type is the body's `mediaType` when present, else `content_type`; when both are
    /// given they must agree. Docker schema 1 is refused.
    pub fn parse(body: &[u8], content_type: &str) -> Result<ParsedManifest> {
        let content_type = content_type.split(';').next().unwrap_or("").trim();
        if content_type == mt::DOCKER_SCHEMA1 || content_type == mt::DOCKER_SCHEMA1_SIGNED {
            return Err(Error::UnsupportedManifest(
                "Docker schema 1 manifests are not supported; push schema 2 or OCI".into(),
            ));
        }
        let raw: Raw = serde_json::from_slice(body)
            .map_err(|e| Error::InvalidManifest(format!("not a JSON manifest: {e}")))?;
        if raw.schema_version == Some(1) || raw.fs_layers.is_some() {
            return Err(Error::UnsupportedManifest(
                "Docker schema 1 manifests are not supported; push schema 2 or OCI".into(),
            ));
        }
        if raw.schema_version != Some(2) {
            return Err(Error::InvalidManifest("schemaVersion must be 2".into()));
        }
        let media_type = match (&raw.media_type, content_type) {
            (Some(m), ct) if !ct.is_empty() && m != ct && ct != "application/json" => {
                return Err(Error::InvalidManifest(format!(
                    "mediaType {m:?} does not match Content-Type {ct:?}"
                )));
            }
            (Some(m), _) => m.clone(),
            (None, ct) if !ct.is_empty() && ct != "application/json" => ct.to_string(),
            (None, _) if raw.manifests.is_some() => mt::OCI_INDEX.to_string(),
            (None, _) if raw.config.is_some() => mt::OCI_MANIFEST.to_string(),
            (None, _) => return Err(Error::InvalidManifest("no media type".into())),
        };
        let kind = match media_type.as_str() {
            mt::OCI_MANIFEST | mt::DOCKER_MANIFEST => ManifestKind::Image,
            mt::OCI_INDEX | mt::DOCKER_MANIFEST_LIST => ManifestKind::Index,
            other => {
                return Err(Error::InvalidManifest(format!(
                    "unsupported manifest media type {other:?}"
                )));
            }
        };
        let mut blobs = Vec::new();
        let mut manifests = Vec::new();
        match kind {
            ManifestKind::Image => {
                let config = raw.config.clone().ok_or_else(|| {
                    Error::InvalidManifest("image manifest without config".into())
                })?;
                let layers = raw.layers.clone().ok_or_else(|| {
                    Error::InvalidManifest("image manifest without layers".into())
                })?;
                if raw.manifests.is_some() {
                    return Err(Error::InvalidManifest(
                        "image manifest with manifests".into(),
                    ));
                }
                blobs.push(config);
                blobs.extend(
                    layers
                        .into_iter()
                        .filter(|l| !mt::is_foreign_layer(&l.media_type)),
                );
                blobs.extend(raw.blobs.clone().unwrap_or_default());
            }
            ManifestKind::Index => {
                manifests = raw
                    .manifests
                    .clone()
                    .ok_or_else(|| Error::InvalidManifest("index without manifests".into()))?;
                if raw.config.is_some() || raw.layers.is_some() {
                    return Err(Error::InvalidManifest("index with config or layers".into()));
                }
            }
        }
        for d in blobs.iter().chain(&manifests) {
            if d.size < 0 {
                return Err(Error::InvalidManifest(format!(
                    "negative size for {}",
                    d.digest
                )));
            }
        }
        // An empty artifactType counts as absent (the distribution-spec's referrers rule).
        let artifact_type = raw
            .artifact_type
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| match kind {
                ManifestKind::Image => raw.config.as_ref().map(|c| c.media_type.clone()),
                ManifestKind::Index => None,
            });
        Ok(ParsedManifest {
            kind,
            media_type,
            artifact_type,
            blobs,
            manifests,
            subject: raw.subject,
            annotations: raw.annotations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        Digest::sha256(&[n]).to_string()
    }

    #[test]
    fn image_manifest_lists_config_and_layers() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},
            "layers":[{{"mediaType":"{}","digest":"{}","size":3}}],"subject":{{"mediaType":"{}","digest":"{}","size":9}}}}"#,
            mt::OCI_MANIFEST,
            mt::OCI_CONFIG,
            d(1),
            mt::OCI_LAYER_GZIP,
            d(2),
            mt::OCI_MANIFEST,
            d(3)
        );
        let p = ParsedManifest::parse(body.as_bytes(), mt::OCI_MANIFEST).unwrap();
        assert_eq!(p.kind, ManifestKind::Image);
        assert_eq!(p.blobs.len(), 2);
        assert_eq!(p.artifact_type.as_deref(), Some(mt::OCI_CONFIG));
        assert_eq!(p.subject.unwrap().digest.to_string(), d(3));
        let empty = body.replacen(
            "{\"schemaVersion\":2,",
            "{\"schemaVersion\":2,\"artifactType\":\"\",",
            1,
        );
        let p = ParsedManifest::parse(empty.as_bytes(), mt::OCI_MANIFEST).unwrap();
        assert_eq!(
            p.artifact_type.as_deref(),
            Some(mt::OCI_CONFIG),
            "empty artifactType falls back"
        );
    }

    #[test]
    fn index_lists_children_and_media_type_comes_from_header() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{}","size":5}}]}}"#,
            mt::OCI_MANIFEST,
            d(1)
        );
        let p = ParsedManifest::parse(body.as_bytes(), mt::DOCKER_MANIFEST_LIST).unwrap();
        assert_eq!(p.kind, ManifestKind::Index);
        assert_eq!(p.media_type, mt::DOCKER_MANIFEST_LIST);
        assert_eq!(p.manifests.len(), 1);
    }

    #[test]
    fn refuses_schema1_mismatch_and_garbage() {
        assert!(matches!(
            ParsedManifest::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, ""),
            Err(Error::UnsupportedManifest(_))
        ));
        assert!(matches!(
            ParsedManifest::parse(b"{}", mt::DOCKER_SCHEMA1_SIGNED),
            Err(Error::UnsupportedManifest(_))
        ));
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
            mt::OCI_INDEX
        );
        assert!(ParsedManifest::parse(body.as_bytes(), mt::OCI_MANIFEST).is_err());
        assert!(ParsedManifest::parse(b"not json", mt::OCI_MANIFEST).is_err());
        let bad_digest = r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1},"layers":[]}"#;
        assert!(ParsedManifest::parse(bad_digest.as_bytes(), mt::OCI_MANIFEST).is_err());
    }
}
