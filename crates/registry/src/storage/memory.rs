//! An in-memory [`BlobStore`]: the fake for tests of the layers above, and a second
//! implementation that keeps the seam honest (it runs the same [`conformance`](super::conformance)
//! checks as the filesystem store).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::StreamExt;

use super::fence::MemoryFence;
use super::{BlobEntry, BlobStore, ByteStream, Fence, FenceMode, UploadEntry};
use crate::error::{Error, Result};

/// Blobs (with when they were last written) and uploads held in memory.
#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<Digest, (Bytes, SystemTime)>>,
    uploads: Mutex<HashMap<String, (Vec<u8>, SystemTime)>>,
    quarantined: Mutex<HashMap<Digest, Bytes>>,
    fence: MemoryFence,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> MemoryBlobStore {
        MemoryBlobStore::default()
    }
}

fn check_id(id: &str) -> Result<()> {
    if super::fs::valid_upload_id(id) {
        Ok(())
    } else {
        Err(Error::BlobUploadUnknown(id.to_string()))
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self
            .blobs
            .lock()
            .unwrap()
            .get(digest)
            .map(|(b, _)| b.len() as u64))
    }

    async fn read(&self, digest: &Digest, start: u64, end: u64) -> Result<ByteStream> {
        let data = self
            .blobs
            .lock()
            .unwrap()
            .get(digest)
            .map(|(b, _)| b.clone());
        let data = data.ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        let end = (end as usize).min(data.len());
        let part = data.slice((start as usize).min(end)..end);
        Ok(Box::pin(futures_util::stream::iter([Ok(part)])))
    }

    async fn read_all(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>> {
        match self.blobs.lock().unwrap().get(digest) {
            Some((b, _)) if b.len() as u64 > limit => Err(Error::TooLarge(format!(
                "{digest} is larger than {limit} bytes"
            ))),
            other => Ok(other.map(|(b, _)| b.clone())),
        }
    }

    async fn put(&self, digest: &Digest, data: Bytes) -> Result<()> {
        let actual = Digest::of(digest.algorithm(), &data);
        if &actual != digest {
            return Err(Error::DigestInvalid(format!(
                "expected {digest}, content is {actual}"
            )));
        }
        // Content already present keeps its bytes; its time is refreshed (a new upload).
        let mut blobs = self.blobs.lock().unwrap();
        let data = blobs.get(digest).map(|(b, _)| b.clone()).unwrap_or(data);
        blobs.insert(digest.clone(), (data, SystemTime::now()));
        Ok(())
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        Ok(self.blobs.lock().unwrap().remove(digest).is_some())
    }

    async fn upload_create(&self, id: &str) -> Result<()> {
        check_id(id)?;
        self.uploads
            .lock()
            .unwrap()
            .insert(id.to_string(), (Vec::new(), SystemTime::now()));
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>> {
        check_id(id)?;
        Ok(self
            .uploads
            .lock()
            .unwrap()
            .get(id)
            .map(|(u, _)| u.len() as u64))
    }

    async fn upload_append(
        &self,
        id: &str,
        offset: Option<u64>,
        mut body: ByteStream,
    ) -> Result<u64> {
        let size = self
            .upload_size(id)
            .await?
            .ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))?;
        if offset.is_some_and(|o| o != size) {
            return Err(Error::RangeNotSatisfiable(format!(
                "chunk does not start at {size}"
            )));
        }
        // Collect first, so a broken body changes nothing.
        let mut chunk = Vec::new();
        while let Some(item) = body.next().await {
            let bytes =
                item.map_err(|e| Error::BlobUploadInvalid(format!("upload body broke off: {e}")))?;
            chunk.extend_from_slice(&bytes);
        }
        let mut uploads = self.uploads.lock().unwrap();
        let u = uploads
            .get_mut(id)
            .ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))?;
        u.0.extend_from_slice(&chunk);
        u.1 = SystemTime::now();
        Ok(u.0.len() as u64)
    }

    async fn upload_commit(&self, id: &str, digest: &Digest) -> Result<u64> {
        check_id(id)?;
        let data = self.uploads.lock().unwrap().get(id).map(|(u, _)| u.clone());
        let data = data.ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))?;
        let size = data.len() as u64;
        self.put(digest, Bytes::from(data)).await?;
        self.uploads.lock().unwrap().remove(id);
        Ok(size)
    }

    async fn upload_cancel(&self, id: &str) -> Result<bool> {
        check_id(id)?;
        Ok(self.uploads.lock().unwrap().remove(id).is_some())
    }

    // ---- garbage collection and scrub ----

    async fn fence(&self, mode: FenceMode) -> Result<Fence> {
        Ok(self.fence.acquire(mode).await)
    }

    async fn list_blobs(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<BlobEntry>> {
        let after = after.map(|d| d.to_string());
        let mut all: Vec<(String, BlobEntry)> = self
            .blobs
            .lock()
            .unwrap()
            .iter()
            .map(|(d, (b, t))| {
                let entry = BlobEntry {
                    digest: d.clone(),
                    size: b.len() as u64,
                    modified: *t,
                };
                (d.to_string(), entry)
            })
            .filter(|(s, _)| after.as_ref().is_none_or(|a| s > a))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all.into_iter().take(limit.max(1)).map(|(_, e)| e).collect())
    }

    async fn remove_if_older(&self, digest: &Digest, before: SystemTime) -> Result<Option<u64>> {
        let mut blobs = self.blobs.lock().unwrap();
        match blobs.get(digest) {
            Some((b, t)) if *t < before => {
                let n = b.len() as u64;
                blobs.remove(digest);
                Ok(Some(n))
            }
            _ => Ok(None),
        }
    }

    async fn list_uploads(&self) -> Result<Vec<UploadEntry>> {
        let mut out: Vec<UploadEntry> = self
            .uploads
            .lock()
            .unwrap()
            .iter()
            .map(|(id, (u, t))| UploadEntry {
                id: id.clone(),
                size: u.len() as u64,
                modified: *t,
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn sweep_temp(&self, _before: SystemTime, _dry_run: bool) -> Result<Vec<(String, u64)>> {
        // Writes here are never half done: there are no temporary files.
        Ok(Vec::new())
    }

    async fn quarantine(&self, digest: &Digest) -> Result<Option<String>> {
        let Some((data, _)) = self.blobs.lock().unwrap().remove(digest) else {
            return Ok(None);
        };
        self.quarantined
            .lock()
            .unwrap()
            .insert(digest.clone(), data);
        Ok(Some(format!("memory:quarantine/{digest}")))
    }
}

impl MemoryBlobStore {
    /// Replace the bytes stored under `digest` (tests: simulate corruption).
    pub fn corrupt(&self, digest: &Digest, data: Bytes) {
        self.blobs
            .lock()
            .unwrap()
            .insert(digest.clone(), (data, SystemTime::now()));
    }

    /// Set when blob `digest` was last written (tests: age it past a grace period).
    pub fn set_modified(&self, digest: &Digest, at: SystemTime) {
        if let Some(e) = self.blobs.lock().unwrap().get_mut(digest) {
            e.1 = at;
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_meets_the_contract() {
        super::super::conformance::run(&super::MemoryBlobStore::new()).await;
    }
}
