//! The filesystem blob store. Layout below the data root (version 1):
//!
//! ```text
//! <root>/v1/
//!   blobs/<alg>/<first 2 hex>/<hex>   verified content, never modified after the rename
//!   uploads/<id>                      bytes of an upload session, appended in order
//!   tmp/                              temp files of `put`, renamed into blobs/
//!   quarantine/<alg>-<hex>-<unix s>   blobs `scrub --repair` found corrupt
//!   gc.lock, gc.intent                the GC fence (`flock`), see `storage::fence`
//! ```
//! Paths are built only by [`FsBlobStore::blob_path`] and [`FsBlobStore::upload_path`].
//!
//! Uploads are hashed while they stream in: the hasher state of each session is kept in memory,
//! so commit needs no second pass. After a restart the state is rebuilt once by reading the
//! session's bytes. A commit fsyncs the file, renames it into place and fsyncs the directory.
//! Storing content that is already present refreshes the file's modification time, which is
//! the "last upload" that garbage collection's grace period counts from.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use berth_oci::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::task::spawn_blocking;

use super::fence::FileFence;
use super::{BlobEntry, BlobStore, ByteStream, Fence, FenceMode, UploadEntry};
use crate::error::{Error, Result};

mod gc;

const READ_CHUNK: usize = 512 * 1024;
/// Upload bytes are handed to the kernel's writeback every this many bytes, so the fsync at
/// commit finds little left to write.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

/// State of an upload session kept between requests. (Few live at once; the hasher stays inline.)
#[allow(clippy::large_enum_variant)]
enum Session {
    /// Size and running SHA-256 of the bytes so far.
    Idle { size: u64, hasher: Hasher },
    /// A request is writing to it right now.
    Busy,
}

/// Blobs as files under a data root.
pub struct FsBlobStore {
    root: PathBuf,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    fence: FileFence,
}

impl FsBlobStore {
    /// Open (creating the directories of) a store under `root`.
    pub fn open(root: &Path) -> Result<FsBlobStore> {
        let root = root.join("v1");
        for d in ["blobs", "uploads", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok(FsBlobStore {
            fence: FileFence::new(&root),
            root,
            sessions: Arc::default(),
        })
    }

    /// Where the blob `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    /// Where the bytes of upload `id` live. `id` must be a plain name (checked by callers via
    /// [`valid_upload_id`]).
    pub fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    fn check_id(id: &str) -> Result<()> {
        if valid_upload_id(id) {
            Ok(())
        } else {
            Err(Error::BlobUploadUnknown(id.to_string()))
        }
    }

    /// Take the session out (marking it busy), rebuilding it from disk after a restart.
    async fn take_session(&self, id: &str) -> Result<(u64, Hasher)> {
        Self::check_id(id)?;
        {
            let mut map = self.sessions.lock().unwrap();
            match map.insert(id.to_string(), Session::Busy) {
                Some(Session::Idle { size, hasher }) => return Ok((size, hasher)),
                Some(Session::Busy) => {
                    return Err(Error::BlobUploadInvalid(format!(
                        "upload {id} is being written by another request"
                    )));
                }
                None => {}
            }
        }
        let path = self.upload_path(id);
        let rebuilt = spawn_blocking(move || -> std::io::Result<(u64, Hasher)> {
            let mut f = File::open(&path)?;
            let mut h = Hasher::new(Algorithm::Sha256);
            let size = hash_reader(&mut f, &mut h)?;
            Ok((size, h))
        })
        .await
        .expect("hash task");
        match rebuilt {
            Ok(state) => Ok(state),
            Err(e) => {
                self.sessions.lock().unwrap().remove(id);
                if e.kind() == std::io::ErrorKind::NotFound {
                    Err(Error::BlobUploadUnknown(id.to_string()))
                } else {
                    Err(Error::io(self.upload_path(id), e))
                }
            }
        }
    }

    fn put_session(&self, id: &str, size: u64, hasher: Hasher) {
        self.sessions
            .lock()
            .unwrap()
            .insert(id.to_string(), Session::Idle { size, hasher });
    }
}

/// Whether `id` is a well-formed upload id (what `uuid` prints: hex and dashes).
pub fn valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn hash_reader(r: &mut impl Read, h: &mut Hasher) -> std::io::Result<u64> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
}

/// Blobs are served from memory maps of this many bytes at a time: the kernel copies straight
/// from the page cache to the socket, with no read into a buffer of ours.
const MAP_WINDOW: u64 = 4 * 1024 * 1024;

/// A read-only, pre-faulted memory map of part of a file, unmapped when the last `Bytes` of it
/// is dropped.
struct Mapping {
    base: *mut libc::c_void,
    map_len: usize,
    skip: usize,
    len: usize,
}

