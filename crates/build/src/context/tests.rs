//! Context walking, COPY source resolution, digests and tarball contexts.

use super::*;
use std::os::unix::fs::symlink;

fn write(root: &Path, rel: &str, body: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
}

fn paths(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

/// A small project: sources, build output, docs with one kept file, and a few symlinks.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "Dockerfile", "FROM scratch\n");
    write(root, "src/main.rs", "fn main() {}\n");
    write(root, "src/lib.rs", "\n");
    write(root, "target/debug/app", "binary");
    write(root, "docs/a.md", "a");
    write(root, "docs/keep/README.md", "readme");
    write(root, "notes.txt", "n");
    write(
        root,
        ".dockerignore",
        "target\ndocs\n!docs/keep/README.md\n*.txt\n",
    );
    symlink("src/main.rs", root.join("main-link")).unwrap();
    symlink("/src", root.join("abs-src")).unwrap();
    symlink("../../etc/passwd", root.join("escape")).unwrap();
    dir
}

#[test]
fn walk_filters_and_restores_parents() {
    let dir = project();
    let ctx = Context::open(dir.path(), None).unwrap();
    assert_eq!(
        paths(ctx.entries()),
        [
            ".dockerignore",
            "Dockerfile",
            "abs-src",
            "docs",
            "docs/keep",
            "docs/keep/README.md",
            "escape",
            "main-link",
            "src",
            "src/lib.rs",
            "src/main.rs",
        ]
    );
    assert_eq!(paths(ctx.contents("src")), ["src/lib.rs", "src/main.rs"]);
    assert_eq!(
        ctx.get("main-link").unwrap().kind,
        EntryKind::Symlink("src/main.rs".into())
    );
    assert_eq!(ctx.get("src/main.rs").unwrap().size, 13);
}

#[test]
fn dockerfile_ignore_file_takes_precedence() {
    let dir = project();
    write(dir.path(), "build/app.Dockerfile", "FROM scratch\n");
    write(dir.path(), "build/app.Dockerfile.dockerignore", "src\n");
    let df = dir.path().join("build/app.Dockerfile");
    let ctx = Context::open(dir.path(), Some(&df)).unwrap();
    assert!(ctx.get("src").is_none());
    assert!(ctx.get("target/debug/app").is_some());
    // A Dockerfile without its own ignore file falls back to the root one.
    let ctx = Context::open(dir.path(), Some(&dir.path().join("Dockerfile"))).unwrap();
    assert!(ctx.get("target").is_none());
}

