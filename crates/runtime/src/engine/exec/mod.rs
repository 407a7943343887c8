//! `exec`: a new process in a running container. [`ExecTarget`] names the container (its id
//! and the host pid of its first process), [`ProcessSpec`] says what to run and as whom.
//!
//! The native engine joins the container from the outside, as runc does: a pidfd of the
//! container's first process pins it (a dead container is refused, a recycled pid cannot be
//! joined by mistake); a dedicated thread (never a pool thread: the setting sticks to it)
//! `setns`es its pid namespace for children, then clones the process, which is therefore in
//! the container's pid namespace; the process joins the other namespaces itself with
//! `setns(pidfd, …)` (the mount namespace may not be joined by a multi-threaded caller, but
//! it can be by this single-threaded clone), waits while the parent writes its pid into the
//! container's cgroups (every hierarchy the container's first process is in), then takes the
//! container's working directory, no_new_privs, seccomp filter, capabilities and user and
//! execs. The thread stays until the process ends: it is the parent the parent-death signal
//! watches.

mod join;
mod process;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use tracing::debug;

use super::native::{clone_into_namespaces, pipe, setup_failure, wait};
use super::plan::{Op, Plan, Step, capability_mask, cstr, exec_step};
use super::{ExitStatus, NativeRuntime, OnStart, Stdio};
use crate::error::{Error, Result};
use join::{cgroup_dirs, open_container};
pub use process::ProcessSpec;

/// The running container to exec into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecTarget {
    /// The container's id.
    pub id: String,
    /// The host pid of the container's first process (0 when the engine did not tell it).
    pub pid: u32,
}

/// Namespaces joined through the pidfd by the process itself (the pid one is joined by the
/// thread that clones it).
const JOINED: i32 = libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWNS;

/// The plan of an exec'd process: no mounts, only joins, then the same process steps as
/// [`Plan::new`] ends with. `detach`: no parent-death signal, a session of its own.
/// `console`: a unix socket and window size (rows, columns) for a terminal made in the
/// container's devpts, which then replaces `stdio` (and is the new session's terminal).
pub(super) fn plan(
    id: &str,
    process: &ProcessSpec,
    pidfd: i32,
    stdio: [Option<i32>; 3],
    sync: Option<i32>,
    detach: bool,
    console: Option<(i32, u16, u16)>,
) -> Result<Plan> {
    let mut steps = Vec::new();
    let mut step = |what: &str, op: Op| {
        steps.push(Step {
            what: what.to_string(),
            op,
        })
    };
    if !detach {
        step("set the parent-death signal", Op::DieWithParent);
    }
    step("reset signals", Op::ResetSignals);
    if let Some(fd) = sync {
        step("wait to be placed in the cgroups", Op::WaitForParent { fd });
    }
    step(
        "join the container's namespaces",
        Op::Setns {
            fd: pidfd,
            nstype: JOINED,
        },
    );
    step(
        "set up stdio",
        Op::Stdio {
            fds: stdio,
            keep: console.map_or(-1, |(socket, _, _)| socket),
            start: -1,
        },
    );
    if let Some((socket, rows, cols)) = console {
        // Joining the mount namespace made its root (the container's, after its pivot_root)
        // ours, so `/dev/pts/ptmx` is the container's devpts, as for `run -t`. The op starts
        // a session of its own, whose controlling terminal it is.
        step("create the terminal", Op::Console { socket, rows, cols });
    } else if detach {
        step("start a new session", Op::Setsid);
    }
    step(
        &format!("chdir to {}", process.cwd),
        Op::Chdir {
            path: cstr(id, process.cwd.as_str())?,
        },
    );
    let keep = capability_mask(&process.capabilities);
    if process.no_new_privileges {
        step("set no_new_privs", Op::NoNewPrivs);
    }
    if process.seccomp {
        step(
            "install the seccomp filter",
            Op::Seccomp {
                program: super::seccomp::program(
                    id,
                    process.seccomp_profile.as_ref(),
                    &process.capabilities,
                )?,
            },
        );
    }
    step("drop bounding capabilities", Op::DropBounding { keep });
    step(
        &format!("set uid {} gid {}", process.uid, process.gid),
        Op::Identity {
            uid: process.uid,
            gid: process.gid,
            groups: process.groups.clone(),
        },
    );
    if process.uid == 0 {
        step("set capabilities", Op::Capset { keep });
    }
    let (exec, strings) = exec_step(id, &process.args, process.full_env(), process.path_env())?;
    steps.push(exec);
    Ok(Plan::from_parts(steps, strings))
}

impl NativeRuntime {
    /// See [`super::Runtime::exec`]; with `detach`, returns once the program has started
    /// (`Exited(0)`), leaving it running.
    pub(super) fn exec_inner(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
        on_start: Option<OnStart>,
        detach: bool,
    ) -> Result<ExitStatus> {
        let id = target.id.clone();
        process.validate(&id)?;
        let pidfd = open_container(&id, target.pid)?;
        let cgroups = cgroup_dirs(&id, target.pid)?;
        let process = process.clone();
        // A thread of its own: its pid namespace for children changes for good.
        std::thread::Builder::new()
            .name("berth-exec".into())
            .spawn(move || exec_thread(id, process, pidfd, cgroups, stdio, on_start, detach))
            .map_err(|source| Error::Clone {
                id: target.id.clone(),
                source,
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Clone {
                    id: target.id.clone(),
                    source: std::io::Error::other("the exec thread panicked"),
                })
            })
    }
}

