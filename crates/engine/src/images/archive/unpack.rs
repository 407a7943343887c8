//! Reading an image archive once, front to back, for [`Engine::load`](crate::Engine::load):
//! `blobs/<alg>/<hex>` entries stream straight into the store through its verifying `Ingest`;
//! small files are kept in memory and other files (legacy layers) are staged in a private
//! temporary directory until their digest is known. Paths with `..` or a leading `/` are
//! refused, and links may only point inside the archive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use berth_oci::Digest;
use berth_oci::manifest::Descriptor;
use berth_store::blobs::BlobDir;

use super::{Staging, bad, ingest_file, safe_path, store_error, tar_error, within};
use crate::error::{Error, Result};

/// Files up to this size are kept in memory; bigger ones are staged on disk.
const IN_MEMORY: u64 = 1 << 20;
/// At most this much is kept in memory in all.
const MEMORY_BUDGET: u64 = 64 << 20;
/// Metadata files (JSON) larger than this are refused.
const MAX_METADATA: u64 = 64 << 20;

/// Where an archive path's content went.
pub(super) enum Source {
    /// A blob now in the store (written by this load or already there).
    Blob(Digest),
    /// A small file.
    Memory(Vec<u8>),
    /// A file in the staging directory.
    Staged(PathBuf),
    /// A symbolic or hard link to another archive path (normalised).
    Link(String),
}

/// The archive's content, once read.
pub(super) struct Unpacked {
    pub(super) files: HashMap<String, Source>,
    /// Keeps the staged files until the load is done.
    _staging: Staging,
}

/// Copy exactly `size` bytes of a tar entry into `sink`; a short entry means a truncated archive.
fn copy_entry(
    entry: &mut impl Read,
    size: u64,
    path: &str,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; (1 << 20).min(size.max(1) as usize)];
    let mut done = 0u64;
    while done < size {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(bad(format!("archive entry {path}: {e}"))),
        };
        sink(&buf[..n])?;
        done += n as u64;
    }
    if done != size {
        return Err(bad(format!(
            "the archive is truncated: {path} ends after {done} of {size} bytes"
        )));
    }
    Ok(())
}

/// `blobs/<alg>/<hex>` names a blob.
fn blob_digest(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    format!("{alg}:{hex}").parse().ok()
}

/// Read the whole archive (see the module docs). Blobs added to the store go to `written`.
pub(super) fn unpack(
    reader: impl Read,
    blobs: &BlobDir,
    written: &mut Vec<Digest>,
) -> Result<Unpacked> {
    let staging = Staging::new("load")?;
    let mut files = HashMap::new();
    let mut in_memory = 0u64;
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| tar_error("cannot read the archive", e))?;
    for (i, entry) in entries.enumerate() {
        let mut entry =
            entry.map_err(|e| tar_error("cannot read the archive (is it a tar file?)", e))?;
        let path = safe_path(&entry.path_bytes())?;
        let kind = entry.header().entry_type();
        let size = entry.size();
        let source = match kind {
            tar::EntryType::Directory => continue,
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = std::str::from_utf8(&target)
                    .map_err(|_| bad(format!("archive entry {path}: link target is not UTF-8")))?;
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                Source::Link(super::normalise(dir, target).map_err(|e| {
                    within(e, format_args!("archive entry {path} links to {target:?}"))
                })?)
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                Source::Link(
                    safe_path(&target).map_err(|e| within(e, format_args!("hard link {path}")))?,
                )
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(d) = blob_digest(&path) {
                    if blobs.size(&d).is_some() {
                        copy_entry(&mut entry, size, &path, |_| Ok(()))?;
                    } else {
                        let mut ingest = blobs.ingest(&d)?;
                        if ingest.offset() != 0 {
                            ingest.restart()?;
                        }
                        copy_entry(&mut entry, size, &path, |c| {
                            ingest.write(c).map_err(store_error)
                        })?;
                        ingest.commit().map_err(|e| {
                            within(store_error(e), format_args!("archive entry {path}"))
                        })?;
                        written.push(d.clone());
                    }
                    Source::Blob(d)
                } else if size <= IN_MEMORY && in_memory + size <= MEMORY_BUDGET {
                    in_memory += size;
                    let mut data = Vec::with_capacity(size as usize);
                    copy_entry(&mut entry, size, &path, |c| {
                        data.extend_from_slice(c);
                        Ok(())
                    })?;
                    Source::Memory(data)
                } else {
                    let staged = staging.path(&i.to_string());
                    let mut f = File::create(&staged).map_err(|e| {
                        Error::Internal(format!("cannot create {}: {e}", staged.display()))
                    })?;
                    copy_entry(&mut entry, size, &path, |c| {
                        io::Write::write_all(&mut f, c).map_err(|e| {
                            Error::Internal(format!("cannot write {}: {e}", staged.display()))
                        })
                    })?;
                    Source::Staged(staged)
                }
            }
            // Devices, fifos and the like have no place in an image archive; skip them.
            other => {
                tracing::debug!(path, ?other, "skipping archive entry");
                continue;
            }
        };
        files.insert(path, source);
    }
    Ok(Unpacked {
        files,
        _staging: staging,
    })
}

