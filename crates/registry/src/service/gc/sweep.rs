//! Steps 3 and 4 of a collection (docs/gc.md): blob files no link or manifest holds, found by
//! merging the store's sorted listing with the metadata's sorted digests and removed under the
//! exclusive fence after a re-check; expired upload sessions and upload files nobody knows.

use std::collections::HashMap;
use std::time::SystemTime;

use berth_oci::Digest;

use super::{GcBlob, GcUpload, HeldCursor, unix_secs};
use crate::error::Result;
use crate::service::Registry;
use crate::storage::{BlobEntry, FenceMode};

/// Blobs listed per page.
const LIST_PAGE: usize = 2000;
/// Blob files removed per hold of the exclusive fence (writers wait while it is held).
const REMOVE_BATCH: usize = 256;

impl Registry {
    /// Remove the blob files last written before `before` that nothing holds (counting, in a
    /// dry run, `doomed[digest]` of their rows as already gone).
    pub(super) async fn sweep_blobs(
        &self,
        before: SystemTime,
        doomed: &HashMap<String, u64>,
        dry_run: bool,
    ) -> Result<Vec<GcBlob>> {
        let mut out = Vec::new();
        let mut held = HeldCursor::new(&*self.meta);
        let mut batch: Vec<BlobEntry> = Vec::new();
        let mut after: Option<Digest> = None;
        loop {
            let page = self.blobs.list_blobs(after.as_ref(), LIST_PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.digest.clone());
            for entry in page {
                let key = entry.digest.to_string();
                let rows = held.count(&key, |_| {}).await?;
                if rows > doomed.get(&key).copied().unwrap_or(0) || entry.modified >= before {
                    continue;
                }
                batch.push(entry);
                if batch.len() >= REMOVE_BATCH {
                    out.extend(self.remove_blobs(&mut batch, before, dry_run).await?);
                }
            }
        }
        out.extend(self.remove_blobs(&mut batch, before, dry_run).await?);
        Ok(out)
    }

    /// Remove the candidates in `batch` (emptying it): under the exclusive fence, no reference
    /// can be made meanwhile, so those the database still does not hold are garbage.
    async fn remove_blobs(
        &self,
        batch: &mut Vec<BlobEntry>,
        before: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<GcBlob>> {
        let batch = std::mem::take(batch);
        if dry_run || batch.is_empty() {
            return Ok(batch
                .into_iter()
                .map(|e| GcBlob {
                    digest: e.digest,
                    size: e.size,
                })
                .collect());
        }
        let _fence = self.blobs.fence(FenceMode::Exclusive).await?;
        let digests: Vec<Digest> = batch.iter().map(|e| e.digest.clone()).collect();
        let still = self.meta.gc_still_held(&digests).await?;
        let mut out = Vec::new();
        for d in digests {
            if still.contains(&d) {
                continue;
            }
            if let Some(size) = self.blobs.remove_if_older(&d, before).await? {
                out.push(GcBlob { digest: d, size });
            }
        }
        Ok(out)
    }

    /// Sessions started before `expire_before` with no bytes since, and upload files without a
    /// session last written before `before`.
    pub(super) async fn sweep_uploads(
        &self,
        before: SystemTime,
        expire_before: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<GcUpload>> {
        // Rows first: a session started after this read has a fresh file, which the grace keeps.
        let rows = self.meta.gc_uploads().await?;
        let files: HashMap<String, (u64, SystemTime)> = self
            .blobs
            .list_uploads()
            .await?
            .into_iter()
            .map(|u| (u.id, (u.size, u.modified)))
            .collect();
        let expire_cut = unix_secs(expire_before);
        let mut out = Vec::new();
        let mut known = std::collections::HashSet::new();
        for row in rows {
            known.insert(row.id.clone());
            let file = files.get(&row.id);
            let idle = file.is_none_or(|(_, modified)| *modified < expire_before);
            if row.created_at >= expire_cut || !idle {
                continue;
            }
            if !dry_run {
                // The row goes first: a request that finds it gone answers BLOB_UPLOAD_UNKNOWN.
                if !self.meta.gc_expire_upload(&row.id, expire_cut).await? {
                    continue;
                }
                self.blobs.upload_cancel(&row.id).await?;
            }
            out.push(GcUpload {
                id: row.id,
                repo: Some(row.repo),
                size: file.map_or(0, |(size, _)| *size),
            });
        }
        for (id, (size, modified)) in files {
            if known.contains(&id) || modified >= before {
                continue;
            }
            if !dry_run && !self.blobs.upload_cancel(&id).await? {
                continue;
            }
            out.push(GcUpload {
                id,
                repo: None,
                size,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
