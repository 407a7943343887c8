//! Layer building: determinism, order, headers, links, whiteouts, and round trips through
//! berth's own unpacker.

use super::*;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};

use berth_runtime::unpack::{UnpackOptions, unpack_layer};

/// One tar entry as read back: (name, type, mode, uid, gid, mtime, link, data).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    name: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn read_tar(path: &Path) -> Vec<Seen> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let mut xattrs = Vec::new();
        if let Some(pax) = e.pax_extensions().unwrap() {
            for ext in pax {
                let ext = ext.unwrap();
                if let Some(k) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((k.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        assert!(h.username_bytes().unwrap_or_default().is_empty());
        assert!(h.groupname_bytes().unwrap_or_default().is_empty());
        out.push(Seen {
            name: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap()),
            data,
            xattrs,
        });
    }
    out
}

fn names(seen: &[Seen]) -> Vec<&str> {
    seen.iter().map(|s| s.name.as_str()).collect()
}

fn set_mtime(path: &Path, secs: u64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    fs::File::open(path).unwrap().set_modified(t).unwrap();
}

/// A host tree with a file, a hard-linked pair, a symlink and a sub-directory.
fn host_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("app.py"), "print('hi')\n").unwrap();
    fs::set_permissions(root.join("app.py"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::create_dir(root.join("lib")).unwrap();
    fs::write(root.join("lib/z.txt"), "z").unwrap();
    fs::hard_link(root.join("lib/z.txt"), root.join("lib/a-link.txt")).unwrap();
    symlink("../app.py", root.join("lib/app")).unwrap();
    for p in ["app.py", "lib/z.txt", "lib"] {
        set_mtime(&root.join(p), 2_000_000_000);
    }
    dir
}

/// A layer of `host_tree` copied to `/srv` as root, plus a heredoc file.
fn build(host: &Path, epoch: Option<i64>) -> LayerBuilder {
    let root = Attrs {
        uid: Some(0),
        gid: Some(0),
        mode: None,
    };
    let mut b = LayerBuilder::new().with_source_date_epoch(epoch);
    for rel in ["lib", "lib/z.txt", "lib/app", "lib/a-link.txt", "app.py"] {
        b.add_host_path(&format!("/srv/{rel}"), &host.join(rel), &root)
            .unwrap();
    }
    b.add_file(
        "/srv/etc/motd",
        b"hello\n".to_vec(),
        Meta::new(0o644).with_mtime(5),
    )
    .unwrap();
    b
}

#[test]
fn same_inputs_same_bytes() {
    let host = host_tree();
    let out = tempfile::tempdir().unwrap();
    let one = build(host.path(), Some(1_700_000_000))
        .finish(&out.path().join("1"))
        .unwrap();
    let two = build(host.path(), Some(1_700_000_000))
        .finish(&out.path().join("2"))
        .unwrap();
    assert_eq!(
        (&one.diff_id, &one.digest, one.size),
        (&two.diff_id, &two.digest, two.size)
    );
    assert_eq!(
        fs::read(&one.gzip_path).unwrap(),
        fs::read(&two.gzip_path).unwrap()
    );
    assert_eq!(one.tar_size % 512, 0);

    // The hashes are of the files written, and the gzip holds exactly the tar.
    let tar = fs::read(&one.tar_path).unwrap();
    let gz = fs::read(&one.gzip_path).unwrap();
    assert_eq!(
        one.diff_id,
        format!("sha256:{}", hex::encode(Sha256::digest(&tar)))
    );
    assert_eq!(
        one.digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&gz)))
    );
    assert_eq!(one.size, gz.len() as u64);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, tar);
    // Fixed gzip header: no flags (so no file name), mtime 0, OS unknown.
    assert_eq!((gz[3], &gz[4..8], gz[9]), (0, &[0u8; 4][..], 255));

    // A different epoch is a different layer.
    let three = build(host.path(), Some(1_600_000_000))
        .finish(&out.path().join("3"))
        .unwrap();
    assert_ne!(three.diff_id, one.diff_id);
}

use sha2::{Digest, Sha256};

