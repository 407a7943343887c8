//! Paths inside a container's root filesystem, walked from the parent one component at a time
//! with `O_NOFOLLOW`, so a symlink in the image can never lead outside the rootfs: a symlinked
//! component is refused, `..` is refused, and missing directories are created as real ones.

use std::ffi::CString;
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};

/// What [`prepare`] leaves at the end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory (created when missing).
    Dir,
    /// A regular file (created empty when missing).
    File,
}

fn err(path: &str, reason: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{path}: {reason}"),
    )
}

/// The components of the absolute container path `path`; `.` is skipped, `..` refused.
fn components(path: &str) -> std::io::Result<Vec<&str>> {
    let mut parts = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(err(path, "'..' is not allowed in a container path"));
        }
        parts.push(part);
    }
    Ok(parts)
}

fn cstring(s: &str) -> std::io::Result<CString> {
    CString::new(s).map_err(|_| err(s, "contains a NUL byte"))
}

fn open_at(dir: &OwnedFd, name: &CString, flags: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: openat on a descriptor we own and a NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    Ok(File::open(root)?.into())
}

/// Walk the directories of `parts` under `root`, creating missing ones when `create`.
fn walk_dirs(root: &Path, full: &str, parts: &[&str], create: bool) -> std::io::Result<OwnedFd> {
    let mut dir = open_root(root)?;
    for part in parts {
        let name = cstring(part)?;
        let flags = libc::O_DIRECTORY | libc::O_RDONLY;
        dir = match open_at(&dir, &name, flags) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                // SAFETY: mkdirat on a descriptor we own and a NUL-terminated name.
                if unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) } < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(e);
                    }
                }
                open_at(&dir, &name, flags)?
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                return Err(err(
                    full,
                    &format!("{part} is a symlink or not a directory"),
                ));
            }
            Err(e) => return Err(e),
        };
    }
    Ok(dir)
}

/// Make sure the container path `path` exists under `root` as `kind`, with no symlink on the
/// way, and return the host path to mount on.
pub fn prepare(root: &Path, path: &str, kind: Kind) -> std::io::Result<PathBuf> {
    let parts = components(path)?;
    let Some((last, dirs)) = parts.split_last() else {
        return match kind {
            Kind::Dir => Ok(root.to_path_buf()),
            Kind::File => Err(err(path, "the root is not a file")),
        };
    };
    let parent = walk_dirs(root, path, dirs, true)?;
    match kind {
        Kind::Dir => {
            walk_dirs(root, path, &parts, true)?;
        }
        Kind::File => {
            let name = cstring(last)?;
            // SAFETY: openat on a descriptor we own; O_NOFOLLOW refuses a symlinked file.
            let fd = unsafe {
                libc::openat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd < 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::ELOOP) => err(path, "is a symlink"),
                    _ => e,
                });
            }
            // SAFETY: a fresh descriptor, closed at once.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    let mut host = root.to_path_buf();
    host.extend(&parts);
    Ok(host)
}

/// The contents of the regular file at container path `path` under `root`, or `None` if it
/// is missing; refuses symlinks on the way and at the end.
pub fn read(root: &Path, path: &str) -> std::io::Result<Option<Vec<u8>>> {
    let parts = components(path)?;
    let Some((last, dirs)) = parts.split_last() else {
        return Err(err(path, "the root is not a file"));
    };
    let dir = match walk_dirs(root, path, dirs, false) {
        Ok(dir) => dir,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let fd = match open_at(&dir, &cstring(last)?, libc::O_RDONLY | libc::O_NONBLOCK) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(err(path, "is not a regular file"));
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(Some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_real_dirs_and_refuses_symlinks() {
        let root = std::env::temp_dir().join(format!("berth-safepath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let made = prepare(&root, "/a/b/c", Kind::Dir).unwrap();
        assert!(made.is_dir() && made.ends_with("a/b/c"));
        let file = prepare(&root, "/etc/hostname", Kind::File).unwrap();
        assert!(file.is_file());
        std::os::unix::fs::symlink("/tmp", root.join("escape")).unwrap();
        assert!(prepare(&root, "/escape/x", Kind::Dir).is_err());
        assert!(prepare(&root, "/a/../x", Kind::Dir).is_err());
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/passwd")).unwrap();
        assert!(read(&root, "/etc/passwd").is_err());
        assert_eq!(read(&root, "/etc/missing").unwrap(), None);
        assert_eq!(read(&root, "/etc/hostname").unwrap(), Some(vec![]));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
