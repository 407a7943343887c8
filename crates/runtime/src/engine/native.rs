//! [`NativeRuntime`]: berth's own in-process engine. The parent builds the
//! [`Plan`](super::plan::Plan), `clone3`s the container's first process straight into new
//! mount, pid, uts, ipc, net and cgroup namespaces (so it is pid 1 there; those the spec shares
//! with the host, `--pid/--ipc/--uts/--network/--cgroupns host`, are kept), waits on a
//! close-on-exec error pipe for set-up to succeed or fail, then waits for the exit status.
//!
//! Clean-up is the kernel's: every mount lives in the container's own mount namespace, which
//! disappears with its last process, so nothing is left on the host even if berth is killed.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tracing::debug;

use super::cgroups::Cgroups;
use super::plan::Plan;
use super::{ExecTarget, ExitStatus, OnStart, ProcessSpec, Runtime, Stdio};
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// Namespaces every container gets at clone (but those it shares with the host: `host_network`,
/// `pid_host`, `ipc_host`, `uts_host`). No
/// user namespace yet: the engine runs as real root. The cgroup namespace comes later, from the
/// child itself, once it is in its cgroups (not with `cgroupns_host`).
const NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWNET) as u64;

/// `struct clone_args` up to `tls` (`CLONE_ARGS_SIZE_VER0`, 64 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// berth's in-process container engine (see the [module docs](super) for why it exists).
/// Needs root (CAP_SYS_ADMIN); blocking.
#[derive(Debug, Clone, Default)]
pub struct NativeRuntime {
    /// The containers made with `create`, shared by clones of this value.
    pub(super) containers: std::sync::Arc<super::native_lifecycle::Containers>,
}

impl NativeRuntime {
    /// The engine. `run` keeps no state between containers; the containers of the
    /// lifecycle operations (`create`…`delete`) are kept in this value, shared by its clones.
    pub fn new() -> Self {
        NativeRuntime::default()
    }
}

/// The namespaces `spec`'s first process is cloned into: [`NAMESPACES`] but those it
/// shares with the host.
pub(super) fn clone_flags(spec: &ContainerSpec) -> u64 {
    let shared = [
        (spec.host_network, libc::CLONE_NEWNET),
        (spec.pid_host, libc::CLONE_NEWPID),
        (spec.ipc_host, libc::CLONE_NEWIPC),
        (spec.uts_host, libc::CLONE_NEWUTS),
    ];
    shared
        .iter()
        .filter(|(host, _)| *host)
        .fold(NAMESPACES, |flags, (_, ns)| flags & !(*ns as u64))
}

/// Fork-like `clone3` (no new stack: the child runs on a copy of ours) into new namespaces;
/// falls back to `clone` where seccomp hides `clone3` (ENOSYS).
pub(super) fn clone_into_namespaces(flags: u64) -> std::io::Result<libc::pid_t> {
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: with no stack given, clone3 returns twice like fork; the child only runs
    // `child::run`, which keeps to the rules in its module doc.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            size_of::<CloneArgs>(),
        )
    };
    if pid >= 0 {
        return Ok(pid as libc::pid_t);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() != Some(libc::ENOSYS) {
        return Err(error);
    }
    // SAFETY: as above; x86_64 and aarch64 both take (flags, stack, ptid, ctid, tls).
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(pid as libc::pid_t)
    }
}

