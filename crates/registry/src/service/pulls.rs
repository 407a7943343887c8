//! Pull times, recorded in batches: a manifest pull only updates an in-memory map (the latest
//! time per repository and tag or digest), and a background task writes the map in one
//! transaction every few seconds — so a burst of pulls costs one database write, not one each.
//! `berth registry serve` flushes once more on shutdown; a crash loses at most the last few
//! seconds of pull times, which only makes retention keep less (never breaks anything).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Registry;
use crate::error::Result;
use crate::metadata::{MetadataStore, PullRecord, PulledRef};

/// How often pending pull times are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Pull times not yet written.
pub(crate) struct PullLog {
    pending: Mutex<HashMap<(String, PulledRef), i64>>,
    meta: Arc<dyn MetadataStore>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl PullLog {
    /// A log writing to `meta`, flushed every [`FLUSH_EVERY`] by a task on the current tokio
    /// runtime (when there is one) for as long as the log lives.
    pub(crate) fn start(meta: Arc<dyn MetadataStore>) -> Arc<PullLog> {
        let log = Arc::new(PullLog {
            pending: Mutex::new(HashMap::new()),
            meta,
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak: Weak<PullLog> = Arc::downgrade(&log);
            rt.spawn(async move {
                let mut tick = tokio::time::interval(FLUSH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let Some(log) = weak.upgrade() else { break };
                    if let Err(e) = log.flush().await {
                        tracing::warn!(error = %e, "cannot record pull times; will retry");
                    }
                }
            });
        }
        log
    }

    /// Note a pull of `reference` in `repo`, now.
    pub(crate) fn record(&self, repo: &str, reference: PulledRef) {
        let at = now();
        let mut p = self.pending.lock().expect("pull log");
        let slot = p.entry((repo.to_string(), reference)).or_insert(at);
        *slot = (*slot).max(at);
    }

    /// Write every pending pull time; how many were written. On failure they stay pending.
    pub(crate) async fn flush(&self) -> Result<usize> {
        let batch: Vec<PullRecord> = {
            let mut p = self.pending.lock().expect("pull log");
            if p.is_empty() {
                return Ok(0);
            }
            std::mem::take(&mut *p)
                .into_iter()
                .map(|((repo, reference), at)| PullRecord {
                    repo,
                    reference,
                    at,
                })
                .collect()
        };
        match self.meta.record_pulls(&batch).await {
            Ok(()) => {
                tracing::debug!(pulls = batch.len(), "pull times recorded");
                Ok(batch.len())
            }
            Err(e) => {
                let mut p = self.pending.lock().expect("pull log");
                for r in batch {
                    let slot = p.entry((r.repo, r.reference)).or_insert(r.at);
                    *slot = (*slot).max(r.at);
                }
                Err(e)
            }
        }
    }
}

impl Registry {
    /// Write the pull times noted since the last flush (done every few seconds anyway; call it
    /// on shutdown, and before reading pull times that must include the latest pulls).
    pub async fn flush_pulls(&self) -> Result<usize> {
        self.policy.pulls.flush().await
    }
}
