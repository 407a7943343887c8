//! Small helpers the operations share: random ids, Docker's time format, disk usage.

use std::path::Path;

/// `bytes` random bytes as lower-case hex (container and volume ids).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    assert_eq!(n, bytes as isize, "getrandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `t` as RFC 3339 in UTC with nanoseconds, as Docker writes `created`.
pub fn format_rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    berth_oci::time::rfc3339(d.as_secs() as i64, Some(d.subsec_nanos()))
}

/// Bytes in the regular files under `path` (symlinks not followed); 0 when it is gone.
pub fn disk_usage(path: &Path) -> u64 {
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
    use super::*;

    #[test]
    fn ids_and_sizes() {
        let (a, b) = (random_hex(32), random_hex(32));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"12345").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/g"), b"12").unwrap();
        assert_eq!(disk_usage(dir.path()), 7);
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
        assert!(format_rfc3339(std::time::UNIX_EPOCH).starts_with("1970-01-01T00:00:00"));
    }
}
