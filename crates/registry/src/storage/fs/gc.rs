//! The filesystem store's side of garbage collection and scrub: sorted, paged listings of the
//! sharded blob tree, age-checked removal, upload and temp-file sweeps, quarantine.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use berth_oci::Digest;
use tokio::task::spawn_blocking;

use super::FsBlobStore;
use crate::error::{Error, Result};
use crate::storage::{BlobEntry, UploadEntry};

/// Set the modification time of `path` to now; `false` when it does not exist (or cannot be
/// touched, in which case the caller writes it anew, which is just as good).
pub(super) fn touch(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; a null `times` means "now" for both stamps.
    unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) == 0 }
}

/// Names in `dir`, sorted; an absent directory has none.
fn sorted_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                if let Ok(n) = e?.file_name().into_string() {
                    names.push(n);
                }
            }
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) => {}
        Err(e) => return Err(e),
    }
    names.sort();
    Ok(names)
}

/// The page of blobs after `after` (see `BlobStore::list_blobs`). Algorithms are visited in the
/// order of their `"<alg>:"` prefixes, shards and files in name order: together that is the
/// byte order of the digest strings.
fn list_page(
    blobs: &Path,
    after: Option<&Digest>,
    limit: usize,
) -> std::io::Result<Vec<BlobEntry>> {
    let mut out = Vec::new();
    let after_s = after.map(|d| d.to_string());
    let mut algs = sorted_names(blobs)?;
    algs.sort_by_key(|a| format!("{a}:"));
    for alg in algs {
        if let Some(a) = after
            && format!("{alg}:") < format!("{}:", a.algorithm().as_str())
        {
            continue;
        }
        let alg_dir = blobs.join(&alg);
        for shard in sorted_names(&alg_dir)? {
            if let Some(a) = after
                && alg == a.algorithm().as_str()
                && shard.as_str() < &a.hex()[..2.min(a.hex().len())]
            {
                continue;
            }
            let shard_dir = alg_dir.join(&shard);
            for name in sorted_names(&shard_dir)? {
                let s = format!("{alg}:{name}");
                if after_s.as_ref().is_some_and(|a| &s <= a) {
                    continue;
                }
                let Ok(digest) = Digest::from_str(&s) else {
                    continue;
                };
                if !name.starts_with(&shard) {
                    continue;
                }
                let meta = match fs::metadata(shard_dir.join(&name)) {
                    Ok(m) => m,
                    // Removed since the directory was read.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                out.push(BlobEntry {
                    digest,
                    size: meta.len(),
                    modified: meta.modified()?,
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

impl FsBlobStore {
    pub(super) async fn gc_list_blobs(
        &self,
        after: Option<&Digest>,
        limit: usize,
    ) -> Result<Vec<BlobEntry>> {
        let blobs = self.root.join("blobs");
        let after = after.cloned();
        let dir = blobs.clone();
        spawn_blocking(move || list_page(&dir, after.as_ref(), limit.max(1)))
            .await
            .expect("list task")
            .map_err(|e| Error::io(&blobs, e))
    }

    pub(super) async fn gc_remove_if_older(
        &self,
        digest: &Digest,
        before: SystemTime,
    ) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        if meta.modified().map_err(|e| Error::io(&path, e))? >= before {
            return Ok(None);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    pub(super) async fn gc_list_uploads(&self) -> Result<Vec<UploadEntry>> {
        let dir = self.root.join("uploads");
        let d = dir.clone();
        spawn_blocking(move || -> std::io::Result<Vec<UploadEntry>> {
            let mut out = Vec::new();
            for name in sorted_names(&d)? {
                if !super::valid_upload_id(&name) {
                    continue;
                }
                match fs::metadata(d.join(&name)) {
                    Ok(m) => out.push(UploadEntry {
                        id: name,
                        size: m.len(),
                        modified: m.modified()?,
                    }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
        .expect("list task")
        .map_err(|e| Error::io(&dir, e))
    }

    pub(super) async fn gc_sweep_temp(
        &self,
        before: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<(String, u64)>> {
        let dir = self.root.join("tmp");
        let d = dir.clone();
        spawn_blocking(move || -> std::io::Result<Vec<(String, u64)>> {
            let mut out = Vec::new();
            for name in sorted_names(&d)? {
                let path = d.join(&name);
                let m = match fs::metadata(&path) {
                    Ok(m) if m.is_file() => m,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if m.modified()? >= before {
                    continue;
                }
                if !dry_run {
                    match fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                }
                out.push((format!("tmp/{name}"), m.len()));
            }
            Ok(out)
        })
        .await
        .expect("sweep task")
        .map_err(|e| Error::io(&dir, e))
    }

    pub(super) async fn gc_quarantine(&self, digest: &Digest) -> Result<Option<String>> {
        let src = self.blob_path(digest);
        let dir = self.root.join("quarantine");
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let dest: PathBuf = dir.join(format!(
            "{}-{}-{stamp}",
            digest.algorithm().as_str(),
            digest.hex()
        ));
        match fs::rename(&src, &dest) {
            Ok(()) => Ok(Some(dest.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&src, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::BlobStore;

    #[tokio::test]
    async fn listing_is_in_digest_string_order_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut want = Vec::new();
        for i in 0..40u32 {
            let data = bytes::Bytes::from(format!("blob {i}"));
            let d = if i % 5 == 0 {
                Digest::of(berth_oci::Algorithm::Sha512, &data)
            } else {
                Digest::sha256(&data)
            };
            store.put(&d, data).await.unwrap();
            want.push(d.to_string());
        }
        // Junk that is not a blob is skipped.
        fs::write(dir.path().join("v1/blobs/sha256/zz"), b"x").ok();
        want.sort();
        let mut got = Vec::new();
        let mut after: Option<Digest> = None;
        loop {
            let page = store.list_blobs(after.as_ref(), 7).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|e| e.digest.clone());
            got.extend(page.into_iter().map(|e| e.digest.to_string()));
        }
        assert_eq!(got, want);
    }
}
