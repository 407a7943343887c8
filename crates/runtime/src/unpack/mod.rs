//! Safe unpacking of image layers (tar streams, optionally gzip-compressed) into a directory.
//! Layer archives are untrusted, so:
//!
//! - an entry name is made relative (a leading `/` is dropped, as docker does); a `..` that
//!   climbs above the destination is an error (`path.rs`);
//! - parent directories are reached one component at a time with `O_NOFOLLOW` (`resolve.rs`):
//!   a symlink on the way — from this layer or an earlier one — is interpreted inside the
//!   destination as if it were `/`, never outside it;
//! - the final component is never followed: whatever is in the way is removed, then the new
//!   entry is created with `O_CREAT | O_EXCL | O_NOFOLLOW`, `mkdirat`, `symlinkat`, … (`entry.rs`);
//! - hard-link targets follow the entry-path rules and must already exist below the destination;
//! - file contents are streamed, never held in memory.
//!
//! Whiteouts are applied as [`WhiteoutMode`] says (`whiteout.rs`). Directory modes and mtimes
//! are set in a second pass once the whole layer is in place. Only gzip and uncompressed layers
//! are read: no zstd crate is in the workspace, so a zstd (or xz) layer is a clear error.
//!
//! This module calls only the OS (through `libc`) and the `tar`/`flate2` readers.

mod entry;
mod error;
mod path;
mod resolve;
mod sys;
mod whiteout;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use error::{Result, UnpackError};

use entry::{Kind, Meta, Time};
use resolve::{Dir, ResolveError};

/// What unpacking did (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries created: files, directories, links, device nodes, fifos.
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    /// Whiteouts and opaque markers applied.
    pub whiteouts: u64,
    /// Entries deliberately not created: device nodes without the privilege to make them,
    /// and aufs metadata (`.wh..wh.*`).
    pub skipped: u64,
}

/// How whiteout entries are applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Apply whiteouts by deleting from `dest` (one directory holding all layers flattened).
    #[default]
    Flatten,
    /// Keep whiteouts as overlayfs expects in a per-layer directory: `.wh.NAME` becomes a 0/0
    /// character device `NAME`, and `.wh..wh..opq` gives its directory the xattr
    /// `trusted.overlay.opaque=y`. These need privilege (CAP_SYS_ADMIN for the xattr, CAP_MKNOD
    /// for the device before Linux 5.8); without it, unpacking fails with
    /// [`UnpackError::OverlayPrivilege`] rather than falling back to flattening.
    Overlay,
    /// Whiteout names are ordinary entries: for copying files (`berth cp`), not applying layers.
    Keep,
}

/// How to unpack a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackOptions {
    /// How whiteouts are applied.
    pub whiteouts: WhiteoutMode,
    /// Give entries the owner recorded in the archive (needs root). A failing chown is an error.
    pub preserve_ownership: bool,
    /// Refuse (with [`UnpackError::KindConflict`]) to replace an existing directory with a
    /// non-directory or the reverse, instead of removing what is in the way (as `docker cp`
    /// refuses; layers replace).
    pub keep_kinds: bool,
}

impl Default for UnpackOptions {
    /// Flatten whiteouts; preserve ownership when running as root.
    fn default() -> Self {
        UnpackOptions {
            whiteouts: WhiteoutMode::Flatten,
            // SAFETY: geteuid cannot fail and touches no memory.
            preserve_ownership: unsafe { libc::geteuid() } == 0,
            keep_kinds: false,
        }
    }
}

impl UnpackOptions {
    /// Set how whiteouts are applied.
    pub fn with_whiteouts(mut self, mode: WhiteoutMode) -> Self {
        self.whiteouts = mode;
        self
    }

    /// Set whether replacing a directory with a non-directory (or the reverse) is an error.
    pub fn with_keep_kinds(mut self, keep: bool) -> Self {
        self.keep_kinds = keep;
        self
    }

    /// Set whether archive ownership is applied.
    pub fn with_preserve_ownership(mut self, preserve: bool) -> Self {
        self.preserve_ownership = preserve;
        self
    }
}

