//! Reading one tar entry's metadata and creating it on disk: files, directories, symlinks, hard
//! links, device nodes and fifos. Everything is created relative to a directory descriptor from
//! [`super::resolve`], whatever was in the way is removed first, and files are opened with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, so no write ever goes through a symlink.

use std::ffi::{CStr, CString, OsStr};
use std::fs::Permissions;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, fchown};
use std::path::{Path, PathBuf};

use super::error::{Result, UnpackError};
use super::resolve::Dir;
use super::{Unpacker, path, sys};

/// A modification time: seconds since the epoch and nanoseconds.
pub(super) type Time = (i64, u32);

/// What an entry is, with what each kind needs besides [`Meta`].
pub(super) enum Kind {
    Dir,
    File,
    Symlink(Vec<u8>),
    HardLink(Vec<u8>),
    /// A character or block device or a fifo: the `S_IF*` type bits and the device numbers.
    Node(libc::mode_t, u32, u32),
}

/// Metadata of an entry, with PAX records (`uid`, `gid`, `mtime`, `SCHILY.xattr.*`) applied.
pub(super) struct Meta {
    /// Permission bits, including setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Time,
    pub xattrs: Vec<(CString, Vec<u8>)>,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn parse_id(v: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad numeric pax record"))
}

/// A PAX time such as `1700000000.25` or `-5`.
fn parse_time(v: &[u8]) -> io::Result<Time> {
    let s = std::str::from_utf8(v).map_err(|_| invalid("bad pax time"))?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().map_err(|_| invalid("bad pax time"))?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid("bad pax time"));
    }
    let nsec = format!("{digits:0<9}").parse().unwrap_or(0);
    Ok((sec, nsec))
}

impl Kind {
    /// Classify `entry`; `None` for entries that carry no file (PAX global headers).
    pub(super) fn of<R: Read>(entry: &tar::Entry<'_, R>, shown: &Path) -> Result<Option<Kind>> {
        use tar::EntryType as T;
        let h = entry.header();
        let link = || -> Result<Vec<u8>> {
            match entry.link_name_bytes() {
                Some(l) if !l.is_empty() => Ok(l.into_owned()),
                _ => Err(UnpackError::Header {
                    path: shown.into(),
                    source: invalid("link entry without a target"),
                }),
            }
        };
        let hdr = |source| UnpackError::Header {
            path: shown.into(),
            source,
        };
        let node = |kind| -> Result<Kind> {
            let major = h.device_major().map_err(hdr)?.unwrap_or(0);
            let minor = h.device_minor().map_err(hdr)?.unwrap_or(0);
            Ok(Kind::Node(kind, major, minor))
        };
        Ok(Some(match h.entry_type() {
            T::XGlobalHeader => return Ok(None),
            T::Directory => Kind::Dir,
            // Pre-POSIX archives mark directories with a trailing slash only.
            T::Regular if entry.path_bytes().ends_with(b"/") => Kind::Dir,
            T::Regular | T::Continuous | T::GNUSparse => Kind::File,
            T::Symlink => Kind::Symlink(link()?),
            T::Link => Kind::HardLink(link()?),
            T::Char => node(libc::S_IFCHR)?,
            T::Block => node(libc::S_IFBLK)?,
            T::Fifo => node(libc::S_IFIFO)?,
            other => {
                return Err(UnpackError::UnsupportedType {
                    path: shown.into(),
                    kind: other.as_byte() as char,
                });
            }
        }))
    }
}

/// A numeric header field left empty (all NULs or spaces) reads as 0, as Go's and GNU tar read it;
/// anything else must parse.
fn lenient(raw: &[u8], parsed: std::io::Result<u64>) -> std::io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

