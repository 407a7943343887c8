//! The kernel-feature parts of a [`ContainerSpec`] (`--ulimit`, `--sysctl`, `--shm-size`,
//! namespaces shared with the host, cgroup resources; devices are in `devices`): their types,
//! Docker's rules for them ([`validate`]) and the small conversions both engines share.

use std::path::PathBuf;

use super::ContainerSpec;
use super::devices::is_access;
pub(crate) use super::devices::{device_node, device_rules};

/// Docker's default size of a container's `/dev/shm`, in bytes (64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Docker's `--ulimit` names, with their `RLIMIT_*` resource numbers.
const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// One `--ulimit KIND=SOFT:HARD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rlimit {
    /// Docker's name of the limit: `nofile`, `nproc`, `core`, `memlock`, `stack`, `as`, `cpu`,
    /// `data`, `fsize`, `locks`, `msgqueue`, `nice`, `rss`, `rtprio`, `rttime`, `sigpending`.
    /// The OCI name is `RLIMIT_` and its upper case (`RLIMIT_NOFILE`).
    pub kind: String,
    /// Soft limit (`u64::MAX`: unlimited); at most `hard`.
    pub soft: u64,
    /// Hard limit (`u64::MAX`: unlimited). Raising it above berth's own needs
    /// CAP_SYS_RESOURCE.
    pub hard: u64,
}

/// The `RLIMIT_*` number of Docker's ulimit name `kind` (`nofile`), or `None`.
pub fn rlimit_resource(kind: &str) -> Option<libc::__rlimit_resource_t> {
    RLIMITS.iter().find(|(n, _)| *n == kind).map(|&(_, r)| r)
}

/// runc's conversion of cgroup v1 `cpu.shares` (2..=262144) to v2 `cpu.weight` (1..=10000).
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The `(major, minor, rate)` of each throttled device in `list`.
pub(crate) fn throttles(list: &[(PathBuf, u64)]) -> Result<Vec<(u32, u32, u64)>, String> {
    list.iter()
        .map(|(path, rate)| {
            let node = device_node(path)?;
            if node.kind != 'b' {
                return Err(format!("{} is not a block device", path.display()));
            }
            Ok((node.major, node.minor, *rate))
        })
        .collect()
}

/// A cgroup parent as a relative path (`/a/b` and `a/b` are `a/b`); `None` is `berth`.
pub(crate) fn cgroup_parent(spec: &ContainerSpec) -> String {
    match &spec.cgroup_parent {
        Some(p) if !p.trim_matches('/').is_empty() => p.trim_matches('/').to_string(),
        _ => "berth".to_string(),
    }
}

/// Whether sysctl `key` (dotted) is one Docker lets a container set, given its namespaces;
/// `Err` says why not.
fn sysctl_allowed(spec: &ContainerSpec, key: &str) -> Result<(), String> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let (shared, namespace) = if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        (spec.ipc_host, "IPC")
    } else if key.starts_with("net.") {
        (spec.host_network, "network")
    } else if key == "kernel.domainname" || key == "kernel.hostname" {
        (spec.uts_host, "UTS")
    } else {
        return Err(format!("sysctl {key} is not namespaced: not allowed"));
    };
    if shared {
        return Err(format!(
            "sysctl {key} is not allowed with the host's {namespace} namespace"
        ));
    }
    Ok(())
}

/// A CPU or memory-node list (`0-2,4`) as cpuset takes it.
fn is_cpu_list(list: &str) -> bool {
    let number = |n: &str| !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit());
    !list.is_empty()
        && list.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => {
                number(a) && number(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok()
            }
            None => number(part),
        })
}

fn check_path(what: &str, path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.split('/').any(|p| p == "..") || path.contains('\0') {
        return Err(format!("{what} {path:?} must be absolute, without '..'"));
    }
    Ok(())
}

