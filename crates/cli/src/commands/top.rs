//! `berth top CONTAINER [ps OPTIONS]`: a running container's processes as Docker shows them —
//! the host's `ps` (default `-ef`) cut down to the container's processes, host pids and all.
//! The processes are those of its cgroups (berth-runtime's `cgroupfs`), else those sharing its
//! first process's pid namespace.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, bail};
use berth_runtime::cgroupfs::ContainerCgroups;
use berth_store::State;

use super::context::{Context, print_table};
use super::liveness;

/// `berth top`
#[derive(clap::Args)]
pub struct TopArgs {
    /// The container (name or id).
    pub container: String,
    /// Options for ps (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// The host pids in the pid namespace of process `pid` (a container's first process).
fn namespace_pids(pid: i64) -> Vec<i32> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/pid")) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|n| n == ns))
        .collect();
    pids.sort_unstable();
    pids
}

/// `ps` output cut down to `pids`: the title row, then each process row split into as many
/// fields as there are titles (the last one, the command, keeps its spaces).
fn filter_ps(output: &str, pids: &BTreeSet<i32>) -> Result<Vec<Vec<String>>> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
        bail!("couldn't find PID field in ps output");
    };
    let mut rows = vec![titles.clone()];
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields
            .iter()
            .take(titles.len() - 1)
            .map(|f| f.to_string())
            .collect();
        if fields.len() >= titles.len() {
            row.push(fields[titles.len() - 1..].join(" "));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Run `berth top`.
pub async fn top(args: TopArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let c = liveness::find(&ctx, &args.container).await?;
    if c.state != State::Running {
        bail!("container {} is not running", args.container);
    }
    let mut pids = ContainerCgroups::find(&c.id).pids()?;
    if pids.is_empty()
        && let Some(pid) = c.pid.filter(|p| *p > 0)
    {
        pids = namespace_pids(pid);
    }
    let ps_args: Vec<String> = if args.ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.ps_args
            .iter()
            .flat_map(|a| a.split_whitespace().map(String::from))
            .collect()
    };
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("ps").args(&ps_args).output()
    })
    .await?
    .context("running ps")?;
    if !out.status.success() {
        bail!("ps: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let rows = filter_ps(
        &String::from_utf8_lossy(&out.stdout),
        &pids.into_iter().collect(),
    )?;
    print_table(&rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_of_the_container_only() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                  root         420     410  0 10:01 ?        00:00:00 sleep 300 now\n";
        let rows = filter_ps(ps, &[420].into_iter().collect()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1][1], "420");
        assert_eq!(rows[1][7], "sleep 300 now");
        assert!(filter_ps("USER CMD\n", &BTreeSet::new()).is_err());
    }
}
