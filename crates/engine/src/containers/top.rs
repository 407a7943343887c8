//! `top`: a running container's processes as Docker shows them ([`Engine::top`]) — the
//! host's `ps` (default `-ef`) cut down to the container's processes, host pids and all. The
//! processes are those of its cgroups (`berth/<id>`, or below its `--cgroup-parent`), else
//! those sharing its first process's pid namespace.

use std::collections::BTreeSet;

use berth_runtime::cgroupfs::ContainerCgroups;
use berth_store::{Container, State};

use super::liveness;
use crate::Engine;
use crate::error::{Context as _, Error, Result};
use crate::model::Record;

/// What [`Engine::top`] found: Docker's `ContainerTopOKBody`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    /// The `ps` column titles (`UID`, `PID`, …, `CMD`).
    pub titles: Vec<String>,
    /// One row per process, as many fields as titles (the command keeps its spaces).
    pub processes: Vec<Vec<String>>,
}

/// The cgroups of container `c`: below its `--cgroup-parent` if it has one, else `berth/<id>`.
pub fn cgroups(c: &Container) -> ContainerCgroups {
    let parent = Record::parse(&c.config)
        .map(|r| r.host_config.resources.cgroup_parent)
        .unwrap_or_default();
    if parent.is_empty() {
        ContainerCgroups::find(&c.id)
    } else {
        ContainerCgroups::find_under(&parent, &c.id)
    }
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

/// The host pids of container `c`'s processes: its cgroups' members, else (no cgroup) the
/// processes in its first process's pid namespace.
pub fn pids(c: &Container) -> Result<Vec<i32>> {
    let mut pids = cgroups(c).pids()?;
    if pids.is_empty()
        && let Some(pid) = c.pid.filter(|p| *p > 0)
    {
        pids = namespace_pids(pid);
    }
    Ok(pids)
}

/// `ps` output cut down to `pids`: the titles, then each process row split into as many
/// fields as there are titles (the last one, the command, keeps its spaces).
pub fn filter_ps(output: &str, pids: &BTreeSet<i32>) -> Result<Top> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
        return Err(Error::Internal(
            "couldn't find PID field in ps output".into(),
        ));
    };
    let mut processes = vec![];
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
        processes.push(row);
    }
    Ok(Top { titles, processes })
}

impl Engine {
    /// The processes of running container `query`, as `ps ps_args` (default `-ef`; each
    /// argument split at spaces) shows them. A container not running is [`Error::Conflict`].
    pub async fn top(&self, query: &str, ps_args: &[String]) -> Result<Top> {
        let c = liveness::find(self, query).await?;
        if c.state != State::Running {
            return Err(Error::Conflict(format!("container {query} is not running")));
        }
        let pids = pids(&c)?;
        let ps_args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args
                .iter()
                .flat_map(|a| a.split_whitespace().map(String::from))
                .collect()
        };
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("ps").args(&ps_args).output()
        })
        .await?
        .context(|| "running ps".into())?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        filter_ps(
            &String::from_utf8_lossy(&out.stdout),
            &pids.into_iter().collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_of_the_container_only() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                  root         420     410  0 10:01 ?        00:00:00 sleep 300 now\n";
        let top = filter_ps(ps, &[420].into_iter().collect()).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "420");
        assert_eq!(top.processes[0][7], "sleep 300 now");
        assert!(filter_ps("USER CMD\n", &BTreeSet::new()).is_err());
    }
}
