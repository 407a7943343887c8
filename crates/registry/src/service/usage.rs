//! Usage reports (`berth registry du`) and tag details (`berth registry tags`).
//!
//! A repository's `bytes` are those of the distinct blobs and manifests it holds; its
//! `unique_bytes` those no other repository holds (what deleting it could free), the rest are
//! `shared_bytes`. A namespace (the first component of a name, or a `[[quota]]` namespace) is
//! counted the same way over all its repositories: its `bytes` are what its quota is checked
//! against, its `unique_bytes` what no repository outside it holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::{Registry, check_name};
use crate::auth::scope::matches;
use crate::error::{Error, Result};
use crate::metadata::usage::in_namespace;

/// Usage of one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepositoryUsage {
    /// Repository name.
    pub name: String,
    /// Blobs it may serve.
    pub blobs: u64,
    /// Manifests it holds.
    pub manifests: u64,
    /// Tags.
    pub tags: u64,
    /// Bytes of its distinct content.
    pub bytes: u64,
    /// Bytes no other repository holds.
    pub unique_bytes: u64,
    /// Bytes other repositories hold too.
    pub shared_bytes: u64,
    /// The latest pull of one of its tags (Unix seconds), if any was recorded.
    pub last_pulled: Option<i64>,
}

/// Usage of one namespace (all its repositories, whatever the scope shown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NamespaceUsage {
    /// Namespace.
    pub name: String,
    /// Repositories in it.
    pub repositories: u64,
    /// Distinct blobs.
    pub blobs: u64,
    /// Distinct manifests.
    pub manifests: u64,
    /// Bytes of its distinct content (what its quota counts).
    pub bytes: u64,
    /// Bytes no repository outside it holds.
    pub unique_bytes: u64,
    /// Bytes repositories outside it hold too.
    pub shared_bytes: u64,
    /// Its quota in bytes, when one is configured.
    pub quota: Option<u64>,
}

/// Totals over the repositories shown (content shared among them counted once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TotalUsage {
    /// Repositories.
    pub repositories: u64,
    /// Distinct blobs.
    pub blobs: u64,
    /// Distinct manifests.
    pub manifests: u64,
    /// Bytes of distinct content.
    pub bytes: u64,
}

/// `berth registry du`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    /// The scope asked for (a repository, a namespace or a glob), if any.
    pub scope: Option<String>,
    /// Repositories in scope, by name.
    pub repositories: Vec<RepositoryUsage>,
    /// Namespaces of those repositories, by name.
    pub namespaces: Vec<NamespaceUsage>,
    /// Totals.
    pub total: TotalUsage,
}

/// A tag with its times and protection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagDetail {
    /// Tag.
    pub name: String,
    /// Manifest it points at.
    pub digest: String,
    /// Last push (Unix seconds).
    pub pushed_at: i64,
    /// Last pull (Unix seconds), if any was recorded.
    pub pulled_at: Option<i64>,
    /// Whether an `[[immutable_tags]]` rule protects it.
    pub immutable: bool,
}

/// Whether `repo` is in `scope`: a glob matching it, or a name it is or lies under.
fn in_scope(scope: &str, repo: &str) -> bool {
    matches(scope, repo) || in_namespace(scope.trim_end_matches('/'), repo)
}

struct Content {
    size: u64,
    blob: bool,
    manifest: bool,
    repos: Vec<usize>,
}

