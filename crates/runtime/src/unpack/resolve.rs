//! Finding an entry's parent directory below the destination as if the destination were `/`
//! (chroot semantics, as docker's and containerd's unpackers do): every component is opened
//! with `O_NOFOLLOW | O_DIRECTORY` from the one before, a symlink met on the way is read and its
//! target walked from the destination (absolute) or the current directory (relative), and `..`
//! never goes above the destination. So a layer's symlinks — even `evil -> /etc` — are only
//! ever interpreted inside the destination, and nothing outside it is opened, read or written.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::sys;

/// Linux's limit for symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 40;

/// A directory reached below the destination.
#[derive(Debug)]
pub(super) struct Dir {
    /// An `O_PATH` descriptor of the directory.
    pub fd: OwnedFd,
    /// Its physical path relative to the destination (symlinks resolved).
    pub rel: PathBuf,
}

/// Why a directory could not be reached.
#[derive(Debug)]
pub(super) enum ResolveError {
    /// More than [`MAX_SYMLINKS`] symlinks.
    Loop,
    /// A component exists and is neither a directory nor a symlink.
    NotADirectory,
    /// A system call failed.
    Io(io::Error),
}

impl From<io::Error> for ResolveError {
    fn from(e: io::Error) -> Self {
        ResolveError::Io(e)
    }
}

fn is_not_dir(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
}

/// Open `names` below `root` one by one, refusing symlinks anywhere (used to re-walk a path
/// already resolved, and for the second pass).
pub(super) fn walk_physical(root: BorrowedFd<'_>, names: &[OsString]) -> io::Result<OwnedFd> {
    let mut cur = sys::open_dir(root, c".", true)?;
    for n in names {
        cur = sys::open_dir(cur.as_fd(), &sys::cstr(n)?, true)?;
    }
    Ok(cur)
}

/// Reach directory `comps` (plain names, from [`super::path::normalise`]) below `root`.
/// Missing directories are created (mode 0755) when `create`, else the answer is `None`;
/// `created` receives the physical path of each directory made.
pub(super) fn resolve_dir(
    root: BorrowedFd<'_>,
    comps: &[OsString],
    create: bool,
    created: &mut Vec<PathBuf>,
) -> Result<Option<Dir>, ResolveError> {
    let mut cur = sys::open_dir(root, c".", true)?;
    let mut names: Vec<OsString> = Vec::new();
    // Components still to walk, last first, so a symlink's target can be put in front cheaply.
    let mut todo: Vec<OsString> = comps.iter().rev().cloned().collect();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                // Only reachable through a symlink target; clamp at the destination.
                if names.pop().is_some() {
                    cur = walk_physical(root, &names)?;
                }
                continue;
            }
            _ => {}
        }
        let name = sys::cstr(&c)?;
        match sys::open_dir(cur.as_fd(), &name, true) {
            Ok(fd) => {
                cur = fd;
                names.push(c);
            }
            Err(e) if is_not_dir(&e) => {
                let st = sys::lstat_at(cur.as_fd(), &name)?
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
                if !sys::is_type(&st, libc::S_IFLNK) {
                    return Err(ResolveError::NotADirectory);
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ResolveError::Loop);
                }
                let target = sys::read_link_at(cur.as_fd(), &name)?;
                if target.as_bytes().starts_with(b"/") {
                    names.clear();
                    cur = sys::open_dir(root, c".", true)?;
                }
                for part in target.as_bytes().split(|&b| b == b'/').rev() {
                    todo.push(std::ffi::OsStr::from_bytes(part).to_os_string());
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if !create {
                    return Ok(None);
                }
                sys::mkdir_at(cur.as_fd(), &name, 0o755)?;
                sys::chmod_at(cur.as_fd(), &name, 0o755)?; // whatever the umask
                cur = sys::open_dir(cur.as_fd(), &name, true)?;
                names.push(c);
                created.push(names.iter().collect());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(Dir {
        fd: cur,
        rel: names.iter().collect(),
    }))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn comps(p: &str) -> Vec<OsString> {
        super::super::path::normalise(p.as_bytes()).unwrap()
    }

    fn rel(root: &std::fs::File, p: &str, create: bool) -> Result<Option<PathBuf>, ResolveError> {
        resolve_dir(root.as_fd(), &comps(p), create, &mut Vec::new()).map(|d| d.map(|d| d.rel))
    }

    #[test]
    fn symlinks_resolve_as_if_the_root_were_slash() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("usr/lib")).unwrap();
        symlink("usr/lib", t.path().join("lib")).unwrap();
        symlink("/usr", t.path().join("abs")).unwrap();
        symlink("../../../../..", t.path().join("usr/up")).unwrap();
        symlink("/etc", t.path().join("etc-link")).unwrap();
        let root = std::fs::File::open(t.path()).unwrap();

        assert_eq!(rel(&root, "lib", false).unwrap(), Some("usr/lib".into()));
        assert_eq!(
            rel(&root, "abs/lib", false).unwrap(),
            Some("usr/lib".into())
        );
        assert_eq!(
            rel(&root, "usr/up/usr/up/lib", false).unwrap(),
            Some("usr/lib".into())
        );
        // The host's /etc is never looked at: inside the root there is none yet.
        assert_eq!(rel(&root, "etc-link", false).unwrap(), None);
        let made = &mut Vec::new();
        let d = resolve_dir(root.as_fd(), &comps("etc-link/x"), true, made).unwrap();
        assert_eq!(d.unwrap().rel, PathBuf::from("etc/x"));
        assert_eq!(made, &[PathBuf::from("etc"), PathBuf::from("etc/x")]);
        assert!(t.path().join("etc/x").is_dir());
    }

    #[test]
    fn loops_and_files_in_the_way() {
        let t = tempfile::tempdir().unwrap();
        symlink("b", t.path().join("a")).unwrap();
        symlink("a", t.path().join("b")).unwrap();
        std::fs::write(t.path().join("f"), b"").unwrap();
        let root = std::fs::File::open(t.path()).unwrap();
        assert!(matches!(rel(&root, "a", true), Err(ResolveError::Loop)));
        assert!(matches!(
            rel(&root, "f/x", true),
            Err(ResolveError::NotADirectory)
        ));
    }
}
