//! The registry's rules, over the blob store and the metadata store: which repository may serve
//! which blob, how uploads progress and end, what a manifest must reference before it is
//! accepted, tags, referrers and listings; retention, quotas and immutable tags (rules swapped
//! whole on reload), pull times and usage reports. No HTTP types here: callers get values and
//! [`Error`](crate::Error)s.

mod blobs;
mod gc;
mod listing;
mod manifests;
mod ops;
mod uploads;

// retention, quotas, immutable tags, pull times, usage
mod policy;
mod pulls;
mod quota;
mod retention;
mod usage;

use std::sync::Arc;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metadata::MetadataStore;
use crate::metadata::sqlite::SqliteMetadata;
use crate::storage::BlobStore;
use crate::storage::fs::FsBlobStore;

pub use blobs::HEAD_REFRESH;
pub use gc::{
    GcBlob, GcOptions, GcOrphan, GcReport, GcSummary, GcUpload, ScrubProblem, ScrubReport,
};
pub use manifests::{ManifestRef, StoredManifest};
pub use ops::{Ops, Readiness};
pub use policy::{ImmutablePolicy, Policies, PolicyCounts, Quota, RetentionPolicy};
pub use retention::{RepositoryRetention, RetentionReport, TagDecision};
pub use usage::{NamespaceUsage, RepositoryUsage, TagDetail, TotalUsage, UsageReport};

/// A registry: the two seams plus its settings.
pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetadataStore>,
    config: Config,
    auth: Arc<Auth>,
    policy: policy::PolicyState,
    ops: Arc<Ops>,
}

impl Registry {
    /// Open the embedded registry under `config.root`: filesystem blobs, SQLite metadata.
    pub async fn open(config: Config) -> Result<Registry> {
        let blobs = FsBlobStore::open(&config.root)?;
        let db = config.root.join("v1").join("metadata.db");
        let meta = SqliteMetadata::open(&db).await?;
        let auth = Auth::open(&config).await?;
        // Refuse to start on rules that do not compile (a reload keeps the old ones instead).
        Policies::compile(&config)?;
        let ops = Ops::open(&config).await?;
        let mut reg = Self::with_stores(config, Arc::new(blobs), Arc::new(meta), Arc::new(auth));
        reg.ops = Arc::new(ops);
        Ok(reg)
    }

    /// A registry over the given stores and access control.
    pub fn with_stores(
        config: Config,
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetadataStore>,
        auth: Arc<Auth>,
    ) -> Registry {
        let policy = policy::PolicyState::new(&config, meta.clone());
        let ops = Arc::new(Ops::new(&config));
        Registry {
            blobs,
            meta,
            config,
            auth,
            policy,
            ops,
        }
    }

    /// Its access control.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The settings it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn check_delete(&self) -> Result<()> {
        if self.config.delete_enabled {
            Ok(())
        } else {
            Err(Error::Unsupported(
                "deletion is disabled on this registry".into(),
            ))
        }
    }
}

/// Validate a repository name, mapping to the spec's NAME_INVALID.
pub fn check_name(name: &str) -> Result<()> {
    berth_oci::validate_repository(name).map_err(|_| Error::NameInvalid(name.to_string()))
}

/// Parse a digest, mapping to the spec's DIGEST_INVALID.
pub fn parse_digest(s: &str) -> Result<berth_oci::Digest> {
    s.parse()
        .map_err(|e: berth_oci::Error| Error::DigestInvalid(e.to_string()))
}

impl Registry {
    /// Put the sample images (`library/hello-world:latest`) in, unless the tag already exists.
    /// Returns whether anything was added.
    pub async fn add_samples(&self) -> Result<bool> {
        let image = crate::samples::hello_world();
        if self
            .meta
            .resolve_tag(&image.repository, &image.tag)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        for blob in &image.blobs {
            let _fence = self.blobs.fence(crate::storage::FenceMode::Shared).await?;
            self.blobs
                .put(&blob.digest, blob.data.clone().into())
                .await?;
            self.meta
                .link_blob(&image.repository, &blob.digest, blob.data.len() as u64)
                .await?;
        }
        for m in &image.manifests {
            let r = ManifestRef::Digest(m.digest.clone());
            self.put_manifest(&image.repository, &r, &m.media_type, m.data.clone().into())
                .await?;
        }
        let tag = ManifestRef::Tag(image.tag.clone());
        self.put_manifest(
            &image.repository,
            &tag,
            &image.index.media_type,
            image.index.data.clone().into(),
        )
        .await?;
        Ok(true)
    }
}
