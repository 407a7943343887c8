//! The build cache: the stage state after a step, under the step's chained key
//! (`<root>/build/cache/v1/<key>.json`, written atomically). A record is only used when every
//! layer it names is still in the store.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use berth_store::Store;
use sha2::{Digest as _, Sha256};

use super::image::ImageState;

/// The cache directory under data root `root`.
pub(crate) fn dir(root: &Path) -> PathBuf {
    berth_store::Layout::new(root).build_cache()
}

/// The key of a step: its parent's key and everything the step depends on.
pub(crate) fn key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    for p in parts {
        h.update(b"\0");
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The state recorded under `key`, if all its layers are still stored.
pub(crate) fn get(root: &Path, store: &Store, key: &str) -> Option<ImageState> {
    let bytes = std::fs::read(dir(root).join(format!("{key}.json"))).ok()?;
    let state: ImageState = serde_json::from_slice(&bytes).ok()?;
    state
        .layers
        .iter()
        .all(|l| store.blobs().size(&l.digest) == Some(l.size))
        .then_some(state)
}

/// Record `state` under `key` (temp file + fsync + rename); failures only cost a rebuild.
pub(crate) fn put(root: &Path, key: &str, state: &ImageState) {
    let dir = dir(root);
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{key}.{}-{seq}.tmp", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(state).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(format!("{key}.json")))
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record a build cache entry");
    }
}

/// Forget the whole build cache under `root`: the step records, `RUN --mount=type=cache`
/// directories and scratch files. Returns the layer blobs the records named (for the caller
/// to delete those no image uses) and the bytes freed here.
pub fn prune(root: &Path) -> (Vec<berth_oci::Digest>, u64) {
    let mut layers = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir(root)) {
        for e in entries.flatten() {
            if let Some(state) = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<ImageState>(&b).ok())
            {
                layers.extend(state.layers.into_iter().map(|l| l.digest));
            }
        }
    }
    layers.sort_by_key(|d| d.to_string());
    layers.dedup();
    let build = berth_store::Layout::new(root).build();
    let mut freed = 0;
    for sub in ["cache", "cache-mounts", "tmp"] {
        let path = build.join(sub);
        freed += disk_usage(&path);
        let _ = std::fs::remove_dir_all(&path);
    }
    (layers, freed)
}

/// Bytes of the regular files under `path` (symlinks not followed).
fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn keys_chain_and_separate_parts() {
        assert_ne!(key("a", &["b", "c"]), key("a", &["bc"]));
        assert_ne!(key("a", &["b"]), key("b", &["b"]));
        assert_eq!(key("a", &["b"]), key("a", &["b"]));
    }
}
