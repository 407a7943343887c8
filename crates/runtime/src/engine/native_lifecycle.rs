//! The lifecycle operations of [`NativeRuntime`] (`create` … `delete`, see the
//! [module docs](super)).
//!
//! `create` runs the same plan as `run`, made by [`Plan::await_start`] into the plan of a
//! created container: no parent-death signal, and a last step before the program's `execve`
//! that writes one byte to a socket (set-up done: `create` returns) and waits for one byte
//! back (`start`). A socket whose peer closes (delete of a created container) makes the
//! process exit 127 there. Each container gets a reaper thread that waits for its first
//! process: it looks at the exit with `WNOWAIT`, marks the container stopped and only then
//! reaps it, under the lock, so a pid that `kill` signals is never a recycled one.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::debug;

use super::cgroups::Cgroups;
use super::lifecycle::{Resources, State, Stats, Status, cgroup_stats, invalid_state};
use super::native::{clone_flags, clone_into_namespaces, pipe, setup_failure, wait};
use super::plan::Plan;
use super::{ExitStatus, NativeRuntime, Stdio};
use crate::cgroupfs::ContainerCgroups;
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// How long `delete` waits for a killed container to be reaped.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The containers of one [`NativeRuntime`], by id.
#[derive(Debug, Default)]
pub(crate) struct Containers {
    map: Mutex<HashMap<String, Entry>>,
}

/// One container made by `create`.
#[derive(Debug)]
struct Entry {
    status: Status,
    /// Host pid of its first process (0 while creating).
    pid: u32,
    exit: Option<ExitStatus>,
    /// Our end of the start socket, until `start`.
    start: Option<UnixStream>,
    /// The read end of the set-up error pipe, until `start` reads the exec's outcome.
    errors: Option<OwnedFd>,
    /// What each plan step does, and which are the `execve`, to word a failure at start.
    steps: Vec<String>,
    exec_steps: Vec<usize>,
    program: String,
    /// Removed on drop (when the entry is deleted).
    cgroups: Cgroups,
}

impl Entry {
    fn creating() -> Entry {
        Entry {
            status: Status::Creating,
            pid: 0,
            exit: None,
            start: None,
            errors: None,
            steps: Vec::new(),
            exec_steps: Vec::new(),
            program: String::new(),
            cgroups: Cgroups::default(),
        }
    }
}

impl Containers {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound { id: id.to_string() }
}

/// A connected pair of close-on-exec unix stream sockets.
fn socketpair() -> std::io::Result<(UnixStream, UnixStream)> {
    UnixStream::pair()
}

