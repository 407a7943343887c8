//! Hostile archives: every test checks that nothing outside the destination was created,
//! written, linked or deleted, whatever the layer tried.

use super::*;

/// A destination next to a sentinel directory that must stay empty, a victim file that must
/// keep its content, and a precious directory that must keep its file.
struct Sandbox {
    _t: tempfile::TempDir,
    dest: PathBuf,
    outside: PathBuf,
    victim: PathBuf,
    precious: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().to_path_buf();
        let (dest, outside) = (base.join("dest"), base.join("outside"));
        let (victim, precious) = (base.join("victim"), base.join("precious"));
        fs::create_dir_all(&dest).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(&precious).unwrap();
        fs::write(&victim, b"original").unwrap();
        fs::write(precious.join("file"), b"precious").unwrap();
        Sandbox {
            _t: t,
            dest,
            outside,
            victim,
            precious,
        }
    }

    /// Nothing outside `dest` changed.
    fn check(&self) {
        let base = self.dest.parent().unwrap();
        let mut names: Vec<_> = fs::read_dir(base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dest", "outside", "precious", "victim"],
            "new files next to dest"
        );
        assert_eq!(
            fs::read_dir(&self.outside).unwrap().count(),
            0,
            "sentinel written"
        );
        assert_eq!(
            fs::read(&self.victim).unwrap(),
            b"original",
            "victim written"
        );
        let m = fs::symlink_metadata(&self.victim).unwrap();
        assert!(m.file_type().is_file() && m.nlink() == 1, "victim linked");
        assert_eq!(fs::read(self.precious.join("file")).unwrap(), b"precious");
        assert_eq!(fs::read_dir(&self.precious).unwrap().count(), 1);
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }
}

fn escape_err(r: Result<UnpackStats, UnpackError>) {
    match r {
        Err(UnpackError::Escape { .. }) => {}
        other => panic!("expected an escape error, got {other:?}"),
    }
}

#[test]
fn dotdot_names_are_refused() {
    for name in [
        "../escape",
        "a/../../escape",
        "/abs/../../escape",
        "./../escape",
        "a/b/../../../escape",
    ] {
        let sb = Sandbox::new();
        let mut l = Layer::new();
        l.raw(EntryType::Regular, name.as_bytes(), b"", 0o644, b"pwned");
        escape_err(unpack(&l.tar(), &sb.dest));
        sb.check();
    }
    // The same through a GNU long name, and as a directory.
    let sb = Sandbox::new();
    let long = format!("{}{}escape", "x/".repeat(40), "../".repeat(41));
    let mut l = Layer::new();
    l.raw(EntryType::Regular, long.as_bytes(), b"", 0o644, b"pwned");
    escape_err(unpack(&l.tar(), &sb.dest));
    let mut l = Layer::new();
    l.raw(EntryType::Directory, b"../escape/", b"", 0o755, b"");
    escape_err(unpack(&l.tar(), &sb.dest));
    sb.check();
}

#[test]
fn absolute_names_land_inside() {
    let sb = Sandbox::new();
    let target = format!("{}/pwned", Sandbox::s(&sb.outside));
    let mut l = Layer::new();
    l.file(&target, 0o644, b"inside")
        .file("/abs/../x", 0o644, b"x");
    unpack(&l.tar(), &sb.dest).unwrap();
    sb.check();
    assert_eq!(
        fs::read(sb.dest.join(target.trim_start_matches('/'))).unwrap(),
        b"inside"
    );
    assert_eq!(fs::read(sb.dest.join("x")).unwrap(), b"x");
}

