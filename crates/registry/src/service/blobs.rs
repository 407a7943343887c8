//! Blobs as seen through a repository: existence, reads, deletion.

use berth_oci::Digest;

use super::{Registry, check_name};
use crate::error::{Error, Result};
use crate::storage::ByteStream;

/// A `HEAD` refreshes a blob link older than this even when `[gc] grace` is long, so that a
/// `berth registry gc --grace` down to twice this is as safe for pushes as the server's own.
pub const HEAD_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

impl Registry {
    /// Size of blob `digest` if `repo` may serve it; `BlobUnknown` otherwise.
    pub async fn blob_size(&self, repo: &str, digest: &Digest) -> Result<u64> {
        check_name(repo)?;
        if self.meta.blob_linked(repo, digest).await?.is_none() {
            return Err(Error::BlobUnknown(digest.clone()));
        }
        self.blobs
            .stat(digest)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.clone()))
    }

    /// `HEAD` of a blob: [`Registry::blob_size`], and a link older than half of GC's grace
    /// period (at most [`HEAD_REFRESH`]) is refreshed — a pusher that sees the blob skips its
    /// upload and references it in the manifest it pushes next, so GC must not take it
    /// meanwhile (docs/gc.md).
    pub async fn head_blob(&self, repo: &str, digest: &Digest) -> Result<u64> {
        check_name(repo)?;
        let grace = super::gc::GcOptions::grace_of(&self.config);
        let refresh = (grace / 2).min(HEAD_REFRESH);
        let stale = super::gc::unix_secs(std::time::SystemTime::now() - refresh);
        if self.meta.touch_link(repo, digest, stale).await?.is_none() {
            return Err(Error::BlobUnknown(digest.clone()));
        }
        self.blobs
            .stat(digest)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.clone()))
    }

    /// Stream bytes `start..end` of a blob (already checked with [`Registry::blob_size`]).
    pub async fn read_blob(&self, digest: &Digest, start: u64, end: u64) -> Result<ByteStream> {
        self.blobs.read(digest, start, end).await
    }

    /// Stop `repo` serving `digest`. The bytes stay until garbage collection.
    pub async fn delete_blob(&self, repo: &str, digest: &Digest) -> Result<()> {
        check_name(repo)?;
        self.check_delete()?;
        // Deleting a layer an image still uses would break that image for everyone.
        if let Some(manifest) = self.meta.blob_user(repo, digest).await? {
            return Err(Error::BlobInUse {
                digest: digest.clone(),
                manifest,
                repo: repo.to_string(),
            });
        }
        if self.meta.unlink_blob(repo, digest).await? {
            return Ok(());
        }
        // Not removed: absent, or a manifest using it was recorded since the check above.
        match self.meta.blob_user(repo, digest).await? {
            Some(manifest) => Err(Error::BlobInUse {
                digest: digest.clone(),
                manifest,
                repo: repo.to_string(),
            }),
            None => Err(Error::BlobUnknown(digest.clone())),
        }
    }
}
