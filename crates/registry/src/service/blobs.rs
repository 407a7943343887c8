//! Blobs as seen through a repository: existence, reads, deletion.

use berth_oci::Digest;

use super::{Registry, check_name};
use crate::error::{Error, Result};
use crate::storage::ByteStream;

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
            Ok(())
        } else {
            Err(Error::BlobUnknown(digest.clone()))
        }
    }
}
