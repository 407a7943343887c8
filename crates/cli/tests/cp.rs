//! `berth cp`: files and directories both ways, for a running and a stopped container, tar
//! streams on stdin/stdout, ownership with and without `-a`, and symlinks in the container
//! (absolute, relative and climbing with `..`) that must never lead to the host.

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use common::Env;
use common::containers::{busybox_with, needs_busybox};

/// A tar archive of `(name, contents)` regular files.
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // `set_path` refuses `..`; write the raw name as a hostile archive would.
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

/// The entry names of a tar archive.
fn names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    let mut out: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Everything below `dir` (names and contents), to prove it did not change.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
    }
    out.sort();
    out
}

/// The busybox image, with data and with symlinks aiming at `victim` (a host directory).
fn image(env: &Env, victim: &Path) {
    let rootfs = env.path("rootfs-bb-1");
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, rootfs.join(name)).unwrap();
    };
    std::fs::create_dir_all(rootfs.join("data/sub")).unwrap();
    let v = victim.to_str().unwrap();
    link(v, "evil");
    link(&format!("../../../../../../../../..{v}"), "evil_rel");
    link("/", "evil_root");
    link(&format!("{v}/secret"), "evil_file");
    link("../../../../etc", "etcl");
    link("a.txt", "data/link");
    busybox_with(
        env,
        "bb:1",
        &[
            ("etc/passwd", "root:x:0:0:container root:/root:/bin/sh\n"),
            ("data/a.txt", "A\n"),
            ("data/sub/b.txt", "B\n"),
        ],
    );
}

struct T<'e> {
    env: &'e Env,
    ctr: &'e str,
    host: PathBuf,
}

impl T<'_> {
    fn h(&self, p: &str) -> String {
        self.host.join(p).to_str().unwrap().to_string()
    }
    fn c(&self, p: &str) -> String {
        format!("{}:{p}", self.ctr)
    }
    fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["cp"];
        all.extend(args);
        self.env.ok(&all)
    }
    fn err(&self, args: &[&str]) -> String {
        let mut all = vec!["cp"];
        all.extend(args);
        let out = self.env.run(&all);
        assert!(!out.status.success(), "berth {all:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    }
    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.host.join(p)).unwrap()
    }
    /// A container file's contents, copied out.
    fn in_ctr(&self, p: &str) -> String {
        let out = self.h(&format!("check-{}", p.replace('/', "_")));
        self.ok(&[&self.c(p), &out]);
        std::fs::read_to_string(out).unwrap()
    }
}

/// Out of the container: files, directories, `/.`, `-L`, symlinks, tar on stdout, errors.
fn copy_out(t: &T) {
    std::fs::create_dir_all(t.host.join("dir")).unwrap();
    t.ok(&[&t.c("/data/a.txt"), &t.h("out.txt")]);
    assert_eq!(t.read("out.txt"), "A\n");
    t.ok(&[&t.c("/data/a.txt"), &t.h("dir/")]);
    assert_eq!(t.read("dir/a.txt"), "A\n");
    t.ok(&[&t.c("/data"), &t.h("d1")]);
    assert_eq!(t.read("d1/sub/b.txt"), "B\n");
    let link = std::fs::read_link(t.host.join("d1/link")).unwrap();
    assert_eq!(link, Path::new("a.txt"), "a symlink is copied as one");
    t.ok(&[&t.c("/data"), &t.h("dir")]);
    assert_eq!(t.read("dir/data/a.txt"), "A\n");
    std::fs::create_dir_all(t.host.join("dir2")).unwrap();
    t.ok(&[&t.c("/data/."), &t.h("dir2")]);
    assert_eq!(t.read("dir2/sub/b.txt"), "B\n");
    t.ok(&["-L", &t.c("/data/link"), &t.h("followed")]);
    assert!(
        std::fs::symlink_metadata(t.host.join("followed"))
            .unwrap()
            .is_file()
    );
    assert_eq!(t.read("followed"), "A\n");

    let out = t.env.run(&["cp", &t.c("/data"), "-"]);
    assert!(out.status.success());
    assert_eq!(
        names(&out.stdout),
        [
            "data",
            "data/a.txt",
            "data/link",
            "data/sub",
            "data/sub/b.txt"
        ]
    );

    let e = t.err(&[&t.c("/nope"), &t.h("x")]);
    assert_eq!(
        e,
        format!(
            "berth: error: Could not find the file /nope in container {}\n",
            t.ctr
        )
    );
    let e = t.err(&[&t.c("/data/a.txt/"), &t.h("x")]);
    assert!(e.contains("not a directory"), "{e}");
    let e = t.err(&[&t.c("/data"), &t.h("out.txt")]);
    assert!(e.contains("cannot overwrite non-directory"), "{e}");
    let e = t.err(&[&t.c("/data/a.txt"), &t.h("missing/")]);
    assert!(e.contains("does not exist"), "{e}");
}

