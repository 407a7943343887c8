//! Thin wrappers over the `*at` system calls unpacking uses. Every call names its target as a
//! directory descriptor plus one plain name and never follows a symbolic link in that last
//! name, so what a layer put on disk can never redirect a write.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `name` as a C string (archive names never contain NUL, but symlink targets are checked too).
pub(super) fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Open directory `name` below `dir` without following a symlink. `path_only` gives an
/// `O_PATH` descriptor, enough for `*at` calls even on directories we may not read.
pub(super) fn open_dir(dir: BorrowedFd<'_>, name: &CStr, path_only: bool) -> io::Result<OwnedFd> {
    let access = if path_only {
        libc::O_PATH
    } else {
        libc::O_RDONLY
    };
    let flags = access | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated; a non-negative return is a fresh descriptor we own.
    let fd = check(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `lstat` of `name` below `dir`; `None` if it does not exist.
pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<libc::stat>> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is written by the kernel on success, which is the only case we read it.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(ret) {
        Ok(_) => Ok(Some(unsafe { st.assume_init() })),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a `stat` mode is of file type `kind` (`libc::S_IFDIR`, …).
pub(super) fn is_type(st: &libc::stat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}

/// The target of symlink `name` below `dir`.
pub(super) fn read_link_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OsString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsString::from_vec(buf))
}

/// Create directory `name` below `dir`.
pub(super) fn mkdir_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a NUL-terminated name.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// Remove `name` below `dir` (`is_dir`: an empty directory).
pub(super) fn unlink_at(dir: BorrowedFd<'_>, name: &CStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: plain syscall on a NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// Create regular file `name` below `dir`, failing if anything (even a dangling symlink) is there.
pub(super) fn create_file(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<File> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated; a non-negative return is a fresh descriptor we own.
    let fd = check(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, 0o600) })?;
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Create symlink `name` below `dir` pointing at `target` (which is never resolved here).
pub(super) fn symlink_at(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: plain syscall on NUL-terminated strings.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// Hard-link `old_name` below `old_dir` as `new_name` below `new_dir`. Without
/// `AT_SYMLINK_FOLLOW`, a symlink target is linked itself, never what it points at.
pub(super) fn link_at(
    old_dir: BorrowedFd<'_>,
    old_name: &CStr,
    new_dir: BorrowedFd<'_>,
    new_name: &CStr,
) -> io::Result<()> {
    // SAFETY: plain syscall on NUL-terminated names.
    check(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old_name.as_ptr(),
            new_dir.as_raw_fd(),
            new_name.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// Create device node or fifo `name` below `dir`.
pub(super) fn mknod_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    mode: u32,
    dev: libc::dev_t,
) -> io::Result<()> {
    // SAFETY: plain syscall on a NUL-terminated name.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, dev) })
        .map(drop)
}

/// `lchown` of `name` below `dir`.
pub(super) fn lchown_at(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a NUL-terminated name.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// `chmod` of `name` below `dir`. Linux cannot chmod a symlink, so callers first check (with
/// [`lstat_at`]) that `name` is not one; nothing else writes into the tree meanwhile.
pub(super) fn chmod_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a NUL-terminated name.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, 0) })
        .map(drop)
}

fn timespecs(sec: i64, nsec: u32) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as _,
    };
    [t, t]
}