fn exec_thread(
    id: String,
    process: ProcessSpec,
    pidfd: OwnedFd,
    cgroups: Vec<PathBuf>,
    stdio: Stdio,
    on_start: Option<OnStart>,
    detach: bool,
) -> Result<ExitStatus> {
    let clone_error = |source| Error::Clone {
        id: id.clone(),
        source,
    };
    // SAFETY: setns on a descriptor we own; it changes only this thread's pid namespace
    // for children.
    if unsafe { libc::setns(pidfd.as_raw_fd(), libc::CLONE_NEWPID) } < 0 {
        let error = std::io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::ESRCH) => Error::NotRunning { id },
            _ => clone_error(error),
        });
    }
    let sync = if cgroups.is_empty() {
        None
    } else {
        Some(pipe().map_err(clone_error)?)
    };
    let raw = |fd: &Option<OwnedFd>| fd.as_ref().map(|fd| fd.as_raw_fd());
    let plan = plan(
        &id,
        &process,
        pidfd.as_raw_fd(),
        [raw(&stdio.stdin), raw(&stdio.stdout), raw(&stdio.stderr)],
        sync.as_ref().map(|(read, _)| read.as_raw_fd()),
        detach,
        stdio
            .console
            .as_ref()
            .map(|c| (c.socket.as_raw_fd(), c.rows, c.cols)),
    )?;
    let (read_end, write_end) = pipe().map_err(clone_error)?;
    debug!(id = %id, program = %process.args[0], "clone into the container's pid namespace");
    let pid = match clone_into_namespaces(0) {
        // The container's first process has exited: its pid namespace takes no one.
        Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => return Err(Error::NotRunning { id }),
        other => other.map_err(clone_error)?,
    };
    if pid == 0 {
        super::child::run(&plan, write_end.as_raw_fd());
    }
    drop(write_end);
    drop(pidfd);
    if let Some((sync_read, sync_write)) = sync {
        drop(sync_read);
        for dir in &cgroups {
            let procs = dir.join("cgroup.procs");
            if let Err(source) = std::fs::write(&procs, pid.to_string()) {
                // SAFETY: killing and reaping our own child, still blocked on the sync pipe.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = wait(pid);
                return Err(Error::Cgroup {
                    id,
                    path: procs,
                    source,
                });
            }
        }
        let _ = std::fs::File::from(sync_write).write_all(&[1]);
    }
    drop(stdio);
    if let Some(e) = setup_failure(&plan, read_end, &id, &process.args[0], pid) {
        return Err(e);
    }
    debug!(id = %id, pid, "exec'd process started");
    if let Some(on_start) = on_start {
        on_start(pid as u32);
    }
    if detach {
        // Not waited for: when this process exits it is re-parented (to the host's init).
        return Ok(ExitStatus::Exited(0));
    }
    let status = wait(pid).map_err(|source| Error::Wait {
        id: id.clone(),
        source,
    })?;
    debug!(id = %id, ?status, "exec'd process exited");
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ContainerSpec;

    fn process() -> ProcessSpec {
        let spec = ContainerSpec::new("x1", "/tmp", vec!["sh".into()]);
        ProcessSpec::from_container(&spec, vec!["ps".into(), "-o".into(), "pid".into()])
    }

    #[test]
    fn exec_plan_joins_then_drops_then_execs() {
        let plan = plan(
            "x1",
            &process(),
            9,
            [None, None, None],
            Some(8),
            false,
            None,
        )
        .unwrap();
        let position = |what: &str| plan.steps.iter().position(|s| s.what == what).unwrap();
        assert_eq!(plan.steps[0].what, "set the parent-death signal");
        assert!(
            position("wait to be placed in the cgroups")
                < position("join the container's namespaces")
        );
        assert!(position("join the container's namespaces") < position("set up stdio"));
        assert!(position("set up stdio") < position("chdir to /"));
        assert!(
            position("install the seccomp filter") + 1 == position("drop bounding capabilities")
        );
        assert!(position("set uid 0 gid 0") < position("set capabilities"));
        assert!(plan.is_exec(plan.steps.len() - 1));
        assert!(
            !plan
                .steps
                .iter()
                .any(|s| matches!(s.op, Op::Mount { .. } | Op::Setsid))
        );
    }

    #[test]
    fn detached_exec_has_its_own_session_and_no_death_signal() {
        let mut p = process();
        p.seccomp = false;
        p.uid = 1000;
        let plan = plan("x1", &p, 9, [None, None, None], None, true, None).unwrap();
        assert!(plan.steps.iter().any(|s| matches!(s.op, Op::Setsid)));
        assert!(!plan.steps.iter().any(|s| matches!(
            s.op,
            Op::DieWithParent | Op::Seccomp { .. } | Op::Capset { .. } | Op::WaitForParent { .. }
        )));
    }

    #[test]
    fn console_makes_the_terminal_after_joining_and_keeps_its_socket() {
        let plan = plan(
            "x1",
            &process(),
            9,
            [None, None, None],
            None,
            true,
            Some((7, 24, 80)),
        )
        .unwrap();
        let position = |what: &str| plan.steps.iter().position(|s| s.what == what).unwrap();
        assert!(position("join the container's namespaces") < position("set up stdio"));
        assert!(position("set up stdio") + 1 == position("create the terminal"));
        assert!(position("create the terminal") < position("chdir to /"));
        assert!(
            plan.steps
                .iter()
                .any(|s| matches!(s.op, Op::Stdio { keep: 7, .. }))
        );
        // The terminal op starts the session itself.
        assert!(!plan.steps.iter().any(|s| matches!(s.op, Op::Setsid)));
    }
}
