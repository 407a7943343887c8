//! What a container uses, from its cgroups (v1 and v2 files) and its network namespace's
//! `/proc/<pid>/net/dev`, plus the host figures `berth stats` relates them to (all CPU time,
//! online CPUs, total memory). Missing files give `None` (or 0 for I/O), never an error: a
//! container without a memory cgroup simply has no memory figure.

use std::path::Path;

use super::{ContainerCgroups, read_trimmed};

/// One sample of a container's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used by all its tasks, in nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Memory used, without the inactive file cache (as Docker's CLI shows it), in bytes.
    pub memory: Option<u64>,
    /// Memory limit in bytes (`None`: unlimited).
    pub memory_limit: Option<u64>,
    /// Number of tasks.
    pub pids: Option<u64>,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
}

/// Limits above this are "no limit" (v1 writes `PAGE_COUNTER_MAX` pages as bytes).
const UNLIMITED: u64 = 1 << 60;

impl ContainerCgroups {
    /// The container's usage now.
    pub fn usage(&self) -> Usage {
        let mut u = Usage::default();
        let v2 = self.v2();
        u.cpu_ns = self
            .v1("cpuacct")
            .and_then(|d| number(&d.join("cpuacct.usage")))
            .or_else(|| {
                let stat = std::fs::read_to_string(v2?.join("cpu.stat")).ok()?;
                Some(keyed(&stat, "usage_usec")? * 1000)
            });
        if let Some(d) = self.v1("memory") {
            let inactive = std::fs::read_to_string(d.join("memory.stat"))
                .ok()
                .and_then(|s| keyed(&s, "total_inactive_file"))
                .unwrap_or(0);
            u.memory = number(&d.join("memory.usage_in_bytes")).map(|m| m.saturating_sub(inactive));
            u.memory_limit = number(&d.join("memory.limit_in_bytes")).filter(|l| *l < UNLIMITED);
        } else if let Some(d) = v2.filter(|d| d.join("memory.current").exists()) {
            let inactive = std::fs::read_to_string(d.join("memory.stat"))
                .ok()
                .and_then(|s| keyed(&s, "inactive_file"))
                .unwrap_or(0);
            u.memory = number(&d.join("memory.current")).map(|m| m.saturating_sub(inactive));
            u.memory_limit = number(&d.join("memory.max"));
        }
        u.pids = self
            .v1("pids")
            .or(v2)
            .and_then(|d| number(&d.join("pids.current")));
        if let Some(d) = self.v1("blkio") {
            let text = std::fs::read_to_string(d.join("blkio.throttle.io_service_bytes"))
                .or_else(|_| std::fs::read_to_string(d.join("blkio.io_service_bytes")))
                .unwrap_or_default();
            (u.block_read, u.block_write) = blkio_v1(&text);
        } else if let Some(d) = v2 {
            let text = std::fs::read_to_string(d.join("io.stat")).unwrap_or_default();
            (u.block_read, u.block_write) = io_v2(&text);
        }
        u
    }
}

/// A file holding one number (`max` and unreadable files are `None`).
fn number(path: &Path) -> Option<u64> {
    read_trimmed(path)?.parse().ok()
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// `(read, write)` bytes from v1 `blkio.throttle.io_service_bytes` (`MAJ:MIN Read N` lines).
fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, n] = fields[..] {
            let n: u64 = n.parse().unwrap_or(0);
            match op {
                "Read" => read += n,
                "Write" => write += n,
                _ => {}
            }
        }
    }
    (read, write)
}

/// `(read, write)` bytes from v2 `io.stat` (`MAJ:MIN rbytes=N wbytes=N …` lines).
fn io_v2(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(n) = field.strip_prefix("rbytes=") {
            read += n.parse().unwrap_or(0);
        } else if let Some(n) = field.strip_prefix("wbytes=") {
            write += n.parse().unwrap_or(0);
        }
    }
    (read, write)
}

/// `(received, sent)` bytes of every interface but loopback in the network namespace of
/// process `pid`; `None` when it shares this process's namespace (host network) or is gone.
pub fn net_io(pid: i32) -> Option<(u64, u64)> {
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    if std::fs::read_link("/proc/self/ns/net").ok()? == theirs {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    Some(net_dev(&text))
}

/// `(received, sent)` bytes from `/proc/net/dev`, loopback left out.
fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let c: Vec<u64> = counters
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        rx += c.first().copied().unwrap_or(0);
        tx += c.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

/// All CPU time the host has spent (busy and idle, all CPUs), in nanoseconds: Docker's
/// "system usage", the first line of `/proc/stat`.
pub fn system_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq (steal and guests left out, as Docker does).
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100);
    Some(ticks * (1_000_000_000 / hz))
}

/// The number of online CPUs.
pub fn online_cpus() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

/// The host's memory (`MemTotal`), in bytes: the limit of an unlimited container.
pub fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Docker's CPU %: the container's CPU time over the host's between two samples, times the
/// online CPUs (100% is one full CPU). 0 when either delta is missing or not positive.
pub fn cpu_percent(cpu: (Option<u64>, Option<u64>), system: (u64, u64), cpus: u64) -> f64 {
    let (Some(before), Some(after)) = cpu else {
        return 0.0;
    };
    let cpu_delta = after.saturating_sub(before) as f64;
    let system_delta = system.1.saturating_sub(system.0) as f64;
    if cpu_delta <= 0.0 || system_delta <= 0.0 {
        return 0.0;
    }
    cpu_delta / system_delta * cpus as f64 * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_and_proc_files() {
        assert_eq!(
            keyed("usage_usec 1500\nuser_usec 2\n", "usage_usec"),
            Some(1500)
        );
        assert_eq!(keyed("total_inactive_file 4096\n", "inactive_file"), None);
        let v1 = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:16 Read 1\nTotal 12289\n";
        assert_eq!(blkio_v1(v1), (4097, 8192));
        let v2 = "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n";
        assert_eq!(io_v2(v2), (11, 22));
        let dev = "Inter-|   Receive  |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 648 8 0 0 0 0 0 0 1296 4 0 0 0 0 0 0\n";
        assert_eq!(net_dev(dev), (648, 1296));
    }

    #[test]
    fn cpu_percent_is_dockers_formula() {
        // Half of the host's time on a 2-CPU host: one full CPU.
        let p = cpu_percent((Some(1_000), Some(2_000)), (10_000, 12_000), 2);
        assert!((p - 100.0).abs() < 1e-9, "{p}");
        assert_eq!(cpu_percent((None, Some(5)), (0, 10), 2), 0.0);
        assert_eq!(cpu_percent((Some(5), Some(5)), (0, 10), 2), 0.0);
        assert!(system_cpu_ns().unwrap() > 0);
        assert!(online_cpus() >= 1);
        assert!(host_memory().unwrap() > 0);
        // This process's own namespace: host network, no figure.
        assert_eq!(net_io(std::process::id() as i32), None);
    }
}
