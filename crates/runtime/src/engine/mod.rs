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
//! Layering: engines call the OS and [`crate::spec`]; nothing here calls the image store or
//! the CLI. The seam is blocking: a container's life is a blocking wait, so async callers use
//! `spawn_blocking`.

mod cgroup_limits;
mod cgroups;
mod child;
mod child_tty;
mod console;
mod exec;
mod fake;
mod native;
mod oci;
mod plan;
mod seccomp;

use std::os::fd::OwnedFd;

pub use exec::{ExecTarget, ProcessSpec};
pub use fake::FakeRuntime;
pub use native::NativeRuntime;
pub use oci::OciRuntime;

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
    fn fake_records_runs() {
        let fake = FakeRuntime::new(ExitStatus::Exited(5), "out");
        let spec = ContainerSpec::new("f1", "/", vec!["x".into()]);
        assert_eq!(fake.run(&spec, Stdio::inherit()).unwrap().code(), 5);
        assert_eq!(fake.runs(), vec![spec]);
    }
}