/// Unpack one layer (a tar stream, possibly gzip — detected by the magic bytes `1f 8b`) into
/// `dest` (created if missing), applying OCI whiteouts as `opts.whiteouts` says. Nothing
/// outside `dest` is ever written, whatever the archive holds. On error, `dest` may hold part
/// of the layer. The stream is read to its end, so a caller hashing it sees every byte.
///
/// ```no_run
/// use berth_runtime::unpack::{UnpackOptions, unpack_layer};
/// let layer = std::fs::File::open("layer.tar.gz")?;
/// let stats = unpack_layer(layer, "/var/lib/berth/rootfs".as_ref(), &UnpackOptions::default())?;
/// println!("{} entries, {} bytes", stats.entries, stats.bytes);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[tracing::instrument(level = "debug", skip_all, fields(dest = %dest.display(), mode = ?opts.whiteouts))]
pub fn unpack_layer(reader: impl Read, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let stream = decompress(reader)?;
    std::fs::create_dir_all(dest).map_err(|e| UnpackError::io(dest, e))?;
    let root = File::open(dest).map_err(|e| UnpackError::io(dest, e))?;
    let mut unpacker = Unpacker {
        root,
        opts,
        stats: UnpackStats::default(),
        layer_paths: HashSet::new(),
        dirs: HashMap::new(),
        buf: vec![0; 128 * 1024],
    };
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        unpacker.entry(&mut entry)?;
    }
    // Reading past the tar end-of-archive blocks checks the gzip trailer (CRC and length).
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(UnpackError::Read)?;
    unpacker.finish()?;
    tracing::debug!(stats = ?unpacker.stats, "layer unpacked");
    Ok(unpacker.stats)
}

/// Wrap `reader` in the decompressor its first bytes call for.
fn decompress<'r>(mut reader: impl Read + 'r) -> Result<Box<dyn Read + 'r>> {
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match reader.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::Read(e)),
        }
    }
    let head = &magic[..n];
    let stream = io::Cursor::new(head.to_vec()).chain(reader);
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(stream)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(UnpackError::UnsupportedCompression("zstd"))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Err(UnpackError::UnsupportedCompression("xz"))
    } else {
        Ok(Box::new(stream))
    }
}

/// One layer being unpacked.
struct Unpacker<'o> {
    /// The destination, opened once; every path is resolved below this descriptor.
    root: File,
    opts: &'o UnpackOptions,
    stats: UnpackStats,
    /// Physical paths (relative to the destination) this layer created or wrote below, with
    /// all their ancestors: what this layer's whiteouts must spare.
    layer_paths: HashSet<PathBuf>,
    /// Mode and mtime of each directory entry, applied by [`Unpacker::finish`].
    dirs: HashMap<PathBuf, (u32, Time)>,
    /// The copy buffer for file contents, reused by every file.
    buf: Vec<u8>,
}

