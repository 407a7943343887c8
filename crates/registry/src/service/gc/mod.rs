//! Online garbage collection and scrub. The invariant, the algorithm and why it is safe while
//! pushes, mounts and deletes go on are in `docs/gc.md`; in short:
//!
//! 1. (`--untagged`) untagged manifests nothing keeps, last pushed before the grace cut-off,
//!    are judged and removed in one write transaction;
//! 2. blob links no manifest of their repository references, last refreshed before the
//!    cut-off, are removed in batches, each re-checked inside its transaction;
//! 3. blob files no link and no manifest holds, last written before the cut-off, are removed in
//!    batches under the exclusive GC fence, each batch re-checked against the database first;
//! 4. expired upload sessions, upload files the database does not know and temporary files are
//!    swept.
//!
//! A dry run computes the same sets (counting what steps 1 and 2 would remove) and changes
//! nothing. The `[gc] interval` schedule runs inside the server ([`Registry::schedule_gc`]).

mod scrub;
mod sweep;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{Registry, RetentionReport};
use crate::config::{Config, parse_duration};
use crate::error::{Error, Result};
use crate::metadata::{GcItem, MetadataStore};

pub use scrub::{ScrubProblem, ScrubReport};

/// Links removed per transaction (each transaction holds the write lock briefly).
const LINK_BATCH: usize = 4000;

/// How a collection runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Report only; change nothing.
    pub dry_run: bool,
    /// Nothing last uploaded, linked, mounted or pushed more recently than this is removed.
    pub grace: Duration,
    /// Also remove untagged manifests that nothing keeps.
    pub untagged: bool,
    /// Upload sessions untouched for this long are removed.
    pub upload_expire: Duration,
    /// Apply the `[[retention]]` rules first (a dry run reports what they would untag).
    pub retention: bool,
}

impl GcOptions {
    /// The options of `[gc]` and `[uploads]` in `config`, retention included.
    pub fn from_config(config: &Config) -> Result<GcOptions> {
        let dur = |key: &str, v: &str| {
            parse_duration(v).map_err(|e| Error::Config(format!("{key}: {e}")))
        };
        Ok(GcOptions {
            dry_run: false,
            grace: dur("[gc] grace", &config.gc.grace)?,
            untagged: config.gc.untagged,
            upload_expire: dur("[uploads] expire", &config.uploads.expire)?,
            retention: true,
        })
    }

    /// `[gc] grace`, or one hour when it does not parse (it is checked at start-up).
    pub(crate) fn grace_of(config: &Config) -> Duration {
        parse_duration(&config.gc.grace).unwrap_or(Duration::from_secs(3600))
    }
}

/// Unix seconds of `t`, rounded down (so `created_at < unix_secs(t)` implies "before `t`").
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A blob file removed (or that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcBlob {
    /// Its digest.
    pub digest: berth_oci::Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// An upload session, or an upload file without one, removed (or that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcUpload {
    /// The session id.
    pub id: String,
    /// Its repository; `None` for a file the database does not know (an orphan).
    pub repo: Option<String>,
    /// Bytes it had received.
    pub size: u64,
}

/// A temporary file of an unfinished write, removed (or that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcOrphan {
    /// Its path below the store's root.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Counts and bytes of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct GcSummary {
    /// Manifests removed.
    pub manifests: u64,
    /// Blob links removed from repositories.
    pub links: u64,
    /// Blob files removed.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Upload sessions (expired, or files without a session) removed.
    pub uploads: u64,
    /// Their bytes.
    pub upload_bytes: u64,
    /// Temporary files removed.
    pub orphans: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// Every byte freed on storage.
    pub bytes: u64,
}

