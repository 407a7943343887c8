//! cp in-process. A "running container" here is a `sleep` child of the test recorded as the
//! container's process: its `/proc/PID/root` is the host's `/`, so its paths are the test's
//! temporary directory. A stopped container is an overlay of a layer directory made here, with
//! symlinks that try to lead out of it.

use std::ffi::OsStr;
use std::io::{Cursor, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use berth_client::config::Config;
use berth_engine::containers::cp::{CopyOptions, CopySource, CopyTarget};
use berth_engine::model::{ContainerConfig, Record};
use berth_engine::{Engine, Error, ErrorKind};

async fn engine(dir: &Path) -> Engine {
    let config = Config::from_toml(&format!("root = {:?}", dir.join("root"))).unwrap();
    Engine::with_config(config).await.unwrap()
}

/// Record container `name` with `layers`; returns its id.
async fn create(engine: &Engine, name: &str, layers: Vec<PathBuf>) -> String {
    let id = berth_engine::util::random_hex(32);
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        config: ContainerConfig {
            cmd: vec!["sleep".into(), "600".into()],
            ..Default::default()
        },
        layers,
        ..Default::default()
    };
    let argv = record.config.argv();
    engine
        .store
        .create_container(&id, name, "busybox", "sha256:x", &argv, &record.to_json())
        .await
        .unwrap();
    id
}

/// Children killed when the test ends.
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Mark container `id` running as a `sleep` child, supervised by another.
async fn start(engine: &Engine, id: &str) -> Kids {
    let process = Command::new("sleep").arg("600").spawn().unwrap();
    let monitor = Command::new("sleep").arg("600").spawn().unwrap();
    engine
        .store
        .container_monitor(id, i64::from(monitor.id()))
        .await
        .unwrap();
    engine
        .store
        .container_started(id, i64::from(process.id()))
        .await
        .unwrap();
    Kids(vec![process, monitor])
}

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn names_in(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(Cursor::new(tar));
    let mut names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

fn not_found(e: &Error) -> (&'static str, String) {
    match e {
        Error::NotFound { what, name } => (*what, name.clone()),
        other => panic!("not a NotFound: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_container_both_ways_and_docker_errors() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let id = create(&engine, "web", vec![]).await;
    let _kids = start(&engine, &id).await;
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "A\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), "B\n").unwrap();
    let opts = CopyOptions::default();

    // Out to a host path, and as a tar stream.
    let out = dir.path().join("out.txt");
    engine
        .copy_from_container(
            "web",
            os(&src.join("a.txt")),
            CopyTarget::Path(out.clone().into()),
            opts,
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "A\n");
    let buf = Shared::default();
    engine
        .copy_from_container(
            "web",
            os(&src),
            CopyTarget::Tar(Box::new(buf.clone())),
            opts,
        )
        .await
        .unwrap();
    let names = names_in(&buf.0.lock().unwrap());
    assert_eq!(names, ["src", "src/a.txt", "src/sub", "src/sub/b.txt"]);

    // In from a tar stream and from a host path.
    let dst = dir.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    let tar = tar_of(&[("new.txt", b"NEW\n")]);
    engine
        .copy_to_container(
            "web",
            CopySource::Tar(Box::new(Cursor::new(tar))),
            os(&dst),
            opts,
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dst.join("new.txt")).unwrap(),
        "NEW\n"
    );
    engine
        .copy_to_container("web", CopySource::Path(src.clone().into()), os(&dst), opts)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dst.join("src/sub/b.txt")).unwrap(),
        "B\n"
    );

    // Errors, typed.
    let nope = dir.path().join("nope");
    let e = engine
        .copy_from_container("web", os(&nope), CopyTarget::Path(out.clone().into()), opts)
        .await
        .unwrap_err();
    assert_eq!(
        not_found(&e),
        ("file", format!("{} in container web", nope.display()))
    );
    let missing_dir = format!("{}/", dir.path().join("missing").display());
    let e = engine
        .copy_to_container(
            "web",
            CopySource::Path(src.join("a.txt").into()),
            OsStr::from_bytes(missing_dir.as_bytes()),
            opts,
        )
        .await
        .unwrap_err();
    assert_eq!(not_found(&e).0, "destination directory", "{e}");
    let e = engine
        .copy_from_container(
            "web",
            OsStr::new(&format!("{}/", src.join("a.txt").display())),
            CopyTarget::Path(out.clone().into()),
            opts,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("not a directory"), "{e}");
    let e = engine
        .copy_from_container("ghost", os(&src), CopyTarget::Path(out.into()), opts)
        .await
        .unwrap_err();
    assert_eq!(not_found(&e).0, "container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_container_symlinks_stay_inside() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting an overlay needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let secret = dir.path().join("host");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("secret"), "host secret\n").unwrap();
    let layer = dir.path().join("layer");
    std::fs::create_dir_all(layer.join("data")).unwrap();
    std::fs::write(layer.join("data/a.txt"), "A\n").unwrap();
    std::os::unix::fs::symlink(&secret, layer.join("evil")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../../../..{}", secret.display()),
        layer.join("evil_rel"),
    )
    .unwrap();
    let id = create(&engine, "cold", vec![layer.clone()]).await;
    let opts = CopyOptions::default();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    engine
        .copy_from_container(
            "cold",
            OsStr::new("/data/a.txt"),
            CopyTarget::Path(out.clone().into()),
            opts,
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "A\n");
    for link in ["/evil/secret", "/evil_rel/secret"] {
        let e = engine
            .copy_from_container(
                "cold",
                OsStr::new(link),
                CopyTarget::Path(out.clone().into()),
                opts,
            )
            .await
            .unwrap_err();
        assert_eq!(not_found(&e).0, "file", "{link}: {e}");
    }
    // Writing through a symlink lands inside the container (its upper directory).
    let tar = tar_of(&[("planted", b"x\n")]);
    engine
        .copy_to_container(
            "cold",
            CopySource::Tar(Box::new(Cursor::new(tar))),
            OsStr::new("/data"),
            opts,
        )
        .await
        .unwrap();
    let upper = engine.layout().container_upper(&id);
    assert_eq!(
        std::fs::read_to_string(upper.join("data/planted")).unwrap(),
        "x\n"
    );
    assert!(!secret.join("planted").exists());
    assert!(
        !layer.join("data/planted").exists(),
        "the layer is not written"
    );
    // The copy's overlay was private to its thread.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let merged = engine.layout().container_merged(&id);
    assert!(!mounts.contains(&*merged.to_string_lossy()), "{mounts}");
}
