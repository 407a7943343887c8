//! [`OciRuntime`]: hand a container to an external OCI runtime (`--runtime PATH`: runc, crun,
//! youki) as a bundle: a directory holding the `config.json` from [`crate::spec::oci_spec`],
//! whose `root.path` points at the prepared rootfs. Runs `RUNTIME run` in the foreground and
//! tells the container's pid from the runtime's `--pid-file`. With a terminal the runtime
//! detaches instead (runc takes a `--console-socket` only then): berth relays the master it
//! receives to the caller's [`super::Console`] and, as a subreaper, waits for the container.
//!
//! On this kind of host (hybrid cgroups, `hugetlb` on the v2 hierarchy) runc works as it is;
//! crun 1.8 refuses the layout ("cgroups in hybrid mode not supported, drop all controllers
//! from cgroupv2"). So crun runs in a mount namespace of its own where the v2 mount
//! (`/sys/fs/cgroup/unified`) is detached: there it sees plain v1 cgroups and uses them,
//! limits included. Nothing changes on the host (unlike moving `hugetlb` to a v1
//! hierarchy, which would be machine-wide).

mod exec;
mod lifecycle;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tracing::debug;

use super::{ExecTarget, ExitStatus, OnStart, ProcessSpec, Runtime, Stdio};
use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, write_bundle};

/// An external OCI runtime binary, with the directories it works in.
#[derive(Debug, Clone)]
pub struct OciRuntime {
    binary: PathBuf,
    state_root: PathBuf,
    bundles: PathBuf,
}

impl OciRuntime {
    /// Use `binary` (a path, or a name looked up in `PATH`), keeping its container state under
    /// `state_root` (its `--root`) and writing bundles to `bundles/<id>/`.
    ///
    /// ```no_run
    /// use berth_runtime::engine::{OciRuntime, Runtime, Stdio};
    /// use berth_runtime::spec::ContainerSpec;
    ///
    /// let runc = OciRuntime::new("runc", "/run/berth/runc", "/var/lib/berth/bundles");
    /// let spec = ContainerSpec::new("c1", "/var/lib/berth/c1/rootfs", vec!["true".into()]);
    /// let status = runc.run(&spec, Stdio::inherit()).unwrap();
    /// assert_eq!(status.code(), 0);
    /// ```
    pub fn new(
        binary: impl Into<PathBuf>,
        state_root: impl Into<PathBuf>,
        bundles: impl Into<PathBuf>,
    ) -> Self {
        OciRuntime {
            binary: binary.into(),
            state_root: state_root.into(),
            bundles: bundles.into(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--root").arg(&self.state_root);
        if self.is_crun() && hybrid_with_v2_controllers() {
            // SAFETY: the hook makes only raw unshare/mount/umount2 calls, which are
            // async-signal-safe, in the single-threaded child.
            unsafe { command.pre_exec(hide_cgroup_v2) };
        }
        command
    }

    /// Whether the binary is crun (by its file name: a path or a name in `PATH`).
    fn is_crun(&self) -> bool {
        self.binary
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("crun"))
    }
}

/// The v2 hierarchy of a hybrid cgroup layout.
const UNIFIED: &std::ffi::CStr = c"/sys/fs/cgroup/unified";

/// Whether the host has hybrid cgroups with controllers on the v2 side (which crun refuses).
fn hybrid_with_v2_controllers() -> bool {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .is_ok_and(|c| !c.trim().is_empty())
}

/// In the runtime's child, before exec: a mount namespace of its own (receiving the host's
/// later mounts and unmounts) without the v2 cgroup mount.
fn hide_cgroup_v2() -> std::io::Result<()> {
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: raw syscalls on static C strings.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ))?;
        check(libc::umount2(UNIFIED.as_ptr(), libc::MNT_DETACH))
    }
}

/// Removes the bundle and any state the runtime left, however `run` ends.
struct Cleanup<'a> {
    runtime: &'a OciRuntime,
    id: &'a str,
    bundle: PathBuf,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        // `run` deletes the container when it exits; this covers a runtime that died first.
        if self.runtime.state_root.join(self.id).exists() {
            let _ = self
                .runtime
                .command()
                .args(["delete", "--force", self.id])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.bundle);
    }
}