impl NativeRuntime {
    pub(super) fn create_inner(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<u32> {
        spec.validate()?;
        let id = spec.id.clone();
        {
            let mut map = self.containers.lock();
            if map.contains_key(&id) {
                return Err(Error::AlreadyExists { id });
            }
            map.insert(id.clone(), Entry::creating());
        }
        let entry = match self.create_process(spec, stdio) {
            Ok(entry) => entry,
            Err(e) => {
                self.containers.lock().remove(&id);
                return Err(e);
            }
        };
        let pid = entry.pid;
        self.containers.lock().insert(id.clone(), entry);
        let containers = Arc::clone(&self.containers);
        let spawned = std::thread::Builder::new()
            .name("berth-reaper".into())
            .spawn(move || reap(&containers, &id, pid as libc::pid_t));
        if let Err(source) = spawned {
            // Without a reaper nobody would see it end: undo.
            // SAFETY: killing our own child, still unreaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let _ = wait(pid as libc::pid_t);
            self.containers.lock().remove(&spec.id);
            return Err(Error::Clone {
                id: spec.id.clone(),
                source,
            });
        }
        Ok(pid)
    }

    /// Clone the container's first process and let it set up until it waits for start.
    fn create_process(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<Entry> {
        let id = spec.id.as_str();
        let clone_error = |source| Error::Clone {
            id: id.to_string(),
            source,
        };
        let cgroups = Cgroups::create(spec)?;
        let sync = if cgroups.is_empty() {
            None
        } else {
            Some(pipe().map_err(clone_error)?)
        };
        let raw = |fd: &Option<OwnedFd>| fd.as_ref().map(|fd| fd.as_raw_fd());
        let mut plan = Plan::new(
            spec,
            [raw(&stdio.stdin), raw(&stdio.stdout), raw(&stdio.stderr)],
            sync.as_ref().map(|(read, _)| read.as_raw_fd()),
            stdio
                .console
                .as_ref()
                .map(|c| (c.socket.as_raw_fd(), c.rows, c.cols)),
        )?;
        let (mut start, child_start) = socketpair().map_err(clone_error)?;
        plan.await_start(child_start.as_raw_fd());
        let (read_end, write_end) = pipe().map_err(clone_error)?;
        debug!(id, rootfs = %spec.rootfs.display(), "create: clone3 into new namespaces");
        let pid = clone_into_namespaces(clone_flags(spec)).map_err(clone_error)?;
        if pid == 0 {
            super::child::run(&plan, write_end.as_raw_fd());
        }
        drop(write_end);
        drop(child_start);
        if let Some((sync_read, sync_write)) = sync {
            drop(sync_read);
            if let Err(e) = cgroups.add(pid) {
                // SAFETY: killing and reaping our own child, still blocked on the sync pipe.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let _ = wait(pid);
                return Err(e);
            }
            let _ = std::fs::File::from(sync_write).write_all(&[1]);
        }
        drop(stdio);
        // One byte: set-up is done and it waits for start. EOF: it failed (or was killed).
        let mut byte = [0u8; 1];
        if !matches!(start.read(&mut byte), Ok(1)) {
            if let Some(e) = setup_failure(&plan, read_end, id, &spec.args[0], pid) {
                return Err(e);
            }
            // SAFETY: killing and reaping our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait(pid);
            return Err(Error::Setup {
                id: id.to_string(),
                step: "wait for start".into(),
                source: std::io::Error::from_raw_os_error(libc::EPIPE),
            });
        }
        debug!(id, pid, "container created");
        Ok(Entry {
            status: Status::Created,
            pid: pid as u32,
            exit: None,
            start: Some(start),
            errors: Some(read_end),
            steps: plan.steps.iter().map(|s| s.what.clone()).collect(),
            exec_steps: (0..plan.steps.len()).filter(|i| plan.is_exec(*i)).collect(),
            program: spec.args[0].clone(),
            cgroups,
        })
    }

    pub(super) fn start_inner(&self, id: &str) -> Result<()> {
        let (mut start, errors, steps, exec_steps, program) = {
            let mut map = self.containers.lock();
            let entry = map.get_mut(id).ok_or_else(|| not_found(id))?;
            if entry.status != Status::Created {
                return Err(invalid_state(id, entry.status, "start"));
            }
            let (Some(start), Some(errors)) = (entry.start.take(), entry.errors.take()) else {
                return Err(invalid_state(id, entry.status, "start"));
            };
            entry.status = Status::Running;
            (
                start,
                errors,
                std::mem::take(&mut entry.steps),
                std::mem::take(&mut entry.exec_steps),
                entry.program.clone(),
            )
        };
        if start.write_all(&[1]).is_err() {
            // It ended while created (killed): the reaper marks it stopped.
            return Err(invalid_state(id, Status::Stopped, "start"));
        }
        drop(start);
        // EOF: the program was executed; 8 bytes: the exec (or the init's fork) failed.
        let mut report = Vec::with_capacity(8);
        let read = std::fs::File::from(errors).read_to_end(&mut report);
        if let (Ok(8), Some((index, errno))) = (read, report.split_first_chunk::<4>()) {
            let index = u32::from_ne_bytes(*index) as usize;
            let errno = i32::from_ne_bytes(errno.try_into().unwrap_or_default());
            let source = std::io::Error::from_raw_os_error(errno);
            return Err(if exec_steps.contains(&index) {
                Error::Exec {
                    id: id.to_string(),
                    program,
                    source,
                }
            } else {
                Error::Setup {
                    id: id.to_string(),
                    step: steps.get(index).cloned().unwrap_or_default(),
                    source,
                }
            });
        }
        debug!(id, "container started");
        Ok(())
    }

    pub(super) fn state_inner(&self, id: &str) -> Result<State> {
        let map = self.containers.lock();
        let entry = map.get(id).ok_or_else(|| not_found(id))?;
        Ok(State {
            status: entry.status,
            pid: entry.pid,
            exit: entry.exit,
        })
    }

    pub(super) fn kill_inner(&self, id: &str, signal: i32) -> Result<()> {
        let map = self.containers.lock();
        let entry = map.get(id).ok_or_else(|| not_found(id))?;
        if matches!(entry.status, Status::Stopped | Status::Creating) {
            return Err(invalid_state(id, entry.status, "kill"));
        }
        // Under the lock: the reaper marks the entry stopped before it reaps, so the pid
        // is still our (maybe zombie) child here.
        // SAFETY: kill(2) on our own child.
        if unsafe { libc::kill(entry.pid as libc::pid_t, signal) } < 0 {
            return Err(Error::io(
                format!("/proc/{}", entry.pid),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// `pause` (`frozen`) or `resume`.
    pub(super) fn freeze(&self, id: &str, frozen: bool) -> Result<()> {
        let mut map = self.containers.lock();
        let entry = map.get_mut(id).ok_or_else(|| not_found(id))?;
        let (from, to, op) = if frozen {
            (Status::Running, Status::Paused, "pause")
        } else {
            (Status::Paused, Status::Running, "resume")
        };
        if entry.status != from {
            return Err(invalid_state(id, entry.status, op));
        }
        let cgroups = ContainerCgroups::find_under(entry.cgroups.parent(), id);
        if frozen {
            cgroups.freeze()?;
        } else {
            cgroups.thaw()?;
        }
        entry.status = to;
        Ok(())
    }

    pub(super) fn delete_inner(&self, id: &str, force: bool) -> Result<()> {
        let status = self.state_inner(id)?.status;
        match status {
            Status::Stopped => {}
            Status::Created => self.stop(id, false)?,
            Status::Running | Status::Paused if force => self.stop(id, status == Status::Paused)?,
            _ => return Err(invalid_state(id, status, "delete")),
        }
        let entry = self.containers.lock().remove(id);
        // Outside the lock: removing the cgroups may wait for the last tasks to drain.
        drop(entry);
        debug!(id, "container deleted");
        Ok(())
    }

    /// Kill the container (thawing it first if `paused`) and wait until it is reaped.
    fn stop(&self, id: &str, paused: bool) -> Result<()> {
        {
            let mut map = self.containers.lock();
            let entry = map.get_mut(id).ok_or_else(|| not_found(id))?;
            // A created container also sees EOF on its start socket and exits there.
            entry.start = None;
            if entry.status != Status::Stopped {
                // SAFETY: kill(2) on our own, unreaped child (see `kill_inner`).
                unsafe { libc::kill(entry.pid as libc::pid_t, libc::SIGKILL) };
            }
            if paused {
                let _ = ContainerCgroups::find_under(entry.cgroups.parent(), id).thaw();
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.state_inner(id)?.status != Status::Stopped {
            if Instant::now() > deadline {
                return Err(Error::Wait {
                    id: id.to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the killed container did not end",
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    pub(super) fn update_inner(&self, id: &str, resources: &Resources) -> Result<()> {
        let parent = self.live_parent(id, "update")?;
        super::lifecycle::write_resources(&parent, id, resources)
    }

    pub(super) fn stats_inner(&self, id: &str) -> Result<Stats> {
        let parent = {
            let map = self.containers.lock();
            let entry = map.get(id).ok_or_else(|| not_found(id))?;
            entry.cgroups.parent().to_string()
        };
        cgroup_stats(&parent, id)
    }

    /// The parent cgroup of a container that is not stopped (or creating).
    fn live_parent(&self, id: &str, op: &str) -> Result<String> {
        let map = self.containers.lock();
        let entry = map.get(id).ok_or_else(|| not_found(id))?;
        if matches!(entry.status, Status::Stopped | Status::Creating) {
            return Err(invalid_state(id, entry.status, op));
        }
        Ok(entry.cgroups.parent().to_string())
    }
}

/// The reaper thread of container `id`: wait for `pid` to end, mark the container stopped
/// with its exit status, then reap it (in that order, under the lock; see the module doc).
fn reap(containers: &Containers, id: &str, pid: libc::pid_t) {
    loop {
        // SAFETY: waitid into a zeroed local; WNOWAIT leaves the child unreaped.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    let mut map = containers.lock();
    let status = wait(pid);
    debug!(id, pid, ?status, "container exited");
    if let Some(entry) = map.get_mut(id).filter(|e| e.pid == pid as u32) {
        entry.status = Status::Stopped;
        entry.exit = status.ok();
        entry.start = None;
    }
}
