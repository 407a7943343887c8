//! `berth build -`: a context tarball (plain or gzip) unpacked into a fresh scratch directory.
//!
//! The archive is untrusted. The scratch directory is new and only this code writes to it, so
//! checking each parent with `lstat` before writing is enough: an entry may not be absolute,
//! climb with `..`, or pass through a symlink (an earlier entry's); files are created with
//! `O_EXCL | O_NOFOLLOW`; a hard link must name an earlier regular file by the same rules.
//! Symlinks themselves are created as written: the context never follows them outside.
//! Ownership is not applied (COPY sets its own); modes and mtimes are.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Context;
use crate::error::{Error, Result};
use crate::ignore::pattern::clean;

/// A directory deleted when dropped.
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover scratch directory is harmless and reported nowhere.
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Context {
    /// Unpack a context tarball (uncompressed or gzip) read from `reader` into a new directory
    /// below `scratch` (deleted when the context is dropped), then [`Context::open`] it.
    /// `dockerfile` is the Dockerfile's path inside the archive, for its own ignore file.
    ///
    /// ```no_run
    /// use berth_build::context::Context;
    /// let ctx = Context::from_tar(std::io::stdin(), "/var/lib/berth/tmp".as_ref(), Some("Dockerfile"))?;
    /// let dockerfile = std::fs::read_to_string(ctx.root().join("Dockerfile"));
    /// # Ok::<(), berth_build::error::Error>(())
    /// ```
    pub fn from_tar(
        reader: impl Read,
        scratch: &Path,
        dockerfile: Option<&str>,
    ) -> Result<Context> {
        let dir = make_scratch(scratch)?;
        let guard = ScratchDir(dir.clone());
        unpack(reader, &dir)?;
        let df = dockerfile.map(|d| dir.join(clean(d.trim_start_matches('/'))));
        let mut ctx = Context::open(&dir, df.as_deref())?;
        ctx._scratch = Some(guard);
        Ok(ctx)
    }
}

/// Create a new private directory below `parent`.
fn make_scratch(parent: &Path) -> Result<PathBuf> {
    let io = |source| Error::Io {
        path: parent.to_path_buf(),
        source,
    };
    fs::create_dir_all(parent).map_err(io)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0u32.. {
        let dir = parent.join(format!("context-{}-{nanos}-{attempt}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => {}
            Err(source) => return Err(Error::Io { path: dir, source }),
        }
    }
    unreachable!("the loop returns")
}

/// Unpack the archive into the empty directory `dest`.
fn unpack(reader: impl Read, dest: &Path) -> Result<()> {
    let tar_err = |source| Error::Io {
        path: PathBuf::from("<context tarball>"),
        source,
    };
    let mut reader = io::BufReader::new(reader);
    let head = io::BufRead::fill_buf(&mut reader).map_err(tar_err)?;
    let stream: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(stream);
    let mut dirs = Vec::new();
    for entry in archive.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let raw =
            String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| Error::NonUtf8Path {
                path: PathBuf::from(std::ffi::OsStr::from_bytes(e.as_bytes())),
            })?;
        let Some(rel) = safe_rel(&raw)? else {
            continue; // the root itself
        };
        let target = dest.join(&rel);
        prepare_parents(dest, &rel)?;
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let kind = header.entry_type();
        let io = |source| Error::Io {
            path: target.clone(),
            source,
        };
        if kind.is_dir() {
            match fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&target).map_err(io)?;
                    fs::create_dir(&target).map_err(io)?;
                }
                Err(_) => fs::create_dir(&target).map_err(io)?,
            }
            dirs.push((target, mode, mtime));
            continue;
        }
        remove_existing(&target)?;
        if kind.is_file() {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&target)
                .map_err(io)?;
            io::copy(&mut entry, &mut file).map_err(io)?;
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io)?;
            set_mtime(&target, mtime, false).map_err(io)?;
        } else if kind.is_symlink() {
            let link = entry.link_name_bytes().unwrap_or_default().into_owned();
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&link), &target).map_err(io)?;
            set_mtime(&target, mtime, true).map_err(io)?;
        } else if kind.is_hard_link() {
            let link = entry.link_name_bytes().unwrap_or_default().into_owned();
            let link = String::from_utf8_lossy(&link).into_owned();
            let Some(link_rel) = safe_rel(&link)? else {
                return Err(unsafe_entry(&raw, "hard link to the root"));
            };
            prepare_parents(dest, &link_rel)?;
            let source = dest.join(&link_rel);
            match fs::symlink_metadata(&source) {
                Ok(m) if m.is_file() => fs::hard_link(&source, &target).map_err(io)?,
                _ => {
                    return Err(unsafe_entry(
                        &raw,
                        "hard link to a missing or non-regular file",
                    ));
                }
            }
        }
        // Other kinds (devices, fifos) have no place in a build context.
    }
    // Directory modes last, deepest first, so a read-only directory is filled before.
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    for (dir, mode, mtime) in dirs {
        let io = |source| Error::Io {
            path: dir.clone(),
            source,
        };
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).map_err(io)?;
        set_mtime(&dir, mtime, false).map_err(io)?;
    }
    Ok(())
}

/// The cleaned relative form of an archive path; `None` for the root; an error for absolute
/// paths and `..` escapes.
fn safe_rel(raw: &str) -> Result<Option<String>> {
    if raw.starts_with('/') {
        return Err(unsafe_entry(raw, "absolute path"));
    }
    let rel = clean(raw);
    if rel == ".." || rel.starts_with("../") {
        return Err(unsafe_entry(raw, "path outside the context"));
    }
    Ok((rel != ".").then_some(rel))
}

/// Make sure every parent of `rel` below `dest` is a real directory (creating missing ones).
fn prepare_parents(dest: &Path, rel: &str) -> Result<()> {
    let mut dir = dest.to_path_buf();
    let parents: Vec<&str> = rel.split('/').collect();
    for comp in &parents[..parents.len() - 1] {
        dir.push(comp);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(unsafe_entry(
                    rel,
                    "parent is not a directory (or is a symlink)",
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&dir)
                    .map_err(|source| Error::Io {
                        path: dir.clone(),
                        source,
                    })?;
            }
            Err(source) => return Err(Error::Io { path: dir, source }),
        }
    }
    Ok(())
}

/// Remove whatever a duplicate archive entry left at `path`.
fn remove_existing(path: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io),
        Ok(_) => fs::remove_file(path).map_err(io),
        Err(_) => Ok(()),
    }
}

fn unsafe_entry(path: &str, reason: &'static str) -> Error {
    Error::UnsafeContextEntry {
        path: path.to_string(),
        reason,
    }
}

/// Set `path`'s mtime (and atime) to `secs`, not following a final symlink with `nofollow`.
fn set_mtime(path: &Path, secs: i64, nofollow: bool) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    let flags = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: `c` is a valid NUL-terminated string and `times` holds two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
