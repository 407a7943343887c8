//! The metadata seam: repositories, which blobs each repository may serve, manifests and what
//! they reference, tags, subject→referrer links, and upload sessions.
//!
//! Blob *bytes* live in `storage`; this seam holds only names and links. Every multi-row change
//! (a manifest with its references and tag) is one transaction, so a crash leaves either all of
//! it or none. Implementations: [`sqlite::SqliteMetadata`]; the SQL is kept portable so a
//! PostgreSQL implementation can share it.

pub mod sqlite;

use async_trait::async_trait;
use berth_oci::Digest;

use crate::error::Result;

/// A manifest to record, with everything it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRecord {
    /// Repository holding it.
    pub repo: String,
    /// Its digest.
    pub digest: Digest,
    /// Media type it was pushed with.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type (for referrers).
    pub artifact_type: Option<String>,
    /// The manifest it refers to.
    pub subject: Option<Digest>,
    /// Top-level annotations, as JSON text.
    pub annotations: Option<String>,
    /// Blobs it references (config, layers).
    pub blobs: Vec<Digest>,
    /// Child manifests it references (indexes).
    pub children: Vec<Digest>,
}

/// What a stored manifest looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// A manifest that names some subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its annotations, JSON text.
    pub annotations: Option<String>,
}

/// One page of a sorted listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// The names on this page, sorted.
    pub items: Vec<String>,
    /// Whether more follow.
    pub more: bool,
}

/// Where the registry keeps its metadata.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Whether the repository exists (holds or held content).
    async fn repository_exists(&self, repo: &str) -> Result<bool>;

    /// Repositories in lexical order, after `last`, at most `n` (all when `None`).
    async fn repositories(&self, n: Option<u32>, last: Option<&str>) -> Result<Page>;

    /// The size of `digest` when `repo` may serve it, else `None`.
    async fn blob_linked(&self, repo: &str, digest: &Digest) -> Result<Option<u64>>;

    /// Let `repo` serve blob `digest` (creating the repository).
    async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<()>;

    /// Stop `repo` serving `digest`; `false` when it did not.
    async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool>;

    /// A manifest of `repo` that references blob `digest` (as config or layer), if any.
    async fn blob_user(&self, repo: &str, digest: &Digest) -> Result<Option<Digest>>;

    /// Record a manifest and its references, and point `tag` at it, in one transaction.
    async fn put_manifest(&self, manifest: &ManifestRecord, tag: Option<&str>) -> Result<()>;

    /// The manifest `digest` in `repo`.
    async fn manifest(&self, repo: &str, digest: &Digest) -> Result<Option<ManifestInfo>>;

    /// The digest `tag` points at.
    async fn resolve_tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>>;

    /// Remove a manifest and every tag pointing at it; `false` when absent.
    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool>;

    /// Remove one tag; `false` when absent.
    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool>;

    /// Tags of `repo` in lexical order, after `last`, at most `n`.
    async fn tags(&self, repo: &str, n: Option<u32>, last: Option<&str>) -> Result<Page>;

    /// Manifests of `repo` whose subject is `subject`.
    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Referrer>>;

    /// Record upload session `id` for `repo`.
    async fn create_upload(&self, id: &str, repo: &str) -> Result<()>;

    /// The repository upload `id` belongs to.
    async fn upload_repository(&self, id: &str) -> Result<Option<String>>;

    /// Forget upload `id`.
    async fn delete_upload(&self, id: &str) -> Result<()>;
}