/// The runtime's own error messages from its JSON log (runc and crun write
/// `{"level":"error","msg":…}` lines), joined; empty when it logged none.
fn logged_errors(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| matches!(entry["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|entry| entry["msg"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Runtime for OciRuntime {
    fn name(&self) -> &str {
        self.binary.to_str().unwrap_or("oci")
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
        self.exec_command(target, process, stdio, on_start, false)
    }

    fn exec_detached(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
    ) -> Result<()> {
        self.exec_command(target, process, stdio, None, true)
            .map(drop)
    }

    fn create(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<u32> {
        self.op_create(spec, stdio)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.op_start(id)
    }

    fn state(&self, id: &str) -> Result<super::State> {
        self.op_state(id)
    }

    fn kill(&self, id: &str, signal: i32) -> Result<()> {
        self.op_kill(id, signal)
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.op_pause(id)
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.op_resume(id)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        self.op_delete(id, force)
    }

    fn update(&self, id: &str, resources: &super::Resources) -> Result<()> {
        self.op_update(id, resources)
    }

    fn stats(&self, id: &str) -> Result<super::Stats> {
        self.op_stats(id)
    }
}

impl OciRuntime {
    /// [`Runtime::run_notify`], `on_start` optional.
    fn run_inner(
        &self,
        spec: &ContainerSpec,
        stdio: Stdio,
        on_start: Option<OnStart>,
    ) -> Result<ExitStatus> {
        spec.validate()?;
        let id = spec.id.as_str();
        let bundle = self.bundles.join(id);
        let cleanup = Cleanup {
            runtime: self,
            id,
            bundle: bundle.clone(),
        };
        write_bundle(spec, &bundle)?;
        std::fs::create_dir_all(&self.state_root).map_err(|e| Error::io(&self.state_root, e))?;
        let log = bundle.join("runtime.log");
        let pid_file = bundle.join("runtime.pid");
        let mut command = self.command();
        command
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "run", "--bundle"])
            .arg(&bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        let Stdio {
            stdin,
            stdout,
            stderr,
            console,
        } = stdio;
        // A terminal: runc takes a console socket only when it detaches (crun either way),
        // so the runtime detaches, berth relays the master it receives and, as the nearest
        // subreaper, waits for the container itself.
        let console = match console {
            Some(console) => Some((console, detach_with_console(&mut command)?)),
            None => None,
        };
        command.arg(id);
        if let Some(fd) = stdin {
            command.stdin(fd);
        }
        if let Some(fd) = stdout {
            command.stdout(fd);
        }
        if let Some(fd) = stderr {
            command.stderr(fd);
        }
        // As the native engine does: ignored signals and the signal mask survive exec, and
        // runc passes them on to the container.
        // SAFETY: the hook makes only raw rt_sigaction/rt_sigprocmask calls, which are
        // async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                super::child::reset_signals().map_err(std::io::Error::from_raw_os_error)
            });
        }
        debug!(id, runtime = %self.binary.display(), bundle = %bundle.display(), "runtime run");
        let spawn_error = |source| Error::RuntimeSpawn {
            id: id.to_string(),
            runtime: self.binary.clone(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        // Our copies of the stdio descriptors: the container's own must be the last.
        drop(command);
        let (status, on_start) = match &console {
            Some((console, socket)) => (
                relay_console(&mut child, &socket.listener, console),
                on_start,
            ),
            None => (wait_telling_pid(&mut child, &pid_file, on_start), None),
        };
        let status = status.map_err(spawn_error)?;
        // Exit codes are ambiguous (runc's own failure is 1, like many programs'): its log says
        // whether the runtime itself failed.
        let errors = logged_errors(&log);
        debug!(id, ?status, errors, "runtime exited");
        if !status.success() && !errors.is_empty() {
            return Err(Error::RuntimeFailed {
                id: id.to_string(),
                runtime: self.binary.clone(),
                message: errors,
            });
        }
        let exit = if console.is_some() {
            drop(console);
            self.wait_detached(id, &pid_file, on_start)?
        } else {
            exit_status(status)
        };
        drop(cleanup);
        Ok(exit)
    }

    /// Wait for the process a detached runtime started (its host pid in `pid_file`), telling
    /// `on_start` its pid: it was re-parented to this process, a subreaper, when the runtime
    /// exited.
    fn wait_detached(
        &self,
        id: &str,
        pid_file: &Path,
        on_start: Option<OnStart>,
    ) -> Result<ExitStatus> {
        let pid = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
            .filter(|pid| *pid > 0)
            .ok_or_else(|| Error::RuntimeFailed {
                id: id.to_string(),
                runtime: self.binary.clone(),
                message: format!("no pid in {}", pid_file.display()),
            })?;
        if let Some(on_start) = on_start {
            on_start(pid as u32);
        }
        let status = super::native::wait(pid).map_err(|source| Error::Wait {
            id: id.to_string(),
            source,
        })?;
        let _ = std::fs::remove_file(pid_file);
        Ok(status)
    }
}

/// The exit status of a runtime that ran its process in the foreground.
fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Exited(code),
        (None, Some(signal)) => ExitStatus::Signaled(signal),
        (None, None) => ExitStatus::Exited(255),
    }
}

