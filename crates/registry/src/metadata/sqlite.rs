//! SQLite behind the metadata seam: WAL mode, `synchronous=FULL`, one writer connection (so write
//! transactions never race into SQLITE_BUSY) and a small read-only pool.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use berth_oci::Digest;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{ContentRow, PullRecord, TagSummary, TagTimes};
use super::{GcItem, UploadRow};
use super::{ManifestInfo, ManifestRecord, MetadataStore, Page, Referrer};
use crate::error::{Error, Result};

const SCHEMA: &str = include_str!("schema.sql");

mod gc;
mod usage;

/// Metadata in one SQLite file.
pub struct SqliteMetadata {
    writer: SqlitePool,
    reader: SqlitePool,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse_digest(s: String) -> Result<Digest> {
    Digest::from_str(&s).map_err(|e| Error::Database(sqlx::Error::Decode(Box::new(e))))
}

fn page(mut items: Vec<String>, n: Option<u32>) -> Page {
    let more = matches!(n, Some(n) if items.len() > n as usize);
    if let Some(n) = n {
        items.truncate(n as usize);
    }
    Page { items, more }
}

impl SqliteMetadata {
    /// Open (creating) the database file at `path` and bring its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteMetadata> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // No idle reaping (`idle_timeout`/`max_lifetime` off): sqlx 0.9.0's reaper can spin
        // forever on a miscounted idle queue (launchbadge/sqlx#3645), and a local file gains
        // nothing from closing idle connections.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.clone())
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&writer).await?;
        gc::migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.read_only(true))
            .await?;
        Ok(SqliteMetadata { writer, reader })
    }
}

#[async_trait]
impl MetadataStore for SqliteMetadata {
    async fn repository_exists(&self, repo: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM repositories WHERE name = ?")
            .bind(repo)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    async fn repositories(&self, n: Option<u32>, last: Option<&str>) -> Result<Page> {
        let limit = n.map(|n| n as i64 + 1).unwrap_or(-1);
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?")
                .bind(last.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.reader)
                .await?;
        Ok(page(rows.into_iter().map(|r| r.0).collect(), n))
    }

    async fn blob_linked(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT size FROM repository_blobs WHERE repo = ? AND digest = ?")
                .bind(repo)
                .bind(digest.to_string())
                .fetch_optional(&self.reader)
                .await?;
        Ok(row.map(|r| r.0 as u64))
    }

    async fn blob_repositories(&self, digest: &Digest, limit: u32) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT repo FROM repository_blobs WHERE digest = ? ORDER BY repo LIMIT ?",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(|(r,)| r).collect())
    }

    async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(repo)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO repository_blobs (repo, digest, size, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (repo, digest) DO UPDATE SET created_at = excluded.created_at",
        )
        .bind(repo)
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool> {
        // Re-checked here: a manifest recorded since the caller looked keeps its blob.
        let r = sqlx::query(
            "DELETE FROM repository_blobs WHERE repo = ?1 AND digest = ?2 AND NOT EXISTS \
             (SELECT 1 FROM manifest_refs WHERE repo = ?1 AND child = ?2 AND kind = 0)",
        )
        .bind(repo)
        .bind(digest.to_string())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn blob_user(&self, repo: &str, digest: &Digest) -> Result<Option<Digest>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT manifest FROM manifest_refs WHERE repo = ? AND child = ? AND kind = 0 LIMIT 1",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| parse_digest(r.0)).transpose()
    }

