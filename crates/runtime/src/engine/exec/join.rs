//! Finding a running container to join: a pidfd of its first process (refusing a recycled
//! pid) and the cgroup directories it is in.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use tracing::debug;

use crate::error::{Error, Result};

/// The cgroup directories (one per hierarchy) process `pid` is in and this process is not,
/// from `/proc/PID/cgroup` and the cgroup mounts in `/proc/self/mountinfo`.
pub(super) fn cgroup_dirs(id: &str, pid: u32) -> Result<Vec<PathBuf>> {
    let read = |path: String| {
        std::fs::read_to_string(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => Error::NotRunning { id: id.to_string() },
            _ => Error::io(path, e),
        })
    };
    let theirs = read(format!("/proc/{pid}/cgroup"))?;
    let ours = read("/proc/self/cgroup".to_string())?;
    let mountinfo = read("/proc/self/mountinfo".to_string())?;
    // (mount root, mount point, fstype, super options) of each cgroup mount.
    let mounts: Vec<(&str, &str, &str, &str)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (root, point) = (*left.get(3)?, *left.get(4)?);
            let (fstype, options) = (*right.first()?, *right.get(2)?);
            matches!(fstype, "cgroup" | "cgroup2").then_some((root, point, fstype, options))
        })
        .collect();
    let mut dirs = Vec::new();
    for line in theirs.lines() {
        if ours.lines().any(|l| l == line) {
            continue;
        }
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount = mounts.iter().find(|(_, _, fstype, options)| {
            if controllers.is_empty() {
                *fstype == "cgroup2"
            } else {
                *fstype == "cgroup"
                    && controllers
                        .split(',')
                        .all(|c| options.split(',').any(|o| o == c))
            }
        });
        let Some((root, point, _, _)) = mount else {
            debug!(id, line, "no mount for this cgroup hierarchy; not joined");
            continue;
        };
        let Some(rel) = path.strip_prefix(root.trim_end_matches('/')) else {
            continue;
        };
        dirs.push(PathBuf::from(point).join(rel.trim_start_matches('/')));
    }
    Ok(dirs)
}

/// `pidfd_open(pid)`, refusing a process that is not a container's first process (pid 1 in a
/// pid namespace of its own), so a recycled pid is never joined.
pub(super) fn open_container(id: &str, pid: u32) -> Result<OwnedFd> {
    let not_running = || Error::NotRunning { id: id.to_string() };
    if pid == 0 {
        return Err(not_running());
    }
    // SAFETY: pidfd_open returns a new descriptor we own, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(not_running());
    }
    // SAFETY: a fresh descriptor.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let nspid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .unwrap_or_default();
    // SAFETY: signal 0 only checks that the pidfd's process is still alive; if it is, the pid
    // was not recycled, so the status read above was its own.
    let alive = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    } == 0;
    if !alive || nspid.len() < 2 || nspid.last() != Some(&"1") {
        return Err(not_running());
    }
    Ok(pidfd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_or_plain_process_is_not_a_container() {
        assert!(matches!(
            open_container("x1", 0),
            Err(Error::NotRunning { .. })
        ));
        // This test process is not pid 1 of a pid namespace of its own.
        assert!(matches!(
            open_container("x1", std::process::id()),
            Err(Error::NotRunning { .. })
        ));
    }
}