// SAFETY: the mapping is read-only and owned; nothing else aliases it mutably.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: base..base+map_len is mapped readable for the life of self; skip+len <= map_len.
        unsafe { std::slice::from_raw_parts((self.base as *const u8).add(self.skip), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/map_len come from a successful mmap and are unmapped once.
        unsafe {
            libc::munmap(self.base, self.map_len);
        }
    }
}

/// Map `len` bytes of `file` at `offset`. Blob files are never modified after their rename, so
/// the mapping cannot change underneath (a concurrent delete only unlinks the name).
fn map_window(file: &File, offset: u64, len: u64) -> std::io::Result<Bytes> {
    use std::os::fd::AsRawFd;
    let page = 4096u64;
    let aligned = offset / page * page;
    let skip = (offset - aligned) as usize;
    let map_len = skip + len as usize;
    // SAFETY: a fresh private read-only mapping of a file we hold open; checked for MAP_FAILED.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            file.as_raw_fd(),
            aligned as libc::off_t,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Bytes::from_owner(Mapping {
        base,
        map_len,
        skip,
        len: len as usize,
    }))
}

/// Ask the kernel to start writing `len` bytes at `offset` to disk without waiting, so that disk
/// writeback overlaps with receiving the rest of the upload. Only a hint: errors are ignored and
/// the fsync at commit is what makes the data durable.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is valid for the borrow of `file`; the call only reads its arguments.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as i64,
            len as i64,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// fsync `file`, rename it to `dest` (creating parents), fsync the destination directory.
