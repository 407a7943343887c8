//! `docker update`: a container's resources and restart policy changed in its record and,
//! while it runs, in its cgroups (berth's engine: written from this process; an OCI runtime:
//! its `update` command). The supervisor reads the restart policy again at each exit, so a
//! new policy holds from the next one.

use berth_runtime::engine::Resources as Live;
use berth_store::State;

use super::liveness;
use crate::Engine;
use crate::error::{Error, Result};
use crate::model::{Record, Resources, RestartPolicy, RestartPolicyName};

/// What `update` changes; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// `-m`.
    pub memory: Option<i64>,
    /// `--memory-reservation`.
    pub memory_reservation: Option<i64>,
    /// `--memory-swap` (-1 unlimited).
    pub memory_swap: Option<i64>,
    /// `--cpus` × 10⁹.
    pub nano_cpus: Option<i64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<i64>,
    /// `--cpu-period`.
    pub cpu_period: Option<i64>,
    /// `--cpu-quota`.
    pub cpu_quota: Option<i64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--blkio-weight`.
    pub blkio_weight: Option<u16>,
    /// `--restart`.
    pub restart: Option<RestartPolicy>,
}

fn set<T: Clone>(to: &mut T, from: &Option<T>) {
    if let Some(v) = from {
        *to = v.clone();
    }
}

impl Update {
    /// `r` with these changes.
    fn apply(&self, r: &mut Resources) {
        set(&mut r.memory, &self.memory);
        set(&mut r.memory_reservation, &self.memory_reservation);
        set(&mut r.memory_swap, &self.memory_swap);
        set(&mut r.nano_cpus, &self.nano_cpus);
        set(&mut r.cpu_shares, &self.cpu_shares);
        set(&mut r.cpu_period, &self.cpu_period);
        set(&mut r.cpu_quota, &self.cpu_quota);
        set(&mut r.cpuset_cpus, &self.cpuset_cpus);
        set(&mut r.cpuset_mems, &self.cpuset_mems);
        if self.pids_limit.is_some() {
            r.pids_limit = self.pids_limit;
        }
        set(&mut r.blkio_weight, &self.blkio_weight);
    }

    /// The live cgroup changes (what the runtime applies to a running container).
    fn live(&self, r: &Resources) -> Live {
        let pos = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).filter(|v| *v > 0);
        let (mut quota, mut period) = (self.cpu_quota, self.cpu_period.and_then(|p| pos(Some(p))));
        if let Some(n) = self.nano_cpus {
            // --cpus: Docker's 100 ms period.
            period = Some(berth_runtime::spec::CPU_PERIOD_US);
            quota = Some(if n > 0 { n / 10_000 } else { -1 });
        }
        Live {
            memory: pos(self.memory),
            memory_reservation: pos(self.memory_reservation),
            memory_swap: self.memory_swap.filter(|v| *v != 0),
            cpu_shares: pos(self.cpu_shares),
            cpu_quota: quota,
            cpu_period: period,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
        }
        .with_memory_for_swap(r)
    }
}

trait WithMemory {
    fn with_memory_for_swap(self, r: &Resources) -> Self;
}

impl WithMemory for Live {
    /// A swap change needs the memory limit with it.
    fn with_memory_for_swap(mut self, r: &Resources) -> Live {
        if self.memory_swap.is_some() && self.memory.is_none() && r.memory > 0 {
            self.memory = Some(r.memory as u64);
        }
        self
    }
}

impl Engine {
    /// Change container `query`'s resources and restart policy (see the module doc).
    pub async fn update(&self, query: &str, update: &Update) -> Result<()> {
        let c = liveness::find(self, query).await?;
        let mut record = Record::parse(&c.config).map_err(Error::Internal)?;
        let h = &mut record.host_config;
        update.apply(&mut h.resources);
        if let Some(p) = &update.restart {
            if h.auto_remove && p.name != RestartPolicyName::No {
                return Err(Error::InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container"
                        .into(),
                ));
            }
            h.restart_policy = p.clone();
        }
        let r = &h.resources;
        if r.memory > 0 && r.memory_reservation > r.memory {
            return Err(Error::InvalidArgument(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
                    .into(),
            ));
        }
        if r.memory_swap > 0 && r.memory_swap < r.memory {
            return Err(Error::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        if r.nano_cpus > 0 && (r.cpu_quota > 0 || r.cpu_period > 0) {
            return Err(Error::InvalidArgument(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
                    .into(),
            ));
        }
        let live = update.live(&record.host_config.resources);
        if c.state == State::Running && !live.is_empty() {
            let parent = match record.host_config.resources.cgroup_parent.as_str() {
                "" => "berth".to_string(),
                p => p.to_string(),
            };
            match record.runtime_path() {
                Some(oci) => self.runtime(Some(&oci)).update(&c.id, &live)?,
                None => berth_runtime::engine::write_resources(&parent, &c.id, &live)?,
            }
        }
        if !self
            .store
            .replace_container_config(&c.id, &c.config, &record.to_json())
            .await?
        {
            return Err(Error::Conflict(format!(
                "container {query} changed meanwhile: try again"
            )));
        }
        self.emit_container("update", &c.id, &[]).await;
        Ok(())
    }
}
