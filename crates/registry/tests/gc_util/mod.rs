//! Helpers for the garbage-collection tests (docs/gc.md): a registry on a fresh data root
//! driven through its service API, image and index builders, a clock skip (`age`: every row
//! and file made older, so a grace period can pass in no time), and a full consistency check:
//! every tag resolves to a manifest whose blobs and children are all served and hash right.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_oci::Digest;
use berth_registry::service::{GcOptions, GcReport, ManifestRef};
use berth_registry::storage::ByteStream;
use berth_registry::{Config, Registry};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A registry on a temporary data root, with a side connection to its database.
pub struct Env {
    pub reg: Arc<Registry>,
    pub root: PathBuf,
    pub db: SqlitePool,
    _dir: tempfile::TempDir,
}

/// Open a registry, configured by `f`, on a fresh data root.
pub async fn env(f: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        root: dir.path().join("data"),
        ..Config::default()
    };
    f(&mut config);
    let reg = Arc::new(Registry::open(config).await.unwrap());
    let root = dir.path().join("data");
    let db = side_db(&root).await;
    Env {
        reg,
        root,
        db,
        _dir: dir,
    }
}

/// A connection pool of our own to the registry's database.
pub async fn side_db(root: &Path) -> SqlitePool {
    side_db_file(&root.join("v1/metadata.db")).await
}

/// A connection pool to the SQLite file `path` (created if missing).
pub async fn side_db_file(path: &Path) -> SqlitePool {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap()
}

pub fn stream(data: &[u8]) -> ByteStream {
    let b = Bytes::copy_from_slice(data);
    Box::pin(futures_util::stream::iter([Ok(b)]))
}

/// A descriptor of `data`.
pub fn desc(media_type: &str, data: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::sha256(data).to_string(), "size": data.len()})
}

/// An image manifest over `config` and `layers`, optionally a referrer of `subject`.
pub fn image_manifest(config: &[u8], layers: &[&[u8]], subject: Option<&[u8]>) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": desc(CONFIG, config),
        "layers": layers.iter().map(|l| desc(LAYER, l)).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = desc(MANIFEST, s);
        m["artifactType"] = json!("application/vnd.example.signature");
    }
    m.to_string().into_bytes()
}

/// An index of `children` (manifest bodies), one platform each.
pub fn index(children: &[&[u8]]) -> Vec<u8> {
    let archs = ["amd64", "arm64", "riscv64", "s390x"];
    let list: Vec<Value> = children
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut d = desc(MANIFEST, c);
            d["platform"] = json!({"os": "linux", "architecture": archs[i % archs.len()]});
            d
        })
        .collect();
    json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": list})
        .to_string()
        .into_bytes()
}

impl Env {
    /// Upload `data` to `repo` (monolithic).
    pub async fn blob(&self, repo: &str, data: &[u8]) -> Digest {
        let d = Digest::sha256(data);
        self.reg.put_blob(repo, &d, stream(data)).await.unwrap();
        d
    }

    /// Push a manifest body as `reference` (a tag, or `@` for by digest).
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Digest {
        let d = Digest::sha256(body);
        let r = if reference == "@" {
            ManifestRef::Digest(d.clone())
        } else {
            ManifestRef::Tag(reference.to_string())
        };
        self.reg
            .put_manifest(repo, &r, media_type, Bytes::copy_from_slice(body))
            .await
            .unwrap();
        d
    }

    /// Push an image (its blobs, then its manifest as `reference`); the manifest body.
    pub async fn image(
        &self,
        repo: &str,
        reference: &str,
        config: &[u8],
        layers: &[&[u8]],
    ) -> Vec<u8> {
        self.blob(repo, config).await;
        for l in layers {
            self.blob(repo, l).await;
        }
        let body = image_manifest(config, layers, None);
        self.manifest(repo, reference, MANIFEST, &body).await;
        body
    }

    /// Collect with a one-hour grace period, no retention.
    pub async fn gc(&self, untagged: bool, dry_run: bool) -> GcReport {
        let opts = GcOptions {
            dry_run,
            grace: Duration::from_secs(3600),
            untagged,
            upload_expire: Duration::from_secs(24 * 3600),
            retention: false,
        };
        self.reg.gc(&opts).await.unwrap()
    }