impl Meta {
    /// Read `entry`'s metadata (before its content is read).
    pub(super) fn read<R: Read>(entry: &mut tar::Entry<'_, R>, shown: &Path) -> Result<Meta> {
        let hdr = |source| UnpackError::Header {
            path: shown.into(),
            source,
        };
        let h = entry.header();
        let old = h.as_old();
        let mode = lenient(&old.mode, h.mode().map(u64::from)).map_err(hdr)? as u32 & 0o7777;
        let mut uid = lenient(&old.uid, h.uid()).map_err(hdr)?;
        let mut gid = lenient(&old.gid, h.gid()).map_err(hdr)?;
        let mut mtime = (
            i64::try_from(lenient(&old.mtime, h.mtime()).map_err(hdr)?).unwrap_or(i64::MAX),
            0,
        );
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Read)? {
            for ext in exts {
                let ext = ext.map_err(hdr)?;
                let value = ext.value_bytes();
                match ext.key_bytes() {
                    b"uid" => uid = parse_id(value).map_err(hdr)?,
                    b"gid" => gid = parse_id(value).map_err(hdr)?,
                    b"mtime" => mtime = parse_time(value).map_err(hdr)?,
                    key => {
                        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                            let name = CString::new(name)
                                .map_err(|_| hdr(invalid("xattr name contains NUL")))?;
                            xattrs.push((name, value.to_vec()));
                        }
                    }
                }
            }
        }
        let id = |v: u64| u32::try_from(v).map_err(|_| hdr(invalid("uid or gid out of range")));
        Ok(Meta {
            mode,
            uid: id(uid)?,
            gid: id(gid)?,
            mtime,
            xattrs,
        })
    }
}

/// Where extended attributes go: an open descriptor, or a name below a directory.
#[derive(Clone, Copy)]
enum Target<'a> {
    Fd(BorrowedFd<'a>),
    At(BorrowedFd<'a>, &'a CStr),
}

