//! The host's devices, for `--privileged` containers.

use std::path::Path;

/// One of the host's device nodes, as a privileged container gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Path under `/dev` (`null`, `net/tun`).
    pub path: String,
    /// `c` (character) or `b` (block).
    pub kind: char,
    /// Permission bits.
    pub mode: u32,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The host's character and block devices under `/dev` (recursively), as runc lists them for
/// `--privileged`: the `pts`, `shm`, `mqueue` and `fd` trees, `console` and `ptmx` are left
/// out (the container has its own), symlinks are not followed. Unreadable entries are skipped.
pub fn host_devices() -> Vec<HostDevice> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    const SKIPPED: &[&str] = &["pts", "shm", "mqueue", "fd", "console", "ptmx", ".udev"];
    let mut found = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(Path::new("/dev").join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && SKIPPED.contains(&name.as_str()) {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_char_device() || kind.is_block_device() {
                let rdev = meta.rdev();
                found.push(HostDevice {
                    path,
                    kind: if kind.is_block_device() { 'b' } else { 'c' },
                    mode: meta.mode() & 0o7777,
                    major: libc::major(rdev),
                    minor: libc::minor(rdev),
                    uid: meta.uid(),
                    gid: meta.gid(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}