impl Unpacker<'_> {
    /// Remember that this layer put something at `rel` (and so below each ancestor).
    fn note(&mut self, rel: &Path) {
        for a in rel.ancestors() {
            if a.as_os_str().is_empty() || !self.layer_paths.insert(a.to_path_buf()) {
                break;
            }
        }
    }

    /// [`resolve::resolve_dir`] below the destination, noting directories it creates.
    fn resolve(&mut self, comps: &[OsString], create: bool, shown: &Path) -> Result<Option<Dir>> {
        let mut created = Vec::new();
        let dir = resolve::resolve_dir(self.root.as_fd(), comps, create, &mut created);
        for c in &created {
            self.note(c);
        }
        dir.map_err(|e| match e {
            ResolveError::Loop => UnpackError::SymlinkLoop { path: shown.into() },
            ResolveError::NotADirectory => UnpackError::NotADirectory { path: shown.into() },
            ResolveError::Io(e) => UnpackError::io(shown, e),
        })
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let shown = PathBuf::from(OsString::from_vec(raw.clone()));
        let Some(kind) = Kind::of(entry, &shown)? else {
            return Ok(());
        };
        let comps = path::normalise(&raw).ok_or_else(|| UnpackError::Escape {
            path: shown.clone(),
        })?;
        let meta = Meta::read(entry, &shown)?;
        let Some((last, parents)) = comps.split_last() else {
            // The destination itself, usually `./`.
            return match kind {
                Kind::Dir => {
                    self.root_dir(&meta, &shown)?;
                    self.stats.entries += 1;
                    Ok(())
                }
                _ => Err(UnpackError::InvalidPath { path: shown }),
            };
        };

        let last_bytes = last.as_bytes();
        let whiteouts = self.opts.whiteouts != WhiteoutMode::Keep;
        if whiteouts
            && comps[0].as_bytes().starts_with(whiteout::META_PREFIX)
            && last_bytes != whiteout::OPAQUE
        {
            tracing::debug!(path = %shown.display(), "skipping aufs metadata");
            self.stats.skipped += 1;
            return Ok(());
        }
        if whiteouts && last_bytes == whiteout::OPAQUE {
            return self.whiteout(parents, None, &meta, &shown);
        }
        if whiteouts && let Some(name) = last_bytes.strip_prefix(whiteout::PREFIX) {
            return self.whiteout(parents, Some(name), &meta, &shown);
        }

        let dir = self
            .resolve(parents, true, &shown)?
            .expect("resolve creates missing directories");
        let rel = dir.rel.join(last);
        self.note(&rel);
        let name = sys::cstr(last).map_err(|e| UnpackError::io(&shown, e))?;
        let created = match kind {
            Kind::Dir => self
                .directory(&dir, &name, rel, &meta, &shown)
                .map(|()| true),
            Kind::File => self
                .regular(entry, &dir, &name, &meta, &shown)
                .map(|()| true),
            Kind::Symlink(target) => self
                .symlink(&target, &dir, &name, &meta, &shown)
                .map(|()| true),
            Kind::HardLink(target) => self.hard_link(&target, &dir, &name, &shown).map(|()| true),
            Kind::Node(k, major, minor) => self.node((k, major, minor), &dir, &name, &meta, &shown),
        }?;
        if created {
            self.stats.entries += 1;
        } else {
            self.stats.skipped += 1;
        }
        Ok(())
    }

    /// Second pass: directory modes and mtimes, now that nothing more is created inside them.
    /// A directory a later entry replaced (or put behind a symlink) is left alone.
    fn finish(&mut self) -> Result<()> {
        for (rel, (mode, (sec, nsec))) in &self.dirs {
            let shown = rel.as_path();
            let io = |e| UnpackError::io(shown, e);
            let Some(name) = rel.file_name() else {
                let perms = std::fs::Permissions::from_mode(*mode);
                self.root.set_permissions(perms).map_err(io)?;
                sys::set_times_at(self.root.as_fd(), None, *sec, *nsec).map_err(io)?;
                continue;
            };
            let parents: Vec<OsString> = rel
                .parent()
                .into_iter()
                .flat_map(|p| p.iter())
                .map(|c| c.to_os_string())
                .collect();
            let Ok(parent) = resolve::walk_physical(self.root.as_fd(), &parents) else {
                continue;
            };
            let name = sys::cstr(name).map_err(io)?;
            match sys::lstat_at(parent.as_fd(), &name).map_err(io)? {
                Some(st) if sys::is_type(&st, libc::S_IFDIR) => {
                    sys::chmod_at(parent.as_fd(), &name, *mode).map_err(io)?;
                    sys::set_times_at(parent.as_fd(), Some(&name), *sec, *nsec).map_err(io)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod cp_mode_tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, name, io::empty()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn keep_mode_treats_whiteouts_as_files_and_keep_kinds_refuses_replacing() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("d/sub")).unwrap();
        std::fs::write(t.path().join("d/sub/f"), "x").unwrap();
        std::fs::write(t.path().join("file"), "x").unwrap();
        let opts = UnpackOptions::default()
            .with_whiteouts(WhiteoutMode::Keep)
            .with_keep_kinds(true);
        let wh = tar_of(&[
            ("d/.wh.sub", tar::EntryType::Regular),
            ("d/.wh..wh..opq", tar::EntryType::Regular),
        ]);
        unpack_layer(&wh[..], t.path(), &opts).unwrap();
        assert!(t.path().join("d/sub/f").is_file());
        assert!(t.path().join("d/.wh.sub").is_file());
        let over_dir = tar_of(&[("d/sub", tar::EntryType::Regular)]);
        let e = unpack_layer(&over_dir[..], t.path(), &opts).unwrap_err();
        assert!(matches!(e, UnpackError::KindConflict { .. }), "{e}");
        let over_file = tar_of(&[("file", tar::EntryType::Directory)]);
        let e = unpack_layer(&over_file[..], t.path(), &opts).unwrap_err();
        assert!(matches!(e, UnpackError::KindConflict { .. }), "{e}");
        assert!(t.path().join("d/sub/f").is_file() && t.path().join("file").is_file());
        // Without keep_kinds, layers replace what is in the way as before.
        let layer = UnpackOptions::default().with_whiteouts(WhiteoutMode::Keep);
        unpack_layer(&over_dir[..], t.path(), &layer).unwrap();
        assert!(t.path().join("d/sub").is_file());
    }
}
