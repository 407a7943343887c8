//! Layer unpacking: ordinary layers, whiteouts, overlay whiteouts, streaming, and hostile
//! archives that try to write outside the destination. Archives are built in memory with raw
//! header bytes, so names the `tar` builder would refuse (`..`, absolute) can be crafted.

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_runtime::unpack::{UnpackError, UnpackOptions, UnpackStats, WhiteoutMode, unpack_layer};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

#[path = "unpack/hostile.rs"]
mod hostile;

const MTIME: u64 = 1_600_000_000;

/// An archive under construction; every name is written as raw bytes.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    /// A GNU long-name (`L`) or long-link (`K`) record carrying `value`.
    fn long(&mut self, kind: EntryType, value: &[u8]) {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(kind);
        h.set_size(value.len() as u64 + 1);
        h.set_mode(0o644);
        h.set_cksum();
        let mut data = value.to_vec();
        data.push(0);
        self.0.append(&h, &data[..]).unwrap();
    }

    fn raw(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        data: &[u8],
    ) -> &mut Layer {
        self.raw_owned(kind, name, link, mode, 0, data)
    }

    fn raw_owned(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        uid: u64,
        data: &[u8],
    ) -> &mut Layer {
        self.raw_full(kind, name, link, mode, uid, (0, 0), data)
    }

    #[allow(clippy::too_many_arguments)]
    fn raw_full(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        uid: u64,
        (major, minor): (u32, u32),
        data: &[u8],
    ) -> &mut Layer {
        if name.len() > 100 {
            self.long(EntryType::GNULongName, name);
        }
        if link.len() > 100 {
            self.long(EntryType::GNULongLink, link);
        }
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(MTIME);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        let old = h.as_old_mut();
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
        let n = link.len().min(100);
        old.linkname[..n].copy_from_slice(&link[..n]);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Layer {
        self.raw(EntryType::Regular, name.as_bytes(), b"", mode, data)
    }
    fn dir(&mut self, name: &str, mode: u32) -> &mut Layer {
        self.raw(EntryType::Directory, name.as_bytes(), b"", mode, b"")
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Layer {
        self.raw(
            EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            0o777,
            b"",
        )
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Layer {
        self.raw(
            EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            0o644,
            b"",
        )
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Layer {
        self.0
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }
    fn tar(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn flatten() -> UnpackOptions {
    // Preserves ownership when root, like the default.
    UnpackOptions::default().with_whiteouts(WhiteoutMode::Flatten)
}

fn unpack(layer: &[u8], dest: &Path) -> Result<UnpackStats, UnpackError> {
    unpack_layer(layer, dest, &flatten())
}

/// Every path below `root` with a one-letter type (d, f, l, c, p), sorted; files show content.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            if ft.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &p, out);
            } else if ft.is_symlink() {
                out.push(format!("{rel} -> {}", fs::read_link(&p).unwrap().display()));
            } else if ft.is_file() {
                out.push(format!(
                    "{rel} = {}",
                    String::from_utf8_lossy(&fs::read(&p).unwrap())
                ));
            } else if ft.is_char_device() {
                out.push(format!("{rel} (char {})", m.rdev()));
            } else {
                out.push(format!("{rel} (other)"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn lgetxattr(path: &Path, key: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let k = CString::new(key).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid strings and buffer.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

fn is_root() -> bool {
    // SAFETY: no memory involved.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn ordinary_gzip_layer() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("rootfs");
    let long = format!("usr/share/{}/file.txt", "d".repeat(120));
    let cap: &[u8] = &[
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut l = Layer::new();
    l.dir("./", 0o755)
        .dir("bin/", 0o750)
        .file("bin/tool", 0o755, b"#!/bin/sh\n")
        .file("bin/su", 0o4755, b"setuid")
        .file("bin/sg", 0o2711, b"setgid")
        .dir("tmp/", 0o1777)
        .file("etc/implicit/parent", 0o600, b"deep") // parents not listed
        .symlink("bin/sh", "tool")
        .symlink("abs", "/bin/tool")
        .hardlink("bin/tool2", "bin/tool")
        .file(&long, 0o644, b"long name");
    l.raw_owned(EntryType::Regular, b"owned", b"", 0o640, 1234, b"mine");
    l.pax(&[
        ("path", b"pax/path/name.txt"),
        ("mtime", b"1700000000.5"),
        ("SCHILY.xattr.user.note", b"hello"),
        ("SCHILY.xattr.security.capability", cap),
        ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
    ]);
    l.file("ignored-by-pax", 0o755, b"pax");
    l.raw_full(EntryType::Char, b"dev/null", b"", 0o666, 0, (1, 3), b"");
    l.raw(EntryType::Fifo, b"run/fifo", b"", 0o620, b"");
    let tar = l.tar();

    let stats = unpack_layer(&gzip(&tar)[..], &dest, &flatten()).unwrap();
    assert_eq!(stats.whiteouts, 0);
    // Without root the device node is skipped (and counted).
    let skipped = u64::from(!is_root());
    assert_eq!(stats.skipped, skipped);
    assert_eq!(stats.entries, 15 - skipped);
    assert_eq!(stats.bytes, (10 + 6 + 6 + 4 + 9 + 4 + 3) as u64);

    let mode = |p: &str| fs::symlink_metadata(dest.join(p)).unwrap().mode() & 0o7777;
    let mtime = |p: &str| fs::symlink_metadata(dest.join(p)).unwrap().mtime();
    assert_eq!(mode("bin"), 0o750);
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("bin/su"), 0o4755);
    assert_eq!(mode("bin/sg"), 0o2711);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("etc/implicit"), 0o755);
    assert_eq!(mode("etc/implicit/parent"), 0o600);
    // Directory mtimes survive the files created inside them.
    for p in [
        "",
        "bin",
        "bin/tool",
        "bin/sh",
        "tmp",
        "etc/implicit/parent",
        "run/fifo",
    ] {
        assert_eq!(mtime(p) as u64, MTIME, "{p}");
    }
    assert_eq!(fs::read(dest.join("bin/tool")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(
        fs::read_link(dest.join("bin/sh")).unwrap(),
        Path::new("tool")
    );
    assert_eq!(
        fs::read_link(dest.join("abs")).unwrap(),
        Path::new("/bin/tool")
    );
    let (a, b) = (
        fs::metadata(dest.join("bin/tool")).unwrap(),
        fs::metadata(dest.join("bin/tool2")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(fs::read(dest.join(&long)).unwrap(), b"long name");

    let pax = dest.join("pax/path/name.txt");
    assert_eq!(fs::read(&pax).unwrap(), b"pax");
    assert!(!dest.join("ignored-by-pax").exists());
    let m = fs::metadata(&pax).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 500_000_000));
    assert_eq!(lgetxattr(&pax, "user.note").as_deref(), Some(&b"hello"[..]));
    assert_eq!(lgetxattr(&pax, "trusted.overlay.redirect"), None);
    if is_root() {
        assert_eq!(lgetxattr(&pax, "security.capability").as_deref(), Some(cap));
        let m = fs::metadata(dest.join("owned")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 1234, 0o640));
        let m = fs::symlink_metadata(dest.join("dev/null")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(mode("dev/null"), 0o666);
        assert_eq!(m.rdev(), libc::makedev(1, 3));
        assert_eq!(mtime("dev/null") as u64, MTIME);
    }
    assert!(
        fs::symlink_metadata(dest.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(mode("run/fifo"), 0o620);
}

#[test]
fn replacing_entries_across_layers() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path();
    let mut l1 = Layer::new();
    l1.dir("keep/", 0o700)
        .file("keep/old", 0o644, b"1")
        .file("f2d", 0o644, b"file");
    l1.dir("d2f/", 0o755)
        .file("d2f/inner", 0o644, b"x")
        .symlink("l2d", "keep");
    unpack(&l1.tar(), dest).unwrap();
    let mut l2 = Layer::new();
    l2.dir("keep/", 0o751)
        .dir("f2d/", 0o755)
        .file("d2f", 0o600, b"now a file");
    l2.dir("l2d/", 0o755)
        .file("l2d/new", 0o644, b"in a real dir");
    unpack(&l2.tar(), dest).unwrap();
    assert_eq!(
        tree(dest),
        [
            "d2f = now a file",
            "f2d/",
            "keep/",
            "keep/old = 1",
            "l2d/",
            "l2d/new = in a real dir"
        ]
    );
    assert_eq!(
        fs::metadata(dest.join("keep")).unwrap().mode() & 0o7777,
        0o751
    );
}

#[test]
fn flattened_whiteouts_and_opaque_dirs() {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path();
    let mut l1 = Layer::new();
    l1.dir("a/", 0o755)
        .file("a/keep", 0o644, b"k")
        .file("a/gone", 0o644, b"g");
    l1.file("a/sub/deep", 0o644, b"d");
    l1.dir("b/", 0o755)
        .file("b/x/y", 0o644, b"y")
        .file("c", 0o644, b"c");
    l1.dir("o/", 0o755)
        .file("o/old", 0o644, b"old")
        .file("o/olddir/oldfile", 0o644, b"old");
    l1.file("o/same", 0o644, b"layer 1")
        .file("o/olddir2/f", 0o644, b"old");
    unpack(&l1.tar(), dest).unwrap();

    let mut l2 = Layer::new();
    l2.file("a/.wh.gone", 0o644, b"")
        .file(".wh.b", 0o644, b"")
        .file("nothere/.wh.ghost", 0o644, b"")
        .file("a/.wh.ghost", 0o644, b"")
        .file("o/before", 0o644, b"before")
        .file("o/olddir/new", 0o644, b"new")
        .file("o/.wh..wh..opq", 0o644, b"")
        .file("o/after", 0o644, b"after")
        .file("o/same", 0o644, b"layer 2")
        .dir("o/olddir2/", 0o755)
        .file("mine", 0o644, b"same layer")
        .file(".wh.mine", 0o644, b"") // whiteouts only hide earlier layers
        .file(".wh..wh.plnk/123.456", 0o644, b"aufs"); // aufs metadata, skipped
    let stats = unpack(&l2.tar(), dest).unwrap();
    assert_eq!(stats.whiteouts, 6);
    assert_eq!(stats.skipped, 1);
    assert_eq!(
        tree(dest),
        [
            "a/",
            "a/keep = k",
            "a/sub/",
            "a/sub/deep = d",
            "c = c",
            "mine = same layer",
            "o/",
            "o/after = after",
            "o/before = before",
            "o/olddir/",
            "o/olddir/new = new",
            "o/olddir2/",
            "o/same = layer 2",
        ]
    );
}

#[test]
fn overlay_whiteouts() {
    if !is_root() {
        eprintln!("skipped: overlay whiteouts need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("layer");
    let mut l = Layer::new();
    l.dir("a/", 0o755)
        .file("a/.wh.x", 0o644, b"")
        .dir("o/", 0o755)
        .file("o/keep", 0o644, b"k")
        .file("o/.wh..wh..opq", 0o644, b"");
    let opts = UnpackOptions::default().with_whiteouts(WhiteoutMode::Overlay);
    let stats = unpack_layer(&l.tar()[..], &dest, &opts).unwrap();
    assert_eq!(stats.whiteouts, 2);
    let m = fs::symlink_metadata(dest.join("a/x")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    assert_eq!(
        lgetxattr(&dest.join("o"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(lgetxattr(&dest.join("a"), "trusted.overlay.opaque"), None);
    assert_eq!(tree(&dest), ["a/", "a/x (char 0)", "o/", "o/keep = k"]);
}

#[test]
fn overlay_whiteouts_without_privilege_fail() {
    if is_root() {
        eprintln!("skipped: checks the unprivileged error");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let opts = UnpackOptions::default().with_whiteouts(WhiteoutMode::Overlay);
    let privilege = |r: Result<UnpackStats, UnpackError>| match r {
        Err(e @ UnpackError::OverlayPrivilege { .. }) => {
            assert!(e.to_string().contains("CAP_MKNOD/CAP_SYS_ADMIN"), "{e}");
        }
        other => panic!("expected a privilege error, got {other:?}"),
    };
    // Linux 5.8+ lets anyone create the 0/0 whiteout device; older kernels refuse.
    let mut l = Layer::new();
    l.file("a/.wh.x", 0o644, b"");
    match unpack_layer(&l.tar()[..], t.path(), &opts) {
        Ok(_) => assert!(
            fs::symlink_metadata(t.path().join("a/x"))
                .unwrap()
                .file_type()
                .is_char_device()
        ),
        r => privilege(r),
    }
    // trusted.* xattrs always need CAP_SYS_ADMIN.
    let mut l = Layer::new();
    l.file("o/.wh..wh..opq", 0o644, b"");
    privilege(unpack_layer(&l.tar()[..], t.path(), &opts));
}

#[test]
fn unsupported_compression_is_named() {
    let t = tempfile::tempdir().unwrap();
    let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
    let err = unpack(&zstd, t.path()).unwrap_err();
    assert!(
        matches!(err, UnpackError::UnsupportedCompression("zstd")),
        "{err}"
    );
}

/// Pseudo-random bytes, each a function of its offset, so the stream can be made twice.
struct Noise {
    left: u64,
    offset: u64,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        let mut block = splitmix(self.offset / 8).to_le_bytes();
        for b in &mut buf[..n] {
            if self.offset.is_multiple_of(8) {
                block = splitmix(self.offset / 8).to_le_bytes();
            }
            *b = block[(self.offset % 8) as usize];
            self.offset += 1;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn large_file_is_streamed() {
    const SIZE: u64 = 64 << 20;
    let noise = || Noise {
        left: SIZE,
        offset: 0,
    };
    let mut want = Sha256::new();
    std::io::copy(&mut noise(), &mut want).unwrap();
    let want = want.finalize();

    // The archive is produced by another thread into a pipe: it never exists whole.
    let (reader, writer) = std::io::pipe().unwrap();
    let producer = std::thread::spawn(move || {
        let gz = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(SIZE);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        b.append_data(&mut h, "big/blob", noise()).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    });
    let t = tempfile::tempdir().unwrap();
    let stats = unpack_layer(reader, t.path(), &flatten()).unwrap();
    producer.join().unwrap();
    assert_eq!(stats.bytes, SIZE);

    let mut got = Sha256::new();
    std::io::copy(
        &mut fs::File::open(t.path().join("big/blob")).unwrap(),
        &mut got,
    )
    .unwrap();
    assert_eq!(got.finalize(), want);
}
