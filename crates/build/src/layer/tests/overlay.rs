//! [`diff_upper`] against a real overlayfs (needs root; skipped otherwise).

use super::*;
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

/// Mount an overlay; false when this environment cannot (not root, no overlayfs).
fn mount_overlay(lower: &Path, upper: &Path, work: &Path, merged: &Path) -> bool {
    let base = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    // Prefer the options diff_upper documents; older kernels may not know them.
    for opts in [format!("{base},redirect_dir=off,metacopy=off"), base] {
        let data = CString::new(opts).unwrap();
        let (src, fstype) = (
            CString::new("overlay").unwrap(),
            CString::new("overlay").unwrap(),
        );
        // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                cstr(merged).as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc == 0 {
            return true;
        }
    }
    false
}

fn umount(merged: &Path) {
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::umount2(cstr(merged).as_ptr(), 0) };
    assert_eq!(rc, 0, "umount: {}", std::io::Error::last_os_error());
}

/// The lower layer's files, written into `root`.
fn lower_tree(root: &Path) {
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir_all(root.join("sub")).unwrap();
    for (p, body) in [
        ("a.txt", "a"),
        ("keep.txt", "k"),
        ("d/x", "x"),
        ("d/y", "y"),
        ("sub/old", "o"),
    ] {
        fs::write(root.join(p), body).unwrap();
    }
}

#[test]
fn overlay_upper_to_layer() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root to mount overlayfs");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|n| {
        let p = tmp.path().join(n);
        fs::create_dir(&p).unwrap();
        p
    });
    lower_tree(&lower);
    if !mount_overlay(&lower, &upper, &work, &merged) {
        eprintln!(
            "skipping: cannot mount overlayfs: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let m = merged.as_path();
    // What a RUN step might do.
    let changes = || -> std::io::Result<()> {
        fs::remove_file(m.join("a.txt"))?;
        fs::remove_dir_all(m.join("d"))?;
        fs::create_dir(m.join("d"))?;
        fs::write(m.join("d/z"), "z")?;
        fs::write(m.join("new.txt"), "new")?;
        fs::hard_link(m.join("new.txt"), m.join("new-link"))?;
        symlink("new.txt", m.join("sym"))?;
        fs::write(m.join("suid"), "s")?;
        // chown clears setuid, so it goes first.
        std::os::unix::fs::chown(m.join("suid"), Some(1234), Some(5678))?;
        fs::set_permissions(m.join("suid"), fs::Permissions::from_mode(0o4755))?;
        fs::write(m.join("sub/new"), "n")?;
        let fifo = cstr(&m.join("fifo"));
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        std::os::unix::net::UnixListener::bind(m.join("sock"))?;
        Ok(())
    };
    let result = changes();
    umount(m);
    result.unwrap();

    let epoch = 1_700_000_000;
    let out = tempfile::tempdir().unwrap();
    let info = diff_upper(&upper, Some(epoch))
        .unwrap()
        .finish(out.path())
        .unwrap();
    let again = diff_upper(&upper, Some(epoch))
        .unwrap()
        .finish(&out.path().join("2"))
        .unwrap();
    assert_eq!(
        info.digest, again.digest,
        "diffing the same upper twice is deterministic"
    );

    let seen = read_tar(&info.tar_path);
    use tar::EntryType as T;
    let got: Vec<_> = seen.iter().map(|s| (s.name.as_str(), s.kind)).collect();
    assert_eq!(
        got,
        [
            (".wh.a.txt", T::Regular),
            ("d/", T::Directory),
            ("d/.wh..wh..opq", T::Regular),
            ("d/z", T::Regular),
            ("fifo", T::Fifo),
            ("new-link", T::Regular),
            ("new.txt", T::Link),
            ("sub/", T::Directory),
            ("sub/new", T::Regular),
            ("suid", T::Regular),
            ("sym", T::Symlink),
        ]
    );
    let suid = seen.iter().find(|s| s.name == "suid").unwrap();
    assert_eq!((suid.mode, suid.uid, suid.gid), (0o4755, 1234, 5678));
    assert!(seen.iter().all(|s| s.mtime <= epoch as u64));
    assert!(
        seen.iter().all(|s| s.xattrs.is_empty()),
        "overlay xattrs stay out"
    );

    // Applied over the lower layer by berth's unpacker, the result is the merged view.
    let rootfs = tmp.path().join("rootfs");
    lower_tree(&rootfs);
    unpack_layer(
        fs::File::open(&info.gzip_path).unwrap(),
        &rootfs,
        &UnpackOptions::default(),
    )
    .unwrap();
    assert!(!rootfs.join("a.txt").exists());
    assert!(rootfs.join("keep.txt").exists());
    let mut d: Vec<_> = fs::read_dir(rootfs.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    d.sort();
    assert_eq!(d, ["z"]);
    assert_eq!(fs::read(rootfs.join("sub/old")).unwrap(), b"o");
    assert_eq!(
        fs::metadata(rootfs.join("new.txt")).unwrap().ino(),
        fs::metadata(rootfs.join("new-link")).unwrap().ino()
    );
    let suid = fs::metadata(rootfs.join("suid")).unwrap();
    assert_eq!((suid.mode() & 0o7777, suid.uid()), (0o4755, 1234));
}
