//! Reproducible layer tarballs.
//!
//! A [`LayerBuilder`] collects entries (from host paths, in memory, or an overlayfs upper
//! directory via [`diff_upper`]) keyed by their path in the image, then [`LayerBuilder::finish`]
//! writes them (`write.rs`) sorted by path with normalised headers: ustar, with a PAX record
//! only for what ustar cannot hold (long names and link targets, `security.capability`);
//! empty user and group names; mtimes clamped to `SOURCE_DATE_EPOCH` when one is given; no
//! other xattrs, atime or ctime. The same inputs always give byte-identical tar and gzip
//! streams, hence the same `diff_id` and digest.
//!
//! Parent directories a destination needs but nobody added are created with mode 0755 and
//! mtime `SOURCE_DATE_EPOCH` (or [`LayerBuilder::with_parent_mtime`], 0 by default), owned by [`LayerBuilder::with_parent_owner`] (root by
//! default). Following BuildKit, a COPY with `--chown` creates missing parents owned by that
//! user, so the caller passes the `--chown` ids there. A parent that exists in the image below
//! should be added explicitly with its current metadata ([`LayerBuilder::add_dir`]), or the
//! layer would reset it.
//!
//! This module calls only the file system (`libc` for xattrs and device numbers).

mod upper;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ignore::pattern::clean;

pub use upper::diff_upper;
pub use write::LayerInfo;

/// The only extended attribute carried into layers: file capabilities (`setcap`). Others
/// (SELinux labels, overlay bookkeeping, user attributes) depend on the host, as in BuildKit.
pub const CAPABILITY_XATTR: &str = "security.capability";

/// Ownership and permission overrides for entries taken from the host (`--chown`,
/// `--chmod`). `None` keeps the source's value: a COPY from the build context passes
/// `Some(0)` ids (Docker copies as root), a COPY `--from` another stage keeps owners.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Attrs {
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Permission bits (`--chmod`), applied to files and directories but not symlinks.
    pub mode: Option<u32>,
}

/// Metadata of one layer entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits, including setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time in seconds (clamped to `SOURCE_DATE_EPOCH` when written).
    pub mtime: i64,
    /// Extended attributes to record (only [`CAPABILITY_XATTR`] is ever read from the host).
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    /// Mode `mode`, owned by root, mtime 0.
    pub fn new(mode: u32) -> Meta {
        Meta {
            mode,
            ..Meta::default()
        }
    }

    /// Set the owner and group.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Meta {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Set the modification time.
    pub fn with_mtime(mut self, mtime: i64) -> Meta {
        self.mtime = mtime;
        self
    }
}

/// Where a regular file's bytes come from.
#[derive(Debug, Clone)]
enum Content {
    /// A host file, read when the layer is written; its size must not change meanwhile.
    Host(PathBuf, u64),
    /// Bytes in memory (heredoc COPY, generated files).
    Bytes(Vec<u8>),
}

/// What an entry is.
#[derive(Debug, Clone)]
enum Body {
    Dir {
        opaque: bool,
    },
    File(Content),
    Symlink(String),
    /// A hard link to another path in the image (`/`-less, cleaned).
    Hardlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
    /// An OCI whiteout file (`.wh.NAME`): deletes `NAME` from the layers below.
    Whiteout,
}

#[derive(Debug, Clone)]
struct Node {
    body: Body,
    meta: Meta,
}

/// Collects the entries of one layer. See the module documentation for the rules.
///
/// ```no_run
/// use berth_build::layer::{Attrs, LayerBuilder, Meta};
/// let mut layer = LayerBuilder::new().with_source_date_epoch(Some(1_700_000_000));
/// let root = Attrs { uid: Some(0), gid: Some(0), mode: None };
/// layer.add_host_path("/app/main.py", "ctx/main.py".as_ref(), &root)?;
/// layer.add_file("/app/hello.txt", b"hello\n".to_vec(), Meta::new(0o644))?;
/// let info = layer.finish("/var/lib/berth/tmp/layer1".as_ref())?;
/// println!("{} {} {}", info.diff_id, info.digest, info.size);
/// # Ok::<(), berth_build::error::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct LayerBuilder {
    /// Entries by path (relative, no leading `/`): byte order is the tar order.
    nodes: BTreeMap<String, Node>,
    epoch: Option<i64>,
    parent_owner: (u32, u32),
    /// mtime of implicit parents when there is no epoch (0 unless set).
    parent_mtime: i64,
    /// Host files with several links already added, by (device, inode, overrides): later
    /// names become hard links to the first, as BuildKit's copy preserves them.
    seen_inodes: HashMap<(u64, u64, Attrs), String>,
}