impl Registry {
    /// Usage per repository in `scope` (every repository when `None`) and per namespace.
    pub async fn usage(&self, scope: Option<&str>) -> Result<UsageReport> {
        self.flush_pulls().await?;
        let rows = self.meta.content().await?;
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for r in &rows {
            let n = names.len();
            names.entry(r.repo.clone()).or_insert(n);
        }
        let index: Vec<&str> = {
            let mut v = vec![""; names.len()];
            for (name, &i) in &names {
                v[i] = name;
            }
            v
        };
        let mut repos: Vec<RepositoryUsage> = index
            .iter()
            .map(|n| RepositoryUsage {
                name: n.to_string(),
                ..Default::default()
            })
            .collect();
        let mut content: HashMap<String, Content> = HashMap::new();
        for r in rows {
            let i = names[&r.repo];
            if r.manifest {
                repos[i].manifests += 1;
            } else {
                repos[i].blobs += 1;
            }
            let c = content.entry(r.digest).or_insert(Content {
                size: r.size,
                blob: false,
                manifest: false,
                repos: Vec::new(),
            });
            c.blob |= !r.manifest;
            c.manifest |= r.manifest;
            if !c.repos.contains(&i) {
                c.repos.push(i);
            }
        }
        for c in content.values() {
            for &i in &c.repos {
                repos[i].bytes += c.size;
                if c.repos.len() == 1 {
                    repos[i].unique_bytes += c.size;
                }
            }
        }
        for t in self.meta.tag_summary().await? {
            if let Some(&i) = names.get(&t.repo) {
                repos[i].tags = t.tags;
                repos[i].last_pulled = t.last_pulled;
            }
        }
        for r in &mut repos {
            r.shared_bytes = r.bytes - r.unique_bytes;
        }
        let shown: Vec<bool> = index
            .iter()
            .map(|n| scope.is_none_or(|s| in_scope(s, n)))
            .collect();

        // Namespaces: first components and quota namespaces of the repositories shown.
        let rules = self.policies();
        let mut spaces: BTreeSet<String> = BTreeSet::new();
        for (n, _) in index.iter().zip(&shown).filter(|(_, s)| **s) {
            spaces.insert(n.split('/').next().unwrap_or(n).to_string());
            spaces.extend(rules.quotas_for(n).map(|q| q.namespace.clone()));
        }
        let namespaces = spaces
            .into_iter()
            .map(|ns| {
                let member: Vec<bool> = index.iter().map(|n| in_namespace(&ns, n)).collect();
                let mut u = NamespaceUsage {
                    repositories: member.iter().filter(|m| **m).count() as u64,
                    quota: rules
                        .quotas
                        .iter()
                        .find(|q| q.namespace == ns)
                        .map(|q| q.bytes),
                    name: ns,
                    ..Default::default()
                };
                for c in content.values() {
                    let inside = c.repos.iter().filter(|&&i| member[i]).count();
                    if inside == 0 {
                        continue;
                    }
                    u.bytes += c.size;
                    u.blobs += c.blob as u64;
                    u.manifests += c.manifest as u64;
                    if inside == c.repos.len() {
                        u.unique_bytes += c.size;
                    }
                }
                u.shared_bytes = u.bytes - u.unique_bytes;
                u
            })
            .collect();
        let mut total = TotalUsage::default();
        for c in content
            .values()
            .filter(|c| c.repos.iter().any(|&i| shown[i]))
        {
            total.bytes += c.size;
            total.blobs += c.blob as u64;
            total.manifests += c.manifest as u64;
        }
        let repositories: Vec<RepositoryUsage> = repos
            .into_iter()
            .zip(&shown)
            .filter(|(_, s)| **s)
            .map(|(r, _)| r)
            .collect();
        total.repositories = repositories.len() as u64;
        Ok(UsageReport {
            scope: scope.map(str::to_string),
            repositories,
            namespaces,
            total,
        })
    }

    /// Tags of `repo` with their digests, push and pull times, most recently pushed first.
    pub async fn tag_details(&self, repo: &str) -> Result<Vec<TagDetail>> {
        check_name(repo)?;
        if !self.meta.repository_exists(repo).await? {
            return Err(Error::NameUnknown(repo.to_string()));
        }
        self.flush_pulls().await?;
        let rules = self.policies();
        Ok(self
            .meta
            .tag_times(repo)
            .await?
            .into_iter()
            .map(|t| TagDetail {
                immutable: rules.immutable_rule(repo, &t.name).is_some(),
                name: t.name,
                digest: t.digest.to_string(),
                pushed_at: t.pushed_at,
                pulled_at: t.pulled_at,
            })
            .collect())
    }
}
