//! The SQL of the `garbage collection` block of the metadata seam (docs/gc.md): the
//! reachability of manifests as one recursive query, removals re-checked inside the
//! transaction that does them, sorted pages of the digests in use, and the schema migration
//! for `manifests.pushed_at`.
//!
//! Every transaction that removes something begins with `BEGIN IMMEDIATE`: it holds SQLite's
//! write lock from its first read, so what it judged cannot change before it commits — also
//! against another process (`berth registry gc` beside the server).

use std::collections::HashSet;

use berth_oci::Digest;
use futures_util::TryStreamExt;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::{SqliteMetadata, now, parse_digest};
use crate::error::{Error, Result};
use crate::metadata::{GcItem, ManifestRecord, UploadRow};

/// The manifests an `--untagged` collection keeps (`kept(repo, digest)`): tagged ones, those
/// pushed at or after the cut-off `?1`, and, transitively, the children of kept indexes and the
/// referrers of kept subjects. UNION (not UNION ALL) ends the recursion on cycles.
const KEPT: &str = "WITH RECURSIVE kept(repo, digest) AS ( \
       SELECT repo, digest FROM tags \
       UNION SELECT repo, digest FROM manifests WHERE COALESCE(pushed_at, created_at) >= ?1 \
       UNION SELECT r.repo, r.child FROM manifest_refs r \
             JOIN kept k ON r.repo = k.repo AND r.manifest = k.digest WHERE r.kind = 1 \
       UNION SELECT m.repo, m.digest FROM manifests m \
             JOIN kept k ON m.repo = k.repo AND m.subject = k.digest \
     ) ";

/// Manifests not kept (`KEPT` must precede it).
const UNKEPT: &str = "SELECT m.repo, m.digest, m.size FROM manifests m \
     WHERE COALESCE(m.pushed_at, m.created_at) < ?1 \
       AND (m.repo, m.digest) NOT IN (SELECT repo, digest FROM kept) \
     ORDER BY m.repo, m.digest";

/// Links older than `?1` no manifest of their repository references.
const UNREFERENCED_LINKS: &str = "SELECT b.repo, b.digest, b.size FROM repository_blobs b \
     WHERE b.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM manifest_refs r \
       WHERE r.repo = b.repo AND r.child = b.digest AND r.kind = 0) \
     ORDER BY b.repo, b.digest";

/// Old links with the manifests of their repository that reference them (one row per pair,
/// `NULL` for none), grouped by link.
const LINKS_WITH_USERS: &str = "SELECT b.repo, b.digest, b.size, r.manifest \
     FROM repository_blobs b LEFT JOIN manifest_refs r \
       ON r.repo = b.repo AND r.child = b.digest AND r.kind = 0 \
     WHERE b.created_at < ?1 ORDER BY b.repo, b.digest";

/// The `[repo, digest]` pairs of the JSON array `?1`, as rows (one statement for a whole batch:
/// each statement is a round trip to the connection's thread).
const PAIRS: &str = "SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) j";

/// Remove the links `?1` (pairs), each re-checked: still old (before `?2`), still referenced by
/// no manifest of its repository.
const REMOVE_LINKS: &str = "DELETE FROM repository_blobs \
     WHERE (repo, digest) IN (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) j) \
       AND created_at < ?2 \
       AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = repository_blobs.repo \
         AND r.child = repository_blobs.digest AND r.kind = 0) \
     RETURNING repo, digest, size";

/// The first `?2` digests after `?1` held by links or manifests, with how many rows hold each.
/// Each side is limited before the union: the union's first `?2` are among each side's first.
const HELD: &str = "SELECT digest, SUM(n) FROM ( \
       SELECT * FROM (SELECT digest, COUNT(*) AS n FROM repository_blobs WHERE digest > ?1 \
                      GROUP BY digest ORDER BY digest LIMIT ?2) \
       UNION ALL \
       SELECT * FROM (SELECT digest, COUNT(*) AS n FROM manifests WHERE digest > ?1 \
                      GROUP BY digest ORDER BY digest LIMIT ?2)) \
     GROUP BY digest ORDER BY digest LIMIT ?2";

