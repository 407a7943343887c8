//! Manifests: accepting one (parse, check everything it references is present, store bytes, then
//! record it and its tag in one transaction; more tags with `?tag=`), fetching by tag or digest
//! with media-type negotiation (noting the pull, for retention), and deletion of manifests and
//! tags. Immutable tags are checked here: one cannot be moved, deleted, or lose its manifest.

use std::str::FromStr;

use berth_oci::manifest::ManifestKind;
use berth_oci::{Digest, ParsedManifest, media_type as mt};
use bytes::Bytes;

use super::{Registry, check_name};
use crate::error::{Error, Result};
use crate::metadata::{ManifestRecord, PulledRef};
use crate::storage::FenceMode;

/// A manifest reference from a URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// `/manifests/<tag>`
    Tag(String),
    /// `/manifests/<digest>`
    Digest(Digest),
}

impl ManifestRef {
    /// Parse a reference: anything with a `:` must be a digest, otherwise a tag.
    pub fn parse(s: &str) -> Result<ManifestRef> {
        if s.contains(':') {
            Digest::from_str(s)
                .map(ManifestRef::Digest)
                .map_err(|e| Error::DigestInvalid(e.to_string()))
        } else {
            berth_oci::validate_tag(s)
                .map(|_| ManifestRef::Tag(s.to_string()))
                .map_err(|_| Error::ManifestInvalid(format!("invalid tag {s:?}")))
        }
    }
}

/// A manifest as served.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its bytes (absent for HEAD).
    pub body: Option<Bytes>,
}

/// Outcome of a manifest push.
#[derive(Debug, Clone)]
pub struct PutOutcome {
    /// Digest of the stored manifest.
    pub digest: Digest,
    /// Its subject, for the `OCI-Subject` header.
    pub subject: Option<Digest>,
    /// The tags now pointing at it: the one of the path, then those of `?tag=`.
    pub tags: Vec<String>,
}

fn accepts(accept: &[String], media_type: &str) -> bool {
    accept
        .iter()
        .any(|a| a == media_type || a == "*/*" || a == "application/*" || a == "application/json")
}

/// The tags a push sets: the reference's, then `extra` (each valid, each once).
fn push_tags(reference: &ManifestRef, extra: &[String]) -> Result<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    if let ManifestRef::Tag(t) = reference {
        tags.push(t.clone());
    }
    for t in extra {
        berth_oci::validate_tag(t).map_err(|_| {
            Error::ManifestInvalid(format!("invalid tag {t:?} in the tag parameter"))
        })?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(tags)
}

