//! Container engines behind one small seam, [`Runtime`]: run a [`ContainerSpec`] to completion
//! with the given stdio and return its exit status. Implementations:
//!
//! - [`NativeRuntime`]: berth's own in-process engine (`clone3` into new namespaces,
//!   `pivot_root`, kernel filesystems, capability drop, `execve`), the default.
//! - [`OciRuntime`]: an external OCI runtime (`--runtime runc`), given a bundle.
//! - [`FakeRuntime`]: the in-memory fake for tests of the layers above.
//!
//! # The engine decision (measured; `docs/runtime-engine.md` has the commands and numbers)
//!
//! berth owns a lean engine built on `libc` alone rather than embedding youki's
//! `libcontainer` 0.7. `libcontainer` does work here, hybrid cgroups included, and starts a
//! `true` container in ~8 ms with its cgroups (runc: ~30 ms; this engine: ~2 ms before
//! cgroups). But it brings 67 more crates (protobuf for CRIU, netlink, procfs, a second nix
//! and rustix), ~2 more minutes per clean build, the C `libseccomp` at build time, and 37,000
//! lines we would carry without owning; and its children run ordinary Rust (allocation,
//! tracing) after a raw `clone3`, which is safe in youki's single-threaded CLI but can hang in
//! berth's multi-threaded process. This engine's child only walks a
//! precomputed plan of system calls (see `plan` and `child`). Cgroups, seccomp (with
//! `seccompiler`, pure Rust) and user namespaces are added as berth needs them; anything the
//! lean engine lacks stays reachable through [`OciRuntime`] and runc.
//!
//! # The lifecycle half of the seam
//!
//! Beside run-to-completion ([`Runtime::run`], [`Runtime::run_notify`]) and
//! [`Runtime::exec`], the seam has the OCI runtime operations on a container named by its id:
//! [`Runtime::create`], [`start`](Runtime::start), [`state`](Runtime::state),
//! [`kill`](Runtime::kill), [`pause`](Runtime::pause), [`resume`](Runtime::resume),
//! [`delete`](Runtime::delete), [`update`](Runtime::update) (the [`Resources`] `docker update`
//! changes) and [`stats`](Runtime::stats). One state machine for all engines (OCI's:
//! created → running ⇄ paused → stopped → deleted) with the same errors:
//! [`Error::NotFound`] for an unknown id, [`Error::InvalidState`] for an operation the state
//! forbids, [`Error::AlreadyExists`] for a second create. `conformance::conformance` checks
//! all of this against any engine (`tests/conformance.rs` runs it against each one here).
//!
//! - native: all of it, natively. `create` clones the first process and runs the whole
//!   set-up, which then waits on a socket just before the program's `execve` (OCI's
//!   "created"; no parent-death signal, so it outlives the call); `start` lets it go on. A
//!   thread per container reaps it and records its exit status. State is kept in memory,
//!   in the [`NativeRuntime`] value (clones share it): the processes are this process's
//!   children, so only it can reap them. `kill` signals the recorded pid, `pause`/`resume`
//!   use the cgroup freezer, `update` writes the cgroup files (v1 and v2), `stats` reads them
//!   ([`crate::cgroupfs`]), `delete` removes the cgroups.
//! - [`OciRuntime`] (runc, crun): each operation is the runtime's command of the same name
//!   (`update` with its flags); `stats` reads the cgroups the runtime made (the bundle's
//!   `cgroupsPath`). runc and crun do not report exit statuses ([`State::exit`] is `None`).
//! - [`FakeRuntime`]: in memory, no processes; pids are made up, `kill` stops a container
//!   with exit status "killed by the signal", `stats` reports fixed nonzero figures and
//!   the updated memory limit.
//!
//! Layering: engines call the OS and [`crate::spec`]; nothing here calls the image store or
//! the CLI. The seam is blocking: a container's life is a blocking wait, so async callers use
//! `spawn_blocking`.

mod cgroup_limits;
mod cgroups;
mod child;
mod child_tty;
#[doc(hidden)]
pub mod conformance;
mod console;
mod exec;
mod fake;
mod lifecycle;
mod native;
mod native_lifecycle;
mod oci;
mod oom;
mod plan;
mod seccomp;

use std::os::fd::OwnedFd;

pub use exec::{ExecTarget, ProcessSpec};
pub use fake::FakeRuntime;
pub use lifecycle::{Resources, State, Stats, Status, write_resources};
pub use native::NativeRuntime;
pub use oci::OciRuntime;
pub use oom::take_oom_kill;