    /// Make everything `secs` older: link, push and upload times, and every file's mtime.
    pub async fn age(&self, secs: i64) {
        for sql in [
            "UPDATE repository_blobs SET created_at = created_at - ?",
            "UPDATE manifests SET created_at = created_at - ?1, pushed_at = pushed_at - ?1",
            "UPDATE uploads SET created_at = created_at - ?",
        ] {
            sqlx::query(sql).bind(secs).execute(&self.db).await.unwrap();
        }
        for sub in ["blobs", "uploads", "tmp"] {
            age_files(&self.root.join("v1").join(sub), secs);
        }
    }

    /// Where blob `d`'s bytes are stored.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("v1/blobs")
            .join(d.algorithm().as_str())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    /// Whether blob `d`'s bytes are stored.
    pub fn stored(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    /// Whether `repo` serves blob `d`.
    pub async fn serves(&self, repo: &str, d: &Digest) -> bool {
        self.reg.blob_size(repo, d).await.is_ok()
    }

    /// Whether `repo` has manifest `d`.
    pub async fn has_manifest(&self, repo: &str, d: &Digest) -> bool {
        self.reg
            .get_manifest(repo, &ManifestRef::Digest(d.clone()), &[], false)
            .await
            .is_ok()
    }

    /// Every tag of every repository resolves to a manifest whose blobs and children are all
    /// served and hash to their digests. Returns how many tags were checked.
    pub async fn check_all(&self) -> usize {
        check_all(&self.reg).await
    }
}

/// See [`Env::check_all`].
pub async fn check_all(reg: &Registry) -> usize {
    let mut tags = 0;
    let repos = reg.catalog(None, None, |_| true).await.unwrap().items;
    for repo in repos {
        for tag in reg.tags(&repo, None, None).await.unwrap().items {
            let m = reg
                .get_manifest(&repo, &ManifestRef::Tag(tag.clone()), &[], true)
                .await
                .unwrap_or_else(|e| panic!("{repo}:{tag} does not resolve: {e}"));
            check_manifest(reg, &repo, &m.digest, &m.body.unwrap()).await;
            tags += 1;
        }
    }
    tags
}

async fn check_manifest(reg: &Registry, repo: &str, digest: &Digest, body: &[u8]) {
    assert_eq!(
        &Digest::sha256(body),
        digest,
        "{repo}@{digest}: bytes match"
    );
    let v: Value = serde_json::from_slice(body).unwrap();
    let mut blobs: Vec<String> = Vec::new();
    if let Some(c) = v["config"]["digest"].as_str() {
        blobs.push(c.into());
    }
    for l in v["layers"].as_array().into_iter().flatten() {
        blobs.push(l["digest"].as_str().unwrap().into());
    }
    for b in blobs {
        let d: Digest = b.parse().unwrap();
        let size = reg
            .blob_size(repo, &d)
            .await
            .unwrap_or_else(|e| panic!("{repo}@{digest} needs blob {d}: {e}"));
        let mut s = reg.read_blob(&d, 0, size).await.unwrap();
        let mut data = Vec::new();
        while let Some(c) = s.next().await {
            data.extend_from_slice(&c.unwrap());
        }
        assert_eq!(
            Digest::sha256(&data),
            d,
            "{repo}: blob {d} hashes to its digest"
        );
    }
    for c in v["manifests"].as_array().into_iter().flatten() {
        let d: Digest = c["digest"].as_str().unwrap().parse().unwrap();
        let child = reg
            .get_manifest(repo, &ManifestRef::Digest(d.clone()), &[], true)
            .await
            .unwrap_or_else(|e| panic!("{repo}@{digest} needs child {d}: {e}"));
        Box::pin(check_manifest(reg, repo, &d, &child.body.unwrap())).await;
    }
}

fn age_files(dir: &Path, secs: i64) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            age_files(&p, secs);
        } else if let Ok(m) = std::fs::metadata(&p) {
            let t = m.modified().unwrap() - Duration::from_secs(secs as u64);
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(t).unwrap();
        }
    }
}
