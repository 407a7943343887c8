//! What the metadata seam reports and records for retention, quotas and usage: tags with their
//! push and pull times, batched pulls, and the content rows usage reports are computed from.
//! The methods are the `retention, quotas, usage` block of
//! [`MetadataStore`](super::MetadataStore). Times are Unix seconds.

use berth_oci::Digest;

/// A tag with its times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTimes {
    /// Tag name.
    pub name: String,
    /// The manifest it points at.
    pub digest: Digest,
    /// When it was last pushed (set or re-set).
    pub pushed_at: i64,
    /// When the manifest it points at now was last pulled through it (by tag, or by digest),
    /// if ever.
    pub pulled_at: Option<i64>,
}

/// What was pulled: a tag, or a manifest by digest (which counts for every tag pointing at it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PulledRef {
    /// `GET /v2/<repo>/manifests/<tag>`
    Tag(String),
    /// `GET /v2/<repo>/manifests/<digest>`
    Digest(Digest),
}

/// One pull to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRecord {
    /// Repository.
    pub repo: String,
    /// What was pulled.
    pub reference: PulledRef,
    /// When (the latest pull of this reference since the last flush).
    pub at: i64,
}

/// One piece of content a repository holds: a blob it may serve, or a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRow {
    /// Repository.
    pub repo: String,
    /// Content digest, as text.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether it is a manifest (else a blob: config, layer…).
    pub manifest: bool,
}

/// Tags of one repository, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSummary {
    /// Repository.
    pub repo: String,
    /// How many tags.
    pub tags: u64,
    /// The latest pull of any of them, if any.
    pub last_pulled: Option<i64>,
}

/// The bounds of a namespace's repository names, for range scans over a `repo` column:
/// `namespace` itself and the names under `namespace/` all lie in `[namespace, namespace + "0")`
/// (`'0'` follows `'/'`), among a few others (`namespace-x`) that [`in_namespace`] filters out.
pub fn namespace_range(namespace: &str) -> (String, String) {
    (namespace.to_string(), format!("{namespace}0"))
}

/// Whether repository `repo` is `namespace` or lies under `namespace/`.
pub fn in_namespace(namespace: &str, repo: &str) -> bool {
    repo == namespace
        || (repo.len() > namespace.len()
            && repo.starts_with(namespace)
            && repo.as_bytes()[namespace.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert!(in_namespace("team-a", "team-a"));
        assert!(in_namespace("team-a", "team-a/app"));
        assert!(in_namespace("team-a", "team-a/x/y"));
        assert!(!in_namespace("team-a", "team-ab"));
        assert!(!in_namespace("team-a", "team-a-x/app"));
        assert!(!in_namespace("team-a/app", "team-a"));
        let (lo, hi) = namespace_range("team-a");
        for r in ["team-a", "team-a/app", "team-a/x/y", "team-a-x", "team-a.b"] {
            assert!(lo.as_str() <= r && r < hi.as_str(), "{r}");
        }
        assert!("team-a0/x" >= hi.as_str());
    }
}
