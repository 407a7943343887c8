//! [`OciRuntime`]: hand a container to an external OCI runtime (`--runtime PATH`: runc, crun,
//! youki) as a bundle: a directory holding the `config.json` from [`crate::spec::oci_spec`],
//! whose `root.path` points at the prepared rootfs. Runs `RUNTIME run` in the foreground.
//!
//! On this kind of host (hybrid cgroups, `hugetlb` on the v2 hierarchy) runc works as it is;
//! crun 1.8 refuses the cgroup layout and fails here (see `docs/runtime-engine.md`).

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
        command
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
        let mut command = self.command();
        command
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "run", "--bundle"])
            .arg(&bundle)
            .arg(id);
        let Stdio {
            stdin,
            stdout,
            stderr,
            console: _,
        } = stdio;
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
        let status = command.status().map_err(|source| Error::RuntimeSpawn {
            id: id.to_string(),
            runtime: self.binary.clone(),
            source,
        })?;
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
        drop(cleanup);
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Exited(code),
            (None, Some(signal)) => ExitStatus::Signaled(signal),
            (None, None) => ExitStatus::Exited(255),
        })
    }

    fn exec(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
        on_start: Option<OnStart>,
    ) -> Result<ExitStatus> {
        drop(on_start); // `runc exec` does not tell the pid
        self.exec_command(target, process, stdio, false)
    }

    fn exec_detached(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
    ) -> Result<()> {
        self.exec_command(target, process, stdio, true).map(drop)
    }
}

impl OciRuntime {
    /// `RUNTIME --root STATE exec [--detach] --process FILE ID`, the process written as an
    /// OCI `process` object next to the container's bundle and removed afterwards.
    fn exec_command(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
        detach: bool,
    ) -> Result<ExitStatus> {
        let id = target.id.as_str();
        process.validate(id)?;
        let dir = self.bundles.join(id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = dir.join(format!("exec-{}-{n}.json", std::process::id()));
        let caps = process
            .capabilities
            .iter()
            .map(|c| c.to_uppercase())
            .collect::<Vec<_>>();
        let json = serde_json::json!({
            "terminal": false,
            "user": { "uid": process.uid, "gid": process.gid, "additionalGids": process.groups },
            "args": process.args,
            "env": process.full_env(),
            "cwd": process.cwd,
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "noNewPrivileges": process.no_new_privileges,
        });
        std::fs::write(&file, json.to_string()).map_err(|e| Error::io(&file, e))?;
        let log = dir.join(format!("exec-{}-{n}.log", std::process::id()));
        let mut command = self.command();
        command
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "exec"]);
        if detach {
            command.arg("--detach");
        }
        command.arg("--process").arg(&file).arg(id);
        let Stdio {
            stdin,
            stdout,
            stderr,
            console: _,
        } = stdio;
        if let Some(fd) = stdin {
            command.stdin(fd);
        }
        if let Some(fd) = stdout {
            command.stdout(fd);
        }
        if let Some(fd) = stderr {
            command.stderr(fd);
        }
        // SAFETY: as in `run`: raw, async-signal-safe signal calls only.
        unsafe {
            command.pre_exec(|| {
                super::child::reset_signals().map_err(std::io::Error::from_raw_os_error)
            });
        }
        debug!(id, runtime = %self.binary.display(), "runtime exec");
        let status = command.status().map_err(|source| Error::RuntimeSpawn {
            id: id.to_string(),
            runtime: self.binary.clone(),
            source,
        });
        let errors = logged_errors(&log);
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&log);
        let status = status?;
        if !status.success() && !errors.is_empty() {
            let message = errors.to_lowercase();
            return Err(
                if message.contains("not running") || message.contains("stopped") {
                    Error::NotRunning { id: id.to_string() }
                } else if message.contains("executable file not found")
                    || message.contains("no such file")
                {
                    Error::Exec {
                        id: id.to_string(),
                        program: process.args[0].clone(),
                        source: std::io::Error::from_raw_os_error(libc::ENOENT),
                    }
                } else if message.contains("permission denied") {
                    Error::Exec {
                        id: id.to_string(),
                        program: process.args[0].clone(),
                        source: std::io::Error::from_raw_os_error(libc::EACCES),
                    }
                } else {
                    Error::RuntimeFailed {
                        id: id.to_string(),
                        runtime: self.binary.clone(),
                        message: errors,
                    }
                },
            );
        }
        use std::os::unix::process::ExitStatusExt;
        Ok(match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Exited(code),
            (None, Some(signal)) => ExitStatus::Signaled(signal),
            (None, None) => ExitStatus::Exited(255),
        })
    }
}