use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// The container's standard streams. `None` inherits the caller's descriptor.
#[derive(Debug, Default)]
pub struct Stdio {
    /// Descriptor for the container's fd 0.
    pub stdin: Option<OwnedFd>,
    /// Descriptor for the container's fd 1.
    pub stdout: Option<OwnedFd>,
    /// Descriptor for the container's fd 2.
    pub stderr: Option<OwnedFd>,
    /// Give the container a terminal instead (`-t`): made in the container and its master
    /// sent over this socket; `stdin`, `stdout` and `stderr` are then unused.
    pub console: Option<Console>,
}

/// Where and how big a container's terminal is (see [`Stdio::console`]).
#[derive(Debug)]
pub struct Console {
    /// A connected unix socket; the terminal's master arrives on its peer (SCM_RIGHTS),
    /// as with an OCI runtime's `--console-socket`.
    pub socket: OwnedFd,
    /// Window rows (0: leave the kernel's default).
    pub rows: u16,
    /// Window columns (0: leave the kernel's default).
    pub cols: u16,
}

impl Stdio {
    /// Inherit all three streams from the caller.
    pub fn inherit() -> Self {
        Stdio::default()
    }
}

/// How a container's first process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl ExitStatus {
    /// The exit code Docker reports: the code itself, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(signal) => 128 + signal,
        }
    }

    /// Decode a `waitpid` status word.
    pub fn from_wait_status(status: i32) -> Self {
        if libc::WIFSIGNALED(status) {
            ExitStatus::Signaled(libc::WTERMSIG(status))
        } else {
            ExitStatus::Exited(libc::WEXITSTATUS(status))
        }
    }
}

/// A container engine. Implementations must leave nothing behind on the host when `run`
/// returns, whether it succeeded or not (mounts, state, bundle files).
pub trait Runtime: Send + Sync {
    /// A short name for logs and errors (`native`, `runc`…).
    fn name(&self) -> &str;

    /// Run `spec` in the foreground: set the container up, start its program with `stdio`,
    /// wait for it to end and return how it ended. Blocks the calling thread. A spec that fails
    /// [`ContainerSpec::validate`], a failed set-up step or a program that cannot be executed
    /// is an error, not an exit status.
    fn run(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<ExitStatus>;

    /// [`Runtime::run`], calling `on_start` with the host pid of the container's first process
    /// once its program has started (so the caller can record and signal it). Engines that
    /// cannot tell the pid run the container without calling it.
    fn run_notify(
        &self,
        spec: &ContainerSpec,
        stdio: Stdio,
        on_start: OnStart,
    ) -> Result<ExitStatus> {
        drop(on_start);
        self.run(spec, stdio)
    }

    /// Start `process` in the running container `target` (its namespaces, cgroups and
    /// confinement) with `stdio`, call `on_start` with its host pid once it has started, wait
    /// for it and return how it ended. Blocks the calling thread. A container that is not
    /// running is [`Error::NotRunning`]; a program that cannot be executed is
    /// [`Error::Exec`]. Engines that cannot exec return [`Error::Unsupported`].
    fn exec(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
        on_start: Option<OnStart>,
    ) -> Result<ExitStatus> {
        let _ = (process, stdio, on_start);
        Err(Error::Unsupported {
            id: target.id.clone(),
            runtime: self.name().to_string(),
            what: "exec".into(),
        })
    }

    /// [`Runtime::exec`] without waiting: returns once the program has started and leaves it
    /// running (`exec -d`).
    fn exec_detached(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
    ) -> Result<()> {
        let _ = (process, stdio);
        Err(Error::Unsupported {
            id: target.id.clone(),
            runtime: self.name().to_string(),
            what: "exec".into(),
        })
    }

    /// OCI `create`: set container `spec.id` up (namespaces, cgroups, root filesystem,
    /// confinement) with `stdio` and leave its first process waiting, not yet running the
    /// user program; returns that process's host pid. The state is then
    /// [`Status::Created`]. An id in use is [`Error::AlreadyExists`]; a spec or set-up that
    /// fails is the error [`Runtime::run`] would give, and leaves nothing behind.
    fn create(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<u32> {
        drop(stdio);
        Err(self.unsupported(&spec.id, "create"))
    }

    /// OCI `start`: run the user program of created container `id` (then
    /// [`Status::Running`]). A container that is not [`Status::Created`] is
    /// [`Error::InvalidState`]; a program that cannot be executed is [`Error::Exec`] where
    /// the engine can tell.
    fn start(&self, id: &str) -> Result<()> {
        Err(self.unsupported(id, "start"))
    }

    /// OCI `state`: where container `id` is in its life, its pid and, where known, how it
    /// ended. An unknown (or deleted) id is [`Error::NotFound`]. A container whose process
    /// has just ended may report [`Status::Running`] for a moment: poll.
    fn state(&self, id: &str) -> Result<State> {
        Err(self.unsupported(id, "state"))
    }

    /// OCI `kill`: send `signal` to the first process of container `id` (created, running or
    /// paused). A stopped container is [`Error::InvalidState`]. Returns once sent, not once
    /// the process has ended: poll [`Runtime::state`] for [`Status::Stopped`].
    fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let _ = signal;
        Err(self.unsupported(id, "kill"))
    }

    /// Freeze every process of running container `id` (the cgroup freezer), then
    /// [`Status::Paused`]. Anything but a running container is [`Error::InvalidState`].
    fn pause(&self, id: &str) -> Result<()> {
        Err(self.unsupported(id, "pause"))
    }

    /// Thaw paused container `id`, back to [`Status::Running`]. Anything but a paused
    /// container is [`Error::InvalidState`].
    fn resume(&self, id: &str) -> Result<()> {
        Err(self.unsupported(id, "resume"))
    }

    /// OCI `delete`: forget container `id` and remove what it left (cgroups, state, bundle).
    /// Stopped and created containers are deleted as they are; running or paused ones are
    /// [`Error::InvalidState`] unless `force`, which kills them (SIGKILL) first.
    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let _ = force;
        Err(self.unsupported(id, "delete"))
    }

