//! OCI whiteouts. `dir/.wh.NAME` hides `dir/NAME` of earlier layers; `dir/.wh..wh..opq` hides
//! everything earlier layers put in `dir`. A whiteout never hides what its own layer adds,
//! wherever in the archive that entry comes: in `Flatten` mode the unpacker records every
//! physical path this layer created (with its ancestors), and removal spares those, descending
//! into a spared directory to remove what earlier layers left inside it.
//!
//! In `Overlay` mode the layer directory is an overlayfs lower/upper dir, so whiteouts are
//! written the way overlayfs reads them: a 0/0 character device, and the
//! `trusted.overlay.opaque=y` xattr. Both may need privilege, and there is deliberately no
//! fallback: a flattened layer in an overlay stack would silently show deleted files.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::entry::Meta;
use super::error::{Result, UnpackError};
use super::{Unpacker, WhiteoutMode, resolve, sys};

/// The marker making its directory opaque.
pub(super) const OPAQUE: &[u8] = b".wh..wh..opq";
/// The prefix of whiteout names.
pub(super) const PREFIX: &[u8] = b".wh.";
/// The prefix of aufs metadata (`.wh..wh.plnk`, …), which is not part of the image.
pub(super) const META_PREFIX: &[u8] = b".wh..wh.";

fn privilege(shown: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |e| {
        if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
            UnpackError::OverlayPrivilege {
                path: shown.into(),
                source: e,
            }
        } else {
            UnpackError::io(shown, e)
        }
    }
}

impl Unpacker<'_> {
    /// Apply whiteout `parents/.wh.NAME` (`name == Some(NAME)`) or the opaque marker in
    /// `parents` (`name == None`).
    pub(super) fn whiteout(
        &mut self,
        parents: &[OsString],
        name: Option<&[u8]>,
        meta: &Meta,
        shown: &Path,
    ) -> Result<()> {
        if let Some(n) = name
            && !super::path::is_plain_name(n)
        {
            return Err(UnpackError::InvalidWhiteout { path: shown.into() });
        }
        let name = name.map(|n| OsStr::from_bytes(n).to_os_string());
        self.stats.whiteouts += 1;
        match self.opts.whiteouts {
            WhiteoutMode::Flatten => {
                let Some(dir) = self.resolve(parents, false, shown)? else {
                    return Ok(()); // nothing there to hide
                };
                let names = match name {
                    Some(n) => vec![n],
                    None => sys::list_dir(dir.fd.as_fd()).map_err(|e| UnpackError::io(shown, e))?,
                };
                tracing::debug!(path = %shown.display(), "applying whiteout");
                self.remove_lower(dir.rel, names)
                    .map_err(|e| UnpackError::io(shown, e))
            }
            WhiteoutMode::Keep => unreachable!("whiteout names are plain entries in Keep mode"),
            WhiteoutMode::Overlay => {
                let dir = self
                    .resolve(parents, true, shown)?
                    .expect("resolve creates missing directories");
                let fd = dir.fd.as_fd();
                match name {
                    Some(n) => {
                        let n = sys::cstr(&n).map_err(|e| UnpackError::io(shown, e))?;
                        sys::remove_tree(fd, &n).map_err(|e| UnpackError::io(shown, e))?;
                        sys::mknod_at(fd, &n, libc::S_IFCHR, libc::makedev(0, 0))
                            .map_err(privilege(shown))?;
                        if self.opts.preserve_ownership {
                            sys::lchown_at(fd, &n, meta.uid, meta.gid)
                                .map_err(|e| UnpackError::io(shown, e))?;
                        }
                    }
                    None => {
                        // An `O_PATH` descriptor cannot carry xattrs; open the directory itself.
                        let real = sys::open_dir(fd, c".", false)
                            .map_err(|e| UnpackError::io(shown, e))?;
                        sys::set_xattr_at(real.as_fd(), None, c"trusted.overlay.opaque", b"y")
                            .map_err(privilege(shown))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Remove `names` in directory `rel` (a physical path below the destination) unless this
    /// layer created them; descend into the directories it spares. Holds no descriptors between
    /// directories, so a wide tree cannot run out of them.
    fn remove_lower(&self, rel: PathBuf, names: Vec<OsString>) -> io::Result<()> {
        let mut work = vec![(rel, names)];
        while let Some((rel, names)) = work.pop() {
            let comps: Vec<OsString> = rel.iter().map(|c| c.to_os_string()).collect();
            let dir = resolve::walk_physical(self.root.as_fd(), &comps)?;
            for n in names {
                let child_rel = rel.join(&n);
                let c = sys::cstr(&n)?;
                if !self.layer_paths.contains(&child_rel) {
                    sys::remove_tree(dir.as_fd(), &c)?;
                    continue;
                }
                match sys::lstat_at(dir.as_fd(), &c)? {
                    Some(st) if sys::is_type(&st, libc::S_IFDIR) => {
                        let sub = sys::open_dir(dir.as_fd(), &c, true)?;
                        work.push((child_rel, sys::list_dir(sub.as_fd())?));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}
