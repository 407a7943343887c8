//! The types of the OCI lifecycle half of the [`Runtime`](super::Runtime) seam: a container's
//! [`State`] and [`Status`], the live-changeable [`Resources`] of `update`, the [`Stats`] of
//! `stats`; and the cgroup writing `update` shares between the native engine and others.

use std::path::Path;

use super::ExitStatus;
use super::cgroup_limits::limits;
use super::cgroups::Cgroups;
use crate::cgroupfs::ContainerCgroups;
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// What a container uses now (CPU time, memory and its limit, tasks, block I/O), read from
/// its cgroups: the figures of [`crate::cgroupfs::stats`].
pub type Stats = crate::cgroupfs::stats::Usage;

/// Where a container is in its life, as the OCI runtime spec names the states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Being created (the runtime has not finished `create`).
    Creating,
    /// Created: its process exists, set up, but has not started the user program.
    Created,
    /// Its program runs.
    Running,
    /// Its processes are frozen (`pause`).
    Paused,
    /// Its first process has exited; only `delete` is left to do.
    Stopped,
}

impl Status {
    /// The OCI name (`created`, `running`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// The status an OCI runtime's `state` names; `None` for an unknown word.
    pub fn parse(word: &str) -> Option<Status> {
        Some(match word {
            "creating" => Status::Creating,
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "stopped" => Status::Stopped,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container's OCI state (`RUNTIME state ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Where it is in its life.
    pub status: Status,
    /// The host pid of its first process (0 once stopped where the runtime forgets it).
    pub pid: u32,
    /// How its first process ended, where the runtime knows it (the native engine and the
    /// fake do; runc and crun do not report it).
    pub exit: Option<ExitStatus>,
}

/// The resources `update` changes in a running container (`docker update`), each `None`
/// left as it is. Values mean what Docker's flags of the same names mean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Memory limit in bytes (`--memory`).
    pub memory: Option<u64>,
    /// Memory soft limit in bytes (`--memory-reservation`).
    pub memory_reservation: Option<u64>,
    /// Memory plus swap in bytes, -1 unlimited (`--memory-swap`); applied together with
    /// `memory` (alone, it is ignored by the native engine).
    pub memory_swap: Option<i64>,
    /// Relative CPU weight (`--cpu-shares`, 2–262144).
    pub cpu_shares: Option<u64>,
    /// CFS quota in µs per period, -1 unlimited (`--cpu-quota`).
    pub cpu_quota: Option<i64>,
    /// CFS period in µs (`--cpu-period`).
    pub cpu_period: Option<u64>,
    /// CPUs allowed (`--cpuset-cpus`, `0-2,4`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (`--cpuset-mems`).
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks, 0 or less unlimited (`--pids-limit`).
    pub pids_limit: Option<i64>,
    /// Block I/O weight, 10–1000 (`--blkio-weight`).
    pub blkio_weight: Option<u16>,
}

impl Resources {
    /// Whether nothing is to change.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// These resources as the limits of a spec for container `id` (what the native engine's
    /// cgroup code reads).
    pub(super) fn as_spec(&self, id: &str) -> ContainerSpec {
        let mut spec = ContainerSpec::new(id, "/", vec!["update".into()]);
        spec.memory = self.memory;
        spec.memory_reservation = self.memory_reservation;
        spec.memory_swap = self.memory_swap;
        spec.cpu_shares = self.cpu_shares;
        spec.cpu_quota = self.cpu_quota;
        spec.cpu_period = self.cpu_period;
        spec.cpuset_cpus = self.cpuset_cpus.clone();
        spec.cpuset_mems = self.cpuset_mems.clone();
        spec.pids_limit = self.pids_limit;
        spec.blkio_weight = self.blkio_weight;
        spec
    }

    /// The arguments of `runc update` / `crun update` for these resources.
    pub(super) fn oci_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut arg = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                args.push(format!("--{flag}={value}"));
            }
        };
        arg("memory", self.memory.map(|v| v.to_string()));
        arg(
            "memory-reservation",
            self.memory_reservation.map(|v| v.to_string()),
        );
        arg("memory-swap", self.memory_swap.map(|v| v.to_string()));
        arg("cpu-share", self.cpu_shares.map(|v| v.to_string()));
        arg("cpu-quota", self.cpu_quota.map(|v| v.to_string()));
        arg("cpu-period", self.cpu_period.map(|v| v.to_string()));
        arg("cpuset-cpus", self.cpuset_cpus.clone());
        arg("cpuset-mems", self.cpuset_mems.clone());
        arg("pids-limit", self.pids_limit.map(|v| v.to_string()));
        arg("blkio-weight", self.blkio_weight.map(|v| v.to_string()));
        args
    }
}

/// Write `resources` into the existing cgroups of container `id` below `parent` (`berth`
/// unless `--cgroup-parent` said otherwise) from any process — what `berth update` does for a
/// container of berth's own engine, whose supervisor is another process (v1
/// hierarchies, or the v2 directory on a pure v2 host). A controller the container has no
/// cgroup of is [`Error::NoCgroup`]. Writes that the kernel refuses because of the order of
/// two limits (v1 `memory.limit_in_bytes` above `memory.memsw.limit_in_bytes`) are retried
/// once after the others.
pub fn write_resources(parent: &str, id: &str, resources: &Resources) -> Result<()> {
    let spec = resources.as_spec(id);
    spec.validate()?;
    let found = ContainerCgroups::find_under(parent, id);
    if found.is_empty() {
        return Err(Error::NoCgroup {
            id: id.to_string(),
            controller: "any".into(),
        });
    }
    let pure_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let writer = Cgroups::writer(id);
    let mut failed = Vec::new();
    for wanted in limits(&spec)? {
        let (dir, files) = if pure_v2 {
            (found.v2(), wanted.v2_files)
        } else {
            (found.v1(wanted.v1), wanted.v1_files)
        };
        let Some(dir) = dir else {
            return Err(Error::NoCgroup {
                id: id.to_string(),
                controller: wanted.v1.to_string(),
            });
        };
        for file in files {
            if writer.write_files(dir, vec![file.clone()]).is_err() {
                failed.push((dir.to_path_buf(), file));
            }
        }
    }
    for (dir, file) in failed {
        writer.write_files(&dir, vec![file])?;
    }
    Ok(())
}

/// The usage of container `id` below `parent`, from its cgroups.
pub(super) fn cgroup_stats(parent: &str, id: &str) -> Result<Stats> {
    let found = ContainerCgroups::find_under(parent, id);
    if found.is_empty() {
        return Err(Error::NoCgroup {
            id: id.to_string(),
            controller: "any".into(),
        });
    }
    Ok(found.usage())
}

/// [`Error::InvalidState`] for `op` on container `id` in `status`.
pub(super) fn invalid_state(id: &str, status: Status, op: &str) -> Error {
    Error::InvalidState {
        id: id.to_string(),
        status: status.to_string(),
        op: op.to_string(),
    }
}
