//! `berth update [OPTIONS] CONTAINER...`: change containers' resources and restart policy, as
//! `docker update` does (the engine's `containers::update`).

use anyhow::Result;

use super::container::each;
use super::context::Context;
use super::run::flags::parse;

/// `berth update`
#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Block I/O weight (10 to 1000, or 0 to disable).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// CFS quota in microseconds.
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit.
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long, allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Tune the container's pids limit (-1 for unlimited).
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers to update (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn size(flag: &str, v: &Option<String>) -> Result<Option<i64>> {
    v.as_deref()
        .map(|v| match v {
            "-1" => Ok(-1),
            v => parse::size(v, 1024.0).map_err(|e| anyhow::anyhow!(parse::invalid(flag, v, e))),
        })
        .transpose()
}

/// Run `berth update`.
pub async fn update(args: UpdateArgs) -> Result<()> {
    let change = berth_engine::containers::update::Update {
        memory: size("--memory", &args.memory)?,
        memory_reservation: size("--memory-reservation", &args.memory_reservation)?,
        memory_swap: size("--memory-swap", &args.memory_swap)?,
        nano_cpus: args.cpus.map(|c| (c * 1e9).round() as i64),
        cpu_shares: args.cpu_shares,
        cpu_period: args.cpu_period,
        cpu_quota: args.cpu_quota,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        pids_limit: args.pids_limit,
        blkio_weight: args.blkio_weight,
        restart: args
            .restart
            .as_deref()
            .map(berth_engine::model::RestartPolicy::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
    };
    let ctx = &Context::open().await?;
    let change = &change;
    each(&args.containers, |q| async move {
        ctx.update(&q, change).await?;
        println!("{q}");
        Ok(())
    })
    .await
}
