//! The plan's mounts before `pivot_root`: the root bound onto itself, the kernel filesystems
//! every container has, and the spec's binds and tmpfs mounts.

use std::ffi::CString;

use super::{Op, Steps, cstr, under};
use crate::error::{Error, Result};
use crate::safepath::{self, Kind};
use crate::spec::{ContainerSpec, DEFAULT_SHM_SIZE, MountKind};

/// Make `/` a recursive slave, bind the rootfs onto itself and mount the kernel filesystems
/// in it; returns the rootfs path (for `pivot_root`).
pub(super) fn root_and_filesystems(s: &mut Steps, spec: &ContainerSpec) -> Result<CString> {
    let id = s.id;
    let root = spec.rootfs.as_path();
    let (nosuid, nodev, noexec) = (libc::MS_NOSUID, libc::MS_NODEV, libc::MS_NOEXEC);
    // Nothing we mount may propagate back to the host, and host unmounts still reach us.
    let slash = cstr(id, "/")?;
    let op = s.mount(None, slash, None, libc::MS_REC | libc::MS_SLAVE, None)?;
    s.push("make / a recursive slave mount", op);
    let rootfs = under(id, root, "")?;
    let op = s.mount(
        Some(&spec.rootfs.to_string_lossy()),
        rootfs.clone(),
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    s.push(format!("bind {} onto itself", root.display()), op);
    let shm_size = spec.shm_size.unwrap_or(DEFAULT_SHM_SIZE) / 1024;
    let shm = format!("mode=1777,size={shm_size}k");
    // (target in the rootfs, fstype, flags, data): the kernel filesystems every container has.
    let filesystems: &[(&str, &str, libc::c_ulong, Option<&str>)] = &[
        ("proc", "proc", nosuid | nodev | noexec, None),
        (
            "sys",
            "sysfs",
            // Privileged containers may write to /sys (as Docker's do).
            nosuid | nodev | noexec | if spec.privileged { 0 } else { libc::MS_RDONLY },
            None,
        ),
        (
            "dev",
            "tmpfs",
            nosuid | libc::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        ),
        (
            "dev/pts",
            "devpts",
            nosuid | noexec,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ),
        ("dev/shm", "tmpfs", nosuid | nodev | noexec, Some(&shm)),
        ("dev/mqueue", "mqueue", nosuid | nodev | noexec, None),
    ];
    for &(rel, fstype, flags, data) in filesystems {
        let target = under(id, root, rel)?;
        s.push(
            format!("create /{rel}"),
            Op::Mkdir {
                path: target.clone(),
            },
        );
        if rel == "dev/shm" && spec.ipc_host {
            // The host's IPC namespace comes with the host's /dev/shm (as Docker binds it).
            let op = s.mount(
                Some("/dev/shm"),
                target,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
            s.push("bind /dev/shm", op);
            continue;
        }
        let op = s.mount(Some(fstype), target, Some(fstype), flags, data)?;
        s.push(format!("mount {fstype} on /{rel}"), op);
    }
    Ok(rootfs)
}

/// The spec's binds and tmpfs mounts, their targets created here.
pub(super) fn spec_mounts(s: &mut Steps, spec: &ContainerSpec) -> Result<()> {
    let id = s.id;
    let root = spec.rootfs.as_path();
    for m in &spec.mounts {
        let kind = match &m.kind {
            MountKind::Bind { source } if !source.is_dir() => Kind::File,
            _ => Kind::Dir,
        };
        // Made here, in the parent, where a symlink in the image is refused rather than
        // followed out of the rootfs; the container has not started, so nothing races us.
        let host_target = safepath::prepare(root, &m.target, kind).map_err(|e| {
            Error::invalid(id, format!("cannot create mount target {}: {e}", m.target))
        })?;
        let target = cstr(id, host_target.into_os_string().into_encoded_bytes())?;
        match &m.kind {
            MountKind::Bind { source } => {
                s.push(
                    format!("bind {} on {}", source.display(), m.target),
                    Op::Mount {
                        source: Some(cstr(id, source.as_os_str().as_encoded_bytes())?),
                        target: target.clone(),
                        fstype: None,
                        flags: libc::MS_BIND | libc::MS_REC,
                        data: None,
                    },
                );
                if m.readonly {
                    let op = s.mount(
                        None,
                        target,
                        None,
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        None,
                    )?;
                    s.push(format!("make {} read-only", m.target), op);
                }
            }
            MountKind::Tmpfs { options } => {
                let (mut flags, data) = tmpfs_options(options);
                if m.readonly {
                    flags |= libc::MS_RDONLY;
                }
                let op = s.mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(&data))?;
                s.push(format!("mount tmpfs on {}", m.target), op);
            }
        }
    }
    Ok(())
}

/// Docker's `--tmpfs` options as mount flags and data: `noexec,nosuid,nodev` unless the
/// options say otherwise, and mode 1777 unless one is given.
fn tmpfs_options(options: &str) -> (libc::c_ulong, String) {
    let mut flags = libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV;
    let mut data = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" => flags &= !libc::MS_RDONLY,
            "exec" => flags &= !libc::MS_NOEXEC,
            "noexec" => flags |= libc::MS_NOEXEC,
            "suid" => flags &= !libc::MS_NOSUID,
            "nosuid" => flags |= libc::MS_NOSUID,
            "dev" => flags &= !libc::MS_NODEV,
            "nodev" => flags |= libc::MS_NODEV,
            other => data.push(other),
        }
    }
    if !data.iter().any(|o| o.starts_with("mode=")) {
        data.push("mode=1777");
    }
    (flags, data.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_follow_docker() {
        let (flags, data) = tmpfs_options("");
        assert_eq!(flags, libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV);
        assert_eq!(data, "mode=1777");
        let (flags, data) = tmpfs_options("size=1m,exec,mode=700,ro");
        assert_eq!(flags, libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY);
        assert_eq!(data, "size=1m,mode=700");
    }
}
