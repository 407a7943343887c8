//! `berth stats [--no-stream] [--format json] [-a] [CONTAINER...]`: what running containers use,
//! as Docker's table shows it (CPU %, memory usage / limit and %, network and block I/O,
//! pids), from the engine's samples ([`berth_engine::Engine::stats_sample`]). CPU %
//! needs two samples: the first table comes after ~1 s, then (without `--no-stream`) one a
//! second until interrupted.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Result, bail};
use berth_engine::containers::stats::{ContainerStats, Sample, host_memory};
use berth_store::Container;
use serde_json::json;

use super::context::{Context, print_table};

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
fn columns(s: &ContainerStats) -> [String; 8] {
    [
        s.id[..12].to_string(),
        s.name.clone(),
        format!("{:.2}%", s.cpu_percent),
        format!("{} / {}", binary(s.memory), binary(s.memory_limit)),
        format!("{:.2}%", s.memory_percent),
        format!("{} / {}", decimal(s.net_rx), decimal(s.net_tx)),
        format!("{} / {}", decimal(s.block_read), decimal(s.block_write)),
        s.pids.to_string(),
    ]
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
    let host_memory = host_memory();
    let clear = !args.no_stream && !json && std::io::stdout().is_terminal();
    let mut previous: Vec<(String, Sample)> = Vec::new();
    let mut first = true;
    loop {
        let list = ctx.stats_targets(args.all, &args.containers).await?;
        let before: Vec<Sample> = list
            .iter()
            .map(|c| {
                previous
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .map_or_else(|| ctx.stats_sample(c), |(_, s)| *s)
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
        let after: Vec<Sample> = list.iter().map(|c| ctx.stats_sample(c)).collect();
        let rows: Vec<(Container, [String; 8])> = list
            .iter()
            .zip(before.iter().zip(&after))
            .map(|(c, (b, a))| {
                let s = ContainerStats::between(c, b, a, host_memory);
                (c.clone(), columns(&s))
            })
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
