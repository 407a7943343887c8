//! The GC fence: a readers–writer lock between code that makes blob bytes present and then
//! records a reference to them (shared side: uploads, manifest pushes, the samples) and garbage
//! collection deleting blob files (exclusive side). It is what makes "GC re-checks that a blob
//! is unreferenced, then deletes it" atomic with respect to writers; the argument is in
//! `docs/gc.md`.
//!
//! Two implementations: [`FileFence`], `flock(2)` on two files under the data root, so the
//! server and a `berth registry gc` process exclude each other (the kernel drops the locks of a
//! process that dies, so a `kill -9` never leaves the store fenced); and [`MemoryFence`], a
//! tokio lock for the in-memory store.
//!
//! `flock` has no fairness: a stream of overlapping shared holders could starve the exclusive
//! side. So the shared side passes through an *intent* lock first (held only for the instant it
//! takes to get the main lock shared); the exclusive side takes the intent lock exclusively,
//! which stops new shared holders, then waits for the current ones to finish. Waiting is done by
//! polling with non-blocking `flock` calls and short sleeps, so no thread is ever parked in the
//! kernel (blocking threads also serve reads).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Which side of the fence to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceMode {
    /// Making bytes present and referencing them (many at once).
    Shared,
    /// Deleting blobs (alone).
    Exclusive,
}

/// A held fence; dropping it releases it.
pub struct Fence {
    _held: Box<dyn Send + Sync>,
}

impl Fence {
    /// A fence held as long as `held` lives.
    pub fn new(held: impl Send + Sync + 'static) -> Fence {
        Fence {
            _held: Box::new(held),
        }
    }
}

/// How long a waiter sleeps between attempts.
const SHARED_POLL: Duration = Duration::from_millis(1);
const EXCLUSIVE_POLL: Duration = Duration::from_millis(2);

/// The fence as two lock files (`gc.lock`, `gc.intent`) in a directory.
pub struct FileFence {
    main: PathBuf,
    intent: PathBuf,
}

impl FileFence {
    /// The fence whose lock files live in `dir` (created on first use).
    pub fn new(dir: &Path) -> FileFence {
        FileFence {
            main: dir.join("gc.lock"),
            intent: dir.join("gc.intent"),
        }
    }

    /// Take it, waiting as long as needed.
    pub async fn acquire(&self, mode: FenceMode) -> Result<Fence> {
        match mode {
            FenceMode::Shared => {
                let intent = self.open(&self.intent)?;
                lock(&intent, &self.intent, libc::LOCK_SH, SHARED_POLL).await?;
                let main = self.open(&self.main)?;
                lock(&main, &self.main, libc::LOCK_SH, SHARED_POLL).await?;
                drop(intent);
                Ok(Fence::new(main))
            }
            FenceMode::Exclusive => {
                let intent = self.open(&self.intent)?;
                lock(&intent, &self.intent, libc::LOCK_EX, EXCLUSIVE_POLL).await?;
                let main = self.open(&self.main)?;
                lock(&main, &self.main, libc::LOCK_EX, EXCLUSIVE_POLL).await?;
                Ok(Fence::new((main, intent)))
            }
        }
    }

    /// A fresh open file description: `flock` locks belong to those, so each holder gets its own.
    fn open(&self, path: &Path) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))
    }
}

/// `flock(file, op | LOCK_NB)` until it succeeds, sleeping `poll` between attempts.
async fn lock(file: &File, path: &Path, op: libc::c_int, poll: Duration) -> Result<()> {
    loop {
        // SAFETY: the fd is valid for the borrow of `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => tokio::time::sleep(poll).await,
            _ => return Err(Error::io(path, err)),
        }
    }
}

/// The fence of one process: a fair tokio readers–writer lock.
#[derive(Default)]
pub struct MemoryFence {
    lock: Arc<tokio::sync::RwLock<()>>,
}

impl MemoryFence {
    /// Take it, waiting as long as needed.
    pub async fn acquire(&self, mode: FenceMode) -> Fence {
        match mode {
            FenceMode::Shared => Fence::new(self.lock.clone().read_owned().await),
            FenceMode::Exclusive => Fence::new(self.lock.clone().write_owned().await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exclusive_waits_for_shared_and_blocks_new_shared() {
        let dir = tempfile::tempdir().unwrap();
        // Two fences on the same files behave like two processes (each open is its own lock).
        let a = Arc::new(FileFence::new(dir.path()));
        let b = Arc::new(FileFence::new(dir.path()));
        let s1 = a.acquire(FenceMode::Shared).await.unwrap();
        let s2 = b.acquire(FenceMode::Shared).await.unwrap();
        let ex = {
            let b = b.clone();
            tokio::spawn(async move { b.acquire(FenceMode::Exclusive).await.unwrap() })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !ex.is_finished(),
            "exclusive waits while shared holders remain"
        );
        // A new shared holder now queues behind the exclusive one.
        let late = {
            let a = a.clone();
            tokio::spawn(async move { a.acquire(FenceMode::Shared).await.unwrap() })
        };
        drop(s1);
        drop(s2);
        let held = ex.await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !late.is_finished(),
            "no shared holder while exclusive is held"
        );
        drop(held);
        late.await.unwrap();
    }
}
