//! The lifecycle operations through an external runtime: each is the runtime's command of
//! the same name (`create`, `start`, `state`, `kill`, `pause`, `resume`, `delete`,
//! `update`), under the same `--root` as `run`. The runtime's JSON log says why a command
//! failed; its words are mapped to the seam's errors (runc's and crun's wording: "does not
//! exist", "not running", "not paused"…). `stats` reads the cgroups the runtime made, below
//! the parent of the bundle's `linux.cgroupsPath`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use tracing::debug;

use super::super::lifecycle::{Resources, State, Stats, Status, cgroup_stats};
use super::super::{Runtime, Stdio};
use super::{OciRuntime, logged_errors};
use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, write_bundle};

impl OciRuntime {
    /// Run `RUNTIME --root STATE --log LOG --log-format json ARGS…` for container `id`
    /// (`op` names it in errors) and return its stdout; a failure is mapped from the log.
    fn lifecycle(
        &self,
        id: &str,
        op: &str,
        args: &[String],
        stdio: Option<Stdio>,
    ) -> Result<String> {
        std::fs::create_dir_all(&self.state_root).map_err(|e| Error::io(&self.state_root, e))?;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("berth-{op}-{}-{n}.log", std::process::id()));
        let mut command = self.command();
        command
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json"])
            .args(args);
        let output = match stdio {
            // create: the container's streams are the runtime's; its stdout is not ours to read.
            Some(stdio) => {
                if let Some(fd) = stdio.stdin {
                    command.stdin(fd);
                }
                if let Some(fd) = stdio.stdout {
                    command.stdout(fd);
                }
                if let Some(fd) = stdio.stderr {
                    command.stderr(fd);
                }
                // SAFETY: as in `run`: raw, async-signal-safe signal calls only.
                unsafe {
                    command.pre_exec(|| {
                        super::super::child::reset_signals()
                            .map_err(std::io::Error::from_raw_os_error)
                    });
                }
                command.status().map(|status| std::process::Output {
                    status,
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                })
            }
            None => command.stdin(std::process::Stdio::null()).output(),
        };
        drop(command);
        let errors = logged_errors(&log);
        let _ = std::fs::remove_file(&log);
        let output = output.map_err(|source| Error::RuntimeSpawn {
            id: id.to_string(),
            runtime: self.binary.clone(),
            source,
        })?;
        debug!(id, op, status = ?output.status, errors, "runtime {op}");
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let message = if errors.is_empty() {
            String::from_utf8_lossy(&output.stderr).trim().to_string()
        } else {
            errors
        };
        Err(self.classify(id, op, message))
    }

    /// The seam's error for a runtime's failure `message` of `op` on `id`.
    fn classify(&self, id: &str, op: &str, message: String) -> Error {
        let lower = message.to_lowercase();
        let id = id.to_string();
        if op == "create" && lower.contains("exists") && !lower.contains("not exist") {
            return Error::AlreadyExists { id };
        }
        if op != "create"
            && (lower.contains("does not exist")
                || lower.contains("not exist")
                || lower.contains("no such file or directory"))
        {
            return Error::NotFound { id };
        }
        let state_words = [
            "not running",
            "not paused",
            "not stopped",
            "already",
            "cannot start",
            "cannot kill",
            "cannot pause",
            "cannot resume",
            "cannot delete",
            "is stopped",
            "is paused",
            "invalid state",
            "in state",
        ];
        if op != "create" && state_words.iter().any(|w| lower.contains(w)) {
            let status = self
                .state_inner(&id)
                .map(|s| s.status.to_string())
                .unwrap_or_else(|_| "unknown".into());
            return Error::InvalidState {
                id,
                status,
                op: op.to_string(),
            };
        }
        Error::RuntimeFailed {
            id,
            runtime: self.binary.clone(),
            message,
        }
    }

    fn bundle(&self, id: &str) -> PathBuf {
        self.bundles.join(id)
    }

    fn create_inner(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<u32> {
        spec.validate()?;
        let id = spec.id.as_str();
        if stdio.console.is_some() {
            // The runtime would detach with a console socket; not wired for create yet.
            return Err(self.unsupported(id, "create with a terminal"));
        }
        if self.state_root.join(id).exists() {
            return Err(Error::AlreadyExists { id: id.to_string() });
        }
        let bundle = self.bundle(id);
        write_bundle(spec, &bundle)?;
        let pid_file = bundle.join("runtime.pid");
        let args = [
            "create".to_string(),
            "--bundle".into(),
            bundle.display().to_string(),
            "--pid-file".into(),
            pid_file.display().to_string(),
            id.to_string(),
        ];
        if let Err(e) = self.lifecycle(id, "create", &args, Some(stdio)) {
            if !matches!(e, Error::AlreadyExists { .. }) {
                let _ = std::fs::remove_dir_all(&bundle);
            }
            return Err(e);
        }
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .filter(|pid| *pid > 0);
        match pid {
            Some(pid) => Ok(pid),
            None => Ok(self.state_inner(id)?.pid),
        }
    }

    fn state_inner(&self, id: &str) -> Result<State> {
        let out = self.lifecycle(id, "state", &["state".into(), id.into()], None)?;
        let json: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| Error::RuntimeFailed {
                id: id.to_string(),
                runtime: self.binary.clone(),
                message: format!("state: {e}: {out}"),
            })?;
        let status = json["status"]
            .as_str()
            .and_then(Status::parse)
            .ok_or_else(|| Error::RuntimeFailed {
                id: id.to_string(),
                runtime: self.binary.clone(),
                message: format!("state: no status in {out}"),
            })?;
        Ok(State {
            status,
            pid: json["pid"].as_u64().unwrap_or(0) as u32,
            exit: None,
        })
    }

    /// Check `id` is in one of `allowed` states before `op` (runc, for one, accepts some
    /// operations the seam refuses, such as resuming a running container).
    fn require(&self, id: &str, op: &str, allowed: &[Status]) -> Result<Status> {
        let status = self.state_inner(id)?.status;
        if allowed.contains(&status) {
            Ok(status)
        } else {
            Err(super::super::lifecycle::invalid_state(id, status, op))
        }
    }

    /// The parent cgroup the bundle of `id` asked for (`linux.cgroupsPath` less the id).
    fn cgroup_parent(&self, id: &str) -> String {
        let config = self.bundle(id).join("config.json");
        std::fs::read_to_string(config)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["linux"]["cgroupsPath"].as_str().map(str::to_string))
            .and_then(|path| {
                let path = path.trim_matches('/');
                path.strip_suffix(id)
                    .map(|p| p.trim_matches('/').to_string())
            })
            .unwrap_or_else(|| "berth".into())
    }
}