/// Into the container: files, directories, tar on stdin, ownership, errors.
fn copy_in(t: &T) {
    std::fs::write(t.host.join("in.txt"), "IN\n").unwrap();
    std::os::unix::fs::chown(t.host.join("in.txt"), Some(1234), Some(4321)).unwrap();
    std::fs::create_dir_all(t.host.join("srcdir/deep")).unwrap();
    std::fs::write(t.host.join("srcdir/deep/f"), "F\n").unwrap();

    t.ok(&[&t.h("in.txt"), &t.c("/data/")]);
    assert_eq!(t.in_ctr("/data/in.txt"), "IN\n");
    t.ok(&[&t.h("in.txt"), &t.c("/renamed.txt")]);
    assert_eq!(t.in_ctr("/renamed.txt"), "IN\n");
    t.ok(&[&t.h("in.txt"), &t.c("/data/a.txt")]);
    assert_eq!(
        t.in_ctr("/data/a.txt"),
        "IN\n",
        "an existing file is replaced"
    );
    t.ok(&[&t.h("srcdir"), &t.c("/newdir")]);
    assert_eq!(t.in_ctr("/newdir/deep/f"), "F\n");
    t.ok(&[&t.h("srcdir/."), &t.c("/data")]);
    assert_eq!(t.in_ctr("/data/deep/f"), "F\n");

    // Ownership: the container's root by default, the source's with -a (read back with -a).
    t.ok(&["-a", &t.c("/renamed.txt"), &t.h("owned")]);
    let m = std::fs::metadata(t.host.join("owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    t.ok(&["-a", &t.h("in.txt"), &t.c("/kept.txt")]);
    t.ok(&["-a", &t.c("/kept.txt"), &t.h("kept")]);
    let m = std::fs::metadata(t.host.join("kept")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 4321));

    let tar = tar_of(&[("streamed/x.txt", "X\n")]);
    t.env.ok_stdin(&["cp", "-", &t.c("/data")], &tar);
    assert_eq!(t.in_ctr("/data/streamed/x.txt"), "X\n");
    let out = t.env.run_stdin(&["cp", "-", &t.c("/data/a.txt")], &tar);
    assert!(!out.status.success(), "a tar needs a directory");

    let e = t.err(&[&t.h("in.txt"), &t.c("/nope/x")]);
    assert!(e.contains("does not exist"), "{e}");
    let e = t.err(&[&t.h("srcdir"), &t.c("/data/a.txt")]);
    assert!(e.contains("cannot overwrite non-directory"), "{e}");
    let e = t.err(&[&t.h("in.txt"), &t.c("/data/a.txt/")]);
    assert!(e.contains("not a directory"), "{e}");
    let e = t.err(&[&t.h("in.txt"), &t.c("/data/sub/b.txt/x")]);
    assert!(e.contains("not a directory"), "{e}");
    // A file over an existing directory (nested in the copied tree) is refused, not removed.
    std::fs::create_dir_all(t.host.join("clash")).unwrap();
    std::fs::write(t.host.join("clash/sub"), "file\n").unwrap();
    let e = t.err(&[&t.h("clash/."), &t.c("/data")]);
    assert!(e.contains("cannot replace a directory"), "{e}");
    assert_eq!(t.in_ctr("/data/sub/b.txt"), "B\n");
    // Whiteout names are plain files when copying (they must not delete anything).
    std::fs::create_dir_all(t.host.join("wh")).unwrap();
    std::fs::write(t.host.join("wh/.wh.sub"), "").unwrap();
    std::fs::write(t.host.join("wh/.wh..wh..opq"), "").unwrap();
    t.ok(&[&t.h("wh/."), &t.c("/data")]);
    assert_eq!(t.in_ctr("/data/sub/b.txt"), "B\n");
    assert_eq!(t.in_ctr("/data/.wh.sub"), "");
}

/// Symlinks in the container aimed at the host (`victim`) stay inside the container.
fn escapes(t: &T, victim: &Path) {
    let before = snapshot(victim);
    let not_found = |p: &str| {
        let e = t.err(&[&t.c(p), &t.h("stolen")]);
        assert!(e.contains("Could not find the file"), "{p}: {e}");
        assert!(!t.host.join("stolen").exists());
    };
    not_found("/evil/secret");
    not_found("/evil_rel/secret");
    not_found(&format!("/evil_root{}/secret", victim.display()));
    let e = t.err(&["-L", &t.c("/evil_file"), &t.h("stolen")]);
    assert!(e.contains("Could not find the file"), "{e}");
    // `..` through a symlink ends at the container's /etc, not the host's.
    t.ok(&[&t.c("/etcl/passwd"), &t.h("passwd")]);
    assert_eq!(
        t.read("passwd"),
        "root:x:0:0:container root:/root:/bin/sh\n"
    );
    t.ok(&["-L", &t.c("/evil_root"), &t.h("whole")]);
    assert_eq!(t.read("whole/etc/passwd"), t.read("passwd"));

    // Writes through them: refused (no such directory in the container) or kept inside it.
    for dest in ["/evil/planted", "/evil_rel/planted", "/evil_file"] {
        let e = t.err(&[&t.h("in.txt"), &t.c(dest)]);
        assert!(e.contains("does not exist"), "{dest}: {e}");
    }
    t.ok(&[&t.h("in.txt"), &t.c("/etcl/planted")]);
    assert_eq!(t.in_ctr("/etc/planted"), "IN\n");
    t.ok(&[&t.h("srcdir"), &t.c("/evil_root/data")]);
    assert_eq!(t.in_ctr("/data/srcdir/deep/f"), "F\n");
    // A tar whose entries climb out or go through the symlinks.
    let tar = tar_of(&[("../../../../escape.txt", "E\n")]);
    let out = t.env.run_stdin(&["cp", "-", &t.c("/data")], &tar);
    assert!(!out.status.success(), "a climbing entry is refused");
    let tar = tar_of(&[("evil/through.txt", "T\n"), ("evil_rel/rel.txt", "R\n")]);
    t.env.ok_stdin(&["cp", "-", &t.c("/")], &tar);
    let inside = format!("{}/through.txt", victim.display());
    assert_eq!(t.in_ctr(&inside), "T\n", "created inside the container");
    assert_eq!(snapshot(victim), before, "the host directory is untouched");
    assert!(!Path::new("/escape.txt").exists());
}

/// Removes the test's containers even when an assertion fails (a running one keeps a mount).
struct Cleanup<'e>(&'e Env);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["rm", "-f", "live", "dead"]);
    }
}

