//! Upload sessions: start, append chunks, report progress, finish (verify + link), cancel, and
//! the shortcuts (monolithic upload, cross-repository mount).

use berth_oci::Digest;

use super::{Registry, check_name};
use crate::error::{Error, Result};
use crate::storage::{ByteStream, FenceMode};

impl Registry {
    /// Open an upload session for `repo`; returns its id.
    pub async fn start_upload(&self, repo: &str) -> Result<String> {
        check_name(repo)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.upload_create(&id).await?;
        self.meta.create_upload(&id, repo).await?;
        Ok(id)
    }

    async fn check_upload(&self, repo: &str, id: &str) -> Result<()> {
        check_name(repo)?;
        match self.meta.upload_repository(id).await? {
            Some(r) if r == repo => Ok(()),
            _ => Err(Error::BlobUploadUnknown(id.to_string())),
        }
    }

    /// Bytes received so far by upload `id` of `repo`.
    pub async fn upload_size(&self, repo: &str, id: &str) -> Result<u64> {
        self.check_upload(repo, id).await?;
        self.blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))
    }

    /// Append a chunk; `offset` (from Content-Range) must be where the upload stands.
    pub async fn upload_chunk(
        &self,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        body: ByteStream,
    ) -> Result<u64> {
        self.check_upload(repo, id).await?;
        self.blobs.upload_append(id, offset, body).await
    }

    /// Finish upload `id`: append the last chunk if any, check the quotas (a refused upload's
    /// bytes are discarded), verify against `digest`, let `repo` serve the blob, end the
    /// session.
    pub async fn finish_upload(
        &self,
        repo: &str,
        id: &str,
        digest: &Digest,
        last_chunk: Option<(Option<u64>, ByteStream)>,
    ) -> Result<u64> {
        self.check_upload(repo, id).await?;
        if let Some((offset, body)) = last_chunk {
            self.blobs.upload_append(id, offset, body).await?;
        }
        let admission = self.admit_upload(repo, id, digest, true).await?;
        // Bytes made present and linked under the GC fence (docs/gc.md).
        let fence = self.blobs.fence(FenceMode::Shared).await?;
        let size = self.blobs.upload_commit(id, digest).await?;
        self.meta.link_blob(repo, digest, size).await?;
        drop(fence);
        if let Some(a) = admission {
            a.linked();
        }
        self.meta.delete_upload(id).await?;
        Ok(size)
    }

    /// Cancel upload `id` of `repo`.
    pub async fn cancel_upload(&self, repo: &str, id: &str) -> Result<()> {
        self.check_upload(repo, id).await?;
        self.blobs.upload_cancel(id).await?;
        self.meta.delete_upload(id).await
    }

    /// Upload a whole blob in one request.
    pub async fn put_blob(&self, repo: &str, digest: &Digest, body: ByteStream) -> Result<u64> {
        check_name(repo)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.upload_create(&id).await?;
        let result = async {
            self.blobs.upload_append(&id, Some(0), body).await?;
            let admission = self.admit_upload(repo, &id, digest, false).await?;
            let fence = self.blobs.fence(FenceMode::Shared).await?;
            let size = self.blobs.upload_commit(&id, digest).await?;
            Ok((size, admission, fence))
        }
        .await;
        match result {
            Ok((size, admission, fence)) => {
                self.meta.link_blob(repo, digest, size).await?;
                drop(fence);
                if let Some(a) = admission {
                    a.linked();
                }
                Ok(size)
            }
            Err(e) => {
                let _ = self.blobs.upload_cancel(&id).await;
                Err(e)
            }
        }
    }

    /// The spec's automatic cross-mount (a `mount` without `from`): `digest` is already in
    /// `repo`, or is mounted from the first repository holding it that `may_pull` accepts — so
    /// a caller learns only of blobs in repositories it may read. `None`: not found there.
    pub async fn mount_any(
        &self,
        repo: &str,
        digest: &Digest,
        may_pull: impl Fn(&str) -> bool,
    ) -> Result<Option<u64>> {
        check_name(repo)?;
        // Already here: answered like a HEAD, which refreshes an old link (docs/gc.md).
        match self.head_blob(repo, digest).await {
            Ok(size) => return Ok(Some(size)),
            Err(Error::BlobUnknown(_)) => {}
            Err(e) => return Err(e),
        }
        for from in self.meta.blob_repositories(digest, 64).await? {
            if from != repo
                && may_pull(&from)
                && let Some(size) = self.mount_blob(repo, digest, &from).await?
            {
                return Ok(Some(size));
            }
        }
        Ok(None)
    }

    /// Let `repo` serve `digest` from repository `from` without moving bytes. `None` when
    /// `from` does not hold it (the caller then falls back to a plain upload).
    pub async fn mount_blob(&self, repo: &str, digest: &Digest, from: &str) -> Result<Option<u64>> {
        check_name(repo)?;
        if berth_oci::validate_repository(from).is_err()
            || self.meta.blob_linked(from, digest).await?.is_none()
        {
            return Ok(None);
        }
        let Some(size) = self.blobs.stat(digest).await? else {
            return Ok(None);
        };
        let admission = self.admit(repo, digest, size).await?;
        // Checked and linked in one transaction: GC may have removed the source meanwhile.
        if self.meta.mount_link(repo, digest, from).await?.is_none() {
            return Ok(None);
        }
        if let Some(a) = admission {
            a.linked();
        }
        Ok(Some(size))
    }
}