pub(super) fn wait(pid: libc::pid_t) -> std::io::Result<ExitStatus> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child into a local.
        if unsafe { libc::waitpid(pid, &mut status, 0) } >= 0 {
            return Ok(ExitStatus::from_wait_status(status));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Wait for the child's set-up report on `read_end`: EOF means its `execve` succeeded; an
/// 8-byte report (step index, errno) means it failed at that step and exited — it is reaped
/// and the failure returned as the error of the step (or of executing `program`).
pub(super) fn setup_failure(
    plan: &Plan,
    read_end: OwnedFd,
    id: &str,
    program: &str,
    pid: libc::pid_t,
) -> Option<Error> {
    let mut report = Vec::with_capacity(8);
    let read = std::fs::File::from(read_end).read_to_end(&mut report);
    let (Ok(8), Some((index, errno))) = (read, report.split_first_chunk::<4>()) else {
        return None;
    };
    let index = u32::from_ne_bytes(*index) as usize;
    let errno = i32::from_ne_bytes(errno.try_into().unwrap_or_default());
    let _ = wait(pid); // reap it; it has exited with 127
    let source = std::io::Error::from_raw_os_error(errno);
    debug!(id = %id, step = index, errno, "set-up failed");
    Some(if plan.is_exec(index) {
        Error::Exec {
            id: id.to_string(),
            program: program.to_string(),
            source,
        }
    } else {
        Error::Setup {
            id: id.to_string(),
            step: plan.steps[index].what.clone(),
            source,
        }
    })
}

pub(super) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Runtime for NativeRuntime {
    fn name(&self) -> &str {
        "native"
    }

    fn run(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<ExitStatus> {
        self.run_inner(spec, stdio, None)
    }

    fn run_notify(
        &self,
        spec: &ContainerSpec,
        stdio: Stdio,
        on_start: OnStart,
    ) -> Result<ExitStatus> {
        self.run_inner(spec, stdio, Some(on_start))
    }

    fn exec(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
        on_start: Option<OnStart>,
    ) -> Result<ExitStatus> {
        self.exec_inner(target, process, stdio, on_start, false)
    }

    fn exec_detached(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
    ) -> Result<()> {
        self.exec_inner(target, process, stdio, None, true)
            .map(drop)
    }

    fn create(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<u32> {
        self.create_inner(spec, stdio)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.start_inner(id)
    }

    fn state(&self, id: &str) -> Result<super::State> {
        self.state_inner(id)
    }

    fn kill(&self, id: &str, signal: i32) -> Result<()> {
        self.kill_inner(id, signal)
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.freeze(id, true)
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.freeze(id, false)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        self.delete_inner(id, force)
    }

    fn update(&self, id: &str, resources: &super::Resources) -> Result<()> {
        self.update_inner(id, resources)
    }

    fn stats(&self, id: &str) -> Result<super::Stats> {
        self.stats_inner(id)
    }
}

impl NativeRuntime {
    fn run_inner(
        &self,
        spec: &ContainerSpec,
        stdio: Stdio,
        on_start: Option<OnStart>,
    ) -> Result<ExitStatus> {
        spec.validate()?;
        let id = spec.id.clone();
        let clone_error = |source| Error::Clone {
            id: id.clone(),
            source,
        };
        // Removed on drop, after the container has exited (or set-up failed).
        let cgroups = Cgroups::create(spec)?;
        let sync = if cgroups.is_empty() {
            None
        } else {
            Some(pipe().map_err(clone_error)?)
        };
        let raw = |fd: &Option<OwnedFd>| fd.as_ref().map(|fd| fd.as_raw_fd());
        let plan = Plan::new(
            spec,
            [raw(&stdio.stdin), raw(&stdio.stdout), raw(&stdio.stderr)],
            sync.as_ref().map(|(read, _)| read.as_raw_fd()),
            stdio
                .console
                .as_ref()
                .map(|c| (c.socket.as_raw_fd(), c.rows, c.cols)),
        )?;
        let (read_end, write_end) = pipe().map_err(clone_error)?;
        debug!(id = %id, rootfs = %spec.rootfs.display(), "clone3 into new namespaces");
        let pid = clone_into_namespaces(clone_flags(spec)).map_err(clone_error)?;
        if pid == 0 {
            super::child::run(&plan, write_end.as_raw_fd());
        }
        // The child has its own copies; ours must close so the pipe reports EOF on exec.
        drop(write_end);
        if let Some((sync_read, sync_write)) = sync {
            drop(sync_read);
            if let Err(e) = cgroups.add(pid) {
                // SAFETY: killing and reaping our own child, still blocked on the sync pipe.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = wait(pid);
                return Err(e);
            }
            // The child is in its cgroups: let it go on.
            let _ = std::fs::File::from(sync_write).write_all(&[1]);
        }
        drop(stdio);
        if let Some(e) = setup_failure(&plan, read_end, &id, &spec.args[0], pid) {
            return Err(e);
        }
        debug!(id = %id, pid, "container started");
        if let Some(on_start) = on_start {
            on_start(pid as u32);
        }
        let status = wait(pid).map_err(|source| Error::Wait {
            id: id.clone(),
            source,
        })?;
        debug!(id = %id, ?status, "container exited");
        if cgroups.oom_kills() > 0 {
            super::oom::record(&id);
        }
        drop(cgroups);
        Ok(status)
    }
}