fn scenario(env: &Env, ctr: &str, victim: &Path) {
    let host = env.path(&format!("host-{ctr}"));
    std::fs::create_dir_all(&host).unwrap();
    let t = T { env, ctr, host };
    copy_out(&t);
    copy_in(&t);
    escapes(&t, victim);
}

#[test]
fn cp_running_and_stopped_containers() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let victim = env.path("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("secret"), "host secret\n").unwrap();
    image(&env, &victim);
    let vol = env.path("vol");
    std::fs::create_dir_all(&vol).unwrap();
    let bind = format!("{}:/vol", vol.display());
    let _cleanup = Cleanup(&env);
    env.ok(&[
        "run", "-d", "--name", "live", "-v", &bind, "bb:1", "sleep", "60",
    ]);
    env.ok(&["run", "--name", "dead", "bb:1", "echo"]);

    scenario(&env, "live", &victim);
    scenario(&env, "dead", &victim);

    // A running container's mounts are its view: a file copied into /vol is on the host.
    std::fs::write(env.path("v.txt"), "V\n").unwrap();
    env.ok(&["cp", env.path("v.txt").to_str().unwrap(), "live:/vol/"]);
    assert_eq!(std::fs::read_to_string(vol.join("v.txt")).unwrap(), "V\n");
    // Changes made while stopped are kept in the container's upper layer.
    assert_eq!(
        env.ok(&["start", "-a", "dead"]),
        "\n",
        "the stopped container still starts"
    );
}

#[test]
fn cp_argument_errors() {
    let env = Env::new("127.0.0.1:9");
    let out = env.run(&["cp", "a:/x", "b:/y"]);
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(
        e.contains("copying between containers is not supported"),
        "{e}"
    );
    let out = env.run(&["cp", "/x", "./y:z"]);
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("must specify at least one container"), "{e}");
}