fn is_eperm(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

impl Unpacker<'_> {
    fn io(shown: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
        move |e| UnpackError::io(shown, e)
    }

    /// Remove whatever is at `name` (a whole tree if a directory), never following symlinks,
    /// to make room for a non-directory; with `keep_kinds`, a directory there is an error.
    fn clear(&self, dir: &Dir, name: &CStr, shown: &Path) -> Result<()> {
        if self.opts.keep_kinds
            && let Some(st) = sys::lstat_at(dir.fd.as_fd(), name).map_err(Self::io(shown))?
            && sys::is_type(&st, libc::S_IFDIR)
        {
            return Err(UnpackError::KindConflict { path: shown.into() });
        }
        sys::remove_tree(dir.fd.as_fd(), name).map_err(Self::io(shown))
    }

    fn chown_at(&self, dir: &Dir, name: &CStr, meta: &Meta, shown: &Path) -> Result<()> {
        if self.opts.preserve_ownership {
            sys::lchown_at(dir.fd.as_fd(), name, meta.uid, meta.gid).map_err(Self::io(shown))?;
        }
        Ok(())
    }

    /// Apply the entry's xattrs. `security.capability` and `user.*` matter, so failing to set
    /// them is an error unless the kernel or filesystem refuses them outright (then a warning);
    /// other namespaces are best effort, and `trusted.overlay.*` is never taken from a layer,
    /// since it would steer overlayfs.
    fn xattrs(&self, target: Target<'_>, meta: &Meta, shown: &Path) -> Result<()> {
        for (key, value) in &meta.xattrs {
            let k = key.to_bytes();
            if k.starts_with(b"trusted.overlay.") {
                tracing::debug!(path = %shown.display(), key = ?key, "ignoring overlay xattr from layer");
                continue;
            }
            let res = match target {
                Target::Fd(fd) => sys::set_xattr_at(fd, None, key, value),
                Target::At(dir, name) => sys::set_xattr_at(dir, Some(name), key, value),
            };
            let Err(e) = res else { continue };
            let wanted = k == b"security.capability" || k.starts_with(b"user.");
            let refused = is_eperm(&e) || e.raw_os_error() == Some(libc::EOPNOTSUPP);
            if wanted && !refused {
                return Err(UnpackError::io(shown, e));
            } else if wanted {
                tracing::warn!(path = %shown.display(), key = ?key, error = %e, "xattr not applied");
            } else {
                tracing::debug!(path = %shown.display(), key = ?key, error = %e, "xattr not applied");
            }
        }
        Ok(())
    }

    /// A regular file, streamed from `content`.
    pub(super) fn regular(
        &mut self,
        content: &mut impl Read,
        dir: &Dir,
        name: &CStr,
        meta: &Meta,
        shown: &Path,
    ) -> Result<()> {
        self.clear(dir, name, shown)?;
        let mut file = sys::create_file(dir.fd.as_fd(), name).map_err(Self::io(shown))?;
        let buf = &mut self.buf;
        loop {
            let n = match content.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(UnpackError::Read(e)),
            };
            file.write_all(&buf[..n]).map_err(Self::io(shown))?;
            self.stats.bytes += n as u64;
        }
        // Owner before mode (chown clears setuid/setgid), xattrs after both (chown also drops
        // security.capability), times last.
        if self.opts.preserve_ownership {
            fchown(&file, Some(meta.uid), Some(meta.gid)).map_err(Self::io(shown))?;
        }
        file.set_permissions(Permissions::from_mode(meta.mode))
            .map_err(Self::io(shown))?;
        self.xattrs(Target::Fd(file.as_fd()), meta, shown)?;
        sys::set_times_at(file.as_fd(), None, meta.mtime.0, meta.mtime.1).map_err(Self::io(shown))
    }

    /// A directory: an existing one is kept, anything else in the way replaced. Its mode and
    /// mtime are applied after the whole layer (see `Unpacker::finish`): until then it stays
    /// writable for its owner, and later entries inside it would change its mtime anyway.
    pub(super) fn directory(
        &mut self,
        dir: &Dir,
        name: &CStr,
        rel: PathBuf,
        meta: &Meta,
        shown: &Path,
    ) -> Result<()> {
        let fd = dir.fd.as_fd();
        match sys::lstat_at(fd, name).map_err(Self::io(shown))? {
            Some(st) if sys::is_type(&st, libc::S_IFDIR) => {}
            existing => {
                if existing.is_some() {
                    if self.opts.keep_kinds {
                        return Err(UnpackError::KindConflict { path: shown.into() });
                    }
                    sys::remove_tree(fd, name).map_err(Self::io(shown))?;
                }
                sys::mkdir_at(fd, name, 0o700).map_err(Self::io(shown))?;
            }
        }
        self.chown_at(dir, name, meta, shown)?;
        self.xattrs(Target::At(fd, name), meta, shown)?;
        self.dirs.insert(rel, (meta.mode, meta.mtime));
        Ok(())
    }

    /// A symlink; its target is stored as is and never resolved here.
    pub(super) fn symlink(
        &mut self,
        target: &[u8],
        dir: &Dir,
        name: &CStr,
        meta: &Meta,
        shown: &Path,
    ) -> Result<()> {
        let target =
            CString::new(target).map_err(|_| UnpackError::InvalidPath { path: shown.into() })?;
        self.clear(dir, name, shown)?;
        sys::symlink_at(&target, dir.fd.as_fd(), name).map_err(Self::io(shown))?;
        self.chown_at(dir, name, meta, shown)?;
        self.xattrs(Target::At(dir.fd.as_fd(), name), meta, shown)?;
        sys::set_times_at(dir.fd.as_fd(), Some(name), meta.mtime.0, meta.mtime.1)
            .map_err(Self::io(shown))
    }

    /// A hard link to `target`, an archive path that must already exist below the destination
    /// (reached by the same rules as entry paths) and not be a directory. A symlink target is
    /// linked itself, never what it points at.
    pub(super) fn hard_link(
        &mut self,
        target: &[u8],
        dir: &Dir,
        name: &CStr,
        shown: &Path,
    ) -> Result<()> {
        let target_shown = PathBuf::from(OsStr::from_bytes(target));
        let bad = |reason| UnpackError::LinkTarget {
            path: shown.into(),
            target: target_shown.clone(),
            reason,
        };
        let comps =
            path::normalise(target).ok_or_else(|| UnpackError::Escape { path: shown.into() })?;
        let (tname, tparents) = comps
            .split_last()
            .ok_or_else(|| bad("is the destination itself"))?;
        let tdir = self
            .resolve(tparents, false, shown)?
            .ok_or_else(|| bad("does not exist"))?;
        let tname = sys::cstr(tname).map_err(Self::io(shown))?;
        let tst = sys::lstat_at(tdir.fd.as_fd(), &tname)
            .map_err(Self::io(shown))?
            .ok_or_else(|| bad("does not exist"))?;
        if sys::is_type(&tst, libc::S_IFDIR) {
            return Err(bad("is a directory"));
        }
        if let Some(st) = sys::lstat_at(dir.fd.as_fd(), name).map_err(Self::io(shown))?
            && st.st_dev == tst.st_dev
            && st.st_ino == tst.st_ino
        {
            return Ok(()); // already that file (a link to itself, or a repeated entry)
        }
        self.clear(dir, name, shown)?;
        sys::link_at(tdir.fd.as_fd(), &tname, dir.fd.as_fd(), name).map_err(Self::io(shown))
    }

    /// A device node or fifo. Without the privilege to create device nodes, the entry is
    /// skipped (and counted) rather than failing the layer; returns whether it was created.
    pub(super) fn node(
        &mut self,
        (kind, major, minor): (libc::mode_t, u32, u32),
        dir: &Dir,
        name: &CStr,
        meta: &Meta,
        shown: &Path,
    ) -> Result<bool> {
        let fd = dir.fd.as_fd();
        self.clear(dir, name, shown)?;
        if let Err(e) = sys::mknod_at(
            fd,
            name,
            kind | (meta.mode & 0o7777),
            libc::makedev(major, minor),
        ) {
            if is_eperm(&e) && kind != libc::S_IFIFO {
                tracing::debug!(path = %shown.display(), "no privilege to create device node; skipped");
                return Ok(false);
            }
            return Err(UnpackError::io(shown, e));
        }
        self.chown_at(dir, name, meta, shown)?;
        sys::chmod_at(fd, name, meta.mode).map_err(Self::io(shown))?; // mknod obeys the umask
        self.xattrs(Target::At(fd, name), meta, shown)?;
        sys::set_times_at(fd, Some(name), meta.mtime.0, meta.mtime.1).map_err(Self::io(shown))?;
        Ok(true)
    }

    /// The destination itself (an entry named `./`): owner and xattrs now, mode and mtime after
    /// the layer like any directory.
    pub(super) fn root_dir(&mut self, meta: &Meta, shown: &Path) -> Result<()> {
        if self.opts.preserve_ownership {
            fchown(&self.root, Some(meta.uid), Some(meta.gid)).map_err(Self::io(shown))?;
        }
        self.xattrs(Target::Fd(self.root.as_fd()), meta, shown)?;
        self.dirs.insert(PathBuf::new(), (meta.mode, meta.mtime));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(parse_time(b"1700000000").unwrap(), (1_700_000_000, 0));
        assert_eq!(
            parse_time(b"1700000000.5").unwrap(),
            (1_700_000_000, 500_000_000)
        );
        assert_eq!(parse_time(b"1.1234567891").unwrap(), (1, 123_456_789));
        assert_eq!(parse_time(b"-5").unwrap(), (-5, 0));
        assert!(parse_time(b"x").is_err());
        assert!(parse_time(b"1.x").is_err());
    }
}
