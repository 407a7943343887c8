//! The SQL of the `retention, quotas, usage` block of the metadata seam: tags with their push
//! and pull times, batched pull recording, conditional untagging, and usage aggregates.
//!
//! A namespace's repositories are found by a range scan of the `(repo, digest)` primary keys
//! (see [`namespace_range`]) narrowed by a prefix test, so a quota check reads only that
//! namespace's rows. Pull times live in `tag_pulls`, one row per tag, valid only while the tag
//! still points at the digest recorded with it (a moved tag starts unpulled).

use berth_oci::Digest;

use super::{SqliteMetadata, now, parse_digest};
use crate::error::Result;
use crate::metadata::usage::{
    ContentRow, PullRecord, PulledRef, TagSummary, TagTimes, in_namespace, namespace_range,
};

/// A pull by tag. The upsert keeps the later time while the tag still points at the same
/// digest, and starts over when it was moved.
const PULL_BY_TAG: &str = "INSERT INTO tag_pulls (repo, tag, digest, pulled_at) \
     SELECT repo, name, digest, ? FROM tags WHERE repo = ? AND name = ? \
     ON CONFLICT (repo, tag) DO UPDATE SET \
     pulled_at = CASE WHEN tag_pulls.digest = excluded.digest \
         AND tag_pulls.pulled_at > excluded.pulled_at THEN tag_pulls.pulled_at \
         ELSE excluded.pulled_at END, \
     digest = excluded.digest";

/// A pull by digest: the same for every tag pointing at it.
const PULL_BY_DIGEST: &str = "INSERT INTO tag_pulls (repo, tag, digest, pulled_at) \
     SELECT repo, name, digest, ? FROM tags WHERE repo = ? AND digest = ? \
     ON CONFLICT (repo, tag) DO UPDATE SET \
     pulled_at = CASE WHEN tag_pulls.digest = excluded.digest \
         AND tag_pulls.pulled_at > excluded.pulled_at THEN tag_pulls.pulled_at \
         ELSE excluded.pulled_at END, \
     digest = excluded.digest";

/// Distinct bytes of a namespace. Its rows: `repo` in the range (?1, ?2), and the namespace
/// itself or a name starting with the prefix ?4 of length ?3 (`namespace/`).
const NAMESPACE_USAGE: &str = "SELECT COALESCE(SUM(size), 0) FROM ( \
       SELECT digest, MAX(size) AS size FROM ( \
         SELECT digest, size FROM repository_blobs \
           WHERE repo >= ?1 AND repo < ?2 AND (repo = ?1 OR substr(repo, 1, ?3) = ?4) \
         UNION ALL \
         SELECT digest, size FROM manifests \
           WHERE repo >= ?1 AND repo < ?2 AND (repo = ?1 OR substr(repo, 1, ?3) = ?4) \
       ) AS c GROUP BY digest \
     ) AS u";

