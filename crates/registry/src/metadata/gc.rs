//! What the metadata seam reports to garbage collection and scrub: the manifests and blob links
//! it would remove or removed, upload sessions, digests in use. The methods are the `garbage
//! collection` block of [`MetadataStore`](super::MetadataStore); the rules they implement (what
//! keeps what, the re-checks inside transactions) are in `docs/gc.md`. Times are Unix seconds.

use berth_oci::Digest;
use serde::Serialize;

/// A manifest or blob link of one repository, with its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcItem {
    /// The repository.
    pub repo: String,
    /// The manifest's or blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// An upload session the metadata knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// Its id.
    pub id: String,
    /// The repository it uploads to.
    pub repo: String,
    /// When it started.
    pub created_at: i64,
}