#[test]
fn excluded_dockerfile_is_still_readable() {
    let dir = project();
    write(dir.path(), ".dockerignore", "Dockerfile\n.dockerignore\n");
    let ctx = Context::open(dir.path(), None).unwrap();
    assert!(ctx.get("Dockerfile").is_none());
    assert!(fs::read(ctx.root().join("Dockerfile")).is_ok());
    assert!(matches!(
        ctx.resolve("Dockerfile"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn resolve_sources() {
    let dir = project();
    let ctx = Context::open(dir.path(), None).unwrap();
    let one = ctx.resolve("/src/./main.rs").unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(
        (one[0].path.as_str(), one[0].entry.path.as_str()),
        ("src/main.rs", "src/main.rs")
    );

    let root = ctx.resolve(".").unwrap();
    assert!(root[0].entry.is_dir() && root[0].entry.path.is_empty());

    let globbed = ctx.resolve("src/*.rs").unwrap();
    assert_eq!(
        globbed.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["src/lib.rs", "src/main.rs"]
    );
    // A symlinked directory is globbed through too, as Go's `filepath.Glob` does.
    let globbed = ctx.resolve("*/m?in.[a-z]s").unwrap();
    let found: Vec<_> = globbed
        .iter()
        .map(|s| (s.path.as_str(), s.entry.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("abs-src/main.rs", "src/main.rs"),
            ("src/main.rs", "src/main.rs")
        ]
    );

    // Symlinks are followed inside the context: the source keeps its own name.
    let link = ctx.resolve("main-link").unwrap();
    assert_eq!(link[0].path, "main-link");
    assert_eq!(link[0].entry.path, "src/main.rs");
    let abs = ctx.resolve("abs-src/lib.rs").unwrap();
    assert_eq!(abs[0].entry.path, "src/lib.rs");
    assert!(matches!(ctx.resolve("escape"), Err(Error::NotFound { .. })));

    // Excluded and missing files look the same, with Docker's message.
    let err = ctx.resolve("target/debug/app").unwrap_err();
    assert_eq!(
        err.to_string(),
        "file not found in build context or excluded by .dockerignore: stat target/debug/app: file does not exist"
    );
    assert!(matches!(
        ctx.resolve("docs/a.md"),
        Err(Error::NotFound { .. })
    ));
    assert!(ctx.resolve("docs/keep/README.md").is_ok());
    assert!(matches!(
        ctx.resolve("*.nothing"),
        Err(Error::NotFound { .. })
    ));

    let err = ctx.resolve("../outside").unwrap_err();
    assert_eq!(
        err.to_string(),
        "forbidden path outside the build context: ../outside"
    );
    assert!(matches!(
        ctx.resolve("src/../../x"),
        Err(Error::OutsideContext { .. })
    ));
    assert!(matches!(
        ctx.resolve("src/[").unwrap_err(),
        Error::BadGlob { .. }
    ));
}

#[test]
fn digests_ignore_owner_and_mtime_but_see_content() {
    let dir = project();
    let ctx = Context::open(dir.path(), None).unwrap();
    let before = digest(ctx.entries()).unwrap();
    let sources = ctx.resolve("src").unwrap();
    let src_before = ctx.sources_digest(&sources).unwrap();
    assert!(before.starts_with("sha256:") && before.len() == 71);

    let main = dir.path().join("src/main.rs");
    fs::File::options()
        .write(true)
        .open(&main)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH)
        .unwrap();
    std::os::unix::fs::lchown(&main, Some(1234), Some(1234)).ok();
    let ctx = Context::open(dir.path(), None).unwrap();
    assert_eq!(digest(ctx.entries()).unwrap(), before);
    assert_eq!(
        ctx.sources_digest(&ctx.resolve("src").unwrap()).unwrap(),
        src_before
    );

    fs::write(&main, "fn main() { }\n").unwrap();
    let ctx = Context::open(dir.path(), None).unwrap();
    assert_ne!(digest(ctx.entries()).unwrap(), before);
    assert_ne!(
        ctx.sources_digest(&ctx.resolve("src").unwrap()).unwrap(),
        src_before
    );
    // Excluded files do not count.
    fs::write(dir.path().join("target/debug/app"), "other").unwrap();
    let again = Context::open(dir.path(), None).unwrap();
    assert_eq!(
        digest(again.entries()).unwrap(),
        digest(ctx.entries()).unwrap()
    );
}

/// A tar header with a raw name (the `tar` crate's setters refuse `..` and absolute paths).
fn raw_header(name: &str, kind: tar::EntryType, size: u64, link: &str) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_000_000);
    h.set_cksum();
    h
}

fn tarball(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let (body, link) = if kind.is_file() {
            (data.as_bytes(), "")
        } else {
            (&b""[..], *data)
        };
        let h = raw_header(name, *kind, body.len() as u64, link);
        b.append(&h, body).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn tarball_context() {
    use tar::EntryType as T;
    let scratch = tempfile::tempdir().unwrap();
    let tar = tarball(&[
        ("./", T::Directory, ""),
        ("Dockerfile", T::Regular, "FROM scratch\n"),
        ("app/", T::Directory, ""),
        ("app/x.txt", T::Regular, "x"),
        ("app/hard", T::Link, "app/x.txt"),
        ("app/link", T::Symlink, "/etc/passwd"),
        (".dockerignore", T::Regular, "*.md\n"),
        ("README.md", T::Regular, "r"),
    ]);
    let root;
    {
        let ctx = Context::from_tar(&tar[..], scratch.path(), Some("Dockerfile")).unwrap();
        root = ctx.root().to_path_buf();
        assert_eq!(
            paths(ctx.entries()),
            [
                ".dockerignore",
                "Dockerfile",
                "app",
                "app/hard",
                "app/link",
                "app/x.txt"
            ]
        );
        assert_eq!(ctx.get("app/x.txt").unwrap().mtime, 1_000_000);
        assert_eq!(fs::read_to_string(root.join("app/hard")).unwrap(), "x");
        // Gzip works the same.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let ctx = Context::from_tar(&gz.finish().unwrap()[..], scratch.path(), None).unwrap();
        assert_eq!(ctx.entries().len(), 6);
    }
    assert!(!root.exists(), "the scratch copy goes with the context");
}

#[test]
fn tarball_escapes_are_refused() {
    use tar::EntryType as T;
    let scratch = tempfile::tempdir().unwrap();
    let evil: [&[(&str, T, &str)]; 4] = [
        &[("../evil", T::Regular, "x")],
        &[("/abs", T::Regular, "x")],
        &[("a/../../evil", T::Regular, "x")],
        &[("up", T::Symlink, ".."), ("up/evil", T::Regular, "x")],
    ];
    for entries in evil {
        let err = Context::from_tar(&tarball(entries)[..], scratch.path(), None).unwrap_err();
        assert!(
            matches!(err, Error::UnsafeContextEntry { .. }),
            "{entries:?}: {err}"
        );
    }
    let hard = tarball(&[("h", T::Link, "../../etc/passwd")]);
    assert!(Context::from_tar(&hard[..], scratch.path(), None).is_err());
    assert!(!scratch.path().parent().unwrap().join("evil").exists());
    assert_eq!(
        fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "failed contexts are cleaned up"
    );
}
