//! A read-only look at a stage's file system without mounting it: the unpacked layers (the
//! runtime's layer cache, overlay whiteout format) searched from the top.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use berth_runtime::rootfs::LayerCache;
use berth_store::Store;

use super::image::Layer;
use crate::error::{Error, Result};

/// The unpacked layers of an image, bottom first.
pub(crate) struct View {
    pub(crate) dirs: Vec<PathBuf>,
}

fn runtime_error(e: impl std::fmt::Display) -> Error {
    Error::Store {
        message: e.to_string(),
    }
}

impl View {
    /// Unpack (once, shared with containers) every layer of `layers`.
    pub(crate) async fn open(store: &Store, root: &Path, layers: &[Layer]) -> Result<View> {
        let cache = LayerCache::open(root).map_err(runtime_error)?;
        let mut dirs = Vec::with_capacity(layers.len());
        for l in layers {
            let (cache, digest, blob) = (
                cache.clone(),
                l.digest.clone(),
                store.blobs().path(&l.digest),
            );
            let dir = tokio::task::spawn_blocking(move || cache.ensure(&digest, &blob))
                .await
                .map_err(runtime_error)?
                .map_err(runtime_error)?;
            dirs.push(dir);
        }
        Ok(View { dirs })
    }

    /// The metadata of `path` (absolute in the image) as the merged file system shows it, not
    /// following a final symlink; `None` when it does not exist or was deleted.
    pub(crate) fn stat(&self, path: &str) -> Option<std::fs::Metadata> {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            return self
                .dirs
                .last()
                .and_then(|d| std::fs::symlink_metadata(d).ok());
        }
        for dir in self.dirs.iter().rev() {
            if let Ok(meta) = std::fs::symlink_metadata(dir.join(rel)) {
                if meta.file_type().is_char_device() && meta.rdev() == 0 {
                    return None; // an overlay whiteout
                }
                return Some(meta);
            }
        }
        None
    }

    /// Whether `path` is a directory in the image (following symlinks inside the image is
    /// not attempted: a symlinked directory counts as not one).
    pub(crate) fn is_dir(&self, path: &str) -> bool {
        self.stat(path).is_some_and(|m| m.is_dir())
    }

    /// `path` (absolute, clean) with the symlinks on the way — the last component's too —
    /// followed inside the image, as BuildKit's scoped resolution does: an absolute target
    /// starts again at the image's root and `..` stops there. Missing components are kept as
    /// written; links that loop are left as they are after 40 steps.
    pub(crate) fn resolve(&self, path: &str) -> String {
        let split = |p: &str| -> Vec<String> {
            p.split('/')
                .filter(|c| !c.is_empty())
                .rev()
                .map(str::to_string)
                .collect()
        };
        let mut pending = split(path);
        let mut current: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => current.push(part),
            }
            if links >= 40 {
                continue;
            }
            let here = format!("/{}", current.join("/"));
            let Some(target) = self.read_link(&here) else {
                continue;
            };
            links += 1;
            current.pop();
            if target.starts_with('/') {
                current.clear();
            }
            pending.extend(split(&target));
        }
        format!("/{}", current.join("/"))
    }

    /// The target of symlink `path`, if it is one.
    fn read_link(&self, path: &str) -> Option<String> {
        if !self.stat(path)?.file_type().is_symlink() {
            return None;
        }
        let rel = path.trim_start_matches('/');
        self.dirs.iter().rev().find_map(|d| {
            std::fs::read_link(d.join(rel))
                .ok()
                .map(|t| t.to_string_lossy().into_owned())
        })
    }

    /// The contents of file `path`, if it exists.
    pub(crate) fn read(&self, path: &str) -> Option<Vec<u8>> {
        let rel = path.trim_start_matches('/');
        for dir in self.dirs.iter().rev() {
            let p = dir.join(rel);
            if let Ok(meta) = std::fs::symlink_metadata(&p) {
                if !meta.is_file() {
                    return None;
                }
                return std::fs::read(p).ok();
            }
        }
        None
    }

    /// `user[:group]` as ids, names looked up in the image's `/etc/passwd` and `/etc/group`.
    pub(crate) fn resolve_user(&self, user: &str) -> std::result::Result<(u32, u32), String> {
        let text =
            |p: &str| String::from_utf8_lossy(&self.read(p).unwrap_or_default()).into_owned();
        let u = berth_runtime::user::resolve_in(user, &text("/etc/passwd"), &text("/etc/group"))?;
        Ok((u.uid, u.gid))
    }
}
