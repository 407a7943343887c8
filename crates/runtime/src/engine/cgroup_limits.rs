//! What the native engine writes in a container's cgroups ([`super::cgroups`] makes them):
//! each controller a spec's limits need, with its files for cgroup v1 and for v2, with
//! Docker's meaning of each flag.
//!
//! Device access: on v1 the `devices` controller denies everything but Docker's default list,
//! the `--device` nodes and the `--device-cgroup-rule`s. Cgroup v2 has no such files (its
//! device controller is an eBPF program attached to the cgroup), and this engine does not
//! load one: on a pure v2 host the native engine leaves device access unfiltered (use runc
//! through the OCI path there for filtering).

use std::path::Path;

use crate::error::{Error, Result};
use crate::spec::resources::{device_rules, throttles};
use crate::spec::{CPU_PERIOD_US, ContainerSpec, cpu_shares_to_weight};

/// A file to write: `(name, value)`. A name ending in `?` is skipped when the kernel lacks
/// it; `a|b` is the first of `a` and `b` that exists.
pub(super) type File = (&'static str, String);

/// One controller a container needs, and what to write in it.
#[derive(Debug, Default)]
pub(super) struct Wanted {
    /// Its v1 hierarchy name (`/sys/fs/cgroup/<v1>`).
    pub(super) v1: &'static str,
    /// Its v2 controller name; empty: none (then only v1 is tried).
    pub(super) v2: &'static str,
    /// Files to write on v1, in order.
    pub(super) v1_files: Vec<File>,
    /// Files to write on v2, in order.
    pub(super) v2_files: Vec<File>,
}

fn want(v1: &'static str, v2: &'static str) -> Wanted {
    Wanted {
        v1,
        v2,
        ..Wanted::default()
    }
}

/// The controllers `spec`'s limits need, with their files; none for a spec without limits.
pub(super) fn limits(spec: &ContainerSpec) -> Result<Vec<Wanted>> {
    let invalid = |reason: String| Error::invalid(&spec.id, reason);
    let mut wanted = Vec::new();

    let mut memory = want("memory", "memory");
    if let Some(bytes) = spec.memory {
        memory
            .v1_files
            .push(("memory.limit_in_bytes", bytes.to_string()));
        memory.v2_files.push(("memory.max", bytes.to_string()));
        // Optional (needs swap accounting); written after the limit it may not undercut.
        let (total, swap) = match spec.memory_swap {
            Some(-1) => ("-1".to_string(), "max".to_string()),
            Some(total) => (total.to_string(), (total as u64 - bytes).to_string()),
            None => (bytes.to_string(), "0".to_string()),
        };
        memory
            .v1_files
            .push(("memory.memsw.limit_in_bytes?", total));
        memory.v2_files.push(("memory.swap.max?", swap));
    }
    if let Some(bytes) = spec.memory_reservation {
        memory
            .v1_files
            .push(("memory.soft_limit_in_bytes", bytes.to_string()));
        memory.v2_files.push(("memory.low", bytes.to_string()));
    }
    // No v2 counterpart for these two: accepted and ignored there, as Docker does.
    if let Some(swappiness) = spec.memory_swappiness {
        memory
            .v1_files
            .push(("memory.swappiness", swappiness.to_string()));
    }
    if spec.oom_kill_disable {
        memory
            .v1_files
            .push(("memory.oom_control", "1".to_string()));
    }
    if !memory.v1_files.is_empty() || !memory.v2_files.is_empty() {
        wanted.push(memory);
    }

    if let Some(n) = spec.pids_limit {
        let max = if n > 0 { n.to_string() } else { "max".into() };
        let mut pids = want("pids", "pids");
        pids.v1_files.push(("pids.max", max.clone()));
        pids.v2_files.push(("pids.max", max));
        wanted.push(pids);
    }

    let mut cpu = want("cpu", "cpu");
    if let Some(shares) = spec.cpu_shares.filter(|s| *s > 0) {
        let shares = shares.clamp(2, 262_144);
        cpu.v1_files.push(("cpu.shares", shares.to_string()));
        cpu.v2_files
            .push(("cpu.weight", cpu_shares_to_weight(shares).to_string()));
    }
    // (quota, period): `None` quota is unlimited.
    let cfs = match (spec.cpus, spec.cpu_quota, spec.cpu_period) {
        (Some(cpus), _, _) => Some((
            Some((cpus * CPU_PERIOD_US as f64).round() as u64),
            CPU_PERIOD_US,
        )),
        (None, Some(quota), period) => Some((
            u64::try_from(quota).ok().filter(|q| *q > 0),
            period.unwrap_or(CPU_PERIOD_US),
        )),
        (None, None, Some(period)) => Some((None, period)),
        (None, None, None) => None,
    };
    if let Some((quota, period)) = cfs {
        cpu.v1_files.push(("cpu.cfs_period_us", period.to_string()));
        let v1_quota = quota.map_or("-1".to_string(), |q| q.to_string());
        cpu.v1_files.push(("cpu.cfs_quota_us", v1_quota));
        let v2_quota = quota.map_or("max".to_string(), |q| q.to_string());
        cpu.v2_files
            .push(("cpu.max", format!("{v2_quota} {period}")));
    }
    if !cpu.v1_files.is_empty() {
        wanted.push(cpu);
    }

    let mut cpuset = want("cpuset", "cpuset");
    for (file, list) in [
        ("cpuset.cpus", &spec.cpuset_cpus),
        ("cpuset.mems", &spec.cpuset_mems),
    ] {
        if let Some(list) = list {
            cpuset.v1_files.push((file, list.clone()));
            cpuset.v2_files.push((file, list.clone()));
        }
    }
    if !cpuset.v1_files.is_empty() {
        wanted.push(cpuset);
    }

    let mut blkio = want("blkio", "io");
    if let Some(weight) = spec.blkio_weight {
        let weight = weight.to_string();
        blkio
            .v1_files
            .push(("blkio.weight|blkio.bfq.weight?", weight.clone()));
        blkio
            .v2_files
            .push(("io.weight|io.bfq.weight?", format!("default {weight}")));
    }
    // v2 takes one `io.max` line per device with every limit of it.
    let mut io_max: Vec<((u32, u32), Vec<String>)> = Vec::new();
    for (v1_file, v2_key, list) in [
        (
            "blkio.throttle.read_bps_device",
            "rbps",
            &spec.device_read_bps,
        ),
        (
            "blkio.throttle.write_bps_device",
            "wbps",
            &spec.device_write_bps,
        ),
        (
            "blkio.throttle.read_iops_device",
            "riops",
            &spec.device_read_iops,
        ),
        (
            "blkio.throttle.write_iops_device",
            "wiops",
            &spec.device_write_iops,
        ),
    ] {
        for (major, minor, rate) in throttles(list).map_err(invalid)? {
            blkio
                .v1_files
                .push((v1_file, format!("{major}:{minor} {rate}")));
            let entry = format!("{v2_key}={rate}");
            match io_max.iter_mut().find(|(dev, _)| *dev == (major, minor)) {
                Some((_, entries)) => entries.push(entry),
                None => io_max.push(((major, minor), vec![entry])),
            }
        }
    }
    for ((major, minor), entries) in io_max {
        blkio
            .v2_files
            .push(("io.max", format!("{major}:{minor} {}", entries.join(" "))));
    }
    if !blkio.v1_files.is_empty() {
        wanted.push(blkio);
    }

    // v1 only (see the module doc); a host without the hierarchy is left unfiltered.
    let devices_v1 = Path::new("/sys/fs/cgroup/devices/devices.allow").exists();
    if let Some(rules) = device_rules(spec).map_err(invalid)?
        && devices_v1
    {
        let mut devices = want("devices", "");
        devices.v1_files.push(("devices.deny", "a".to_string()));
        for rule in rules {
            devices.v1_files.push(("devices.allow", rule.to_v1()));
        }
        wanted.push(devices);
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("l1", "/", vec!["/bin/true".into()])
    }

    fn files<'a>(wanted: &'a [Wanted], v1: &str, v2: bool) -> &'a [File] {
        let w = wanted.iter().find(|w| w.v1 == v1).unwrap();
        if v2 { &w.v2_files } else { &w.v1_files }
    }

    #[test]
    fn docker_flags_become_cgroup_files() {
        let mut s = spec();
        s.memory = Some(100 << 20);
        s.memory_swap = Some(300 << 20);
        s.memory_reservation = Some(50 << 20);
        s.cpu_shares = Some(512);
        s.cpu_quota = Some(25_000);
        s.cpu_period = Some(50_000);
        let wanted = limits(&s).unwrap();
        let memory = files(&wanted, "memory", true);
        assert!(memory.contains(&("memory.swap.max?", (200u64 << 20).to_string())));
        assert!(memory.contains(&("memory.low", (50u64 << 20).to_string())));
        let memory = files(&wanted, "memory", false);
        assert!(memory.contains(&("memory.memsw.limit_in_bytes?", (300u64 << 20).to_string())));
        let cpu = files(&wanted, "cpu", true);
        assert_eq!(cpu[0], ("cpu.weight", "20".to_string()));
        assert_eq!(cpu[1], ("cpu.max", "25000 50000".to_string()));
        let cpu = files(&wanted, "cpu", false);
        assert!(cpu.contains(&("cpu.cfs_quota_us", "25000".to_string())));
        s.cpu_quota = Some(-1);
        let wanted = limits(&s).unwrap();
        assert_eq!(files(&wanted, "cpu", true)[1].1, "max 50000");
        s.memory_swap = Some(-1);
        let wanted = limits(&s).unwrap();
        assert!(files(&wanted, "memory", true).contains(&("memory.swap.max?", "max".into())));
    }

    #[test]
    fn privileged_containers_get_no_device_cgroup() {
        let mut s = spec();
        s.privileged = true;
        assert!(limits(&s).unwrap().iter().all(|w| w.v1 != "devices"));
    }
}
