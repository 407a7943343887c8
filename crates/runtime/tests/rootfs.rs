//! Layers unpacked once into the shared cache and stacked with overlayfs: later layers win,
//! whiteouts hide lower files, writes go to the container's upper directory only.

use std::io::Write;
use std::path::Path;

use berth_oci::Digest;
use berth_runtime::rootfs::{self, LayerCache};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn layer(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> (Digest, std::path::PathBuf) {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    let bytes = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    let p = dir.join(name);
    std::fs::write(&p, &gz).unwrap();
    (Digest::sha256(&gz), p)
}

#[test]
fn overlay_of_cached_layers() {
    if !is_root() {
        eprintln!("skipping: overlay mounts need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = LayerCache::open(dir.path()).unwrap();
    let (d1, b1) = layer(dir.path(), "l1", &[("etc/a", b"one"), ("etc/gone", b"x")]);
    let (d2, b2) = layer(
        dir.path(),
        "l2",
        &[("etc/a", b"two"), ("etc/.wh.gone", b"")],
    );
    let l1 = cache.ensure(&d1, &b1).unwrap();
    let l2 = cache.ensure(&d2, &b2).unwrap();
    assert_eq!(
        cache.ensure(&d1, &b1).unwrap(),
        l1,
        "a cached layer is reused"
    );
    let id = format!("test{}", std::process::id());
    let fs = rootfs::mount(dir.path(), &id, &[l1.clone(), l2]).unwrap();
    let result = std::panic::catch_unwind(|| {
        assert_eq!(
            std::fs::read(fs.merged.join("etc/a")).unwrap(),
            b"two",
            "upper layers win"
        );
        assert!(
            !fs.merged.join("etc/gone").exists(),
            "whiteout hides the lower file"
        );
        std::fs::write(fs.merged.join("etc/new"), b"written").unwrap();
        assert!(
            fs.dir.join("upper/etc/new").exists(),
            "writes land in the container's upper dir"
        );
        assert!(!l1.join("etc/new").exists(), "shared layers stay untouched");
    });
    rootfs::remove(&fs.dir).unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "no mount left behind");
    assert!(!fs.dir.exists());
    result.unwrap();
}

#[test]
fn a_hundred_layers_mount() {
    if !is_root() {
        eprintln!("skipping: overlay mounts need root");
        return;
    }
    // 100 layers with long paths: far more option text than mount(2) takes in one page.
    let dir = tempfile::tempdir().unwrap();
    let deep = dir
        .path()
        .join("a-directory-name-that-makes-every-layer-path-long-enough");
    let cache = LayerCache::open(&deep).unwrap();
    let mut dirs = Vec::new();
    for i in 0..100 {
        let name = format!("l{i}");
        let file = format!("f{i}");
        let (d, b) = layer(
            dir.path(),
            &name,
            &[(file.as_str(), name.as_bytes()), ("top", name.as_bytes())],
        );
        dirs.push(cache.ensure(&d, &b).unwrap());
    }
    let id = format!("many{}", std::process::id());
    let fs = rootfs::mount(&deep, &id, &dirs).unwrap();
    let (first, top) = (
        std::fs::read_to_string(fs.merged.join("f0")),
        std::fs::read_to_string(fs.merged.join("top")),
    );
    rootfs::remove(&fs.dir).unwrap();
    assert_eq!(first.unwrap(), "l0", "the bottom layer is there");
    assert_eq!(top.unwrap(), "l99", "the last layer wins");
}