    /// Change the live-changeable resources of container `id` (`docker update`); fields
    /// that are `None` stay as they are. A stopped container is [`Error::InvalidState`]; a
    /// controller it has no cgroup of, [`Error::NoCgroup`].
    fn update(&self, id: &str, resources: &Resources) -> Result<()> {
        let _ = resources;
        Err(self.unsupported(id, "update"))
    }

    /// What container `id` uses now (CPU time, memory and limit, tasks, block I/O), from its
    /// cgroups. An unknown id is [`Error::NotFound`].
    fn stats(&self, id: &str) -> Result<Stats> {
        Err(self.unsupported(id, "stats"))
    }

    /// [`Error::Unsupported`] for `what` on container `id` by this engine.
    #[doc(hidden)]
    fn unsupported(&self, id: &str, what: &str) -> Error {
        Error::Unsupported {
            id: id.to_string(),
            runtime: self.name().to_string(),
            what: what.into(),
        }
    }
}

/// Called once with the host pid of a container's first process (see [`Runtime::run_notify`]).
pub type OnStart = Box<dyn FnOnce(u32) + Send>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_maps_signals_to_128_plus_n() {
        // Encodings from wait(2): exit code in bits 8..16, signal in the low 7 bits.
        assert_eq!(ExitStatus::from_wait_status(3 << 8), ExitStatus::Exited(3));
        assert_eq!(ExitStatus::from_wait_status(9), ExitStatus::Signaled(9));
        assert_eq!(ExitStatus::Signaled(9).code(), 137);
        assert_eq!(ExitStatus::Exited(3).code(), 3);
    }

    #[test]
    fn fake_follows_the_lifecycle_state_machine() {
        let fake = FakeRuntime::new(ExitStatus::Exited(0), "");
        let make = |name: &str| ContainerSpec::new(format!("unit-{name}"), "/", vec!["sh".into()]);
        conformance::conformance(&fake, &make, conformance::Checks::default());
        // Killed by a signal: 128 + n, as a real container killed by it.
        let spec = make("killed");
        let pid = fake.create(&spec, Stdio::inherit()).unwrap();
        fake.start(&spec.id).unwrap();
        fake.kill(&spec.id, libc::SIGKILL).unwrap();
        let state = fake.state(&spec.id).unwrap();
        assert_eq!((state.status, state.pid), (Status::Stopped, pid));
        assert_eq!(state.exit.map(ExitStatus::code), Some(137));
    }

    #[test]
    fn resources_become_oci_update_flags() {
        let resources = Resources {
            memory: Some(64 << 20),
            cpu_quota: Some(-1),
            cpuset_cpus: Some("0-1".into()),
            pids_limit: Some(10),
            ..Resources::default()
        };
        assert_eq!(
            resources.oci_args(),
            [
                "--memory=67108864",
                "--cpu-quota=-1",
                "--cpuset-cpus=0-1",
                "--pids-limit=10"
            ]
        );
        assert!(Resources::default().is_empty());
        assert_eq!(Status::parse("paused"), Some(Status::Paused));
        assert_eq!(Status::Created.to_string(), "created");
        assert_eq!(Status::parse("gone"), None);
    }

    #[test]
    fn fake_records_runs() {
        let fake = FakeRuntime::new(ExitStatus::Exited(5), "out");
        let spec = ContainerSpec::new("f1", "/", vec!["x".into()]);
        assert_eq!(fake.run(&spec, Stdio::inherit()).unwrap().code(), 5);
        assert_eq!(fake.runs(), vec![spec]);
    }
}