/// The lifecycle half of [`Runtime`] for [`OciRuntime`] (called from its `impl Runtime`).
impl OciRuntime {
    pub(super) fn op_create(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<u32> {
        self.create_inner(spec, stdio)
    }

    pub(super) fn op_start(&self, id: &str) -> Result<()> {
        self.require(id, "start", &[Status::Created])?;
        self.lifecycle(id, "start", &["start".into(), id.into()], None)
            .map(drop)
    }

    pub(super) fn op_state(&self, id: &str) -> Result<State> {
        self.state_inner(id)
    }

    pub(super) fn op_kill(&self, id: &str, signal: i32) -> Result<()> {
        self.require(
            id,
            "kill",
            &[Status::Created, Status::Running, Status::Paused],
        )?;
        let args = ["kill".into(), id.into(), signal.to_string()];
        self.lifecycle(id, "kill", &args, None).map(drop)
    }

    pub(super) fn op_pause(&self, id: &str) -> Result<()> {
        self.require(id, "pause", &[Status::Running])?;
        self.lifecycle(id, "pause", &["pause".into(), id.into()], None)
            .map(drop)
    }

    pub(super) fn op_resume(&self, id: &str) -> Result<()> {
        self.require(id, "resume", &[Status::Paused])?;
        self.lifecycle(id, "resume", &["resume".into(), id.into()], None)
            .map(drop)
    }

    pub(super) fn op_delete(&self, id: &str, force: bool) -> Result<()> {
        let status = self.state_inner(id)?.status;
        if !force && matches!(status, Status::Running | Status::Paused) {
            return Err(super::super::lifecycle::invalid_state(id, status, "delete"));
        }
        let mut args = vec!["delete".to_string()];
        // A created container is deleted as it is by the seam; runc wants --force for it
        // on some versions.
        if force || status == Status::Created {
            args.push("--force".into());
        }
        args.push(id.into());
        self.lifecycle(id, "delete", &args, None)?;
        let _ = std::fs::remove_dir_all(self.bundle(id));
        Ok(())
    }

    pub(super) fn op_update(&self, id: &str, resources: &Resources) -> Result<()> {
        resources.as_spec(id).validate()?;
        self.require(
            id,
            "update",
            &[Status::Created, Status::Running, Status::Paused],
        )?;
        let mut args = vec!["update".to_string()];
        args.extend(resources.oci_args());
        args.push(id.into());
        self.lifecycle(id, "update", &args, None).map(drop)
    }

    pub(super) fn op_stats(&self, id: &str) -> Result<Stats> {
        self.state_inner(id)?;
        cgroup_stats(&self.cgroup_parent(id), id)
    }
}