impl SqliteMetadata {
    pub(super) async fn sql_tag_times(&self, repo: &str) -> Result<Vec<TagTimes>> {
        let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT t.name, t.digest, t.updated_at, p.pulled_at FROM tags t \
             LEFT JOIN tag_pulls p ON p.repo = t.repo AND p.tag = t.name AND p.digest = t.digest \
             WHERE t.repo = ? ORDER BY t.updated_at DESC, t.name",
        )
        .bind(repo)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(name, digest, pushed_at, pulled_at)| {
                Ok(TagTimes {
                    name,
                    digest: parse_digest(digest)?,
                    pushed_at,
                    pulled_at,
                })
            })
            .collect()
    }

    pub(super) async fn sql_tags_of(&self, repo: &str, digest: &Digest) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM tags WHERE repo = ? AND digest = ? ORDER BY name")
                .bind(repo)
                .bind(digest.to_string())
                .fetch_all(&self.reader)
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub(super) async fn sql_delete_tag_if_unchanged(
        &self,
        repo: &str,
        tag: &str,
        digest: &Digest,
        pushed_at: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM tags WHERE repo = ? AND name = ? AND digest = ? AND updated_at = ?",
        )
        .bind(repo)
        .bind(tag)
        .bind(digest.to_string())
        .bind(pushed_at)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn sql_set_tags(
        &self,
        repo: &str,
        digest: &Digest,
        tags: &[String],
    ) -> Result<()> {
        let d = digest.to_string();
        let mut tx = self.writer.begin().await?;
        for tag in tags {
            sqlx::query(
                "INSERT INTO tags (repo, name, digest, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (repo, name) DO UPDATE SET digest = excluded.digest, \
                 updated_at = excluded.updated_at",
            )
            .bind(repo)
            .bind(tag)
            .bind(&d)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn sql_record_pulls(&self, pulls: &[PullRecord]) -> Result<()> {
        if pulls.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for p in pulls {
            let (sql, key) = match &p.reference {
                PulledRef::Tag(t) => (PULL_BY_TAG, t.clone()),
                PulledRef::Digest(d) => (PULL_BY_DIGEST, d.to_string()),
            };
            sqlx::query(sql)
                .bind(p.at)
                .bind(&p.repo)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn sql_prune_pulls(&self) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM tag_pulls WHERE NOT EXISTS (SELECT 1 FROM tags t \
             WHERE t.repo = tag_pulls.repo AND t.name = tag_pulls.tag \
             AND t.digest = tag_pulls.digest)",
        )
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    pub(super) async fn sql_namespace_holds(
        &self,
        namespace: &str,
        digest: &Digest,
    ) -> Result<bool> {
        let (lo, hi) = namespace_range(namespace);
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT repo FROM repository_blobs WHERE digest = ?1 AND repo >= ?2 AND repo < ?3 \
             UNION ALL \
             SELECT repo FROM manifests WHERE digest = ?1 AND repo >= ?2 AND repo < ?3",
        )
        .bind(digest.to_string())
        .bind(&lo)
        .bind(&hi)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().any(|(r,)| in_namespace(namespace, r)))
    }

    pub(super) async fn sql_namespace_usage(&self, namespace: &str) -> Result<u64> {
        let (lo, hi) = namespace_range(namespace);
        let prefix = format!("{namespace}/");
        let (sum,): (i64,) = sqlx::query_as(NAMESPACE_USAGE)
            .bind(&lo)
            .bind(&hi)
            .bind(prefix.len() as i64)
            .bind(&prefix)
            .fetch_one(&self.reader)
            .await?;
        Ok(sum.max(0) as u64)
    }

    pub(super) async fn sql_content(&self) -> Result<Vec<ContentRow>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT repo, digest, size, 0 FROM repository_blobs \
             UNION ALL SELECT repo, digest, size, 1 FROM manifests",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(repo, digest, size, m)| ContentRow {
                repo,
                digest,
                size: size.max(0) as u64,
                manifest: m != 0,
            })
            .collect())
    }

    pub(super) async fn sql_tag_summary(&self) -> Result<Vec<TagSummary>> {
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT t.repo, COUNT(*), MAX(p.pulled_at) FROM tags t \
             LEFT JOIN tag_pulls p ON p.repo = t.repo AND p.tag = t.name AND p.digest = t.digest \
             GROUP BY t.repo ORDER BY t.repo",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(repo, tags, last_pulled)| TagSummary {
                repo,
                tags: tags.max(0) as u64,
                last_pulled,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{ManifestRecord, MetadataStore};

    fn d(n: u8) -> Digest {
        Digest::sha256(&[n])
    }

    fn manifest(repo: &str, digest: Digest, size: u64) -> ManifestRecord {
        ManifestRecord {
            repo: repo.into(),
            digest,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size,
            artifact_type: None,
            subject: None,
            annotations: None,
            blobs: vec![],
            children: vec![],
            require_refs: false,
        }
    }

    async fn open() -> (tempfile::TempDir, SqliteMetadata) {
        let dir = tempfile::tempdir().unwrap();
        let m = SqliteMetadata::open(&dir.path().join("m.db"))
            .await
            .unwrap();
        (dir, m)
    }

    #[tokio::test]
    async fn pulls_follow_the_tag_while_it_points_at_the_same_digest() {
        let (_dir, m) = open().await;
        m.put_manifest(&manifest("r", d(1), 10), Some("a"))
            .await
            .unwrap();
        m.put_manifest(&manifest("r", d(2), 10), Some("b"))
            .await
            .unwrap();
        m.set_tags("r", &d(2), &["c".into(), "b2".into()])
            .await
            .unwrap();
        let pull = |reference, at| PullRecord {
            repo: "r".into(),
            reference,
            at,
        };
        m.record_pulls(&[
            pull(PulledRef::Tag("a".into()), 100),
            pull(PulledRef::Digest(d(2)), 200),
            pull(PulledRef::Tag("nope".into()), 300),
        ])
        .await
        .unwrap();
        // An older pull never moves the time back.
        m.record_pulls(&[pull(PulledRef::Tag("a".into()), 50)])
            .await
            .unwrap();
        let times = m.tag_times("r").await.unwrap();
        let at = |t: &str| times.iter().find(|x| x.name == t).unwrap().pulled_at;
        assert_eq!(
            (at("a"), at("b"), at("c"), at("b2")),
            (Some(100), Some(200), Some(200), Some(200))
        );
        let summary = m.tag_summary().await.unwrap();
        assert_eq!((summary[0].tags, summary[0].last_pulled), (4, Some(200)));
        // Moved: unpulled, and its old row goes at the next prune.
        m.put_manifest(&manifest("r", d(1), 10), Some("b"))
            .await
            .unwrap();
        let times = m.tag_times("r").await.unwrap();
        assert_eq!(
            times.iter().find(|x| x.name == "b").unwrap().pulled_at,
            None
        );
        assert_eq!(m.prune_pulls().await.unwrap(), 1);
        // Conditional untagging: only while unchanged.
        let a = times.iter().find(|x| x.name == "a").unwrap().clone();
        assert!(
            !m.delete_tag_if_unchanged("r", "a", &d(2), a.pushed_at)
                .await
                .unwrap()
        );
        assert!(
            !m.delete_tag_if_unchanged("r", "a", &d(1), a.pushed_at + 1)
                .await
                .unwrap()
        );
        assert!(
            m.delete_tag_if_unchanged("r", "a", &d(1), a.pushed_at)
                .await
                .unwrap()
        );
        assert_eq!(m.tags_of("r", &d(1)).await.unwrap(), vec!["b".to_string()]);
    }

    #[tokio::test]
    async fn namespace_usage_counts_each_digest_once_and_only_its_repositories() {
        let (_dir, m) = open().await;
        m.link_blob("ns", &d(1), 1000).await.unwrap();
        m.link_blob("ns/a", &d(1), 1000).await.unwrap();
        m.link_blob("ns/a/deep", &d(2), 200).await.unwrap();
        m.put_manifest(&manifest("ns/b", d(3), 30), None)
            .await
            .unwrap();
        m.link_blob("ns-x/a", &d(4), 4).await.unwrap();
        m.link_blob("ns.y", &d(5), 5).await.unwrap();
        m.link_blob("nsz", &d(6), 6).await.unwrap();
        assert_eq!(m.namespace_usage("ns").await.unwrap(), 1230);
        assert_eq!(m.namespace_usage("ns/a").await.unwrap(), 1200);
        assert_eq!(m.namespace_usage("ns-x").await.unwrap(), 4);
        assert_eq!(m.namespace_usage("other").await.unwrap(), 0);
        assert!(
            m.namespace_holds("ns", &d(3)).await.unwrap(),
            "manifests count"
        );
        assert!(m.namespace_holds("ns", &d(2)).await.unwrap());
        assert!(!m.namespace_holds("ns", &d(4)).await.unwrap());
        assert!(!m.namespace_holds("ns/b", &d(1)).await.unwrap());
        assert_eq!(m.content().await.unwrap().len(), 7);
    }
}