impl LayerBuilder {
    /// An empty layer.
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    /// Clamp every mtime to `epoch` (`SOURCE_DATE_EPOCH`), and give implicit parent
    /// directories that mtime; `None` keeps source mtimes (implicit parents get 0).
    pub fn with_source_date_epoch(mut self, epoch: Option<i64>) -> LayerBuilder {
        self.epoch = epoch;
        self
    }

    /// mtime of parent directories created implicitly when there is no `SOURCE_DATE_EPOCH`
    /// (default 0; builds pass the build time, as BuildKit stamps them).
    pub fn with_parent_mtime(mut self, mtime: i64) -> LayerBuilder {
        self.parent_mtime = mtime;
        self
    }

    /// Owner of parent directories created implicitly (default root, 0:0).
    pub fn with_parent_owner(mut self, uid: u32, gid: u32) -> LayerBuilder {
        self.parent_owner = (uid, gid);
        self
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Drop `path` if it is only a mount point a container left: an empty regular file, or a
    /// directory with nothing below it in this layer. Returns whether it was dropped.
    pub fn drop_mount_point(&mut self, path: &str) -> bool {
        let Ok(path) = image_path(path) else {
            return false;
        };
        let removable = match self.nodes.get(&path).map(|n| &n.body) {
            Some(Body::File(Content::Host(_, 0))) => true,
            Some(Body::File(Content::Bytes(b))) => b.is_empty(),
            Some(Body::Dir { opaque: false }) => {
                let prefix = format!("{path}/");
                !self.nodes.keys().any(|k| k.starts_with(&prefix))
            }
            _ => false,
        };
        if removable {
            self.nodes.remove(&path);
        }
        removable
    }

    /// The paths added so far (relative, no leading `/`), in tar order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// Add the host object at `host` (never following a final symlink) as `dest`: a file,
    /// directory (the directory alone, not its contents), symlink, fifo or device node;
    /// sockets are skipped. `attrs` overrides ownership and mode. A file with several links
    /// that was already added (with the same `attrs`) becomes a hard link to its first name.
    pub fn add_host_path(&mut self, dest: &str, host: &Path, attrs: &Attrs) -> Result<()> {
        let io = |source| Error::Io {
            path: host.to_path_buf(),
            source,
        };
        let st = fs::symlink_metadata(host).map_err(io)?;
        let ft = st.file_type();
        let mut meta = Meta {
            mode: attrs.mode.unwrap_or(st.mode() & 0o7777),
            uid: attrs.uid.unwrap_or(st.uid()),
            gid: attrs.gid.unwrap_or(st.gid()),
            mtime: st.mtime(),
            xattrs: Vec::new(),
        };
        let body = if ft.is_file() {
            let key = (st.dev(), st.ino(), *attrs);
            if st.nlink() > 1 {
                if let Some(first) = self.seen_inodes.get(&key) {
                    let first = first.clone();
                    return self.add_hardlink(dest, &first);
                }
                self.seen_inodes.insert(key, image_path(dest)?);
            }
            meta.xattrs = read_capability(host).map_err(io)?;
            Body::File(Content::Host(host.to_path_buf(), st.len()))
        } else if ft.is_dir() {
            Body::Dir { opaque: false }
        } else if ft.is_symlink() {
            let target = fs::read_link(host).map_err(io)?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|_| Error::NonUtf8Path {
                    path: host.to_path_buf(),
                })?;
            meta.mode = 0o777;
            Body::Symlink(target)
        } else if ft.is_fifo() {
            Body::Fifo
        } else if ft.is_char_device() {
            Body::Char(major(st.rdev()), minor(st.rdev()))
        } else if ft.is_block_device() {
            Body::Block(major(st.rdev()), minor(st.rdev()))
        } else {
            return Ok(());
        };
        self.insert(dest, body, meta)
    }

    /// Add a regular file with the given bytes (heredoc COPY).
    pub fn add_file(&mut self, dest: &str, data: Vec<u8>, meta: Meta) -> Result<()> {
        self.insert(dest, Body::File(Content::Bytes(data)), meta)
    }

    /// Add (or re-state the metadata of) a directory.
    pub fn add_dir(&mut self, dest: &str, meta: Meta) -> Result<()> {
        self.insert(dest, Body::Dir { opaque: false }, meta)
    }

    /// Add a symlink to `target` (stored as written; its mode is always 0777).
    pub fn add_symlink(&mut self, dest: &str, target: &str, meta: Meta) -> Result<()> {
        let meta = Meta {
            mode: 0o777,
            ..meta
        };
        self.insert(dest, Body::Symlink(target.to_string()), meta)
    }

