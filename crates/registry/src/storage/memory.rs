//! An in-memory [`BlobStore`]: the fake for tests of the layers above, and a second
//! implementation that keeps the seam honest (it runs the same [`conformance`](super::conformance)
//! checks as the filesystem store).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{BlobStore, ByteStream};
use crate::error::{Error, Result};

/// Blobs and uploads held in memory.
#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<Digest, Bytes>>,
    uploads: Mutex<HashMap<String, Vec<u8>>>,
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
            .map(|b| b.len() as u64))
    }

    async fn read(&self, digest: &Digest, start: u64, end: u64) -> Result<ByteStream> {
        let data = self.blobs.lock().unwrap().get(digest).cloned();
        let data = data.ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        let end = (end as usize).min(data.len());
        let part = data.slice((start as usize).min(end)..end);
        Ok(Box::pin(futures_util::stream::iter([Ok(part)])))
    }

    async fn read_all(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>> {
        match self.blobs.lock().unwrap().get(digest) {
            Some(b) if b.len() as u64 > limit => Err(Error::TooLarge(format!(
                "{digest} is larger than {limit} bytes"
            ))),
            other => Ok(other.cloned()),
        }
    }

    async fn put(&self, digest: &Digest, data: Bytes) -> Result<()> {
        let actual = Digest::of(digest.algorithm(), &data);
        if &actual != digest {
            return Err(Error::DigestInvalid(format!(
                "expected {digest}, content is {actual}"
            )));
        }
        self.blobs.lock().unwrap().insert(digest.clone(), data);
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
            .insert(id.to_string(), Vec::new());
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>> {
        check_id(id)?;
        Ok(self.uploads.lock().unwrap().get(id).map(|u| u.len() as u64))
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
        u.extend_from_slice(&chunk);
        Ok(u.len() as u64)
    }

    async fn upload_commit(&self, id: &str, digest: &Digest) -> Result<u64> {
        check_id(id)?;
        let data = self.uploads.lock().unwrap().get(id).cloned();
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
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_meets_the_contract() {
        super::super::conformance::run(&super::MemoryBlobStore::new()).await;
    }
}