#[test]
fn sorted_normalised_entries() {
    let host = host_tree();
    let out = tempfile::tempdir().unwrap();
    let info = build(host.path(), Some(1_700_000_000))
        .finish(out.path())
        .unwrap();
    let seen = read_tar(&info.tar_path);
    assert_eq!(
        names(&seen),
        [
            "srv/",
            "srv/app.py",
            "srv/etc/",
            "srv/etc/motd",
            "srv/lib/",
            "srv/lib/a-link.txt",
            "srv/lib/app",
            "srv/lib/z.txt",
        ]
    );
    let by = |n: &str| seen.iter().find(|s| s.name == n).unwrap().clone();
    // Implicit parents: 0755, root, mtime = epoch.
    assert_eq!(
        (by("srv/").mode, by("srv/").uid, by("srv/").mtime),
        (0o755, 0, 1_700_000_000)
    );
    // mtimes are clamped to the epoch, older ones kept.
    assert_eq!(by("srv/app.py").mtime, 1_700_000_000);
    assert_eq!(by("srv/etc/motd").mtime, 5);
    assert_eq!(by("srv/app.py").mode, 0o750);
    assert_eq!(by("srv/app.py").data, b"print('hi')\n");
    let link = by("srv/lib/app");
    assert_eq!(
        (link.kind, link.link.as_deref()),
        (tar::EntryType::Symlink, Some("../app.py"))
    );
    // The hard-linked pair: the name sorting first carries the data.
    let first = by("srv/lib/a-link.txt");
    assert_eq!(
        (first.kind, first.data.as_slice()),
        (tar::EntryType::Regular, &b"z"[..])
    );
    let second = by("srv/lib/z.txt");
    assert_eq!(second.kind, tar::EntryType::Link);
    assert_eq!(second.link.as_deref(), Some("srv/lib/a-link.txt"));
}

#[test]
fn without_epoch_keeps_source_mtimes() {
    let host = host_tree();
    let out = tempfile::tempdir().unwrap();
    let seen = read_tar(
        &build(host.path(), None)
            .finish(out.path())
            .unwrap()
            .tar_path,
    );
    let app = seen.iter().find(|s| s.name == "srv/app.py").unwrap();
    assert_eq!(app.mtime, 2_000_000_000);
    assert_eq!(seen[0].mtime, 0, "implicit parents get mtime 0");
}

#[test]
fn chown_chmod_and_parent_owner() {
    let host = host_tree();
    let out = tempfile::tempdir().unwrap();
    let attrs = Attrs {
        uid: Some(1000),
        gid: Some(1001),
        mode: Some(0o600),
    };
    let mut b = LayerBuilder::new().with_parent_owner(1000, 1001);
    b.add_host_path("/home/u/app.py", &host.path().join("app.py"), &attrs)
        .unwrap();
    b.add_host_path("/home/u/link", &host.path().join("lib/app"), &attrs)
        .unwrap();
    let seen = read_tar(&b.finish(out.path()).unwrap().tar_path);
    let got: Vec<_> = seen
        .iter()
        .map(|s| (s.name.as_str(), s.mode, s.uid, s.gid))
        .collect();
    assert_eq!(
        got,
        [
            ("home/", 0o755, 1000, 1001),
            ("home/u/", 0o755, 1000, 1001),
            ("home/u/app.py", 0o600, 1000, 1001),
            ("home/u/link", 0o777, 1000, 1001),
        ]
    );
}

