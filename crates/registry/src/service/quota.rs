//! Quotas: a namespace's usage is the sum of the sizes of the distinct blobs and manifests its
//! repositories hold. New content is admitted before it is linked — at upload completion, on a
//! cross-repository mount and on a manifest push — and refused with DENIED, stating the quota
//! and the usage, when it would take a namespace past its limit (the caller then discards the
//! upload's bytes).
//!
//! Accounting stays cheap: content a namespace already holds adds nothing and needs no sum;
//! otherwise the usage comes from a cache refreshed from the database (an aggregate over the
//! namespace's rows only) when older than [`FRESH`], and increased by each admitted push. A
//! delete makes the cache high for a while, so before refusing the usage is always recomputed:
//! a stale cache never refuses a push that fits. Admission and linking happen under one lock,
//! so concurrent pushes into quota-bound namespaces cannot both take the last bytes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth_oci::Digest;
use tokio::sync::{Mutex, MutexGuard};

use super::Registry;
use crate::error::{Error, Result};

/// How long a namespace's cached usage is trusted before it is read again.
pub const FRESH: Duration = Duration::from_secs(10);

struct Cached {
    usage: u64,
    at: Instant,
}

/// Cached usage per namespace, behind the admission lock.
#[derive(Default)]
pub(crate) struct QuotaState {
    cache: Mutex<HashMap<String, Cached>>,
}

/// Content admitted under the quotas of its repository. Hold it until the content is linked,
/// then call [`Admission::linked`]; dropping it without doing so admits nothing.
pub(crate) struct Admission<'a> {
    cache: MutexGuard<'a, HashMap<String, Cached>>,
    growing: Vec<String>,
    size: u64,
}

impl Admission<'_> {
    /// The content is linked: count it in the cached usage of the namespaces it grew.
    pub(crate) fn linked(mut self) {
        let size = self.size;
        for ns in std::mem::take(&mut self.growing) {
            if let Some(c) = self.cache.get_mut(&ns) {
                c.usage = c.usage.saturating_add(size);
            }
        }
    }
}

impl Registry {
    /// Admit `size` bytes of `digest` into `repo` under every quota that applies. `None`: no
    /// quota applies (nothing is held). `Error::QuotaExceeded` when one would be exceeded.
    pub(crate) async fn admit(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<Option<Admission<'_>>> {
        let rules = self.policies();
        let quotas: Vec<_> = rules.quotas_for(repo).cloned().collect();
        if quotas.is_empty() {
            return Ok(None);
        }
        let mut cache = self.policy.quota.cache.lock().await;
        let mut growing = Vec::new();
        for q in quotas {
            if self.meta.namespace_holds(&q.namespace, digest).await? {
                continue;
            }
            let fresh = cache
                .get(&q.namespace)
                .filter(|c| c.at.elapsed() < FRESH)
                .map(|c| c.usage);
            let mut usage = match fresh {
                Some(u) => u,
                None => self.read_usage(&mut cache, &q.namespace).await?,
            };
            if usage.saturating_add(size) > q.bytes && fresh.is_some() {
                usage = self.read_usage(&mut cache, &q.namespace).await?;
            }
            if usage.saturating_add(size) > q.bytes {
                tracing::info!(
                    repo, %digest, namespace = %q.namespace, limit = q.bytes, usage, size,
                    "push refused: quota exceeded"
                );
                return Err(Error::QuotaExceeded {
                    namespace: q.namespace,
                    limit: q.bytes,
                    usage,
                    size,
                });
            }
            growing.push(q.namespace);
        }
        Ok(Some(Admission {
            cache,
            growing,
            size,
        }))
    }

    /// Admit upload session `id` (the bytes it holds) as `digest` into `repo`. When a quota
    /// refuses it, its bytes are discarded and the session ended (`registered`: the metadata
    /// knows the session too, and forgets it).
    pub(crate) async fn admit_upload(
        &self,
        repo: &str,
        id: &str,
        digest: &Digest,
        registered: bool,
    ) -> Result<Option<Admission<'_>>> {
        if self.policies().quotas_for(repo).next().is_none() {
            return Ok(None);
        }
        let size = self
            .blobs
            .upload_size(id)
            .await?
            .ok_or_else(|| Error::BlobUploadUnknown(id.to_string()))?;
        match self.admit(repo, digest, size).await {
            Err(e @ Error::QuotaExceeded { .. }) => {
                if let Err(c) = self.blobs.upload_cancel(id).await {
                    tracing::warn!(id, error = %c, "cannot discard a refused upload");
                }
                if registered {
                    self.meta.delete_upload(id).await?;
                }
                Err(e)
            }
            other => other,
        }
    }

    async fn read_usage(
        &self,
        cache: &mut HashMap<String, Cached>,
        namespace: &str,
    ) -> Result<u64> {
        let usage = self.meta.namespace_usage(namespace).await?;
        cache.insert(
            namespace.to_string(),
            Cached {
                usage,
                at: Instant::now(),
            },
        );
        Ok(usage)
    }

    /// The usage of `namespace` now: distinct bytes of blobs and manifests.
    pub async fn namespace_usage(&self, namespace: &str) -> Result<u64> {
        self.meta.namespace_usage(namespace).await
    }
}