    /// Add a hard link `dest` to `target`, a path in the image. When `target` is in this
    /// layer, the pair shares its metadata and whichever path sorts first carries the data;
    /// otherwise the link refers to a lower layer's file.
    pub fn add_hardlink(&mut self, dest: &str, target: &str) -> Result<()> {
        let target = image_path(target)?;
        self.insert(dest, Body::Hardlink(target), Meta::new(0o644))
    }

    /// Delete `path` from the layers below: a `.wh.NAME` entry (mode 0600, root, mtime 0).
    pub fn add_whiteout(&mut self, path: &str) -> Result<()> {
        let whiteout = whiteout_path(&image_path(path)?);
        self.insert(&whiteout, Body::Whiteout, Meta::new(0o600))
    }

    /// Mark directory `dir` (added already, or added now with `meta`) opaque: the layers
    /// below contribute nothing inside it. Written as the directory followed by
    /// `DIR/.wh..wh..opq`.
    pub fn set_opaque(&mut self, dir: &str, meta: Meta) -> Result<()> {
        let key = image_path(dir)?;
        match self.nodes.get_mut(&key) {
            Some(Node {
                body: Body::Dir { opaque },
                ..
            }) => *opaque = true,
            _ => self.insert(dir, Body::Dir { opaque: true }, meta)?,
        }
        Ok(())
    }

    /// Put `body` at `dest`, replacing what was there (and, for a directory replaced by
    /// something else, everything below it), creating missing parents.
    fn insert(&mut self, dest: &str, body: Body, meta: Meta) -> Result<()> {
        let key = image_path(dest)?;
        if key.is_empty() {
            return match body {
                // The image root keeps its metadata from the base: nothing to record.
                Body::Dir { .. } => Ok(()),
                _ => Err(Error::LayerPath {
                    path: dest.to_string(),
                    reason: "the image root",
                }),
            };
        }
        self.make_parents(&key, dest)?;
        let is_dir = matches!(body, Body::Dir { .. });
        if !is_dir
            && matches!(
                self.nodes.get(&key),
                Some(Node {
                    body: Body::Dir { .. },
                    ..
                })
            )
        {
            let prefix = format!("{key}/");
            self.nodes.retain(|k, _| !k.starts_with(&prefix));
        }
        let body = match (body, self.nodes.get(&key)) {
            // Re-adding a directory keeps its opaque mark.
            (
                Body::Dir { opaque },
                Some(Node {
                    body: Body::Dir { opaque: was },
                    ..
                }),
            ) => Body::Dir {
                opaque: opaque || *was,
            },
            (body, _) => body,
        };
        self.nodes.insert(key, Node { body, meta });
        Ok(())
    }

    /// Create the missing parents of `key` (see the module documentation).
    fn make_parents(&mut self, key: &str, shown: &str) -> Result<()> {
        let mut end = 0;
        while let Some(slash) = key[end..].find('/') {
            let parent = &key[..end + slash];
            end += slash + 1;
            match self.nodes.get(parent) {
                Some(Node {
                    body: Body::Dir { .. },
                    ..
                }) => {}
                Some(_) => {
                    return Err(Error::LayerPath {
                        path: shown.to_string(),
                        reason: "a parent is not a directory in this layer",
                    });
                }
                None => {
                    let meta = Meta::new(0o755)
                        .with_owner(self.parent_owner.0, self.parent_owner.1)
                        .with_mtime(self.epoch.unwrap_or(self.parent_mtime));
                    let node = Node {
                        body: Body::Dir { opaque: false },
                        meta,
                    };
                    self.nodes.insert(parent.to_string(), node);
                }
            }
        }
        Ok(())
    }
}

/// A destination as a layer path: cleaned as if absolute (so `..` stops at `/`), without the
/// leading `/`; empty for the root.
fn image_path(dest: &str) -> Result<String> {
    if dest.is_empty() || dest.contains('\0') {
        return Err(Error::LayerPath {
            path: dest.to_string(),
            reason: "empty or contains NUL",
        });
    }
    Ok(clean(&format!("/{dest}"))[1..].to_string())
}

/// `dir/.wh.name` for `dir/name`.
fn whiteout_path(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.wh.{name}"),
        None => format!(".wh.{path}"),
    }
}

/// The opaque-directory marker's name.
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// `security.capability` of `path` (not following symlinks), if set.
fn read_capability(path: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    Ok(upper::lgetxattr(path, CAPABILITY_XATTR)?
        .map(|v| vec![(CAPABILITY_XATTR.to_string(), v)])
        .unwrap_or_default())
}

/// Device major number (glibc's `gnu_dev_major` encoding).
fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

/// Device minor number.
fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

#[cfg(test)]
mod tests;