fn persist(tmp: &Path, file: &File, dest: &Path) -> std::io::Result<()> {
    file.sync_all()?;
    let parent = dest.parent().expect("blob paths have parents");
    fs::create_dir_all(parent)?;
    fs::rename(tmp, dest)?;
    File::open(parent)?.sync_all()
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    async fn read(&self, digest: &Digest, start: u64, end: u64) -> Result<ByteStream> {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::BlobUnknown(digest.clone()));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        // One short blocking call per window: no thread is held while the client reads.
        let file = Arc::new(file);
        let stream = futures_util::stream::unfold(start, move |pos| {
            let file = file.clone();
            async move {
                if pos >= end {
                    return None;
                }
                let len = (end - pos).min(MAP_WINDOW);
                let item = spawn_blocking(move || map_window(&file, pos, len))
                    .await
                    .expect("map task");
                // After an error, end the stream (the client sees a truncated body).
                let next = if item.is_ok() { pos + len } else { end };
                Some((item, next))
            }
        });
        Ok(Box::pin(stream))
    }

    async fn read_all(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>> {
        let path = self.blob_path(digest);
        match tokio::fs::read(&path).await {
            Ok(data) if data.len() as u64 > limit => Err(Error::TooLarge(format!(
                "{digest} is larger than {limit} bytes"
            ))),
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    async fn put(&self, digest: &Digest, data: Bytes) -> Result<()> {
        let actual = Digest::of(digest.algorithm(), &data);
        if &actual != digest {
            return Err(Error::DigestInvalid(format!(
                "expected {digest}, content is {actual}"
            )));
        }
        let dest = self.blob_path(digest);
        if gc::touch(&dest) {
            return Ok(());
        }
        let tmp = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        spawn_blocking(move || -> std::io::Result<()> {
            let result = (|| {
                let mut f = File::create(&tmp)?;
                f.write_all(&data)?;
                persist(&tmp, &f, &dest)
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        })
        .await
        .expect("put task")
        .map_err(|e| Error::io(self.blob_path(digest), e))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    async fn upload_create(&self, id: &str) -> Result<()> {
        Self::check_id(id)?;
        let path = self.upload_path(id);
        File::create(&path).map_err(|e| Error::io(&path, e))?;
        self.put_session(id, 0, Hasher::new(Algorithm::Sha256));
        Ok(())
    }

    async fn upload_size(&self, id: &str) -> Result<Option<u64>> {
        Self::check_id(id)?;
        if let Some(Session::Idle { size, .. }) = self.sessions.lock().unwrap().get(id) {
            return Ok(Some(*size));
        }
        let path = self.upload_path(id);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    async fn upload_append(
        &self,
        id: &str,
        offset: Option<u64>,
        mut body: ByteStream,
    ) -> Result<u64> {
        let (size, hasher) = self.take_session(id).await?;
        if let Some(off) = offset
            && off != size
        {
            self.put_session(id, size, hasher);
            return Err(Error::RangeNotSatisfiable(format!(
                "chunk starts at {off} but the upload has {size} bytes"
            )));
        }
        let path = self.upload_path(id);
        let before = hasher.clone();
        // Each chunk is hashed and written on a short blocking task, and the next chunk is read
        // only once that is done: an upload then holds a single read buffer, which hyper reuses,
        // and no thread is held between chunks, so memory stays flat however many uploads run at
        // once. (Queueing chunks for a writer thread pins one buffer per queued chunk; measured,
        // it bought little, since the client competes for the same cores.)
        let opened = OpenOptions::new().append(true).open(&path);
        let mut state = opened.map(|f| (f, hasher, 0u64, 0u64));
        let mut stream_err = None;
        while let Some(item) = body.next().await {
            let chunk = match item {
                Ok(c) => c,
                Err(e) => {
                    stream_err = Some(e);
                    break;
                }
            };
            let Ok((mut file, mut hasher, mut n, mut synced)) = state else {
                break;
            };
            state = spawn_blocking(move || -> std::io::Result<(File, Hasher, u64, u64)> {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
                n += chunk.len() as u64;
                if n - synced >= WRITEBACK_EVERY {
                    start_writeback(&file, size + synced, n - synced);
                    synced = n;
                }
                Ok((file, hasher, n, synced))
            })
            .await
            .expect("write task");
        }
        let written = state.map(|(_, hasher, n, _)| (hasher, n));
        match (written, stream_err) {
            (Ok((hasher, n)), None) => {
                self.put_session(id, size + n, hasher);
                Ok(size + n)
            }
            (res, err) => {
                // Roll back to the state before this request.
                let truncated = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(size));
                if truncated.is_ok() {
                    self.put_session(id, size, before);
                } else {
                    self.sessions.lock().unwrap().remove(id);
                }
                let e = err.or(res.err()).expect("one error");
                Err(Error::BlobUploadInvalid(format!(
                    "upload body broke off: {e}"
                )))
            }
        }
    }

    async fn upload_commit(&self, id: &str, digest: &Digest) -> Result<u64> {
        let (size, hasher) = self.take_session(id).await?;
        let started = std::time::Instant::now();
        let path = self.upload_path(id);
        let dest = self.blob_path(digest);
        let want = digest.clone();
        let keep = hasher.clone();
        let done = spawn_blocking(
            move || -> std::io::Result<std::result::Result<(), Digest>> {
                let actual = if want.algorithm() == hasher.algorithm() {
                    hasher.finish()
                } else {
                    let mut h = Hasher::new(want.algorithm());
                    hash_reader(&mut File::open(&path)?, &mut h)?;
                    h.finish()
                };
                if actual != want {
                    return Ok(Err(actual));
                }
                if gc::touch(&dest) {
                    fs::remove_file(&path)?;
                } else {
                    let f = File::open(&path)?;
                    persist(&path, &f, &dest)?;
                }
                Ok(Ok(()))
            },
        )
        .await
        .expect("commit task");
        match done {
            Ok(Ok(())) => {
                self.sessions.lock().unwrap().remove(id);
                tracing::debug!(%digest, size, us = started.elapsed().as_micros() as u64, "upload committed");
                Ok(size)
            }
            Ok(Err(actual)) => {
                self.put_session(id, size, keep);
                Err(Error::DigestInvalid(format!(
                    "expected {digest}, upload is {actual}"
                )))
            }
            Err(e) => {
                self.put_session(id, size, keep);
                Err(Error::io(self.upload_path(id), e))
            }
        }
    }

    async fn upload_cancel(&self, id: &str) -> Result<bool> {
        Self::check_id(id)?;
        let path = self.upload_path(id);
        self.sessions.lock().unwrap().remove(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    // ---- garbage collection and scrub (storage/fs/gc.rs) ----

    async fn fence(&self, mode: FenceMode) -> Result<Fence> {
        self.fence.acquire(mode).await
    }

    async fn list_blobs(&self, after: Option<&Digest>, limit: usize) -> Result<Vec<BlobEntry>> {
        self.gc_list_blobs(after, limit).await
    }

    async fn remove_if_older(&self, digest: &Digest, before: SystemTime) -> Result<Option<u64>> {
        self.gc_remove_if_older(digest, before).await
    }

    async fn list_uploads(&self) -> Result<Vec<UploadEntry>> {
        self.gc_list_uploads().await
    }

    async fn sweep_temp(&self, before: SystemTime, dry_run: bool) -> Result<Vec<(String, u64)>> {
        self.gc_sweep_temp(before, dry_run).await
    }

    async fn quarantine(&self, digest: &Digest) -> Result<Option<String>> {
        self.gc_quarantine(digest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn filesystem_store_meets_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        super::super::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn upload_state_is_rebuilt_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let id = uuid::Uuid::new_v4().to_string();
        {
            let store = FsBlobStore::open(dir.path()).unwrap();
            store.upload_create(&id).await.unwrap();
            let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(
                b"hello ",
            ))]));
            store.upload_append(&id, None, body).await.unwrap();
        }
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert_eq!(store.upload_size(&id).await.unwrap(), Some(6));
        let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(
            b"world",
        ))]));
        assert_eq!(store.upload_append(&id, Some(6), body).await.unwrap(), 11);
        let d = Digest::sha256(b"hello world");
        assert_eq!(store.upload_commit(&id, &d).await.unwrap(), 11);
        assert_eq!(fs::read(store.blob_path(&d)).unwrap(), b"hello world");
    }
}
