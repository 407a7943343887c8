//! What the registry runs alongside its rules: the event notifier, the request rate limits, the
//! readiness probe (can the database and the blob store still be written?) and the storage
//! figures for `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Registry;
use crate::config::Config;
use crate::error::Result;
use crate::limits::RateLimits;
use crate::notify::Notifier;

/// Readiness answers are reused for this long, so a busy load balancer (or anyone: the
/// endpoint has no access control) cannot turn probes into a write load.
const READY_CACHE: Duration = Duration::from_secs(1);
/// The storage figures of `/metrics` are recomputed at most this often.
const STORAGE_REFRESH: Duration = Duration::from_secs(30);
/// A probe slower than this counts as a failure.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of a readiness probe: `Err(why)` per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The metadata database took a write and its removal.
    pub database: std::result::Result<(), String>,
    /// The blob store took a write and its removal.
    pub storage: std::result::Result<(), String>,
}

impl Readiness {
    /// Whether every part is fine.
    pub fn ready(&self) -> bool {
        self.database.is_ok() && self.storage.is_ok()
    }
}

/// The operational state a [`Registry`] carries.
pub struct Ops {
    notifier: Option<Arc<Notifier>>,
    limits: RateLimits,
    last_ready: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
    storage_at: std::sync::Mutex<Option<Instant>>,
}

impl Ops {
    /// Rate limits only (no notifier): for registries over stores given by the caller.
    pub fn new(config: &Config) -> Ops {
        Ops {
            notifier: None,
            limits: RateLimits::new(&config.limits),
            last_ready: Default::default(),
            storage_at: Default::default(),
        }
    }

    /// Everything `config` asks for, the notifier's queue under the data root included.
    pub async fn open(config: &Config) -> Result<Ops> {
        Ok(Ops {
            notifier: Notifier::open(config).await?.map(Arc::new),
            ..Ops::new(config)
        })
    }
}

async fn timed(what: impl Future<Output = Result<()>>) -> std::result::Result<(), String> {
    match tokio::time::timeout(READY_TIMEOUT, what).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", READY_TIMEOUT.as_secs())),
    }
}

impl Registry {
    /// The event notifier, when notifications are configured.
    pub fn notifier(&self) -> Option<&Arc<Notifier>> {
        self.ops.notifier.as_ref()
    }

    /// The request rate limits.
    pub fn limits(&self) -> &RateLimits {
        &self.ops.limits
    }

    /// Whether the registry can take writes: an upload-session row written to and removed from
    /// the database, an upload session created, written and cancelled in the blob store. The
    /// answer is cached for a second.
    pub async fn readiness(&self) -> Readiness {
        let mut last = self.ops.last_ready.lock().await;
        if let Some((at, r)) = &*last
            && at.elapsed() < READY_CACHE
        {
            return r.clone();
        }
        let id = uuid::Uuid::new_v4().to_string();
        let database = timed(async {
            self.meta.create_upload(&id, "_readyz").await?;
            self.meta.delete_upload(&id).await
        })
        .await;
        let storage = timed(async {
            self.blobs.upload_create(&id).await?;
            let probe = futures_util::stream::once(async { Ok(bytes::Bytes::from_static(b"ok")) });
            let appended = self
                .blobs
                .upload_append(&id, Some(0), Box::pin(probe))
                .await;
            self.blobs.upload_cancel(&id).await?;
            appended.map(|_| ())
        })
        .await;
        let r = Readiness { database, storage };
        if !r.ready() {
            tracing::warn!(database = ?r.database, storage = ?r.storage, "not ready");
        }
        *last = Some((Instant::now(), r.clone()));
        r
    }

    /// Recompute the storage figures of `/metrics` when they are due.
    pub async fn refresh_storage_metrics(&self) {
        {
            let mut at = self
                .ops
                .storage_at
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if at.is_some_and(|t| t.elapsed() < STORAGE_REFRESH) {
                return;
            }
            *at = Some(Instant::now());
        }
        match tokio::time::timeout(READY_TIMEOUT, self.meta.stats()).await {
            Ok(Ok(s)) => crate::metrics::set_storage(&s),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot compute storage metrics"),
            Err(_) => tracing::warn!("storage metrics query timed out"),
        }
    }
}
