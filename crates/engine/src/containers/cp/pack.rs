//! A tree as a tar stream, walked from an `O_PATH` descriptor: each entry is opened from its
//! directory's descriptor with `O_NOFOLLOW`, so symlinks inside the tree are archived as links
//! and never followed, and nothing outside the tree is read. Hard links are kept; sockets are
//! skipped (tar cannot hold them).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read as _, Write};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use super::fs::{is_type, read_link, reopen, stat};

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The names in the directory `fd` holds, last first (so popping yields them sorted).
fn names(fd: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(super::fs::proc_path(fd))? {
        names.push(e?.file_name());
    }
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

/// `O_PATH | O_NOFOLLOW` descriptor of `name` in directory `dir`; `None` if it vanished.
fn open_child(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<OwnedFd>> {
    let c = std::ffi::CString::new(name.as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a NUL-terminated name; a non-negative return is a descriptor we own.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: a fresh descriptor.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether the directory `fd` holds is the root of a kernel pseudo-filesystem (procfs, sysfs,
/// cgroupfs, devpts…) whose contents are the kernel's, not files to copy: a running
/// container's `/proc` and `/sys`. Only the directory itself is archived, as Docker's
/// archives of a container have them.
fn is_pseudo_fs(fd: &OwnedFd) -> bool {
    const PSEUDO: &[i64] = &[
        0x9fa0,      // proc
        0x6265_6572, // sysfs
        0x6367_7270, // cgroup2
        0x0027_e0eb, // cgroup
        0x1cd1,      // devpts
        0x7363_6673, // securityfs
        0x6462_6720, // debugfs
        0x7472_6163, // tracefs
        0xcafe_4a11, // bpf
        0x6e73_6673, // nsfs
    ];
    // SAFETY: an all-zero statfs is valid; fstatfs fills it (O_PATH descriptors allowed).
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    PSEUDO.contains(&(st.f_type as i64))
}

fn vanished(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

struct Packer<W: Write> {
    tar: tar::Builder<W>,
    /// First archive path of each multiply-linked file, by (device, inode).
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> Packer<W> {
    /// Append the entry `fd` holds as `path`; whether it is a directory to descend into.
    fn entry(&mut self, fd: &OwnedFd, path: &Path) -> io::Result<bool> {
        let st = stat(fd)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        let empty = io::empty();
        if is_type(&st, libc::S_IFDIR) {
            h.set_entry_type(tar::EntryType::Directory);
            self.tar.append_data(&mut h, path, empty)?;
            return Ok(true);
        }
        if is_type(&st, libc::S_IFREG) {
            if st.st_nlink > 1 {
                let key = (st.st_dev, st.st_ino);
                if let Some(first) = self.links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    self.tar.append_link(&mut h, path, first)?;
                    return Ok(false);
                }
                self.links.insert(key, path.to_path_buf());
            }
            let size = st.st_size as u64;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            // Exactly `size` bytes even if the file changes meanwhile (padded with zeros).
            let data = reopen(fd)?.take(size).chain(io::repeat(0)).take(size);
            self.tar.append_data(&mut h, path, data)?;
        } else if is_type(&st, libc::S_IFLNK) {
            h.set_entry_type(tar::EntryType::Symlink);
            self.tar.append_link(&mut h, path, read_link(fd)?)?;
        } else if is_type(&st, libc::S_IFCHR) || is_type(&st, libc::S_IFBLK) {
            let kind = if is_type(&st, libc::S_IFCHR) {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            h.set_entry_type(kind);
            h.set_device_major(libc::major(st.st_rdev))?;
            h.set_device_minor(libc::minor(st.st_rdev))?;
            self.tar.append_data(&mut h, path, empty)?;
        } else if is_type(&st, libc::S_IFIFO) {
            h.set_entry_type(tar::EntryType::Fifo);
            self.tar.append_data(&mut h, path, empty)?;
        } else {
            tracing::debug!(path = %path.display(), "skipping a socket");
        }
        Ok(false)
    }
}

/// Write the tree `fd` (an `O_PATH` descriptor) holds to `out` as a tar: its top entry named
/// `top`, or, with `None`, only what is inside the directory, named relative to it.
pub fn pack(fd: OwnedFd, top: Option<&OsStr>, out: impl Write) -> io::Result<()> {
    let mut p = Packer {
        tar: tar::Builder::new(out),
        links: HashMap::new(),
    };
    let prefix = PathBuf::from(top.unwrap_or_default());
    let is_dir = match top {
        Some(_) => p.entry(&fd, &prefix).map_err(|e| with_path(&prefix, e))?,
        None => true,
    };
    let mut stack = Vec::new();
    if is_dir {
        let n = names(&fd).map_err(|e| with_path(&prefix, e))?;
        stack.push((fd, n, prefix));
    }
    while let Some((dir, pending, prefix)) = stack.last_mut() {
        let Some(name) = pending.pop() else {
            stack.pop();
            continue;
        };
        let path = prefix.join(&name);
        let err = |e| with_path(&path, e);
        let Some(child) = open_child(dir, &name).map_err(err)? else {
            continue;
        };
        let is_dir = match p.entry(&child, &path) {
            Ok(d) => d,
            // Removed while we read it (a process's /proc entry, a temporary file).
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(err(e)),
        };
        if is_dir && !is_pseudo_fs(&child) {
            let n = names(&child).map_err(err)?;
            stack.push((child, n, path));
        }
    }
    p.tar.into_inner()?.flush()
}
