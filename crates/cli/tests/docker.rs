//! The stock Docker CLI (with Debian's dockerd as its engine) pushes to, pulls from and runs
//! images of berth's registry.

mod common;

use std::process::Command;

use common::auth::Dockerd;
use common::{Registry, require_tool};

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