/// What a collection removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Whether untagged manifests were collected.
    pub untagged: bool,
    /// The grace period, in seconds.
    pub grace_seconds: u64,
    /// What retention untagged first, when it ran.
    pub retention: Option<RetentionReport>,
    /// Counts and bytes.
    pub summary: GcSummary,
    /// Manifests removed (their bytes go with the blob files when nothing else holds them).
    pub manifests: Vec<GcItem>,
    /// Blob links removed: repositories that no longer serve a blob.
    pub links: Vec<GcItem>,
    /// Blob files removed.
    pub blobs: Vec<GcBlob>,
    /// Upload sessions removed.
    pub uploads: Vec<GcUpload>,
    /// Temporary files removed.
    pub orphans: Vec<GcOrphan>,
    /// How long it took, in seconds.
    pub seconds: f64,
}

impl GcReport {
    fn summarize(&mut self) {
        let s = &mut self.summary;
        s.manifests = self.manifests.len() as u64;
        s.links = self.links.len() as u64;
        s.blobs = self.blobs.len() as u64;
        s.blob_bytes = self.blobs.iter().map(|b| b.size).sum();
        s.uploads = self.uploads.len() as u64;
        s.upload_bytes = self.uploads.iter().map(|u| u.size).sum();
        s.orphans = self.orphans.len() as u64;
        s.orphan_bytes = self.orphans.iter().map(|o| o.size).sum();
        s.bytes = s.blob_bytes + s.upload_bytes + s.orphan_bytes;
    }
}

/// Walks the sorted digests the metadata holds, a page at a time, alongside a sorted listing
/// of the store (a merge join: memory stays one page on each side).
pub(super) struct HeldCursor<'a> {
    meta: &'a dyn MetadataStore,
    page: Vec<(String, u64)>,
    at: usize,
    done: bool,
}

/// Digests per page of [`HeldCursor`].
const HELD_PAGE: u32 = 2000;

impl<'a> HeldCursor<'a> {
    pub(super) fn new(meta: &'a dyn MetadataStore) -> HeldCursor<'a> {
        HeldCursor {
            meta,
            page: Vec::new(),
            at: 0,
            done: false,
        }
    }

    /// The current entry, fetching the next page when this one is used up.
    async fn peek(&mut self) -> Result<Option<&(String, u64)>> {
        if self.at >= self.page.len() && !self.done {
            let after = self.page.last().map(|(d, _)| d.clone());
            self.page = self.meta.gc_held(after.as_deref(), HELD_PAGE).await?;
            self.at = 0;
            self.done = self.page.len() < HELD_PAGE as usize;
        }
        Ok(self.page.get(self.at))
    }

    /// Step past every digest sorting before `key`, handing each to `skipped`; then how many
    /// rows hold `key` itself (0 when none). Keys must come in increasing order.
    pub(super) async fn count(&mut self, key: &str, mut skipped: impl FnMut(&str)) -> Result<u64> {
        loop {
            let Some((d, n)) = self.peek().await? else {
                return Ok(0);
            };
            match d.as_str().cmp(key) {
                std::cmp::Ordering::Less => {
                    skipped(d);
                    self.at += 1;
                }
                std::cmp::Ordering::Equal => {
                    let n = *n;
                    self.at += 1;
                    return Ok(n);
                }
                std::cmp::Ordering::Greater => return Ok(0),
            }
        }
    }

    /// Hand every remaining digest to `skipped`.
    pub(super) async fn rest(&mut self, mut skipped: impl FnMut(&str)) -> Result<()> {
        while let Some((d, _)) = self.peek().await? {
            skipped(d);
            self.at += 1;
        }
        Ok(())
    }
}

impl Registry {
    /// Collect garbage as `opts` says; see the module docs and `docs/gc.md`. Safe to run while
    /// the registry serves, in this process or another one on the same data root.
    #[tracing::instrument(skip_all, fields(dry_run = opts.dry_run, untagged = opts.untagged))]
    pub async fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        let started = Instant::now();
        let now = SystemTime::now();
        let before = now.checked_sub(opts.grace).unwrap_or(UNIX_EPOCH);
        let cutoff = unix_secs(before);
        let dry = opts.dry_run;
        let retention = if opts.retention {
            Some(self.apply_retention(dry).await?)
        } else {
            None
        };

