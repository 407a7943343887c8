//! Preparing a process to run in a running container (`exec`, health checks): the
//! container's environment, working directory, user and confinement unless overridden, and
//! the runtime the container runs under.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_runtime::engine::{ExecTarget, NativeRuntime, OciRuntime, ProcessSpec, Runtime};
use berth_store::{Container, State};

use crate::Engine;
use crate::error::{Error, Result};
use crate::model::Record;

/// What to run and how (Docker's exec options).
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// Extra `KEY=value` entries, after the container's.
    pub env: Vec<String>,
    /// The working directory (default: the container's).
    pub workdir: Option<String>,
    /// `user[:group]` (default: the container's).
    pub user: Option<String>,
    /// Every capability.
    pub privileged: bool,
}

/// A process ready to be run in a container by [`Prepared::runtime`].
pub struct Prepared {
    /// The runtime the container runs under.
    pub runtime: Arc<dyn Runtime>,
    /// The container.
    pub target: ExecTarget,
    /// The process.
    pub process: ProcessSpec,
}

impl Engine {
    /// The runtime `--runtime` names: berth's own engine, or an OCI runtime's path (the
    /// runtime given to [`Engine::with_runtime`] for every container, if any).
    pub fn runtime(&self, oci: Option<&Path>) -> Arc<dyn Runtime> {
        if let Some(rt) = &self.runtime_override {
            return rt.clone();
        }
        match oci {
            Some(path) => Arc::new(OciRuntime::new(
                path.to_path_buf(),
                self.layout().runtime_state(),
                self.layout().bundles(),
            )),
            None => Arc::new(NativeRuntime::new()),
        }
    }

    /// The runtime that can act on container `c` from this process through the seam: its
    /// OCI runtime (state on disk), or the one given to [`Engine::with_runtime`]. `None` for
    /// berth's own engine, whose containers belong to their supervisor process: they are
    /// signalled by pid and frozen through their cgroups.
    pub fn runtime_of(&self, c: &Container) -> Option<Arc<dyn Runtime>> {
        if let Some(rt) = &self.runtime_override {
            return Some(rt.clone());
        }
        let record = Record::parse(&c.config).ok()?;
        record.runtime_path().map(|p| self.runtime(Some(&p)))
    }

    /// Prepare `opts` to run in running container `c`.
    pub fn prepare_exec(&self, c: &Container, opts: &ExecOptions) -> Result<Prepared> {
        let not_running = || Error::Conflict(format!("container {} is not running", c.name));
        if c.state != State::Running {
            return Err(not_running());
        }
        if c.paused {
            // The new process would join the frozen cgroups and hang there.
            return Err(Error::Conflict(format!(
                "container {} is paused, unpause the container before exec",
                c.name
            )));
        }
        let record = Record::parse(&c.config).map_err(Error::Internal)?;
        let oci = record.runtime_path();
        let pid = c.pid.unwrap_or(0).max(0) as u32;
        let (root, spec_root) = if oci.is_some() {
            let merged = self.layout().container_merged(&c.id);
            (merged.clone(), merged)
        } else {
            if pid == 0 {
                return Err(not_running());
            }
            (
                PathBuf::from(format!("/proc/{pid}/root")),
                PathBuf::from("/"),
            )
        };
        let spec = record.spec(&c.id, spec_root).map_err(Error::Internal)?;
        let mut process = ProcessSpec::from_container(&spec, opts.cmd.clone());
        process.env.extend(opts.env.iter().cloned());
        if let Some(w) = opts.workdir.as_ref().filter(|w| !w.is_empty()) {
            if !w.starts_with('/') {
                return Err(Error::InvalidArgument(format!(
                    "the working directory {w:?} is not an absolute path"
                )));
            }
            process.cwd = w.clone();
        }
        let user = opts
            .user
            .clone()
            .unwrap_or_else(|| record.config.user.clone());
        let user = if user.is_empty() {
            "0".to_string()
        } else {
            user
        };
        let resolved = berth_runtime::user::resolve(&root, &user)
            .map_err(|e| Error::InvalidArgument(format!("user {user:?}: {e}")))?;
        (process.uid, process.gid, process.groups) = (resolved.uid, resolved.gid, resolved.groups);
        if opts.privileged || record.host_config.privileged {
            process.capabilities = (0..64)
                .filter_map(berth_runtime::spec::capability_name)
                .map(str::to_string)
                .collect();
        }
        Ok(Prepared {
            runtime: self.runtime(oci.as_deref()),
            target: ExecTarget {
                id: c.id.clone(),
                pid,
            },
            process,
        })
    }
}
