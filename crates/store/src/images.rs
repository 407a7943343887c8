//! Image records: which images exist, their names and tags, and which blobs each needs.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_oci::Digest;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::blobs::BlobDir;
use crate::error::{Error, Result};
use crate::layout::Layout;

/// An image to record after its blobs are in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImage {
    /// Config digest (the image ID).
    pub id: Digest,
    /// Platform manifest digest.
    pub manifest: Digest,
    /// Platform manifest media type.
    pub manifest_media_type: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant.
    pub variant: Option<String>,
    /// Creation time from the config.
    pub created: Option<String>,
    /// Bytes stored (config + layers).
    pub size: u64,
    /// Every blob the image needs: manifest, config, layers.
    pub blobs: Vec<Digest>,
}

/// A recorded image with its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// What was recorded.
    pub record: NewImage,
    /// When it was added (Unix seconds).
    pub added_at: i64,
    /// (repository, tag) pairs naming it.
    pub names: Vec<(String, String)>,
    /// (repository, digest) pairs the registry knows it by.
    pub repo_digests: Vec<(String, Digest)>,
}

/// The local image store.
#[derive(Clone)]
pub struct Store {
    layout: Layout,
    blobs: BlobDir,
    db: SqlitePool,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn digest(s: &str) -> Result<Digest> {
    Digest::from_str(s).map_err(|e| Error::Corrupt(e.to_string()))
}

/// An exclusive lock on the whole store, for changes that add or drop blob references.
struct StoreLock(#[allow(dead_code)] File);

type ImageRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

impl Store {
    /// Open (creating) the store under the data root `root`.
    pub async fn open(root: &Path) -> Result<Store> {
        let layout = Layout::new(root);
        let blobs = BlobDir::open(&layout)?;
        let opts = SqliteConnectOptions::new()
            .filename(layout.database())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let db = SqlitePoolOptions::new()
            // No idle reaping: sqlx 0.9.0's reaper can spin (launchbadge/sqlx#3645).
            .idle_timeout(None)
            .max_lifetime(None)
            .max_connections(2)
            .connect_with(opts)
            .await?;
        let store = Store { layout, blobs, db };
        {
            // Waited for off the async threads: another task of this process may hold it.
            let p = store.layout.store_lock();
            let _lock = tokio::task::spawn_blocking(move || lock_file(p))
                .await
                .map_err(|e| Error::Corrupt(format!("store lock: {e}")))??;
            crate::migrate::migrate(&store.db).await?;
        }
        Ok(store)
    }

    /// The database pool (for the other record kinds of this crate).
    pub(crate) fn db(&self) -> &SqlitePool {
        &self.db
    }

    /// The paths of the data root this store was opened in.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The blob files.
    pub fn blobs(&self) -> &BlobDir {
        &self.blobs
    }

    fn lock(&self) -> Result<StoreLock> {
        lock_file(self.layout.store_lock())
    }
}

/// Take the store's exclusive lock at `p`, waiting for it.
fn lock_file(p: std::path::PathBuf) -> Result<StoreLock> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io(&p, e))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io(&p, std::io::Error::last_os_error()));
    }
    Ok(StoreLock(f))
}

