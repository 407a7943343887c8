//! Helpers for container tests: root detection and a busybox image imported from the host's
//! `busybox-static`.

use std::process::Command;

use super::Env;

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A busybox image imported into `env` as `bb:1`.
pub fn busybox(env: &Env) {
    busybox_with(env, "bb:1", &[]);
}

/// A busybox image with extra `(path, contents)` files, imported into `env` as `tag`.
pub fn busybox_with(env: &Env, tag: &str, files: &[(&str, &str)]) {
    let rootfs = env.path(&format!("rootfs-{}", tag.replace(':', "-")));
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for (path, contents) in files {
        let path = rootfs.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "hostname", "ps", "id", "sleep"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let tar = env.path(&format!("rootfs-{}.tar", tag.replace(':', "-")));
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    env.ok(&["import", tar.to_str().unwrap(), tag]);
}

pub fn needs_busybox() -> bool {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return false;
    }
    true
}

/// The `ps -a` row of container `name`.
pub fn ps_row(env: &Env, name: &str) -> String {
    env.ok(&["ps", "-a"])
        .lines()
        .find(|l| l.ends_with(name))
        .unwrap_or_default()
        .to_string()
}

/// Kills what a failed test left running (`kill` thaws a paused container first).
pub struct KillAll<'a>(pub &'a Env);

impl Drop for KillAll<'_> {
    fn drop(&mut self) {
        for id in self.0.ok(&["ps", "-q"]).lines() {
            let _ = self.0.run(&["kill", id]);
            let _ = self.0.run(&["wait", id]);
        }
    }
}