impl Unpacked {
    /// The content behind `path`, links followed.
    pub(super) fn resolve(&self, path: &str) -> Result<Option<&Source>> {
        let mut p = path.to_string();
        for _ in 0..32 {
            match self.files.get(&p) {
                Some(Source::Link(t)) => p = t.clone(),
                other => return Ok(other),
            }
        }
        Err(bad(format!(
            "archive entry {path}: too many levels of links"
        )))
    }

    /// The whole content of a (metadata) file.
    pub(super) fn bytes(&self, path: &str, blobs: &BlobDir) -> Result<Vec<u8>> {
        match self.resolve(path)? {
            None => Err(bad(format!("the archive lacks {path}"))),
            Some(Source::Memory(b)) => Ok(b.clone()),
            Some(Source::Blob(d)) => Ok(blobs.read(d)?),
            Some(Source::Staged(p)) => {
                let len = std::fs::metadata(p)?.len();
                if len > MAX_METADATA {
                    return Err(bad(format!(
                        "{path} is too large ({len} bytes) for image metadata"
                    )));
                }
                Ok(std::fs::read(p)?)
            }
            Some(Source::Link(_)) => unreachable!("resolve follows links"),
        }
    }

    /// Make sure blob `d` is in the store, taking it from the archive at `path` and verifying it.
    /// A blob the archive lacks is accepted when the store has it already.
    pub(super) fn materialize(
        &self,
        path: &str,
        d: &Digest,
        blobs: &BlobDir,
        written: &mut Vec<Digest>,
    ) -> Result<()> {
        match self.try_materialize(path, d, blobs, written)? {
            None => Ok(()),
            Some(actual) => Err(bad(format!(
                "archive entry {path}: content of {d} does not match: it hashes to {actual}"
            ))),
        }
    }

    /// [`Unpacked::materialize`], except that content hashing to another digest is returned
    /// (that digest) rather than an error.
    pub(super) fn try_materialize(
        &self,
        path: &str,
        d: &Digest,
        blobs: &BlobDir,
        written: &mut Vec<Digest>,
    ) -> Result<Option<Digest>> {
        let entry = |e: berth_store::Error| -> Result<Option<Digest>> {
            match e {
                berth_store::Error::DigestMismatch { actual, .. } => Ok(Some(actual)),
                e => Err(within(e.into(), format_args!("archive entry {path}"))),
            }
        };
        let source = self.resolve(path)?;
        let new = match source {
            Some(Source::Blob(got)) if got == d => false,
            Some(Source::Blob(got)) => {
                return Err(bad(format!(
                    "archive entry {path} should hold {d} but holds {got}"
                )));
            }
            Some(Source::Memory(data)) => {
                let new = blobs.size(d).is_none();
                if let Err(e) = blobs.put(d, data) {
                    return entry(e);
                }
                new
            }
            Some(Source::Staged(p)) => match ingest_file(blobs, d, p) {
                Ok(new) => new,
                Err(e) => return entry(e),
            },
            Some(Source::Link(_)) => unreachable!("resolve follows links"),
            None if blobs.size(d).is_some() => false,
            None => {
                return Err(bad(format!(
                    "the archive lacks blob {d} ({path}): it is incomplete"
                )));
            }
        };
        if new {
            written.push(d.clone());
        }
        Ok(None)
    }

    /// The blob of descriptor `d` (layout path `blobs/<alg>/<hex>`), in the store with the
    /// size the descriptor states.
    pub(super) fn blob(
        &self,
        d: &Descriptor,
        blobs: &BlobDir,
        written: &mut Vec<Digest>,
    ) -> Result<()> {
        let path = format!("blobs/{}/{}", d.digest.algorithm().as_str(), d.digest.hex());
        self.materialize(&path, &d.digest, blobs, written)?;
        let size = blobs.size(&d.digest).unwrap_or(0);
        if size != d.size as u64 {
            return Err(bad(format!(
                "blob {} is {size} bytes, but its descriptor says {}",
                d.digest, d.size
            )));
        }
        Ok(())
    }
}