/// Which of the digests in the JSON array `?1` a link or manifest holds.
const STILL_HELD: &str = "SELECT j.value FROM json_each(?1) j \
     WHERE EXISTS (SELECT 1 FROM repository_blobs b WHERE b.digest = j.value) \
        OR EXISTS (SELECT 1 FROM manifests m WHERE m.digest = j.value)";

/// Manifests needing `?1`: stored as it, or referencing it.
const USERS: &str = "SELECT m.repo, m.digest, m.size FROM manifests m WHERE m.digest = ?1 \
     UNION SELECT m.repo, m.digest, m.size FROM manifest_refs r \
       JOIN manifests m ON m.repo = r.repo AND m.digest = r.manifest WHERE r.child = ?1 \
     ORDER BY 1, 2";

/// Add the columns newer code needs to a database made by older code.
pub(super) async fn migrate(writer: &SqlitePool) -> Result<()> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let (has,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM pragma_table_info('manifests') WHERE name = 'pushed_at'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if has == 0 {
        sqlx::query("ALTER TABLE manifests ADD COLUMN pushed_at BIGINT")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Inside a manifest's recording transaction: fail unless every blob it lists is linked in
/// its repository and every child manifest is there.
pub(super) async fn check_refs(tx: &mut Transaction<'_, Sqlite>, m: &ManifestRecord) -> Result<()> {
    for blob in &m.blobs {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM repository_blobs WHERE repo = ? AND digest = ?")
                .bind(&m.repo)
                .bind(blob.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if row.is_none() {
            return Err(Error::ManifestBlobUnknown(blob.clone()));
        }
    }
    for child in &m.children {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM manifests WHERE repo = ? AND digest = ?")
                .bind(&m.repo)
                .bind(child.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if row.is_none() {
            return Err(Error::ManifestBlobUnknown(child.clone()));
        }
    }
    Ok(())
}

/// Inside a manifest's recording transaction: it was pushed now.
pub(super) async fn touch_manifest(
    tx: &mut Transaction<'_, Sqlite>,
    repo: &str,
    digest: &str,
) -> Result<()> {
    sqlx::query("UPDATE manifests SET pushed_at = ? WHERE repo = ? AND digest = ?")
        .bind(now())
        .bind(repo)
        .bind(digest)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `[[repo, digest], ...]` as JSON, for [`PAIRS`].
fn pairs(items: &[GcItem]) -> String {
    let list: Vec<(&str, String)> = items
        .iter()
        .map(|i| (i.repo.as_str(), i.digest.to_string()))
        .collect();
    serde_json::to_string(&list).expect("json")
}

fn items(rows: Vec<(String, String, i64)>) -> Result<Vec<GcItem>> {
    rows.into_iter()
        .map(|(repo, digest, size)| {
            Ok(GcItem {
                repo,
                digest: parse_digest(digest)?,
                size: size as u64,
            })
        })
        .collect()
}

async fn unkept(conn: &mut SqliteConnection, cutoff: i64) -> Result<Vec<GcItem>> {
    let sql = format!("{KEPT}{UNKEPT}");
    let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(cutoff)
        .fetch_all(conn)
        .await?;
    items(rows)
}

impl SqliteMetadata {
    pub(super) async fn sql_touch_link(
        &self,
        repo: &str,
        digest: &Digest,
        stale: i64,
    ) -> Result<Option<u64>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT size, created_at FROM repository_blobs WHERE repo = ? AND digest = ?",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_optional(&self.reader)
        .await?;
        let Some((size, at)) = row else {
            return Ok(None);
        };
        if at >= stale {
            return Ok(Some(size as u64));
        }
        // A write only for links about to age out, so HEADs stay reads.
        let r = sqlx::query(
            "UPDATE repository_blobs SET created_at = MAX(created_at, ?) WHERE repo = ? AND digest = ?",
        )
        .bind(now())
        .bind(repo)
        .bind(digest.to_string())
        .execute(&self.writer)
        .await?;
        Ok((r.rows_affected() > 0).then_some(size as u64))
    }

    pub(super) async fn sql_mount_link(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<Option<u64>> {
        let d = digest.to_string();
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT size FROM repository_blobs WHERE repo = ? AND digest = ?")
                .bind(from)
                .bind(&d)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((size,)) = row else {
            return Ok(None);
        };
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
        .bind(&d)
        .bind(size)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(size as u64))
    }

    pub(super) async fn sql_unkept_manifests(&self, cutoff: i64) -> Result<Vec<GcItem>> {
        let mut conn = self.reader.acquire().await?;
        unkept(&mut conn, cutoff).await
    }

    pub(super) async fn sql_remove_manifests(&self, cutoff: i64) -> Result<Vec<GcItem>> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let doomed = unkept(&mut tx, cutoff).await?;
        let pairs = pairs(&doomed);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM manifest_refs WHERE (repo, manifest) IN ({PAIRS})"
        )))
        .bind(&pairs)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM manifests WHERE (repo, digest) IN ({PAIRS})"
        )))
        .bind(&pairs)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(doomed)
    }

    pub(super) async fn sql_unreferenced_links(
        &self,
        cutoff: i64,
        untagged: bool,
    ) -> Result<Vec<GcItem>> {
        if !untagged {
            let rows: Vec<(String, String, i64)> = sqlx::query_as(UNREFERENCED_LINKS)
                .bind(cutoff)
                .fetch_all(&self.reader)
                .await?;
            return items(rows);
        }
        // Referenced only by manifests the collection would remove: judged here, streaming,
        // against the (small) set of those manifests.
        let doomed: HashSet<(String, String)> = self
            .sql_unkept_manifests(cutoff)
            .await?
            .into_iter()
            .map(|m| (m.repo, m.digest.to_string()))
            .collect();
        let mut rows = sqlx::query_as::<_, (String, String, i64, Option<String>)>(LINKS_WITH_USERS)
            .bind(cutoff)
            .fetch(&self.reader);
        let mut out = Vec::new();
        let mut current: Option<(String, String, i64, bool)> = None;
        while let Some((repo, digest, size, user)) = rows.try_next().await? {
            let kept_user = user.is_some_and(|u| !doomed.contains(&(repo.clone(), u)));
            match &mut current {
                Some((r, d, _, kept)) if *r == repo && *d == digest => *kept |= kept_user,
                _ => {
                    if let Some((r, d, n, false)) = current.take() {
                        out.push((r, d, n));
                    }
                    current = Some((repo, digest, size, kept_user));
                }
            }
        }
        if let Some((r, d, n, false)) = current {
            out.push((r, d, n));
        }
        items(out)
    }

    pub(super) async fn sql_remove_links(
        &self,
        links: &[GcItem],
        cutoff: i64,
    ) -> Result<Vec<GcItem>> {
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(REMOVE_LINKS)
            .bind(pairs(links))
            .bind(cutoff)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        items(rows)
    }

    pub(super) async fn sql_held(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(HELD)
            .bind(after.unwrap_or(""))
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(|(d, n)| (d, n as u64)).collect())
    }

    pub(super) async fn sql_still_held(&self, digests: &[Digest]) -> Result<Vec<Digest>> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = digests.iter().map(|d| d.to_string()).collect();
        let json = serde_json::to_string(&list).expect("json");
        // Each read starts a fresh snapshot: it sees every commit made before it.
        let rows: Vec<(String,)> = sqlx::query_as(STILL_HELD)
            .bind(json)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(|(d,)| parse_digest(d)).collect()
    }

    pub(super) async fn sql_uploads(&self) -> Result<Vec<UploadRow>> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT id, repo, created_at FROM uploads ORDER BY id")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, repo, created_at)| UploadRow {
                id,
                repo,
                created_at,
            })
            .collect())
    }

    pub(super) async fn sql_expire_upload(&self, id: &str, before: i64) -> Result<bool> {
        let r = sqlx::query("DELETE FROM uploads WHERE id = ? AND created_at < ?")
            .bind(id)
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub(super) async fn sql_users(&self, digest: &Digest) -> Result<Vec<GcItem>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(USERS)
            .bind(digest.to_string())
            .fetch_all(&self.reader)
            .await?;
        items(rows)
    }

    pub(super) async fn sql_unlink_everywhere(&self, digest: &Digest) -> Result<u64> {
        let r = sqlx::query("DELETE FROM repository_blobs WHERE digest = ?")
            .bind(digest.to_string())
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected())
    }
}
