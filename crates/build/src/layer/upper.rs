//! The layer of a RUN step, read from the overlayfs upper directory it wrote into.
//!
//! overlayfs records changes in the upper directory as: new or copied-up objects (kept as
//! they are), deletions as 0:0 character devices (written as `.wh.NAME`), and directories
//! that replace a lower one whole with the xattr `trusted.overlay.opaque=y` (written as the
//! directory plus `DIR/.wh..wh..opq`). The overlay must be mounted without `metacopy=on`
//! (metadata-only copy-ups have no data in the upper directory) and without
//! `redirect_dir=on` (renamed directories would be recorded as redirects, not copies).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{
    Body, Content, LayerBuilder, Meta, Node, major, minor, read_capability, whiteout_path,
};
use crate::error::{Error, Result};

/// The xattr overlayfs sets on an opaque directory (value `y`).
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Build the layer for the changes recorded in the overlayfs upper directory `upper`, with
/// mtimes clamped to `epoch` (`SOURCE_DATE_EPOCH`) when given. Ownership, modes, mtimes and
/// `security.capability` are kept; files sharing an inode become hard links; fifos and device
/// nodes are kept; sockets are skipped. The upper directory itself is not an entry. It must
/// not change until [`LayerBuilder::finish`] has run (file data is read then).
pub fn diff_upper(upper: &Path, epoch: Option<i64>) -> Result<LayerBuilder> {
    let mut builder = LayerBuilder::new().with_source_date_epoch(epoch);
    let mut inodes = HashMap::new();
    walk(upper, "", &mut builder, &mut inodes)?;
    Ok(builder)
}

/// Record everything below `dir` (layer path `rel`).
fn walk(
    dir: &Path,
    rel: &str,
    builder: &mut LayerBuilder,
    inodes: &mut HashMap<(u64, u64), String>,
) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for item in fs::read_dir(dir).map_err(io)? {
        let name = item.map_err(io)?.file_name();
        names.push(
            name.into_string()
                .map_err(|n| Error::NonUtf8Path { path: dir.join(n) })?,
        );
    }
    names.sort();
    for name in names {
        let host = dir.join(&name);
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let io = |source| Error::Io {
            path: host.clone(),
            source,
        };
        let st = fs::symlink_metadata(&host).map_err(io)?;
        let ft = st.file_type();
        let meta = Meta {
            mode: st.mode() & 0o7777,
            uid: st.uid(),
            gid: st.gid(),
            mtime: st.mtime(),
            xattrs: Vec::new(),
        };
        let body = if ft.is_char_device() && st.rdev() == 0 {
            let meta = Meta {
                mode: 0o600,
                ..meta
            };
            builder.nodes.insert(
                whiteout_path(&path),
                Node {
                    body: Body::Whiteout,
                    meta,
                },
            );
            continue;
        } else if ft.is_dir() {
            let opaque = lgetxattr(&host, OPAQUE_XATTR).map_err(io)?.as_deref() == Some(b"y");
            builder.nodes.insert(
                path.clone(),
                Node {
                    body: Body::Dir { opaque },
                    meta,
                },
            );
            walk(&host, &path, builder, inodes)?;
            continue;
        } else if ft.is_file() {
            if st.nlink() > 1 {
                let key = (st.dev(), st.ino());
                if let Some(first) = inodes.get(&key) {
                    let body = Body::Hardlink(first.clone());
                    builder.nodes.insert(path, Node { body, meta });
                    continue;
                }
                inodes.insert(key, path.clone());
            }
            let meta = Meta {
                xattrs: read_capability(&host).map_err(io)?,
                ..meta
            };
            builder.nodes.insert(
                path,
                Node {
                    body: Body::File(Content::Host(host, st.len())),
                    meta,
                },
            );
            continue;
        } else if ft.is_symlink() {
            let target = fs::read_link(&host).map_err(io)?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|_| Error::NonUtf8Path { path: host.clone() })?;
            Body::Symlink(target)
        } else if ft.is_fifo() {
            Body::Fifo
        } else if ft.is_char_device() {
            Body::Char(major(st.rdev()), minor(st.rdev()))
        } else if ft.is_block_device() {
            Body::Block(major(st.rdev()), minor(st.rdev()))
        } else {
            continue; // sockets belong to the process that made them
        };
        builder.nodes.insert(path, Node { body, meta });
    }
    Ok(())
}

/// The value of xattr `name` on `path` (not following symlinks); `None` when unset or when
/// the file system has no xattrs.
pub(super) fn lgetxattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let cpath = CString::new(path.as_os_str().as_bytes())?;
    let cname = CString::new(name)?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: both strings are NUL-terminated and `buf` is valid for `buf.len()` bytes.
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 64 * 1024 => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}