/// Set access and modification time of `name` below `dir` (the symlink itself, if one);
/// `name == None` sets them on `dir` itself.
pub(super) fn set_times_at(
    dir: BorrowedFd<'_>,
    name: Option<&CStr>,
    sec: i64,
    nsec: u32,
) -> io::Result<()> {
    let ts = timespecs(sec, nsec);
    let ret = match name {
        // SAFETY: `ts` holds two timespecs and `n` is NUL-terminated. (glibc's `utimensat`
        // refuses a null name, so `dir` itself goes through `futimens`.)
        Some(n) => unsafe {
            libc::utimensat(
                dir.as_raw_fd(),
                n.as_ptr(),
                ts.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        None => unsafe { libc::futimens(dir.as_raw_fd(), ts.as_ptr()) },
    };
    check(ret).map(drop)
}

/// Set extended attribute `key` on `name` below `dir` (not following a final symlink), or on
/// `dir` itself (which must then be a real, non-`O_PATH` descriptor) when `name` is `None`.
pub(super) fn set_xattr_at(
    dir: BorrowedFd<'_>,
    name: Option<&CStr>,
    key: &CStr,
    value: &[u8],
) -> io::Result<()> {
    let ret = match name {
        // SAFETY: plain syscall with a valid buffer.
        None => unsafe {
            libc::fsetxattr(
                dir.as_raw_fd(),
                key.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        },
        Some(n) => {
            // There is no `lsetxattrat` before Linux 6.13; the /proc magic link resolves to the
            // directory we hold, and `lsetxattr` does not follow the final name.
            let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            path.extend_from_slice(n.to_bytes());
            let path =
                CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: plain syscall with valid strings and buffer.
            unsafe {
                libc::lsetxattr(
                    path.as_ptr(),
                    key.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        }
    };
    check(ret).map(drop)
}

/// The names in directory `dir` (without `.` and `..`).
pub(super) fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let fd = open_dir(dir, c".", false)?;
    // SAFETY: `fdopendir` takes over the descriptor; on failure it is still ours to close.
    let dirp = unsafe { libc::fdopendir(fd.as_raw_fd()) };
    if dirp.is_null() {
        return Err(io::Error::last_os_error());
    }
    std::mem::forget(fd);
    let mut names = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; `readdir64` returns null at the end or on error.
        unsafe { *libc::__errno_location() = 0 };
        let ent = unsafe { libc::readdir64(dirp) };
        if ent.is_null() {
            let err = io::Error::last_os_error();
            break if err.raw_os_error() == Some(0) {
                Ok(())
            } else {
                Err(err)
            };
        }
        // SAFETY: `d_name` is a NUL-terminated string inside the entry `readdir64` returned.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    };
    // SAFETY: `dirp` came from `fdopendir` and is closed exactly once.
    unsafe { libc::closedir(dirp) };
    result.map(|()| names)
}

/// Remove `name` below `parent` and, if it is a directory, everything in it, never following
/// symlinks. Iterative, so a deeply nested tree cannot exhaust the stack.
pub(super) fn remove_tree(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let Some(st) = lstat_at(parent, name)? else {
        return Ok(());
    };
    if !is_type(&st, libc::S_IFDIR) {
        return unlink_at(parent, name, false);
    }
    // Each level: the directory, its name in the level above, and the names still to remove.
    let top = open_dir(parent, name, false)?;
    let names = list_dir(top.as_fd())?;
    let mut stack: Vec<(OwnedFd, CString, Vec<OsString>)> = vec![(top, name.to_owned(), names)];
    while let Some((dir, _, pending)) = stack.last_mut() {
        let Some(child) = pending.pop() else {
            let (_, done, _) = stack.pop().expect("the stack is not empty");
            let above = stack.last().map_or(parent, |(d, _, _)| d.as_fd());
            unlink_at(above, &done, true)?;
            continue;
        };
        let child = cstr(&child)?;
        let dir = dir.as_fd();
        match lstat_at(dir, &child)? {
            None => {}
            Some(st) if is_type(&st, libc::S_IFDIR) => {
                // A directory without owner rwx (possible when not root) cannot be emptied.
                if st.st_mode & 0o700 != 0o700 {
                    chmod_at(dir, &child, (st.st_mode & 0o7777) | 0o700)?;
                }
                let sub = open_dir(dir, &child, false)?;
                let names = list_dir(sub.as_fd())?;
                stack.push((sub, child, names));
            }
            Some(_) => unlink_at(dir, &child, false)?,
        }
    }
    Ok(())
}
