//! The stock Docker CLI (with Debian's dockerd as its engine) pushes to, pulls from and runs
//! images of berth's registry.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Registry, require_tool};

/// A private dockerd: its own data root, exec root and socket; no networking changes.
struct Dockerd {
    child: Child,
    socket: String,
    _dir: tempfile::TempDir,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("bd")
            .tempdir_in("/tmp")
            .unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        let socket = p("s");
        let child = Command::new("dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=overlay2",
            ])
            .args([
                "--data-root",
                &p("d"),
                "--exec-root",
                &p("e"),
                "--pidfile",
                &p("pid"),
            ])
            .args(["-H", &format!("unix://{socket}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("log")).unwrap())
            .spawn()
            .expect("spawn dockerd");
        let log = p("log");
        let d = Dockerd {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if d.docker(&["info", "--format", "{{.ServerVersion}}"])
                .status
                .success()
            {
                return d;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "dockerd did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket))
            .env("DOCKER_CONFIG", self._dir.path().join("cfg"))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_pushes_pulls_and_runs_through_berth() {
    if !require_tool("dockerd")
        || !require_tool("docker")
        || !std::path::Path::new("/bin/busybox").exists()
    {
        return;
    }
    let r = Registry::start();
    let d = Dockerd::start();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs/bin");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("busybox")).unwrap();
    let tarball = dir.path().join("bb.tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir.path().join("rootfs"))
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success());
    let image = format!("{}/docker/bb:1", r.addr);
    d.ok(&["import", tarball.to_str().unwrap(), &image]);
    let pushed = d.ok(&["push", &image]);
    let digest = pushed
        .split("digest: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("push prints a digest");
    let head = common::client()
        .head(r.u("/v2/docker/bb/manifests/1"))
        .send()
        .unwrap();
    assert_eq!(
        head.headers()["docker-content-digest"],
        digest,
        "berth serves what docker pushed"
    );
    d.ok(&["rmi", &image]);
    let pulled = d.ok(&["pull", &format!("{}/docker/bb@{digest}", r.addr)]);
    assert!(pulled.contains(digest), "{pulled}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &format!("{}/docker/bb@{digest}", r.addr),
        "/bin/busybox",
        "echo",
        "via-berth",
    ]);
    assert_eq!(out.trim(), "via-berth");
}
