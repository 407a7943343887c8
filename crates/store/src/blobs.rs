//! Content-addressed blob files and resumable, verified ingestion.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use berth_oci::{Digest, Hasher};

use crate::error::{Error, Result};
use crate::layout::Layout;

/// Blob files below `<root>/images/v1` (see [`Layout`]).
#[derive(Debug, Clone)]
pub struct BlobDir {
    layout: Layout,
}

impl BlobDir {
    /// Open (creating) the blob directories of `layout`.
    pub fn open(layout: &Layout) -> Result<BlobDir> {
        for p in [
            layout.blobs("sha256"),
            layout.blobs("sha512"),
            layout.ingest_dir(),
        ] {
            fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok(BlobDir {
            layout: layout.clone(),
        })
    }

    /// Where blob `d` lives.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.layout.blob(d)
    }

    fn partial(&self, d: &Digest) -> PathBuf {
        self.layout.ingest(d)
    }

    /// Size of blob `d`, if present.
    pub fn size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.path(d)).ok().map(|m| m.len())
    }

    /// Read a whole (small) blob.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.path(d);
        fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::BlobMissing(d.clone()),
            _ => Error::io(&p, e),
        })
    }

    /// Store `data` as blob `d` after checking it.
    pub fn put(&self, d: &Digest, data: &[u8]) -> Result<()> {
        if self.size(d).is_some() {
            return Ok(());
        }
        let mut ingest = self.ingest(d)?;
        if ingest.offset() != 0 {
            ingest.restart()?;
        }
        ingest.write(data)?;
        ingest.commit()
    }

    /// Start or resume writing blob `d`. Holds an exclusive lock on the partial download until
    /// dropped or committed, so concurrent berth processes never interleave writes to it.
    pub fn ingest(&self, d: &Digest) -> Result<Ingest> {
        let partial = self.partial(d);
        let lock_path = self.layout.ingest_lock(d);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        // SAFETY: flock on an fd we own; blocks until the other holder finishes.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error::io(&lock_path, std::io::Error::last_os_error()));
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&partial)
            .map_err(|e| Error::io(&partial, e))?;
        // Resume: hash what an earlier, interrupted download left.
        let mut hasher = Hasher::new(d.algorithm());
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(&partial, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        Ok(Ingest {
            digest: d.clone(),
            dest: self.path(d),
            partial,
            file,
            hasher,
            offset,
            synced: offset,
            _lock: lock,
        })
    }

    /// Remove blob `d`; false when absent.
    pub fn remove(&self, d: &Digest) -> Result<bool> {
        let p = self.path(d);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// Every stored blob.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for alg in ["sha256", "sha512"] {
            let dir = self.layout.blobs(alg);
            for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                if let Ok(d) = format!("{alg}:{}", entry.file_name().to_string_lossy()).parse() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

/// A blob being written: append bytes, then [`Ingest::commit`] verifies and publishes it.
pub struct Ingest {
    digest: Digest,
    dest: PathBuf,
    partial: PathBuf,
    file: File,
    hasher: Hasher,
    offset: u64,
    /// Bytes already handed to the kernel's writeback.
    synced: u64,
    _lock: File,
}

/// Writeback is started every this many bytes, so the fsync at commit finds little to do.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

impl Ingest {
    /// Bytes already written (by this or an earlier, interrupted attempt).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Throw away what was written and start from zero (the source cannot resume).
    pub fn restart(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .map_err(|e| Error::io(&self.partial, e))?;
        self.hasher = Hasher::new(self.digest.algorithm());
        self.offset = 0;
        self.synced = 0;
        Ok(())
    }

    /// Append bytes.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| Error::io(&self.partial, e))?;
        self.hasher.update(data);
        self.offset += data.len() as u64;
        if self.offset - self.synced >= WRITEBACK_EVERY {
            // SAFETY: a hint on an fd we own; errors are irrelevant (commit fsyncs).
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.synced as i64,
                    (self.offset - self.synced) as i64,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.synced = self.offset;
        }
        Ok(())
    }

    /// Verify the content against its digest, make it durable and publish it. On a mismatch the
    /// partial download is discarded.
    pub fn commit(self) -> Result<()> {
        let actual = self.hasher.finish();
        if actual != self.digest {
            let _ = fs::remove_file(&self.partial);
            return Err(Error::DigestMismatch {
                expected: self.digest,
                actual,
            });
        }
        self.file
            .sync_all()
            .map_err(|e| Error::io(&self.partial, e))?;
        fs::rename(&self.partial, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        let parent = self.dest.parent().expect("blob dir");
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(parent, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_resumes_verifies_and_publishes() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobDir::open(&Layout::new(dir.path())).unwrap();
        let data = b"hello resumable world".to_vec();
        let d = Digest::sha256(&data);
        {
            let mut i = blobs.ingest(&d).unwrap();
            i.write(&data[..5]).unwrap();
            // dropped: an interrupted download
        }
        let mut i = blobs.ingest(&d).unwrap();
        assert_eq!(i.offset(), 5, "resumes where the last attempt stopped");
        i.write(&data[5..]).unwrap();
        i.commit().unwrap();
        assert_eq!(blobs.read(&d).unwrap(), data);
        assert_eq!(blobs.list().unwrap(), vec![d.clone()]);

        let wrong = Digest::sha256(b"something else");
        let mut i = blobs.ingest(&wrong).unwrap();
        i.write(b"not it").unwrap();
        assert!(matches!(i.commit(), Err(Error::DigestMismatch { .. })));
        assert!(
            blobs.size(&wrong).is_none(),
            "nothing published on mismatch"
        );
        assert_eq!(
            blobs.ingest(&wrong).unwrap().offset(),
            0,
            "bad partial discarded"
        );
    }
}
