//! `exec` through an external runtime: `RUNTIME exec` with the process written as an OCI
//! `process` object; with a terminal, the runtime detaches and berth relays the master and
//! waits for the process itself, as for `run -t`.

use std::os::unix::process::CommandExt;

use tracing::debug;

use super::super::{ExecTarget, ExitStatus, OnStart, ProcessSpec, Stdio};
use super::{OciRuntime, logged_errors};
use crate::error::{Error, Result};

impl OciRuntime {
    /// `RUNTIME --root STATE exec [--detach] --process FILE ID`, the process written as an
    /// OCI `process` object next to the container's bundle and removed afterwards.
    pub(super) fn exec_command(
        &self,
        target: &ExecTarget,
        process: &ProcessSpec,
        stdio: Stdio,
        on_start: Option<OnStart>,
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
            "terminal": stdio.console.is_some() && !detach,
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
        let Stdio {
            stdin,
            stdout,
            stderr,
            console,
        } = stdio;
        let pid_file = dir.join(format!("exec-{}-{n}.pid", std::process::id()));
        let console = match console {
            // Not with `detach`: nobody would read the terminal.
            Some(console) if !detach => {
                let socket = super::detach_with_console(&mut command)?;
                command.arg("--pid-file").arg(&pid_file);
                Some((console, socket))
            }
            _ => {
                if detach {
                    command.arg("--detach");
                }
                None
            }
        };
        command.arg("--process").arg(&file).arg(id);
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
                super::super::child::reset_signals().map_err(std::io::Error::from_raw_os_error)
            });
        }
        debug!(id, runtime = %self.binary.display(), "runtime exec");
        let spawn_error = |source| Error::RuntimeSpawn {
            id: id.to_string(),
            runtime: self.binary.clone(),
            source,
        };
        let status = match &console {
            Some((console, socket)) => command
                .spawn()
                .and_then(|mut child| {
                    drop(command);
                    super::relay_console(&mut child, &socket.listener, console)
                })
                .map_err(spawn_error),
            None => command.status().map_err(spawn_error),
        };
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
        if console.is_some() {
            drop(console);
            return self.wait_detached(id, &pid_file, on_start);
        }
        drop(on_start); // the runtime does not tell the pid of a process it waits for
        Ok(super::exit_status(status))
    }
}