/// The listening socket a detaching runtime sends its terminal's master to, in a private
/// directory of its own under `/tmp` (a socket path must fit in 108 bytes, which a bundle
/// path may not), removed on drop.
struct ConsoleSocket {
    listener: std::os::unix::net::UnixListener,
    dir: PathBuf,
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Make `command` (a runtime's `run` or `exec`) make a terminal and detach: runc takes a
/// console socket only when it detaches (crun either way). Returns the listening socket
/// that [`relay_console`] serves. This process becomes a subreaper, so the detached process
/// is re-parented to it and can be waited for.
fn detach_with_console(command: &mut Command) -> Result<ConsoleSocket> {
    let mut template = *b"/tmp/berth-console-XXXXXX\0";
    // SAFETY: mkdtemp fills in the template in place and creates a 0700 directory.
    if unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) }.is_null() {
        return Err(Error::io("/tmp", std::io::Error::last_os_error()));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&template[..template.len() - 1]).as_ref());
    let path = dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            Error::io(&path, e)
        })?;
    command.arg("--detach").arg("--console-socket").arg(&path);
    // SAFETY: a plain prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    Ok(ConsoleSocket { listener, dir })
}

/// Wait for the (detaching) runtime `child` while accepting its connection on `listener`:
/// the terminal master it sends gets `console`'s window size and goes on to `console`'s
/// socket. Returns the runtime's exit status.
fn relay_console(
    child: &mut std::process::Child,
    listener: &std::os::unix::net::UnixListener,
    console: &super::Console,
) -> std::io::Result<std::process::ExitStatus> {
    let mut relayed = false;
    loop {
        let exited = child.try_wait()?;
        if !relayed {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    if let Some(master) = super::console::receive_fd(&stream)? {
                        super::console::set_window_size(&master, console.rows, console.cols);
                        super::console::send_fd(&console.socket, &master)?;
                    }
                    relayed = true;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        // Checked before the last accept: a connection made before the runtime exited is
        // queued and taken above.
        if let Some(status) = exited {
            return Ok(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Wait for the runtime `child`; until it has written the container's host pid to `pid_file`
/// (runc and crun write it before they start the program), poll for it and tell `on_start`,
/// even when the container was so short that the runtime has already exited.
fn wait_telling_pid(
    child: &mut std::process::Child,
    pid_file: &Path,
    mut on_start: Option<OnStart>,
) -> std::io::Result<std::process::ExitStatus> {
    // Parsed whole or not at all: a file being written is read again next time.
    let read_pid = || {
        std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .filter(|pid| *pid > 0)
    };
    while on_start.is_some() {
        let exited = child.try_wait()?;
        if let Some(pid) = read_pid()
            && let Some(on_start) = on_start.take()
        {
            on_start(pid);
        }
        if let Some(status) = exited {
            return Ok(status);
        }
        if on_start.is_some() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    child.wait()
}
