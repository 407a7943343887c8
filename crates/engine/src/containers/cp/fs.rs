//! Opening paths on either side of a copy. In a container every path is resolved by the
//! kernel with `openat2(RESOLVE_IN_ROOT)` below an `O_PATH` descriptor of the container's root:
//! absolute symlinks, relative ones and `..` are all interpreted as if that root were `/`, so a
//! container can never lead us to a host file. Everything after that is done relative to the
//! descriptors this returns, never by path again. Host paths are the user's own and resolved
//! normally.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::OpenOptionsExt as _;

/// Linux's limit for symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 40;

/// One side of a copy, where paths are opened.
pub enum Side {
    /// The host, with its ordinary path resolution.
    Host,
    /// A container's root filesystem (an `O_PATH` descriptor of its `/`).
    Container(OwnedFd),
}

fn cstring(path: &OsStr) -> io::Result<CString> {
    CString::new(path.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

impl Side {
    /// An `O_PATH` descriptor of `path`; the last component is followed only when `follow`.
    pub fn open(&self, path: &OsStr, follow: bool) -> io::Result<OwnedFd> {
        let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
        let flags = libc::O_PATH | libc::O_CLOEXEC | nofollow;
        let fd = match self {
            Side::Host => {
                let c = cstring(path)?;
                // SAFETY: a NUL-terminated path; a non-negative return is a descriptor we own.
                unsafe { libc::openat(libc::AT_FDCWD, c.as_ptr(), flags) }
            }
            Side::Container(root) => {
                let c = cstring(&clean(path))?;
                // SAFETY: `open_how` is plain data; all-zero is its empty value.
                let mut how: libc::open_how = unsafe { std::mem::zeroed() };
                how.flags = flags as u64;
                how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
                tracing::debug!(path = ?c, "openat2 in the container root");
                // SAFETY: openat2 with a valid `open_how` of the size we pass.
                unsafe {
                    libc::syscall(
                        libc::SYS_openat2,
                        root.as_raw_fd(),
                        c.as_ptr(),
                        &how as *const libc::open_how,
                        std::mem::size_of::<libc::open_how>(),
                    ) as i32
                }
            }
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// `path` with every symlink in its last component followed (as `docker cp` follows a
    /// symlinked destination), still a path on this side; intermediate components are left to
    /// [`Side::open`]. A missing last component ends the walk.
    pub fn follow_last(&self, path: &OsStr) -> io::Result<OsString> {
        let mut path = path.to_os_string();
        for _ in 0..MAX_SYMLINKS {
            let fd = match self.open(&path, false) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(path),
                Err(e) => return Err(e),
            };
            if !is_type(&stat(&fd)?, libc::S_IFLNK) {
                return Ok(path);
            }
            let target = read_link(&fd)?;
            path = if target.as_bytes().starts_with(b"/") {
                target
            } else {
                let mut joined = parent(&path).into_vec();
                joined.push(b'/');
                joined.extend_from_slice(target.as_bytes());
                OsString::from_vec(joined)
            };
        }
        Err(io::Error::from_raw_os_error(libc::ELOOP))
    }
}

/// A container path made absolute and lexically clean (`.`, `..` and repeated `/` removed,
/// `..` stopping at `/`), as Docker cleans it before resolving.
pub fn clean(path: &OsStr) -> OsString {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.as_bytes().split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = Vec::new();
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    OsString::from_vec(out)
}

/// The directory holding the last component of `path` (`.` for a bare relative name).
pub fn parent(path: &OsStr) -> OsString {
    let bytes = path.as_bytes();
    let trimmed = trim_slashes(bytes);
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) => "/".into(),
        Some(i) => OsStr::from_bytes(&trimmed[..i]).to_os_string(),
        None if bytes.starts_with(b"/") => "/".into(),
        None => ".".into(),
    }
}

/// The last component of `path` (trailing `/` and `/.` ignored); empty for `/`.
pub fn base(path: &OsStr) -> OsString {
    let trimmed = trim_slashes(path.as_bytes());
    let start = trimmed
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    OsStr::from_bytes(&trimmed[start..]).to_os_string()
}

fn trim_slashes(mut bytes: &[u8]) -> &[u8] {
    loop {
        if let Some(b) = bytes.strip_suffix(b"/.") {
            bytes = b;
        } else if bytes.len() > 1
            && let Some(b) = bytes.strip_suffix(b"/")
        {
            bytes = b;
        } else {
            return bytes;
        }
    }
}

/// `fstat` of a descriptor (an `O_PATH` one included).
pub fn stat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is valid; fstatat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: an empty path with AT_EMPTY_PATH stats the descriptor itself.
    let rc = unsafe {
        libc::fstatat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            &mut st,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// Whether `st` is of file type `kind` (`S_IFDIR`, `S_IFLNK`…).
pub fn is_type(st: &libc::stat, kind: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == kind
}

/// The target of the symlink an `O_PATH | O_NOFOLLOW` descriptor holds.
pub fn read_link(fd: &OwnedFd) -> io::Result<OsString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat with an empty path reads the link the descriptor holds into `buf`.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            c"".as_ptr(),
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

/// A readable descriptor of what the `O_PATH` descriptor `fd` holds (a directory or regular
/// file), through its `/proc/self/fd` link, which names exactly that file and resolves nothing.
pub fn reopen(fd: &OwnedFd) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(proc_path(fd))
}

/// The `/proc/self/fd` path of `fd`, for APIs that take a path (the unpacker).
pub fn proc_path(fd: &OwnedFd) -> std::path::PathBuf {
    format!("/proc/self/fd/{}", fd.as_raw_fd()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> OsString {
        x.into()
    }

    #[test]
    fn paths() {
        assert_eq!(clean(&s("a/../../b/./c/")), s("/b/c"));
        assert_eq!(clean(&s("/..")), s("/"));
        assert_eq!(parent(&s("/a/b/")), s("/a"));
        assert_eq!(parent(&s("/a")), s("/"));
        assert_eq!(parent(&s("a")), s("."));
        assert_eq!(base(&s("/a/b/.")), s("b"));
        assert_eq!(base(&s("/a/b//")), s("b"));
        assert_eq!(base(&s("/")), s(""));
    }
}