/// Docker's rules for the fields of this module, as `Err(reason)`.
pub(super) fn validate(spec: &ContainerSpec) -> Result<(), String> {
    for r in &spec.rlimits {
        if rlimit_resource(&r.kind).is_none() {
            return Err(format!("unknown ulimit {:?}", r.kind));
        }
        if r.soft > r.hard {
            return Err(format!(
                "ulimit {}: soft limit above the hard limit",
                r.kind
            ));
        }
    }
    for (key, value) in &spec.sysctls {
        let bad_key = key.is_empty()
            || key.starts_with(['.', '/'])
            || key.split(['.', '/']).any(|p| p.is_empty() || p == "..")
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        if bad_key || value.contains(['\0', '\n']) {
            return Err(format!("bad sysctl {key}={value:?}"));
        }
        sysctl_allowed(spec, &key.replace('/', "."))?;
    }
    if let Some(size) = spec.shm_size {
        if size < 4096 {
            return Err("shm size must be at least 4096 bytes".into());
        }
        if spec.ipc_host {
            return Err("shm size cannot be set with the host's IPC namespace".into());
        }
    }
    if spec.cpus.is_some() && (spec.cpu_period.is_some() || spec.cpu_quota.is_some()) {
        return Err("conflicting options: cpus and cpu period or quota cannot both be set".into());
    }
    if let Some(period) = spec.cpu_period
        && !(1000..=1_000_000).contains(&period)
    {
        return Err("cpu period must be between 1000 and 1000000 microseconds".into());
    }
    if let Some(quota) = spec.cpu_quota
        && (quota < -1 || (1..1000).contains(&quota))
    {
        return Err("cpu quota must be at least 1000 microseconds (or -1)".into());
    }
    for (what, list) in [
        ("cpuset cpus", &spec.cpuset_cpus),
        ("cpuset mems", &spec.cpuset_mems),
    ] {
        if let Some(list) = list
            && !is_cpu_list(list)
        {
            return Err(format!("{what} {list:?} is not a list such as 0-2,4"));
        }
    }
    if let (Some(reservation), Some(memory)) = (spec.memory_reservation, spec.memory)
        && reservation > memory
    {
        return Err("memory reservation must not exceed the memory limit".into());
    }
    if let Some(swap) = spec.memory_swap
        && swap != -1
    {
        match spec.memory {
            None => return Err("a memory limit is needed with a memory+swap limit".into()),
            Some(memory) if swap < 0 || (swap as u64) < memory => {
                return Err("memory+swap must be at least the memory limit (or -1)".into());
            }
            Some(_) => {}
        }
    }
    if spec.memory_swappiness.is_some_and(|s| s > 100) {
        return Err("memory swappiness must be between 0 and 100".into());
    }
    if spec
        .oom_score_adj
        .is_some_and(|s| !(-1000..=1000).contains(&s))
    {
        return Err("oom score adjustment must be between -1000 and 1000".into());
    }
    if spec.blkio_weight.is_some_and(|w| !(10..=1000).contains(&w)) {
        return Err("blkio weight must be between 10 and 1000".into());
    }
    for list in [
        &spec.device_read_bps,
        &spec.device_write_bps,
        &spec.device_read_iops,
        &spec.device_write_iops,
    ] {
        throttles(list)?;
    }
    if let Some(parent) = &spec.cgroup_parent {
        let ok = parent
            .split('/')
            .all(|p| p != ".." && p != "." && !p.contains('\0'))
            && parent
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/@:".contains(&b));
        if !ok {
            return Err(format!("bad cgroup parent {parent:?}"));
        }
    }
    for d in &spec.devices {
        if !d.host.is_absolute() {
            return Err(format!("device {} is not absolute", d.host.display()));
        }
        check_path("device path", &d.container)?;
        if d.container == "/" || d.container == "/dev" {
            return Err(format!("device path {:?} is not a node path", d.container));
        }
        if !is_access(&d.permissions) {
            return Err(format!(
                "device permissions {:?} must be a subset of rwm",
                d.permissions
            ));
        }
    }
    device_rules(spec)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DeviceMapping;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("r1", "/", vec!["/bin/true".into()])
    }

    #[test]
    fn shares_convert_as_runc() {
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn docker_rules_are_checked() {
        let ok = |f: &dyn Fn(&mut ContainerSpec)| {
            let mut s = spec();
            f(&mut s);
            validate(&s)
        };
        assert!(ok(&|_| {}).is_ok());
        let rl = |kind: &str, soft, hard| Rlimit {
            kind: kind.into(),
            soft,
            hard,
        };
        assert!(ok(&|s| s.rlimits = vec![rl("nofile", 10, 20)]).is_ok());
        assert!(ok(&|s| s.rlimits = vec![rl("nofile", 30, 20)]).is_err());
        assert!(ok(&|s| s.rlimits = vec![rl("bogus", 1, 2)]).is_err());
        let sysctl = |k: &str| vec![(k.to_string(), "1".to_string())];
        assert!(ok(&|s| s.sysctls = sysctl("net.ipv4.ip_forward")).is_ok());
        assert!(ok(&|s| s.sysctls = sysctl("net/ipv4/ip_forward")).is_ok());
        assert!(ok(&|s| s.sysctls = sysctl("kernel.shmmax")).is_ok());
        assert!(ok(&|s| s.sysctls = sysctl("vm.swappiness")).is_err());
        assert!(ok(&|s| s.sysctls = sysctl("net.ipv4/../../x")).is_err());
        assert!(
            ok(&|s| {
                s.host_network = true;
                s.sysctls = sysctl("net.ipv4.ip_forward");
            })
            .is_err()
        );
        assert!(
            ok(&|s| {
                s.ipc_host = true;
                s.sysctls = sysctl("fs.mqueue.msg_max");
            })
            .is_err()
        );
        assert!(
            ok(&|s| {
                s.uts_host = true;
                s.sysctls = sysctl("kernel.domainname");
            })
            .is_err()
        );
        assert!(
            ok(&|s| {
                s.cpus = Some(1.0);
                s.cpu_quota = Some(50_000);
            })
            .is_err()
        );
        assert!(ok(&|s| s.cpu_period = Some(999)).is_err());
        assert!(ok(&|s| s.cpu_quota = Some(-1)).is_ok());
        assert!(ok(&|s| s.cpuset_cpus = Some("0-1,3".into())).is_ok());
        assert!(ok(&|s| s.cpuset_cpus = Some("1-0".into())).is_err());
        assert!(ok(&|s| s.memory_swap = Some(1 << 30)).is_err());
        assert!(
            ok(&|s| {
                s.memory = Some(1 << 20);
                s.memory_swap = Some(1 << 19);
            })
            .is_err()
        );
        assert!(ok(&|s| s.memory_swap = Some(-1)).is_ok());
        assert!(
            ok(&|s| {
                s.memory = Some(1 << 20);
                s.memory_reservation = Some(2 << 20);
            })
            .is_err()
        );
        assert!(ok(&|s| s.memory_swappiness = Some(101)).is_err());
        assert!(ok(&|s| s.oom_score_adj = Some(1001)).is_err());
        assert!(ok(&|s| s.blkio_weight = Some(5)).is_err());
        assert!(ok(&|s| s.device_read_bps = vec![("/dev/null".into(), 1)]).is_err());
        assert!(ok(&|s| s.cgroup_parent = Some("/a/../b".into())).is_err());
        assert!(ok(&|s| s.cgroup_parent = Some("/a/b".into())).is_ok());
        assert!(ok(&|s| s.device_cgroup_rules = vec!["c 1:3 z".into()]).is_err());
        assert!(ok(&|s| s.shm_size = Some(100)).is_err());
        let dev = |host: &str, container: &str, permissions: &str| DeviceMapping {
            host: host.into(),
            container: container.into(),
            permissions: permissions.into(),
        };
        assert!(ok(&|s| s.devices = vec![dev("/dev/null", "/dev/n2", "rw")]).is_ok());
        assert!(ok(&|s| s.devices = vec![dev("/dev/null", "/dev/n2", "rwx")]).is_err());
        assert!(ok(&|s| s.devices = vec![dev("/etc/hostname", "/dev/x", "rw")]).is_err());
        assert!(ok(&|s| s.devices = vec![dev("/dev/null", "dev/x", "rw")]).is_err());
    }
}
