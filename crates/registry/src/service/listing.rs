//! Listings: tags of a repository, the catalog of repositories, referrers of a manifest.

use berth_oci::{Descriptor, Digest};

use super::{Registry, check_name};
use crate::error::{Error, Result};
use crate::metadata::Page;

impl Registry {
    /// Tags of `repo`, sorted, paginated; `NameUnknown` for a repository that does not exist.
    pub async fn tags(&self, repo: &str, n: Option<u32>, last: Option<&str>) -> Result<Page> {
        check_name(repo)?;
        if !self.meta.repository_exists(repo).await? {
            return Err(Error::NameUnknown(repo.to_string()));
        }
        self.meta.tags(repo, n, last).await
    }

    /// Repositories that `visible` accepts, sorted, paginated.
    pub async fn catalog(
        &self,
        n: Option<u32>,
        last: Option<&str>,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Page> {
        let want = n.map(|n| n as usize);
        let mut items = Vec::new();
        let mut cursor = last.map(str::to_string);
        loop {
            let batch = self.meta.repositories(Some(500), cursor.as_deref()).await?;
            cursor = batch.items.last().cloned();
            for name in batch.items {
                if visible(&name) {
                    items.push(name);
                    if want.is_some_and(|w| items.len() > w) {
                        items.truncate(want.unwrap_or(0));
                        return Ok(Page { items, more: true });
                    }
                }
            }
            if !batch.more {
                return Ok(Page { items, more: false });
            }
        }
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`, optionally only those
    /// of `artifact_type`.
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        check_name(repo)?;
        let all = self.meta.referrers(repo, subject).await?;
        Ok(all
            .into_iter()
            .filter(|r| artifact_type.is_none() || r.artifact_type.as_deref() == artifact_type)
            .map(|r| Descriptor {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size as i64,
                artifact_type: r.artifact_type,
                annotations: r.annotations.and_then(|a| serde_json::from_str(&a).ok()),
                platform: None,
                urls: None,
            })
            .collect())
    }
}
