//! The plan's `/dev`: host devices bound in, the standard symlinks, a node for each `--device`,
//! and for a privileged container a node of its own for each of the host's devices.

use super::{Op, Steps, cstr, under};
use crate::error::{Error, Result};
use crate::safepath::{self, Kind};
use crate::spec::resources::device_node;
use crate::spec::{ContainerSpec, host_devices};

/// Host devices bind-mounted into the container's `/dev` (bind, not mknod, so the same code
/// works in a user namespace later).
pub(super) const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// `/dev` symlinks every container gets (as runc and Docker make them).
const DEV_LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

/// Fill the container's (already mounted) `/dev`.
pub(super) fn dev(s: &mut Steps, spec: &ContainerSpec) -> Result<()> {
    let id = s.id;
    let root = spec.rootfs.as_path();
    for dev in DEVICES {
        let target = under(id, root, &format!("dev/{dev}"))?;
        s.push(
            format!("create /dev/{dev}"),
            Op::Touch {
                path: target.clone(),
            },
        );
        let host = format!("/dev/{dev}");
        let op = s.mount(Some(&host), target, None, libc::MS_BIND, None)?;
        s.push(format!("bind {host}"), op);
    }
    for (target, link) in DEV_LINKS {
        s.push(
            format!("link /dev/{link}"),
            Op::Symlink {
                target: cstr(id, *target)?,
                link: under(id, root, &format!("dev/{link}"))?,
            },
        );
    }
    mapped(s, spec)?;
    if !spec.privileged {
        return Ok(());
    }
    // The host's devices as nodes of their own in the container's tmpfs /dev (as runc
    // makes them for Docker's --privileged), not a bind of the host's /dev: removing
    // or creating entries in the container's /dev must not touch the host's.
    for dev in host_devices() {
        if DEVICES.contains(&dev.path.as_str()) {
            continue; // bound above
        }
        if let Some((dir, _)) = dev.path.rsplit_once('/') {
            let mut prefix = String::new();
            for part in dir.split('/') {
                prefix = format!("{prefix}/{part}");
                s.push(
                    format!("create /dev{prefix}"),
                    Op::Mkdir {
                        path: under(id, root, &format!("dev{prefix}"))?,
                    },
                );
            }
        }
        let kind = if dev.kind == 'b' {
            libc::S_IFBLK
        } else {
            libc::S_IFCHR
        };
        s.push(
            format!("create /dev/{}", dev.path),
            Op::Mknod {
                path: under(id, root, &format!("dev/{}", dev.path))?,
                mode: kind | dev.mode,
                dev: libc::makedev(dev.major, dev.minor),
                uid: dev.uid,
                gid: dev.gid,
            },
        );
    }
    Ok(())
}

/// Each `--device`: a node of its own at its container path, copying the host node's type,
/// numbers, mode and owner. Under `/dev` (the container's tmpfs, mounted by then) its
/// directories are made by the child; elsewhere in the rootfs here, where a symlink in the
/// image is refused rather than followed.
fn mapped(s: &mut Steps, spec: &ContainerSpec) -> Result<()> {
    let id = s.id;
    let root = spec.rootfs.as_path();
    for d in &spec.devices {
        let node = device_node(&d.host).map_err(|e| Error::invalid(id, e))?;
        let rel = d.container.trim_start_matches('/');
        let (dir, _) = rel.rsplit_once('/').unwrap_or(("", rel));
        if let Some(in_dev) = dir
            .strip_prefix("dev")
            .filter(|r| r.is_empty() || r.starts_with('/'))
        {
            let mut prefix = "dev".to_string();
            for part in in_dev.split('/').filter(|p| !p.is_empty()) {
                prefix = format!("{prefix}/{part}");
                s.push(
                    format!("create /{prefix}"),
                    Op::Mkdir {
                        path: under(id, root, &prefix)?,
                    },
                );
            }
        } else if !dir.is_empty() {
            safepath::prepare(root, &format!("/{dir}"), Kind::Dir).map_err(|e| {
                Error::invalid(
                    id,
                    format!("cannot create the directory of {}: {e}", d.container),
                )
            })?;
        }
        let kind = if node.kind == 'b' {
            libc::S_IFBLK
        } else {
            libc::S_IFCHR
        };
        s.push(
            format!("create device {}", d.container),
            Op::Mknod {
                path: under(id, root, rel)?,
                mode: kind | node.mode,
                dev: libc::makedev(node.major, node.minor),
                uid: node.uid,
                gid: node.gid,
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Plan;
    use super::*;

    #[test]
    fn privileged_unmasks_and_gets_the_host_devices() {
        let mut spec = ContainerSpec::new("p5", "/tmp", vec!["/bin/true".into()]);
        let has = |plan: &Plan, what: &str| plan.steps.iter().any(|s| s.what == what);
        let sys_flags = |plan: &Plan| {
            plan.steps
                .iter()
                .find_map(|s| match (&s.op, s.what.as_str()) {
                    (Op::Mount { flags, .. }, "mount sysfs on /sys") => Some(*flags),
                    _ => None,
                })
                .unwrap()
        };
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        assert!(has(&plan, "mask /proc/kcore") && has(&plan, "make /proc/sys read-only"));
        assert_ne!(sys_flags(&plan) & libc::MS_RDONLY, 0);
        assert!(!plan.steps.iter().any(|s| matches!(s.op, Op::Mknod { .. })));
        spec.privileged = true;
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        assert!(!has(&plan, "mask /proc/kcore") && !has(&plan, "make /proc/sys read-only"));
        assert_eq!(sys_flags(&plan) & libc::MS_RDONLY, 0);
        // Every host device but the bound ones gets a node of its own, before pivot_root.
        let pivot = plan
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::PivotRoot { .. }))
            .unwrap();
        for dev in host_devices() {
            let what = format!("create /dev/{}", dev.path);
            let at = plan.steps.iter().position(|s| s.what == what);
            if DEVICES.contains(&dev.path.as_str()) {
                continue;
            }
            assert!(at.is_some_and(|at| at < pivot), "{what}");
        }
        assert!(
            !host_devices()
                .iter()
                .any(|d| d.path == "ptmx" || d.path.starts_with("pts/"))
        );
    }
}