impl Registry {
    /// Store a manifest pushed as `reference` with `content_type`.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
        content_type: &str,
        body: Bytes,
    ) -> Result<PutOutcome> {
        self.put_manifest_tagged(repo, reference, &[], content_type, body)
            .await
    }

    /// Store a manifest pushed as `reference` and point `extra_tags` at it too (the `tag`
    /// parameters of `PUT /v2/<name>/manifests/<digest>?tag=A&tag=B`). Nothing is stored when
    /// a tag is invalid or immutable and points elsewhere, or when a quota would be exceeded.
    pub async fn put_manifest_tagged(
        &self,
        repo: &str,
        reference: &ManifestRef,
        extra_tags: &[String],
        content_type: &str,
        body: Bytes,
    ) -> Result<PutOutcome> {
        check_name(repo)?;
        let tags = push_tags(reference, extra_tags)?;
        if body.len() > self.config.max_manifest_size {
            return Err(Error::TooLarge(format!(
                "manifest exceeds {} bytes",
                self.config.max_manifest_size
            )));
        }
        let parsed = ParsedManifest::parse(&body, content_type)
            .map_err(|e| Error::ManifestInvalid(e.to_string()))?;
        let digest = match reference {
            ManifestRef::Digest(d) => {
                let actual = Digest::of(d.algorithm(), &body);
                if &actual != d {
                    return Err(Error::DigestInvalid(format!(
                        "manifest is {actual}, not {d}"
                    )));
                }
                d.clone()
            }
            ManifestRef::Tag(_) => Digest::sha256(&body),
        };
        if !self.config.sparse_manifests {
            for blob in &parsed.blobs {
                if self.meta.blob_linked(repo, &blob.digest).await?.is_none() {
                    return Err(Error::ManifestBlobUnknown(blob.digest.clone()));
                }
            }
            for child in &parsed.manifests {
                if self.meta.manifest(repo, &child.digest).await?.is_none() {
                    return Err(Error::ManifestBlobUnknown(child.digest.clone()));
                }
            }
        }
        // Checking and setting protected tags is one step (no second push finds them new).
        let _tag_guard = self.check_tags_mutable(repo, &tags, &digest).await?;
        let admission = self.admit(repo, &digest, body.len() as u64).await?;
        // Bytes first, durable; only then the metadata that points at them — both under the
        // GC fence, and the references re-checked in the recording transaction (docs/gc.md).
        let fence = self.blobs.fence(FenceMode::Shared).await?;
        self.blobs.put(&digest, body.clone()).await?;
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let record = ManifestRecord {
            repo: repo.to_string(),
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            size: body.len() as u64,
            artifact_type: parsed.artifact_type.clone(),
            subject: subject.clone(),
            annotations: parsed
                .annotations
                .as_ref()
                .map(|a| serde_json::to_string(a).expect("json")),
            blobs: parsed.blobs.iter().map(|b| b.digest.clone()).collect(),
            children: parsed.manifests.iter().map(|m| m.digest.clone()).collect(),
            require_refs: !self.config.sparse_manifests,
        };
        let tag = tags.first().map(String::as_str);
        self.meta.put_manifest(&record, tag).await?;
        drop(fence);
        if tags.len() > 1 {
            self.meta.set_tags(repo, &digest, &tags[1..]).await?;
        }
        if let Some(a) = admission {
            a.linked();
        }
        tracing::info!(repo, %digest, ?tags, media_type = %parsed.media_type, "manifest stored");
        Ok(PutOutcome {
            digest,
            subject,
            tags,
        })
    }

    /// Refuse to move an immutable tag among `tags` to `digest`. When a rule protects one of
    /// them, the returned guard keeps other pushes of protected tags out until it is dropped.
    async fn check_tags_mutable(
        &self,
        repo: &str,
        tags: &[String],
        digest: &Digest,
    ) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>> {
        let rules = self.policies();
        let protected: Vec<_> = tags
            .iter()
            .filter_map(|t| rules.immutable_rule(repo, t).map(|r| (t, r)))
            .collect();
        if protected.is_empty() {
            return Ok(None);
        }
        let guard = self.policy.tag_lock.lock().await;
        for (tag, rule) in protected {
            if let Some(current) = self.meta.resolve_tag(repo, tag).await?
                && &current != digest
            {
                return Err(rule.refusal(repo, tag, current, "moved"));
            }
        }
        Ok(Some(guard))
    }

    async fn resolve(&self, repo: &str, reference: &ManifestRef) -> Result<Digest> {
        match reference {
            ManifestRef::Digest(d) => Ok(d.clone()),
            ManifestRef::Tag(t) => self
                .meta
                .resolve_tag(repo, t)
                .await?
                .ok_or_else(|| Error::ManifestUnknown(format!("{repo}:{t}"))),
        }
    }

    /// Fetch a manifest. `accept` lists the media types the client takes (empty: any). When the
    /// stored manifest is an index the client does not accept, the linux/amd64 entry it does
    /// accept is served instead, as Docker's registry does for old clients.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &ManifestRef,
        accept: &[String],
        with_body: bool,
    ) -> Result<StoredManifest> {
        check_name(repo)?;
        let digest = self.resolve(repo, reference).await?;
        let info = self
            .meta
            .manifest(repo, &digest)
            .await?
            .ok_or_else(|| Error::ManifestUnknown(format!("{repo}@{digest}")))?;
        let known = [
            mt::OCI_MANIFEST,
            mt::OCI_INDEX,
            mt::DOCKER_MANIFEST,
            mt::DOCKER_MANIFEST_LIST,
        ];
        let negotiating = accept.iter().any(|a| known.contains(&a.as_str()));
        let mut out = StoredManifest {
            digest,
            media_type: info.media_type,
            size: info.size,
            body: None,
        };
        if negotiating && !accepts(accept, &out.media_type) {
            let is_index =
                out.media_type == mt::OCI_INDEX || out.media_type == mt::DOCKER_MANIFEST_LIST;
            let child = if is_index {
                self.platform_child(repo, &out.digest, accept).await?
            } else {
                None
            };
            match child {
                Some(c) => out = c,
                None => {
                    return Err(Error::ManifestUnknown(format!(
                        "{repo}@{} is {}, which the Accept header does not allow",
                        out.digest, out.media_type
                    )));
                }
            }
        }
        if with_body {
            let body = self
                .blobs
                .read_all(&out.digest, self.config.max_manifest_size as u64)
                .await?
                .ok_or_else(|| Error::ManifestUnknown(format!("{repo}@{}", out.digest)))?;
            out.body = Some(body);
            // A pull (GET, not HEAD) counts for retention's keep_pulled_within.
            let pulled = match reference {
                ManifestRef::Tag(t) => PulledRef::Tag(t.clone()),
                ManifestRef::Digest(d) => PulledRef::Digest(d.clone()),
            };
            self.policy.pulls.record(repo, pulled);
        }
        Ok(out)
    }

    async fn platform_child(
        &self,
        repo: &str,
        index: &Digest,
        accept: &[String],
    ) -> Result<Option<StoredManifest>> {
        let Some(body) = self
            .blobs
            .read_all(index, self.config.max_manifest_size as u64)
            .await?
        else {
            return Ok(None);
        };
        let Ok(parsed) = ParsedManifest::parse(&body, "") else {
            return Ok(None);
        };
        if parsed.kind != ManifestKind::Index {
            return Ok(None);
        }
        for m in &parsed.manifests {
            let p = m.platform.as_ref();
            let field = |k: &str| {
                p.and_then(|p| p.get(k))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
            };
            if field("os") == "linux"
                && field("architecture") == "amd64"
                && accepts(accept, &m.media_type)
                && let Some(info) = self.meta.manifest(repo, &m.digest).await?
            {
                return Ok(Some(StoredManifest {
                    digest: m.digest.clone(),
                    media_type: info.media_type,
                    size: info.size,
                    body: None,
                }));
            }
        }
        Ok(None)
    }

    /// Delete by digest (the manifest and its tags) or by tag (only the tag). Refused when an
    /// immutable tag would go.
    pub async fn delete_manifest(&self, repo: &str, reference: &ManifestRef) -> Result<()> {
        check_name(repo)?;
        self.check_delete()?;
        let _tag_guard = self.check_delete_mutable(repo, reference).await?;
        let found = match reference {
            ManifestRef::Digest(d) => self.meta.delete_manifest(repo, d).await?,
            ManifestRef::Tag(t) => self.meta.delete_tag(repo, t).await?,
        };
        if found {
            Ok(())
        } else {
            Err(Error::ManifestUnknown(format!("{repo} {reference:?}")))
        }
    }
}

impl Registry {
    /// Refuse a delete that would remove an immutable tag: the tag itself, or (by digest) the
    /// manifest one points at. The guard keeps protected-tag pushes out until the delete is done.
    async fn check_delete_mutable(
        &self,
        repo: &str,
        reference: &ManifestRef,
    ) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>> {
        let rules = self.policies();
        if !rules
            .immutable
            .iter()
            .any(|r| crate::auth::scope::matches(&r.repositories, repo))
        {
            return Ok(None);
        }
        let guard = self.policy.tag_lock.lock().await;
        let (tags, digest, verb) = match reference {
            ManifestRef::Tag(t) => match self.meta.resolve_tag(repo, t).await? {
                Some(d) => (vec![t.clone()], d, "deleted"),
                None => return Ok(Some(guard)),
            },
            ManifestRef::Digest(d) => (
                self.meta.tags_of(repo, d).await?,
                d.clone(),
                "deleted with its manifest",
            ),
        };
        for tag in tags {
            if let Some(rule) = rules.immutable_rule(repo, &tag) {
                return Err(rule.refusal(repo, &tag, digest, verb));
            }
        }
        Ok(Some(guard))
    }
}
