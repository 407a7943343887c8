//! The blob-storage seam: a content-addressed byte store plus resumable upload sessions.
//!
//! The store knows nothing of repositories, tags or manifests — that meaning lives in
//! `metadata` and `service`. It deals in digests, byte ranges and upload ids. Every write is
//! atomic: content becomes visible under its digest only after it was verified and made durable.
//!
//! Implementations: [`fs::FsBlobStore`] (the embedded default) and [`memory::MemoryBlobStore`]
//! (the fake). The seam is shaped for object
//! stores too (ranged reads; appends that map to multipart parts; commit verifies the digest).
//! [`conformance::run`] checks any implementation against the contract below.

pub mod conformance;
pub mod fence;
pub mod fs;
pub mod memory;

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::Stream;

use crate::error::Result;

pub use fence::{Fence, FenceMode};

/// A stream of bytes, as read from or written to the store.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Content-addressed blob storage with upload sessions.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The blob's size, or `None` when the store does not hold it.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Stream bytes `start..end` of a blob. `Error::BlobUnknown` when absent; the caller keeps
    /// the range inside the size it got from [`BlobStore::stat`].
    async fn read(&self, digest: &Digest, start: u64, end: u64) -> Result<ByteStream>;

    /// Read a whole blob of at most `limit` bytes (manifests). `None` when absent.
    async fn read_all(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>>;

    /// Store `data` under `digest`, verifying it first (`Error::DigestInvalid` on mismatch).
    /// Storing content that is already present is a no-op.
    async fn put(&self, digest: &Digest, data: Bytes) -> Result<()>;

    /// Remove a blob's bytes; `false` when it was absent.
    async fn delete(&self, digest: &Digest) -> Result<bool>;

    /// Start an empty upload session named `id`.
    async fn upload_create(&self, id: &str) -> Result<()>;

    /// Bytes received so far by upload `id`; `None` when there is no such upload.
    async fn upload_size(&self, id: &str) -> Result<Option<u64>>;

    /// Append `body` to upload `id`. When `offset` is given it must equal the bytes received so
    /// far (`Error::RangeNotSatisfiable` otherwise). On any failure — including the body stream
    /// breaking off — the upload is left exactly as it was before the call. Returns the new size.
    async fn upload_append(&self, id: &str, offset: Option<u64>, body: ByteStream) -> Result<u64>;

    /// Verify upload `id` against `digest` and make it the blob `digest`; the session ends.
    /// On mismatch `Error::DigestInvalid` is returned and the session is kept as it was.
    /// Returns the blob's size.
    async fn upload_commit(&self, id: &str, digest: &Digest) -> Result<u64>;

    /// Drop upload `id`; `false` when there was no such upload.
    async fn upload_cancel(&self, id: &str) -> Result<bool>;

    // ---- garbage collection and scrub (docs/gc.md) ----

    /// Take the GC fence: [`FenceMode::Shared`] around making bytes present and recording a
    /// reference to them, [`FenceMode::Exclusive`] around deleting blobs. It excludes holders in
    /// other processes on the same data root too, and is released when the [`Fence`] drops.
    async fn fence(&self, mode: FenceMode) -> Result<Fence>;

    /// Up to `limit` blobs whose digest string sorts after `after`, in digest-string order
    /// (the order SQLite's `ORDER BY digest` gives). Files that are not blobs are skipped.
    async fn list_blobs(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<BlobEntry>>;

    /// Remove blob `digest` if it was last written before `before`; the bytes freed, or
    /// `None` when it is absent or younger. `put` and `upload_commit` of content already
    /// present count as writes (they refresh the time).
    async fn remove_if_older(&self, digest: &Digest, before: SystemTime) -> Result<Option<u64>>;

    /// Every upload session's bytes on store, whether or not the metadata knows it.
    async fn list_uploads(&self) -> Result<Vec<UploadEntry>>;

    /// Temporary files (of writes that never finished) last written before `before`: removed,
    /// or only listed when `dry_run`. Returns their names and sizes.
    async fn sweep_temp(&self, before: SystemTime, dry_run: bool) -> Result<Vec<(String, u64)>>;

    /// Move blob `digest` out of the store, keeping its bytes for inspection; where they went,
    /// or `None` when it was absent.
    async fn quarantine(&self, digest: &Digest) -> Result<Option<String>>;
}

/// A stored blob, as listed for garbage collection and scrub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    /// Its digest (the name it is stored under; the bytes may disagree if corrupted).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (created, or its content uploaded again).
    pub modified: SystemTime,
}

/// The bytes of an upload session on store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    /// The session id.
    pub id: String,
    /// Bytes received.
    pub size: u64,
    /// When bytes last arrived.
    pub modified: SystemTime,
}