#[test]
fn long_names_and_targets() {
    let out = tempfile::tempdir().unwrap();
    let mid = format!("{}/{}", "d".repeat(120), "f".repeat(90)); // prefix + name split
    let long = format!(
        "{}/{}/{}",
        "a".repeat(150),
        "b".repeat(150),
        "c".repeat(120)
    ); // PAX
    let target = "t".repeat(180);
    let mut b = LayerBuilder::new();
    b.add_file(&mid, b"mid".to_vec(), Meta::new(0o644)).unwrap();
    b.add_file(&long, b"long".to_vec(), Meta::new(0o644))
        .unwrap();
    b.add_symlink(&format!("{}/l", "e".repeat(99)), &target, Meta::new(0o777))
        .unwrap();
    b.add_dir(&format!("{}/", "g".repeat(130)), Meta::new(0o700))
        .unwrap();
    let info = b.finish(out.path()).unwrap();
    let seen = read_tar(&info.tar_path);
    let find = |n: &str| {
        seen.iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert_eq!(find(&mid).data, b"mid");
    assert_eq!(find(&long).data, b"long");
    assert_eq!(
        find(&format!("{}/l", "e".repeat(99))).link.as_deref(),
        Some(target.as_str())
    );
    assert_eq!(find(&format!("{}/", "g".repeat(130))).mode, 0o700);

    let dest = tempfile::tempdir().unwrap();
    unpack(&info, dest.path());
    assert_eq!(fs::read(dest.path().join(&long)).unwrap(), b"long");
    assert_eq!(
        fs::read_link(dest.path().join("e".repeat(99)).join("l"))
            .unwrap()
            .to_str(),
        Some(&*target)
    );
}

fn unpack(info: &LayerInfo, dest: &Path) {
    let opts = UnpackOptions::default().with_preserve_ownership(false);
    unpack_layer(fs::File::open(&info.gzip_path).unwrap(), dest, &opts).unwrap();
}

#[test]
fn berth_unpacker_round_trip() {
    use std::os::unix::fs::MetadataExt;
    let host = host_tree();
    let out = tempfile::tempdir().unwrap();
    let info = build(host.path(), Some(1_700_000_000))
        .finish(out.path())
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    unpack(&info, dest.path());
    let d = dest.path();
    assert_eq!(fs::read(d.join("srv/app.py")).unwrap(), b"print('hi')\n");
    assert_eq!(
        fs::symlink_metadata(d.join("srv/app.py")).unwrap().mode() & 0o7777,
        0o750
    );
    assert_eq!(
        fs::read_link(d.join("srv/lib/app")).unwrap(),
        Path::new("../app.py")
    );
    let a = fs::metadata(d.join("srv/lib/a-link.txt")).unwrap();
    let z = fs::metadata(d.join("srv/lib/z.txt")).unwrap();
    assert_eq!(a.ino(), z.ino());
    assert_eq!(fs::read(d.join("srv/etc/motd")).unwrap(), b"hello\n");
    assert_eq!(
        fs::metadata(d.join("srv/app.py")).unwrap().mtime(),
        1_700_000_000
    );
}

#[test]
fn explicit_links_whiteouts_and_replacement() {
    let out = tempfile::tempdir().unwrap();
    let mut b = LayerBuilder::new();
    b.add_file("/z/data", b"x".to_vec(), Meta::new(0o644).with_owner(7, 7))
        .unwrap();
    b.add_hardlink("/a/alias", "/z/data").unwrap();
    b.add_hardlink("/lower", "/bin/sh").unwrap();
    b.add_whiteout("/etc/old.conf").unwrap();
    b.add_dir("/var/cache", Meta::new(0o755)).unwrap();
    b.set_opaque("/var/cache", Meta::new(0o755)).unwrap();
    b.add_file("/var/cache/new", Vec::new(), Meta::new(0o644))
        .unwrap();
    // A later file replaces a directory and everything in it.
    b.add_dir("/gone", Meta::new(0o755)).unwrap();
    b.add_file("/gone/inner", Vec::new(), Meta::new(0o644))
        .unwrap();
    b.add_file("/gone", b"now a file".to_vec(), Meta::new(0o644))
        .unwrap();
    assert!(b.add_file("/gone/x", Vec::new(), Meta::new(0o644)).is_err());
    assert!(b.add_file("/", Vec::new(), Meta::new(0o644)).is_err());
    let seen = read_tar(&b.finish(out.path()).unwrap().tar_path);
    let got: Vec<_> = seen
        .iter()
        .map(|s| (s.name.as_str(), s.kind, s.link.as_deref()))
        .collect();
    use tar::EntryType as T;
    assert_eq!(
        got,
        [
            ("a/", T::Directory, None),
            ("a/alias", T::Regular, None),
            ("etc/", T::Directory, None),
            ("etc/.wh.old.conf", T::Regular, None),
            ("gone", T::Regular, None),
            ("lower", T::Link, Some("bin/sh")),
            ("var/", T::Directory, None),
            ("var/cache/", T::Directory, None),
            ("var/cache/.wh..wh..opq", T::Regular, None),
            ("var/cache/new", T::Regular, None),
            ("z/", T::Directory, None),
            ("z/data", T::Link, Some("a/alias")),
        ]
    );
    let alias = &seen[1];
    assert_eq!((alias.uid, alias.data.as_slice()), (7, &b"x"[..]));
}

#[test]
fn file_capabilities_survive_other_xattrs_do_not() {
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("ping");
    fs::write(&file, "elf").unwrap();
    // A v2 capability blob granting cap_net_raw (bit 13), effective.
    let mut cap = vec![0u8; 20];
    cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    cap[4..8].copy_from_slice(&(1u32 << 13).to_le_bytes());
    if !set_xattr(&file, "security.capability", &cap) || !set_xattr(&file, "user.note", b"x") {
        eprintln!("skipping: xattrs not supported here");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let mut b = LayerBuilder::new();
    b.add_host_path("/bin/ping", &file, &Attrs::default())
        .unwrap();
    let seen = read_tar(&b.finish(out.path()).unwrap().tar_path);
    let ping = seen.iter().find(|s| s.name == "bin/ping").unwrap();
    assert_eq!(ping.xattrs, [("security.capability".to_string(), cap)]);
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        ) == 0
    }
}

#[test]
fn pax_record_lengths_count_themselves() {
    let recs = write_pax_for_test(&[("path", b"abc")]);
    assert_eq!(recs, b"12 path=abc\n");
    let long = "x".repeat(95);
    let recs = write_pax_for_test(&[("path", long.as_bytes())]);
    let text = String::from_utf8(recs.clone()).unwrap();
    let len: usize = text.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(len, recs.len());
}

fn write_pax_for_test(records: &[(&str, &[u8])]) -> Vec<u8> {
    write::pax_records(records)
}

mod overlay;
