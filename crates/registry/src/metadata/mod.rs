//! The metadata seam: repositories, which blobs each repository may serve, manifests and what
//! they reference, tags, subject→referrer links, and upload sessions.
//!
//! Blob *bytes* live in `storage`; this seam holds only names and links. Every multi-row change
//! (a manifest with its references and tag) is one transaction, so a crash leaves either all of
//! it or none. Implementations: [`sqlite::SqliteMetadata`]; the SQL is kept portable so a
//! PostgreSQL implementation can share it.

pub mod gc;
pub mod sqlite;
pub mod usage;

use async_trait::async_trait;
use berth_oci::Digest;

use crate::error::Result;

pub use gc::{GcItem, UploadRow};
pub use usage::{ContentRow, PullRecord, PulledRef, TagSummary, TagTimes};

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
    /// Check, inside the transaction that records it, that every blob is linked in `repo` and
    /// every child manifest is there, failing with `ManifestBlobUnknown` otherwise: garbage
    /// collection may have removed one since the caller looked (docs/gc.md). Off for sparse
    /// manifests.
    pub require_refs: bool,
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

    /// Repositories that may serve blob `digest`, sorted, at most `limit`.
    async fn blob_repositories(&self, digest: &Digest, limit: u32) -> Result<Vec<String>>;

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

    /// Totals for monitoring: repositories, unique blobs and manifests and their bytes.
    async fn stats(&self) -> Result<StoreStats>;

    // ---- retention, quotas, usage ----

    /// Tags of `repo` with their push and pull times, most recently pushed first.
    async fn tag_times(&self, repo: &str) -> Result<Vec<TagTimes>>;

    /// Names of the tags of `repo` pointing at `digest`.
    async fn tags_of(&self, repo: &str, digest: &Digest) -> Result<Vec<String>>;

    /// Remove `tag` only if it still points at `digest` and was last pushed at `pushed_at`
    /// (so a tag re-pushed since it was judged stays); `false` when it did not.
    async fn delete_tag_if_unchanged(
        &self,
        repo: &str,
        tag: &str,
        digest: &Digest,
        pushed_at: i64,
    ) -> Result<bool>;

    /// Point every tag in `tags` at the recorded manifest `digest`, in one transaction.
    async fn set_tags(&self, repo: &str, digest: &Digest, tags: &[String]) -> Result<()>;

    /// Record a batch of pulls in one transaction. A pull by digest counts for every tag then
    /// pointing at it; a pull naming a tag or digest that no tag has is dropped.
    async fn record_pulls(&self, pulls: &[PullRecord]) -> Result<()>;

    /// Forget the pull times of tags that are gone or moved; how many were forgotten.
    async fn prune_pulls(&self) -> Result<u64>;

    /// Whether a repository of `namespace` (itself or below `namespace/`) holds `digest`, as a
    /// blob or as a manifest.
    async fn namespace_holds(&self, namespace: &str, digest: &Digest) -> Result<bool>;

    /// Bytes of the distinct content (blobs and manifests, each digest once) of `namespace`.
    async fn namespace_usage(&self, namespace: &str) -> Result<u64>;

    /// Every blob link and manifest of every repository, for usage reports.
    async fn content(&self) -> Result<Vec<ContentRow>>;

    /// Tag counts and latest pulls per repository (repositories with tags only).
    async fn tag_summary(&self) -> Result<Vec<TagSummary>>;

    // ---- garbage collection (docs/gc.md) ----

    /// For a `HEAD` of blob `digest` in `repo`: its size when `repo` may serve it. A link last
    /// refreshed before `stale` is refreshed to now, so a pusher that skips an upload because
    /// of this answer has at least half of GC's grace period left to reference the blob.
    async fn touch_link(&self, repo: &str, digest: &Digest, stale: i64) -> Result<Option<u64>>;

    /// A cross-repository mount: let `repo` serve `digest` if `from` still does, checked and
    /// linked in one transaction (GC cannot remove the source in between); the size, or `None`
    /// when `from` does not hold it.
    async fn mount_link(&self, repo: &str, digest: &Digest, from: &str) -> Result<Option<u64>>;

    /// The manifests an `--untagged` collection removes: last pushed before `cutoff` and kept
    /// by nothing — no tag, no kept index listing them, no kept subject they refer to.
    async fn gc_unkept_manifests(&self, cutoff: i64) -> Result<Vec<GcItem>>;

    /// Judge and remove (with their references) the manifests [`gc_unkept_manifests`] names,
    /// in one transaction; the removed.
    ///
    /// [`gc_unkept_manifests`]: MetadataStore::gc_unkept_manifests
    async fn gc_remove_manifests(&self, cutoff: i64) -> Result<Vec<GcItem>>;

    /// Blob links last refreshed before `cutoff` that no manifest of their repository
    /// references — with `untagged`, none that an `--untagged` collection keeps.
    async fn gc_unreferenced_links(&self, cutoff: i64, untagged: bool) -> Result<Vec<GcItem>>;

    /// Remove those of `links` that are, re-checked in one transaction, still unreferenced and
    /// last refreshed before `cutoff`; the removed.
    async fn gc_remove_links(&self, links: &[GcItem], cutoff: i64) -> Result<Vec<GcItem>>;

    /// Up to `limit` digests sorting after `after` that some blob link or manifest holds, in
    /// digest-string order, each with how many links and manifests hold it.
    async fn gc_held(&self, after: Option<&str>, limit: u32) -> Result<Vec<(String, u64)>>;

    /// Those of `digests` that some blob link or manifest holds now.
    async fn gc_still_held(&self, digests: &[Digest]) -> Result<Vec<Digest>>;

    /// Every upload session.
    async fn gc_uploads(&self) -> Result<Vec<UploadRow>>;

    /// Forget upload `id` if it started before `before`; whether it was forgotten.
    async fn gc_expire_upload(&self, id: &str, before: i64) -> Result<bool>;

    /// The manifests that need `digest`: stored as it, or referencing it as a blob or child.
    async fn gc_users(&self, digest: &Digest) -> Result<Vec<GcItem>>;

    /// Remove every repository's link to blob `digest`; how many there were.
    async fn gc_unlink_everywhere(&self, digest: &Digest) -> Result<u64>;
}

/// Totals over the whole registry, for monitoring (content shared by repositories counts once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Repositories.
    pub repositories: u64,
    /// Unique blobs (configs, layers) some repository may serve.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Unique manifests.
    pub manifests: u64,
    /// Their bytes.
    pub manifest_bytes: u64,
}
