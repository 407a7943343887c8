//! `stats`: what containers use, from their cgroups and network namespaces. A [`Sample`] is
//! one reading ([`Engine::stats_sample`]); CPU % is a rate, so the figures Docker shows
//! ([`ContainerStats`]) come from two samples ([`ContainerStats::between`]).
//!
//! berth's own containers are read through `berth_runtime::cgroupfs` by id (below their
//! `--cgroup-parent` if they have one): their supervisor is another process. Containers of an
//! OCI runtime are asked of that runtime ([`berth_runtime::engine::Runtime::stats`]).

use std::time::Duration;

use berth_runtime::cgroupfs::stats::{self, Usage};
use berth_store::{Container, State};

use super::liveness;
use crate::Engine;
use crate::error::Result;
use crate::model::Record;

/// One reading of a container and of the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// The container's cgroup figures.
    pub usage: Usage,
    /// The host's CPU time (all CPUs), in nanoseconds.
    pub system_ns: u64,
    /// Bytes `(received, sent)` in its network namespace (`None`: host network, or gone).
    pub net: Option<(u64, u64)>,
    /// Whether it was running (a sample of a stopped container is all zeros).
    pub running: bool,
}

/// A container's usage as `docker stats` shows it, from two samples.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStats {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// CPU use between the samples, in percent of one CPU (so up to 100 × CPUs).
    pub cpu_percent: f64,
    /// Memory used (without the inactive file cache), in bytes.
    pub memory: u64,
    /// Its memory limit, or the host's memory when lower or unlimited (0 when not running).
    pub memory_limit: u64,
    /// `memory` in percent of `memory_limit`.
    pub memory_percent: f64,
    /// Bytes received over the network.
    pub net_rx: u64,
    /// Bytes sent over the network.
    pub net_tx: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
    /// Number of tasks.
    pub pids: u64,
}

impl ContainerStats {
    /// The figures of container `c` from samples `before` and `after`; `host_memory` caps
    /// the limit (see [`host_memory`]).
    pub fn between(c: &Container, before: &Sample, after: &Sample, host_memory: u64) -> Self {
        let u = &after.usage;
        let cpu_percent = if before.running && after.running {
            stats::cpu_percent(
                (before.usage.cpu_ns, u.cpu_ns),
                (before.system_ns, after.system_ns),
                stats::online_cpus(),
            )
        } else {
            0.0
        };
        let (memory, memory_limit) = if after.running {
            let limit = u.memory_limit.map_or(host_memory, |l| l.min(host_memory));
            (u.memory.unwrap_or(0), limit)
        } else {
            (0, 0)
        };
        let memory_percent = if memory_limit > 0 {
            memory as f64 / memory_limit as f64 * 100.0
        } else {
            0.0
        };
        let (net_rx, net_tx) = after.net.unwrap_or((0, 0));
        ContainerStats {
            id: c.id.clone(),
            name: c.name.clone(),
            cpu_percent,
            memory,
            memory_limit,
            memory_percent,
            net_rx,
            net_tx,
            block_read: u.block_read,
            block_write: u.block_write,
            pids: u.pids.unwrap_or(0),
        }
    }
}

/// The host's total memory in bytes (0 when unknown).
pub fn host_memory() -> u64 {
    stats::host_memory().unwrap_or(0)
}

impl Engine {
    /// One reading of container `c` (all zeros when it is not running).
    pub fn stats_sample(&self, c: &Container) -> Sample {
        if c.state != State::Running {
            return Sample::default();
        }
        let runtime = Record::parse(&c.config).ok().and_then(|r| r.runtime_path());
        let usage = match runtime {
            Some(path) => self.runtime(Some(&path)).stats(&c.id).unwrap_or_else(|e| {
                tracing::debug!(id = %c.id, error = %e, "no stats from the OCI runtime");
                Usage::default()
            }),
            None => super::top::cgroups(c).usage(),
        };
        Sample {
            usage,
            system_ns: stats::system_cpu_ns().unwrap_or(0),
            net: c.pid.and_then(|p| stats::net_io(p as i32)),
            running: true,
        }
    }

    /// The containers `stats` shows: those `queries` name (reconciled; an unknown one is an
    /// error), else the running ones (every one with `all`).
    pub async fn stats_targets(&self, all: bool, queries: &[String]) -> Result<Vec<Container>> {
        if queries.is_empty() {
            return Ok(liveness::all(self)
                .await?
                .into_iter()
                .filter(|c| all || c.state == State::Running)
                .collect());
        }
        let mut out = Vec::new();
        for q in queries {
            out.push(liveness::find(self, q).await?);
        }
        Ok(out)
    }

    /// Container `query`'s usage over `interval` (two samples): the Engine API's one-shot
    /// stats.
    pub async fn stats(&self, query: &str, interval: Duration) -> Result<ContainerStats> {
        let c = liveness::find(self, query).await?;
        let before = self.stats_sample(&c);
        tokio::time::sleep(interval).await;
        let after = self.stats_sample(&c);
        Ok(ContainerStats::between(&c, &before, &after, host_memory()))
    }
}
