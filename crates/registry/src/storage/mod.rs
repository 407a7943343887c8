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
pub mod fs;
pub mod memory;

use std::pin::Pin;

use async_trait::async_trait;
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::Stream;

use crate::error::Result;

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
}
