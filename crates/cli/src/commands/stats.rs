//! `berth stats [--no-stream] [--format json] [-a] [CONTAINER...]`: what running containers use,
//! as Docker's table shows it (CPU %, memory usage / limit and %, network and block I/O,
//! pids), from their cgroups and network namespaces (berth-runtime's `cgroupfs::stats`). CPU %
//! needs two samples: the first table comes after ~1 s, then (without `--no-stream`) one a
//! second until interrupted.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use berth_runtime::cgroupfs::ContainerCgroups;
use berth_runtime::cgroupfs::stats::{self, Usage};
use berth_store::{Container, State};
use serde_json::json;

use super::context::{Context, print_table};
use super::liveness;

/// `berth stats`
#[derive(clap::Args)]
pub struct StatsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Print one table and exit.
    #[arg(long)]
    pub no_stream: bool,
    /// Output format: `json` (one object per line) or `table`.
    #[arg(long)]
    pub format: Option<String>,
    /// Containers to show (name or id; default: all running ones).
    pub containers: Vec<String>,
}

/// One reading of a container and of the host.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    usage: Usage,
    system_ns: u64,
    net: Option<(u64, u64)>,
    running: bool,
}

fn sample(c: &Container) -> Sample {
    if c.state != State::Running {
        return Sample::default();
    }
    Sample {
        usage: ContainerCgroups::find(&c.id).usage(),
        system_ns: stats::system_cpu_ns().unwrap_or(0),
        net: c.pid.and_then(|p| stats::net_io(p as i32)),
        running: true,
    }
}

/// `value` formatted as C's `%.{precision}g` for the magnitudes sizes take (no exponent).
fn g(value: f64, precision: i32) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let exp = value.abs().log10().floor() as i32;
    let decimals = (precision - 1 - exp).max(0) as usize;
    let s = format!("{value:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `units.CustomSize`: `size` in the largest unit of `base` it reaches.
fn size(size: u64, base: f64, units: &[&str], precision: i32) -> String {
    let mut value = size as f64;
    let mut i = 0;
    while value >= base && i < units.len() - 1 {
        value /= base;
        i += 1;
    }
    format!("{}{}", g(value, precision), units[i])
}

/// Memory as Docker shows it (`units.BytesSize`: 1024-based, 4 significant digits).
fn binary(bytes: u64) -> String {
    size(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// I/O as Docker shows it (`units.HumanSizeWithPrecision(_, 3)`: 1000-based).
fn decimal(bytes: u64) -> String {
    size(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], 3)
}

/// The columns of one container: `[id, name, cpu %, mem usage / limit, mem %, net, block, pids]`.
fn columns(c: &Container, before: &Sample, after: &Sample, host_memory: u64) -> [String; 8] {
    let u = &after.usage;
    let cpu = if before.running && after.running {
        stats::cpu_percent(
            (before.usage.cpu_ns, u.cpu_ns),
            (before.system_ns, after.system_ns),
            stats::online_cpus(),
        )
    } else {
        0.0
    };
    let (memory, limit) = if after.running {
        let limit = u.memory_limit.map_or(host_memory, |l| l.min(host_memory));
        (u.memory.unwrap_or(0), limit)
    } else {
        (0, 0)
    };
    let mem_percent = if limit > 0 {
        memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (rx, tx) = after.net.unwrap_or((0, 0));
    [
        c.id[..12].to_string(),
        c.name.clone(),
        format!("{cpu:.2}%"),
        format!("{} / {}", binary(memory), binary(limit)),
        format!("{mem_percent:.2}%"),
        format!("{} / {}", decimal(rx), decimal(tx)),
        format!("{} / {}", decimal(u.block_read), decimal(u.block_write)),
        u.pids.unwrap_or(0).to_string(),
    ]
}

/// The containers to show now: those named, else the running ones (all with `-a`).
async fn targets(ctx: &Context, args: &StatsArgs) -> Result<Vec<Container>> {
    if args.containers.is_empty() {
        return Ok(liveness::all(ctx)
            .await?
            .into_iter()
            .filter(|c| args.all || c.state == State::Running)
            .collect());
    }
    let mut out = Vec::new();
    for q in &args.containers {
        out.push(liveness::find(ctx, q).await?);
    }
    Ok(out)
}

fn print(rows: &[(Container, [String; 8])], json: bool) {
    if json {
        for (_, [id, name, cpu, mem, mem_percent, net, block, pids]) in rows {
            let line = json!({
                "BlockIO": block, "CPUPerc": cpu, "Container": name, "ID": id,
                "MemPerc": mem_percent, "MemUsage": mem, "Name": name, "NetIO": net, "PIDs": pids,
            });
            println!("{line}");
        }
        return;
    }
    let mut table = vec![
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    table.extend(rows.iter().map(|(_, cols)| cols.to_vec()));
    print_table(&table);
}

/// Run `berth stats`.
pub async fn stats(args: StatsArgs) -> Result<()> {
    let json = match args.format.as_deref() {
        Some("json") => true,
        None | Some("table") => false,
        Some(f) => bail!("unsupported --format {f:?}: use json or table"),
    };
    let ctx = Context::open().await?;
    let host_memory = stats::host_memory().unwrap_or(0);
    let clear = !args.no_stream && !json && std::io::stdout().is_terminal();
    let mut previous: Vec<(String, Sample)> = Vec::new();
    let mut first = true;
    loop {
        let list = targets(&ctx, &args).await?;
        let before: Vec<Sample> = list
            .iter()
            .map(|c| {
                previous
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .map_or_else(|| sample(c), |(_, s)| *s)
            })
            .collect();
        if first
            || list
                .iter()
                .any(|c| !previous.iter().any(|(id, _)| *id == c.id))
        {
            // CPU % is a rate: a container seen for the first time needs a second reading.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        first = false;
        let after: Vec<Sample> = list.iter().map(sample).collect();
        let rows: Vec<(Container, [String; 8])> = list
            .iter()
            .zip(before.iter().zip(&after))
            .map(|(c, (b, a))| (c.clone(), columns(c, b, a, host_memory)))
            .collect();
        if clear {
            print!("\x1b[2J\x1b[H");
        }
        print(&rows, json);
        std::io::stdout().flush()?;
        if args.no_stream {
            return Ok(());
        }
        previous = list.iter().map(|c| c.id.clone()).zip(after).collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(binary(0), "0B");
        assert_eq!(binary(64 * 1024 * 1024), "64MiB");
        assert_eq!(binary(1536 * 1024), "1.5MiB");
        assert_eq!(binary(123_456), "120.6KiB");
        assert_eq!(decimal(648), "648B");
        assert_eq!(decimal(1_296), "1.3kB");
        assert_eq!(decimal(12_345_678), "12.3MB");
    }
}