#[test]
fn symlinked_parents_stay_inside() {
    // Same layer, and a later layer, each through an absolute and a relative symlink.
    for split in [false, true] {
        let sb = Sandbox::new();
        let out = Sandbox::s(&sb.outside).to_string();
        let mut l1 = Layer::new();
        l1.symlink("evil", &out)
            .symlink("rel", "../../../../../../../../outside");
        let mut l2 = Layer::new();
        l2.file("evil/pwned", 0o644, b"p")
            .dir("evil/sub/", 0o755)
            .file("rel/pwned", 0o644, b"r");
        if split {
            unpack(&l1.tar(), &sb.dest).unwrap();
            unpack(&l2.tar(), &sb.dest).unwrap();
        } else {
            let mut both = l1.tar();
            both.truncate(both.len() - 1024); // drop the end-of-archive blocks
            both.extend(l2.tar());
            unpack(&both, &sb.dest).unwrap();
        }
        sb.check();
        let inside = sb.dest.join(out.trim_start_matches('/'));
        assert_eq!(fs::read(inside.join("pwned")).unwrap(), b"p");
        assert!(inside.join("sub").is_dir());
        assert_eq!(fs::read(sb.dest.join("outside/pwned")).unwrap(), b"r");
        assert!(
            fs::symlink_metadata(sb.dest.join("evil"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}

#[test]
fn dotdot_symlink_chains_are_clamped() {
    let sb = Sandbox::new();
    let mut l = Layer::new();
    l.symlink("up", "..")
        .symlink("up2", "up/..")
        .dir("d/", 0o755)
        .symlink("d/l1", "../../..")
        .symlink("d/l2", "l1/../up2/../d/l1")
        .file("up/a", 0o644, b"a")
        .file("up2/up2/b", 0o644, b"b")
        .file("d/l1/c", 0o644, b"c")
        .file("d/l2/up/../outside/e", 0o644, b"e");
    unpack(&l.tar(), &sb.dest).unwrap();
    sb.check();
    for (f, want) in [("a", "a"), ("b", "b"), ("c", "c"), ("outside/e", "e")] {
        assert_eq!(fs::read(sb.dest.join(f)).unwrap(), want.as_bytes(), "{f}");
    }
}

#[test]
fn symlink_loops_fail() {
    let sb = Sandbox::new();
    let mut l = Layer::new();
    l.symlink("loop1", "loop2")
        .symlink("loop2", "/loop1")
        .file("loop1/x", 0o644, b"x");
    match unpack(&l.tar(), &sb.dest) {
        Err(UnpackError::SymlinkLoop { .. }) => {}
        other => panic!("expected a symlink loop, got {other:?}"),
    }
    sb.check();
}

#[test]
fn hostile_hard_links() {
    let passwd = fs::metadata("/etc/passwd").unwrap();
    let sb = Sandbox::new();
    let victim = Sandbox::s(&sb.victim).to_string();
    for (setup, link) in [
        (vec![], "/etc/passwd".to_string()),
        (vec![], victim.clone()),
        (vec![("etcl", "/etc")], "etcl/passwd".to_string()),
        (vec![("up", "..")], "up/victim".to_string()),
        (vec![("d", "/")], "d/../victim".to_string()),
    ] {
        let mut l = Layer::new();
        for (n, t) in &setup {
            l.symlink(n, t);
        }
        l.hardlink("hl", &link);
        match unpack(&l.tar(), &sb.dest) {
            Err(UnpackError::LinkTarget {
                reason: "does not exist",
                ..
            }) => {}
            other => panic!("link to {link}: expected a missing target, got {other:?}"),
        }
        sb.check();
    }
    let mut l = Layer::new();
    l.hardlink("hl", "../victim");
    escape_err(unpack(&l.tar(), &sb.dest));
    let mut l = Layer::new();
    l.hardlink("hl", "a/../../victim");
    escape_err(unpack(&l.tar(), &sb.dest));
    sb.check();

    // A link to a symlink pointing outside links the symlink itself; writing a file over it
    // (or over the symlink) replaces the link rather than writing through it.
    let mut l = Layer::new();
    l.symlink("evil", &victim)
        .hardlink("hl", "evil")
        .hardlink("hl2", "evil");
    unpack(&l.tar(), &sb.dest).unwrap();
    assert_eq!(fs::read_link(sb.dest.join("hl")).unwrap(), sb.victim);
    let mut l = Layer::new();
    l.file("hl", 0o644, b"pwned").file("evil", 0o644, b"pwned");
    unpack(&l.tar(), &sb.dest).unwrap();
    sb.check();
    assert_eq!(fs::read(sb.dest.join("hl")).unwrap(), b"pwned");
    assert_eq!(fs::read_link(sb.dest.join("hl2")).unwrap(), sb.victim);
    let after = fs::metadata("/etc/passwd").unwrap();
    assert_eq!(
        (after.nlink(), after.mtime()),
        (passwd.nlink(), passwd.mtime())
    );
}

#[test]
fn symlink_replaced_by_dir_and_file() {
    let sb = Sandbox::new();
    let out = Sandbox::s(&sb.outside).to_string();
    let mut l = Layer::new();
    l.symlink("evil", &out).symlink("v", Sandbox::s(&sb.victim));
    l.dir("evil/", 0o755)
        .file("evil/inside", 0o644, b"i")
        .file("v", 0o600, b"pwned");
    unpack(&l.tar(), &sb.dest).unwrap();
    sb.check();
    assert_eq!(tree(&sb.dest), ["evil/", "evil/inside = i", "v = pwned"]);
}

#[test]
fn hostile_whiteouts() {
    let sb = Sandbox::new();
    let precious = Sandbox::s(&sb.precious).to_string();
    let mut l = Layer::new();
    l.symlink("evil", &precious).file("keep", 0o644, b"k");
    unpack(&l.tar(), &sb.dest).unwrap();
    for name in [
        "evil/.wh.file",
        "evil/.wh..wh..opq",
        ".wh.evil",
        "up/.wh.file",
    ] {
        let mut l = Layer::new();
        l.symlink("up", "../precious").file(name, 0o644, b"");
        unpack(&l.tar(), &sb.dest).unwrap();
        sb.check();
    }
    for name in [".wh..", ".wh...", "a/.wh.", "../.wh.precious"] {
        let mut l = Layer::new();
        l.file(name, 0o644, b"");
        assert!(unpack(&l.tar(), &sb.dest).is_err(), "{name}");
        sb.check();
    }
    assert_eq!(fs::read(sb.dest.join("keep")).unwrap(), b"k");
    if is_root() {
        let opts = UnpackOptions::default().with_whiteouts(WhiteoutMode::Overlay);
        let mut l = Layer::new();
        l.symlink("evil2", &precious)
            .file("evil2/.wh.file", 0o644, b"");
        l.file("evil2/.wh..wh..opq", 0o644, b"");
        unpack_layer(&l.tar()[..], &sb.dest, &opts).unwrap();
        sb.check();
        assert_eq!(lgetxattr(&sb.precious, "trusted.overlay.opaque"), None);
    }
}
