//! Scrub: re-hash every stored blob and find the ones the metadata holds that are not stored.
//! With `repair`, a corrupt blob is quarantined and, like a missing one, unlinked from every
//! repository (under the exclusive GC fence), so clients that ask for it are told it is unknown
//! and push it again; the manifests that need it are listed.

use berth_oci::{Digest, Hasher};
use futures_util::StreamExt;
use serde::Serialize;

use super::HeldCursor;
use crate::error::Result;
use crate::metadata::GcItem;
use crate::service::Registry;
use crate::storage::{BlobEntry, FenceMode};

/// Blobs listed per page.
const PAGE: usize = 512;
/// Blobs hashed at once.
const PARALLEL: usize = 2;

/// A blob that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScrubProblem {
    /// The blob.
    pub digest: Digest,
    /// `corrupt` (its bytes hash to something else) or `missing` (held, not stored).
    pub kind: &'static str,
    /// What a corrupt blob's bytes hash to (`None`: they could not be read).
    pub actual: Option<Digest>,
    /// Where a repaired corrupt blob's bytes were moved.
    pub quarantined: Option<String>,
    /// Repository links a repair removed.
    pub unlinked: u64,
    /// Manifests that need it (stored as it, or referencing it).
    pub needed_by: Vec<GcItem>,
}

/// What a scrub found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    /// Blobs hashed.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Whether problems were repaired.
    pub repaired: bool,
    /// Every problem found.
    pub problems: Vec<ScrubProblem>,
}

impl ScrubReport {
    /// Whether nothing was wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Registry {
    /// How many blobs are stored, and their bytes (to size a progress bar).
    pub async fn scrub_totals(&self) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        let mut after: Option<Digest> = None;
        loop {
            let page = self.blobs.list_blobs(after.as_ref(), PAGE).await?;
            let Some(last) = page.last() else {
                return Ok((n, bytes));
            };
            after = Some(last.digest.clone());
            n += page.len() as u64;
            bytes += page.iter().map(|e| e.size).sum::<u64>();
        }
    }

    /// Re-hash every blob (calling `progress` with the bytes of each one done) and look for
    /// held blobs that are not stored; with `repair`, quarantine and unlink what is wrong.
    pub async fn scrub(
        &self,
        repair: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ScrubReport> {
        let mut report = ScrubReport {
            repaired: repair,
            ..ScrubReport::default()
        };
        let mut held = HeldCursor::new(&*self.meta);
        let mut missing: Vec<String> = Vec::new();
        let mut after: Option<Digest> = None;
        loop {
            let page = self.blobs.list_blobs(after.as_ref(), PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.digest.clone());
            for e in &page {
                held.count(&e.digest.to_string(), |d| missing.push(d.to_string()))
                    .await?;
            }
            let hashed: Vec<(BlobEntry, Hashed)> = futures_util::stream::iter(page)
                .map(|e| async move {
                    let actual = self.hash_blob(&e).await;
                    (e, actual)
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            for (e, actual) in hashed {
                progress(e.size);
                let actual = match actual {
                    // Removed since listed (by GC): nothing to judge.
                    Hashed::Gone => continue,
                    Hashed::Digest(d) => Some(d),
                    Hashed::Unreadable(why) => {
                        tracing::warn!(digest = %e.digest, error = %why, "blob unreadable");
                        None
                    }
                };
                report.blobs += 1;
                report.bytes += e.size;
                if actual.as_ref() != Some(&e.digest) {
                    report.problems.push(problem(e.digest, "corrupt", actual));
                }
            }
        }
        held.rest(|d| missing.push(d.to_string())).await?;
        for d in missing {
            let Ok(d) = d.parse::<Digest>() else { continue };
            // Re-checked: stored since (a push), or no longer held (GC) is no problem.
            if self.blobs.stat(&d).await?.is_some()
                || self
                    .meta
                    .gc_still_held(std::slice::from_ref(&d))
                    .await?
                    .is_empty()
            {
                continue;
            }
            report.problems.push(problem(d, "missing", None));
        }
        for p in &mut report.problems {
            if repair {
                let _fence = self.blobs.fence(FenceMode::Exclusive).await?;
                if p.kind == "corrupt" {
                    p.quarantined = self.blobs.quarantine(&p.digest).await?;
                }
                p.unlinked = self.meta.gc_unlink_everywhere(&p.digest).await?;
            }
            p.needed_by = self.meta.gc_users(&p.digest).await?;
        }
        report.problems.sort_by(|a, b| a.digest.cmp(&b.digest));
        for p in &report.problems {
            tracing::warn!(digest = %p.digest, kind = p.kind, actual = ?p.actual, repaired = repair, "scrub found a bad blob");
        }
        Ok(report)
    }

    /// The digest of a stored blob's bytes: `Gone` when it was removed since it was listed.
    async fn hash_blob(&self, e: &BlobEntry) -> Hashed {
        let mut stream = match self.blobs.read(&e.digest, 0, e.size).await {
            Ok(s) => s,
            Err(crate::Error::BlobUnknown(_)) => return Hashed::Gone,
            Err(err) => return Hashed::Unreadable(err.to_string()),
        };
        let mut h = Hasher::new(e.digest.algorithm());
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => h.update(&c),
                Err(err) => return Hashed::Unreadable(err.to_string()),
            }
        }
        Hashed::Digest(h.finish())
    }
}

/// What hashing a blob gave.
enum Hashed {
    Gone,
    Digest(Digest),
    Unreadable(String),
}

fn problem(digest: Digest, kind: &'static str, actual: Option<Digest>) -> ScrubProblem {
    ScrubProblem {
        digest,
        kind,
        actual,
        quarantined: None,
        unlinked: 0,
        needed_by: Vec::new(),
    }
}