        // 1. Untagged manifests nothing keeps: judged and removed in one transaction.
        let manifests = match (opts.untagged, dry) {
            (false, _) => Vec::new(),
            (true, true) => self.meta.gc_unkept_manifests(cutoff).await?,
            (true, false) => self.meta.gc_remove_manifests(cutoff).await?,
        };

        let phase = |name: &str, n: usize| {
            tracing::debug!(
                phase = name,
                items = n,
                ms = started.elapsed().as_millis() as u64,
                "gc phase done"
            );
        };
        phase("manifests", manifests.len());
        // 2. Blob links nothing references, re-checked per batch inside its transaction.
        let candidates = self
            .meta
            .gc_unreferenced_links(cutoff, opts.untagged && dry)
            .await?;
        let links = if dry {
            candidates
        } else {
            let mut removed = Vec::new();
            for chunk in candidates.chunks(LINK_BATCH) {
                removed.extend(self.meta.gc_remove_links(chunk, cutoff).await?);
            }
            removed
        };

        // 3. Blob files nothing holds. A dry run discounts the rows steps 1 and 2 would remove.
        let mut doomed: HashMap<String, u64> = HashMap::new();
        if dry {
            for item in manifests.iter().chain(&links) {
                *doomed.entry(item.digest.to_string()).or_default() += 1;
            }
        }
        phase("links", links.len());
        let blobs = self.sweep_blobs(before, &doomed, dry).await?;
        phase("blobs", blobs.len());

        // 4. Upload sessions and temporary files.
        let expire_before = now.checked_sub(opts.upload_expire).unwrap_or(UNIX_EPOCH);
        let uploads = self.sweep_uploads(before, expire_before, dry).await?;
        let orphans = self
            .blobs
            .sweep_temp(before, dry)
            .await?
            .into_iter()
            .map(|(path, size)| GcOrphan { path, size })
            .collect();

        let mut report = GcReport {
            dry_run: dry,
            untagged: opts.untagged,
            grace_seconds: opts.grace.as_secs(),
            retention,
            summary: GcSummary::default(),
            manifests,
            links,
            blobs,
            uploads,
            orphans,
            seconds: started.elapsed().as_secs_f64(),
        };
        report.summarize();
        let s = report.summary;
        if !dry {
            crate::metrics::gc_run(s.manifests + s.blobs + s.uploads + s.orphans, s.bytes);
        }
        tracing::info!(
            dry_run = dry,
            manifests = s.manifests,
            links = s.links,
            blobs = s.blobs,
            uploads = s.uploads,
            orphans = s.orphans,
            bytes = s.bytes,
            ms = started.elapsed().as_millis() as u64,
            "garbage collection done"
        );
        Ok(report)
    }

    /// Run [`Registry::gc`] every `[gc] interval` (the first run one interval after the call),
    /// with `[gc]`, `[uploads]` and the retention rules, until the registry is dropped. `None`
    /// when no interval is configured. The settings are checked either way.
    pub fn schedule_gc(self: &Arc<Registry>) -> Result<Option<tokio::task::JoinHandle<()>>> {
        let opts = GcOptions::from_config(&self.config)?;
        let Some(every) = &self.config.gc.interval else {
            return Ok(None);
        };
        let every =
            parse_duration(every).map_err(|e| Error::Config(format!("[gc] interval: {e}")))?;
        if every.is_zero() {
            return Err(Error::Config("[gc] interval: must be longer than 0".into()));
        }
        let weak = Arc::downgrade(self);
        tracing::info!(every = ?every, grace = ?opts.grace, untagged = opts.untagged, "garbage collection scheduled");
        Ok(Some(tokio::spawn(async move {
            let start = tokio::time::Instant::now() + every;
            let mut tick = tokio::time::interval_at(start, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(reg) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = reg.gc(&opts).await {
                    tracing::warn!(error = %e, "scheduled garbage collection failed");
                }
            }
        })))
    }
}