impl Store {
    /// Record `image` (its blobs must all be present), naming it `name:tag` and remembering the
    /// registry digest it came by. A name already pointing elsewhere moves to this image.
    pub async fn add_image(
        &self,
        image: &NewImage,
        name: Option<(&str, &str)>,
        repo_digest: Option<(&str, &Digest)>,
    ) -> Result<()> {
        let _lock = self.lock()?;
        for b in &image.blobs {
            if self.blobs.size(b).is_none() {
                return Err(Error::BlobMissing(b.clone()));
            }
        }
        let id = image.id.to_string();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO images (id, manifest, manifest_media_type, os, architecture, variant, created, size, added_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET manifest = excluded.manifest, \
             manifest_media_type = excluded.manifest_media_type",
        )
        .bind(&id)
        .bind(image.manifest.to_string())
        .bind(&image.manifest_media_type)
        .bind(&image.os)
        .bind(&image.architecture)
        .bind(&image.variant)
        .bind(&image.created)
        .bind(image.size as i64)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        for b in &image.blobs {
            sqlx::query(
                "INSERT INTO image_blobs (image_id, digest) VALUES (?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(b.to_string())
            .execute(&mut *tx)
            .await?;
        }
        if let Some((n, t)) = name {
            sqlx::query(
                "INSERT INTO image_names (name, tag, image_id, tagged_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name, tag) DO UPDATE SET image_id = excluded.image_id, tagged_at = excluded.tagged_at",
            )
            .bind(n)
            .bind(t)
            .bind(&id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        if let Some((n, d)) = repo_digest {
            sqlx::query(
                "INSERT INTO repo_digests (name, digest, image_id) VALUES (?, ?, ?) \
                 ON CONFLICT (name, digest) DO UPDATE SET image_id = excluded.image_id",
            )
            .bind(n)
            .bind(d.to_string())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn load(&self, row: ImageRow) -> Result<Image> {
        let (id, manifest, mmt, os, architecture, variant, created, size, added_at) = row;
        let blobs: Vec<(String,)> =
            sqlx::query_as("SELECT digest FROM image_blobs WHERE image_id = ? ORDER BY rowid")
                .bind(&id)
                .fetch_all(&self.db)
                .await?;
        let names: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, tag FROM image_names WHERE image_id = ? ORDER BY name, tag",
        )
        .bind(&id)
        .fetch_all(&self.db)
        .await?;
        let rds: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, digest FROM repo_digests WHERE image_id = ? ORDER BY name",
        )
        .bind(&id)
        .fetch_all(&self.db)
        .await?;
        Ok(Image {
            record: NewImage {
                id: digest(&id)?,
                manifest: digest(&manifest)?,
                manifest_media_type: mmt,
                os,
                architecture,
                variant,
                created,
                size: size as u64,
                blobs: blobs
                    .into_iter()
                    .map(|b| digest(&b.0))
                    .collect::<Result<_>>()?,
            },
            added_at,
            names,
            repo_digests: rds
                .into_iter()
                .map(|(n, d)| Ok((n, digest(&d)?)))
                .collect::<Result<_>>()?,
        })
    }

    const COLUMNS: &'static str = "SELECT id, manifest, manifest_media_type, os, architecture, variant, created, size, added_at FROM images";

    /// Every image, newest first.
    pub async fn images(&self) -> Result<Vec<Image>> {
        let rows: Vec<ImageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} ORDER BY added_at DESC, id",
            Self::COLUMNS
        )))
        .fetch_all(&self.db)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.load(r).await?);
        }
        Ok(out)
    }

    /// The image with id `id`.
    pub async fn image(&self, id: &Digest) -> Result<Option<Image>> {
        let row: Option<ImageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE id = ?",
            Self::COLUMNS
        )))
        .bind(id.to_string())
        .fetch_optional(&self.db)
        .await?;
        match row {
            Some(r) => Ok(Some(self.load(r).await?)),
            None => Ok(None),
        }
    }

    /// The image named `name:tag`.
    pub async fn by_name(&self, name: &str, tag: &str) -> Result<Option<Image>> {
        let id: Option<(String,)> =
            sqlx::query_as("SELECT image_id FROM image_names WHERE name = ? AND tag = ?")
                .bind(name)
                .bind(tag)
                .fetch_optional(&self.db)
                .await?;
        match id {
            Some((id,)) => self.image(&digest(&id)?).await,
            None => Ok(None),
        }
    }

    /// The image pulled as `name@digest`.
    pub async fn by_repo_digest(&self, name: &str, d: &Digest) -> Result<Option<Image>> {
        let id: Option<(String,)> =
            sqlx::query_as("SELECT image_id FROM repo_digests WHERE name = ? AND digest = ?")
                .bind(name)
                .bind(d.to_string())
                .fetch_optional(&self.db)
                .await?;
        match id {
            Some((id,)) => self.image(&digest(&id)?).await,
            None => Ok(None),
        }
    }

    /// The image whose id starts with `prefix` (hex, optionally `sha256:`-prefixed; at least 3
    /// characters). `Error::Ambiguous` when several match.
    pub async fn by_id_prefix(&self, prefix: &str) -> Result<Option<Image>> {
        let hex = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        if hex.len() < 3
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Ok(None);
        }
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM images WHERE id LIKE ? LIMIT 2")
            .bind(format!("sha256:{hex}%"))
            .fetch_all(&self.db)
            .await?;
        match rows.as_slice() {
            [] => Ok(None),
            [(id,)] => self.image(&digest(id)?).await,
            _ => Err(Error::Ambiguous(prefix.to_string())),
        }
    }

    /// Point `name:tag` at image `id`.
    pub async fn tag(&self, id: &Digest, name: &str, tag: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO image_names (name, tag, image_id, tagged_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name, tag) DO UPDATE SET image_id = excluded.image_id, tagged_at = excluded.tagged_at",
        )
        .bind(name)
        .bind(tag)
        .bind(id.to_string())
        .bind(now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Remove the name `name:tag`; returns the image it named.
    pub async fn untag(&self, name: &str, tag: &str) -> Result<Option<Digest>> {
        let id: Option<(String,)> =
            sqlx::query_as("DELETE FROM image_names WHERE name = ? AND tag = ? RETURNING image_id")
                .bind(name)
                .bind(tag)
                .fetch_optional(&self.db)
                .await?;
        id.map(|(i,)| digest(&i)).transpose()
    }

    /// Delete those of `candidates` that no image references: blobs an operation wrote and then
    /// did not record (a failed or partial `load`). Blobs some image uses stay. Returns the blobs
    /// deleted; absent ones are skipped.
    pub async fn discard_unreferenced(&self, candidates: &[Digest]) -> Result<Vec<Digest>> {
        let _lock = self.lock()?;
        let mut deleted = Vec::new();
        for d in candidates {
            let used: Option<(i64,)> =
                sqlx::query_as("SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1")
                    .bind(d.to_string())
                    .fetch_optional(&self.db)
                    .await?;
            if used.is_none() && self.blobs.remove(d)? {
                deleted.push(d.clone());
            }
        }
        Ok(deleted)
    }

    /// Remove image `id` with all its names, then the blobs no other image needs. Returns the
    /// blobs deleted.
    pub async fn remove(&self, id: &Digest) -> Result<Vec<Digest>> {
        let _lock = self.lock()?;
        let sid = id.to_string();
        let mut tx = self.db.begin().await?;
        let blobs: Vec<(String,)> =
            sqlx::query_as("SELECT digest FROM image_blobs WHERE image_id = ?")
                .bind(&sid)
                .fetch_all(&mut *tx)
                .await?;
        for table in ["image_names", "repo_digests", "image_blobs"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE image_id = ?"
            )))
            .bind(&sid)
            .execute(&mut *tx)
            .await?;
        }
        let gone = sqlx::query("DELETE FROM images WHERE id = ?")
            .bind(&sid)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Err(Error::ImageUnknown(sid));
        }
        let mut unused = Vec::new();
        for (b,) in blobs {
            let used: Option<(i64,)> =
                sqlx::query_as("SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1")
                    .bind(&b)
                    .fetch_optional(&mut *tx)
                    .await?;
            if used.is_none() {
                unused.push(digest(&b)?);
            }
        }
        tx.commit().await?;
        let mut deleted = Vec::new();
        for d in unused {
            if self.blobs.remove(&d)? {
                deleted.push(d);
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(store: &Store, tag: &str, layers: &[&[u8]]) -> NewImage {
        let config = format!("{{\"tag\":\"{tag}\"}}").into_bytes();
        let mut blobs = vec![];
        for data in layers
            .iter()
            .copied()
            .chain([config.as_slice(), tag.as_bytes()])
        {
            let d = Digest::sha256(data);
            store.blobs().put(&d, data).unwrap();
            blobs.push(d);
        }
        NewImage {
            id: Digest::sha256(&config),
            manifest: Digest::sha256(tag.as_bytes()),
            manifest_media_type: berth_oci::media_type::OCI_MANIFEST.into(),
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            created: None,
            size: 10,
            blobs,
        }
    }

    #[tokio::test]
    async fn shared_layers_stay_until_the_last_image_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let shared: &[u8] = b"a layer both images use";
        let a = image(&store, "a", &[shared, b"only a"]);
        let b = image(&store, "b", &[shared]);
        store
            .add_image(&a, Some(("docker.io/library/x", "a")), None)
            .await
            .unwrap();
        store
            .add_image(
                &b,
                Some(("docker.io/library/x", "b")),
                Some(("docker.io/library/x", &b.manifest)),
            )
            .await
            .unwrap();
        assert_eq!(store.images().await.unwrap().len(), 2);
        assert_eq!(
            store
                .by_name("docker.io/library/x", "a")
                .await
                .unwrap()
                .unwrap()
                .record,
            a
        );
        let got = store
            .by_repo_digest("docker.io/library/x", &b.manifest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.record.id, b.id);
        let hex = &a.id.hex()[..6];
        assert_eq!(
            store.by_id_prefix(hex).await.unwrap().unwrap().record.id,
            a.id
        );
        store.tag(&a.id, "localhost:5000/y", "v1").await.unwrap();
        assert_eq!(store.image(&a.id).await.unwrap().unwrap().names.len(), 2);

        let deleted = store.remove(&a.id).await.unwrap();
        let shared_d = Digest::sha256(shared);
        assert!(
            !deleted.contains(&shared_d),
            "b still uses the shared layer"
        );
        assert!(deleted.contains(&Digest::sha256(b"only a")));
        assert!(store.blobs().size(&shared_d).is_some());
        assert!(
            store
                .by_name("localhost:5000/y", "v1")
                .await
                .unwrap()
                .is_none(),
            "names go with the image"
        );
        let deleted = store.remove(&b.id).await.unwrap();
        assert!(deleted.contains(&shared_d));
        assert!(store.blobs().list().unwrap().is_empty());
        assert!(matches!(
            store.remove(&b.id).await,
            Err(Error::ImageUnknown(_))
        ));
    }

    #[tokio::test]
    async fn discard_keeps_blobs_that_images_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let img = image(&store, "d", &[b"used layer"]);
        store.add_image(&img, None, None).await.unwrap();
        let stray = Digest::sha256(b"stray");
        store.blobs().put(&stray, b"stray").unwrap();
        let used = Digest::sha256(b"used layer");
        let absent = Digest::sha256(b"never stored");
        let deleted = store
            .discard_unreferenced(&[used.clone(), stray.clone(), absent])
            .await
            .unwrap();
        assert_eq!(deleted, vec![stray.clone()]);
        assert!(store.blobs().size(&used).is_some());
        assert!(store.blobs().size(&stray).is_none());
    }

    #[tokio::test]
    async fn add_refuses_missing_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut img = image(&store, "c", &[b"l"]);
        img.blobs.push(Digest::sha256(b"never stored"));
        assert!(matches!(
            store.add_image(&img, None, None).await,
            Err(Error::BlobMissing(_))
        ));
        assert!(store.images().await.unwrap().is_empty());
    }
}