    async fn put_manifest(&self, m: &ManifestRecord, tag: Option<&str>) -> Result<()> {
        let digest = m.digest.to_string();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&m.repo)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        // Holding the write lock now: what it references cannot go before the commit.
        if m.require_refs {
            gc::check_refs(&mut tx, m).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO manifests (repo, digest, media_type, size, artifact_type, subject, annotations, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&m.repo)
        .bind(&digest)
        .bind(&m.media_type)
        .bind(m.size as i64)
        .bind(&m.artifact_type)
        .bind(m.subject.as_ref().map(|s| s.to_string()))
        .bind(&m.annotations)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        gc::touch_manifest(&mut tx, &m.repo, &digest).await?;
        if inserted {
            let refs = m
                .blobs
                .iter()
                .map(|d| (d, 0i64))
                .chain(m.children.iter().map(|d| (d, 1i64)));
            for (child, kind) in refs {
                sqlx::query(
                    "INSERT INTO manifest_refs (repo, manifest, child, kind) VALUES (?, ?, ?, ?) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&m.repo)
                .bind(&digest)
                .bind(child.to_string())
                .bind(kind)
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some(tag) = tag {
            sqlx::query(
                "INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (repo, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
            )
            .bind(&m.repo)
            .bind(tag)
            .bind(&digest)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn manifest(&self, repo: &str, digest: &Digest) -> Result<Option<ManifestInfo>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT media_type, size FROM manifests WHERE repo = ? AND digest = ?")
                .bind(repo)
                .bind(digest.to_string())
                .fetch_optional(&self.reader)
                .await?;
        Ok(row.map(|(media_type, size)| ManifestInfo {
            media_type,
            size: size as u64,
        }))
    }

    async fn resolve_tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT digest FROM tags WHERE repo = ? AND name = ?")
                .bind(repo)
                .bind(tag)
                .fetch_optional(&self.reader)
                .await?;
        row.map(|r| parse_digest(r.0)).transpose()
    }

    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let d = digest.to_string();
        let mut tx = self.writer.begin().await?;
        let gone = sqlx::query("DELETE FROM manifests WHERE repo = ? AND digest = ?")
            .bind(repo)
            .bind(&d)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM tags WHERE repo = ? AND digest = ?")
            .bind(repo)
            .bind(&d)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM manifest_refs WHERE repo = ? AND manifest = ?")
            .bind(repo)
            .bind(&d)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone)
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM tags WHERE repo = ? AND name = ?")
            .bind(repo)
            .bind(tag)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn tags(&self, repo: &str, n: Option<u32>, last: Option<&str>) -> Result<Page> {
        let limit = n.map(|n| n as i64 + 1).unwrap_or(-1);
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name LIMIT ?",
        )
        .bind(repo)
        .bind(last.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(page(rows.into_iter().map(|r| r.0).collect(), n))
    }

    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Referrer>> {
        let rows: Vec<(String, String, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests \
             WHERE repo = ? AND subject = ? ORDER BY created_at, digest",
        )
        .bind(repo)
        .bind(subject.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(digest, media_type, size, artifact_type, annotations)| {
                Ok(Referrer {
                    digest: parse_digest(digest)?,
                    media_type,
                    size: size as u64,
                    artifact_type,
                    annotations,
                })
            })
            .collect()
    }

    async fn create_upload(&self, id: &str, repo: &str) -> Result<()> {
        sqlx::query("INSERT INTO uploads (id, repo, created_at) VALUES (?, ?, ?)")
            .bind(id)
            .bind(repo)
            .bind(now())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn upload_repository(&self, id: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT repo FROM uploads WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.0))
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn stats(&self) -> Result<super::StoreStats> {
        let (repositories,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM repositories")
            .fetch_one(&self.reader)
            .await?;
        let (blobs, blob_bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM \
             (SELECT MAX(size) AS size FROM repository_blobs GROUP BY digest)",
        )
        .fetch_one(&self.reader)
        .await?;
        let (manifests, manifest_bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM \
             (SELECT MAX(size) AS size FROM manifests GROUP BY digest)",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(super::StoreStats {
            repositories: repositories as u64,
            blobs: blobs as u64,
            blob_bytes: blob_bytes as u64,
            manifests: manifests as u64,
            manifest_bytes: manifest_bytes as u64,
        })
    }

    // ---- retention, quotas, usage (SQL in sqlite/usage.rs) ----

    async fn tag_times(&self, repo: &str) -> Result<Vec<TagTimes>> {
        self.sql_tag_times(repo).await
    }

    async fn tags_of(&self, repo: &str, digest: &Digest) -> Result<Vec<String>> {
        self.sql_tags_of(repo, digest).await
    }

    async fn delete_tag_if_unchanged(
        &self,
        repo: &str,
        tag: &str,
        digest: &Digest,
        pushed_at: i64,
    ) -> Result<bool> {
        self.sql_delete_tag_if_unchanged(repo, tag, digest, pushed_at)
            .await
    }

    async fn set_tags(&self, repo: &str, digest: &Digest, tags: &[String]) -> Result<()> {
        self.sql_set_tags(repo, digest, tags).await
    }

    async fn record_pulls(&self, pulls: &[PullRecord]) -> Result<()> {
        self.sql_record_pulls(pulls).await
    }

    async fn prune_pulls(&self) -> Result<u64> {
        self.sql_prune_pulls().await
    }

    async fn namespace_holds(&self, namespace: &str, digest: &Digest) -> Result<bool> {
        self.sql_namespace_holds(namespace, digest).await
    }

    async fn namespace_usage(&self, namespace: &str) -> Result<u64> {
        self.sql_namespace_usage(namespace).await
    }

    async fn content(&self) -> Result<Vec<ContentRow>> {
        self.sql_content().await
    }

    async fn tag_summary(&self) -> Result<Vec<TagSummary>> {
        self.sql_tag_summary().await
    }

    // ---- garbage collection (SQL in sqlite/gc.rs) ----

    async fn touch_link(&self, repo: &str, digest: &Digest, stale: i64) -> Result<Option<u64>> {
        self.sql_touch_link(repo, digest, stale).await
    }

    async fn mount_link(&self, repo: &str, digest: &Digest, from: &str) -> Result<Option<u64>> {
        self.sql_mount_link(repo, digest, from).await
    }

    async fn gc_unkept_manifests(&self, cutoff: i64) -> Result<Vec<GcItem>> {
        self.sql_unkept_manifests(cutoff).await
    }

    async fn gc_remove_manifests(&self, cutoff: i64) -> Result<Vec<GcItem>> {
        self.sql_remove_manifests(cutoff).await
    }

    async fn gc_unreferenced_links(&self, cutoff: i64, untagged: bool) -> Result<Vec<GcItem>> {
        self.sql_unreferenced_links(cutoff, untagged).await
    }

    async fn gc_remove_links(&self, links: &[GcItem], cutoff: i64) -> Result<Vec<GcItem>> {
        self.sql_remove_links(links, cutoff).await
    }

    async fn gc_held(&self, after: Option<&str>, limit: u32) -> Result<Vec<(String, u64)>> {
        self.sql_held(after, limit).await
    }

    async fn gc_still_held(&self, digests: &[Digest]) -> Result<Vec<Digest>> {
        self.sql_still_held(digests).await
    }

    async fn gc_uploads(&self) -> Result<Vec<UploadRow>> {
        self.sql_uploads().await
    }

    async fn gc_expire_upload(&self, id: &str, before: i64) -> Result<bool> {
        self.sql_expire_upload(id, before).await
    }

    async fn gc_users(&self, digest: &Digest) -> Result<Vec<GcItem>> {
        self.sql_users(digest).await
    }

    async fn gc_unlink_everywhere(&self, digest: &Digest) -> Result<u64> {
        self.sql_unlink_everywhere(digest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::sha256(&[n])
    }

    fn record(repo: &str, digest: Digest, subject: Option<Digest>) -> ManifestRecord {
        ManifestRecord {
            repo: repo.into(),
            digest,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 10,
            artifact_type: Some("application/x-test".into()),
            subject,
            annotations: None,
            blobs: vec![d(100)],
            children: vec![],
            require_refs: false,
        }
    }

    #[tokio::test]
    async fn tags_manifests_links_and_referrers() {
        let dir = tempfile::tempdir().unwrap();
        let m = SqliteMetadata::open(&dir.path().join("m.db"))
            .await
            .unwrap();
        assert!(!m.repository_exists("a").await.unwrap());
        m.link_blob("a", &d(100), 5).await.unwrap();
        assert_eq!(m.blob_linked("a", &d(100)).await.unwrap(), Some(5));
        assert_eq!(
            m.blob_linked("b", &d(100)).await.unwrap(),
            None,
            "links are per repository"
        );
        m.put_manifest(&record("a", d(1), None), Some("v1"))
            .await
            .unwrap();
        m.put_manifest(&record("a", d(1), None), Some("latest"))
            .await
            .unwrap();
        m.put_manifest(&record("a", d(2), Some(d(1))), None)
            .await
            .unwrap();
        assert_eq!(m.resolve_tag("a", "v1").await.unwrap(), Some(d(1)));
        let all = m.tags("a", None, None).await.unwrap();
        assert_eq!(all.items, vec!["latest", "v1"]);
        let first = m.tags("a", Some(1), None).await.unwrap();
        assert_eq!(
            (first.items.clone(), first.more),
            (vec!["latest".to_string()], true)
        );
        let rest = m.tags("a", Some(1), Some("latest")).await.unwrap();
        assert_eq!((rest.items, rest.more), (vec!["v1".to_string()], false));
        let refs = m.referrers("a", &d(1)).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].digest, d(2));
        assert!(m.delete_manifest("a", &d(1)).await.unwrap());
        assert!(
            m.tags("a", None, None).await.unwrap().items.is_empty(),
            "tags go with the manifest"
        );
        assert!(!m.delete_manifest("a", &d(1)).await.unwrap());
        m.create_upload("u1", "a").await.unwrap();
        assert_eq!(
            m.upload_repository("u1").await.unwrap().as_deref(),
            Some("a")
        );
        m.delete_upload("u1").await.unwrap();
        assert_eq!(m.upload_repository("u1").await.unwrap(), None);
        assert_eq!(m.repositories(None, None).await.unwrap().items, vec!["a"]);
    }
}
