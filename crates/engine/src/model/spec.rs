//! The runtime spec a record runs with, derived at every start as Docker derives its OCI
//! spec: `Config` and `HostConfig` say what was asked, the mount points what `create`
//! resolved. What needs the mounted root filesystem (the user, groups, `HOME`, `/etc/hosts`)
//! is completed later by the caller.

use std::path::PathBuf;

use berth_runtime::spec::{
    ContainerSpec, DEFAULT_CAPABILITIES, DeviceMapping as RtDevice, Mount, MountKind, Rlimit,
    SeccompProfile, capability_name,
};

use super::{MountType, NamespaceMode, NetworkMode, Record};

/// What `--security-opt` values ask for.
#[derive(Debug, Default, PartialEq)]
pub struct SecurityOptions {
    /// No seccomp filter (`seccomp=unconfined`).
    pub unconfined: bool,
    /// A profile by content (`seccomp=<JSON>`).
    pub seccomp_profile: Option<String>,
    /// `no-new-privileges`.
    pub no_new_privileges: bool,
}

/// Parse `--security-opt` values as stored (profiles by content). Docker also takes the old
/// `key:value` spelling.
pub fn security_options(opts: &[String]) -> Result<SecurityOptions, String> {
    let mut o = SecurityOptions::default();
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some(kv) => kv,
            None => opt.split_once(':').unwrap_or((opt.as_str(), "")),
        };
        match (key, value) {
            ("seccomp", "unconfined") => {
                o.unconfined = true;
                o.seccomp_profile = None;
            }
            ("seccomp", "") => return Err("--security-opt seccomp needs a profile".into()),
            ("seccomp", profile) => {
                o.unconfined = false;
                o.seccomp_profile = Some(profile.to_string());
            }
            ("no-new-privileges", "" | "true") => o.no_new_privileges = true,
            ("no-new-privileges", "false") => o.no_new_privileges = false,
            _ => return Err(format!("unsupported --security-opt {opt:?}")),
        }
    }
    Ok(o)
}

/// `NET_ADMIN` or `cap_net_admin` as `CAP_NET_ADMIN`.
pub fn cap_name(c: &str) -> String {
    let upper = c.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

fn every_capability() -> Vec<String> {
    (0..64)
        .filter_map(capability_name)
        .map(str::to_string)
        .collect()
}

fn bytes(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|v| *v > 0)
}

fn limit(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl Record {
    /// The capabilities the container keeps: Docker's default set, drops first then adds
    /// (`ALL` for every one); every capability when privileged.
    pub fn capabilities(&self) -> Vec<String> {
        let h = &self.host_config;
        if h.privileged {
            return every_capability();
        }
        let mut caps: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        for c in h.cap_drop.iter().map(|c| cap_name(c)) {
            if c == "CAP_ALL" {
                caps.clear();
            } else {
                caps.retain(|have| *have != c);
            }
        }
        for c in h.cap_add.iter().map(|c| cap_name(c)) {
            let added = if c == "CAP_ALL" {
                every_capability()
            } else {
                vec![c]
            };
            for c in added {
                if !caps.contains(&c) {
                    caps.push(c);
                }
            }
        }
        caps
    }

    /// The runtime spec of container `id` on `rootfs` (user and `/etc` files not yet
    /// resolved). Errors name the stored value that cannot be used.
    pub fn spec(&self, id: &str, rootfs: PathBuf) -> Result<ContainerSpec, String> {
        let (c, h, r) = (&self.config, &self.host_config, &self.host_config.resources);
        let mut spec = ContainerSpec::new(id, rootfs, c.argv());
        spec.env = c.env.clone();
        if !c.working_dir.is_empty() {
            spec.cwd = c.working_dir.clone();
        }
        if !c.hostname.is_empty() {
            spec.hostname = c.hostname.clone();
        }
        spec.terminal = c.tty;
        for m in &self.mount_points {
            let kind = match m.kind {
                MountType::Tmpfs => MountKind::Tmpfs {
                    options: m.tmpfs_options.clone(),
                },
                MountType::Bind | MountType::Volume => MountKind::Bind {
                    source: PathBuf::from(&m.source),
                },
            };
            spec.mounts.push(Mount {
                target: m.destination.clone(),
                kind,
                readonly: !m.rw,
            });
        }
        spec.readonly_rootfs = h.readonly_rootfs;
        spec.host_network = h.network_mode == NetworkMode::Host;
        spec.capabilities = self.capabilities();
        let security = security_options(&h.security_opt)?;
        spec.no_new_privileges = security.no_new_privileges;
        spec.seccomp = !security.unconfined && !h.privileged;
        if let Some(p) = &security.seccomp_profile {
            let profile = SeccompProfile::parse("seccomp profile", p.as_bytes())
                .map_err(|e| e.to_string())?;
            spec.seccomp_profile = Some(profile);
        }
        spec.privileged = h.privileged;
        spec.init = h.init.unwrap_or(false);
        spec.memory = bytes(r.memory);
        spec.cpus = (r.nano_cpus > 0).then(|| r.nano_cpus as f64 / 1e9);
        spec.pids_limit = r.pids_limit;
        spec.rlimits = r
            .ulimits
            .iter()
            .map(|u| Rlimit {
                kind: u.name.clone(),
                soft: limit(u.soft),
                hard: limit(u.hard),
            })
            .collect();
        spec.sysctls = h
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !c.domainname.is_empty() {
            // Set in the container's UTS namespace, as Docker's setdomainname does.
            spec.sysctls
                .push(("kernel.domainname".into(), c.domainname.clone()));
        }
        spec.shm_size = bytes(h.shm_size);
        let host = |m: &NamespaceMode| *m == NamespaceMode::Host;
        for (name, mode) in [("pid", &h.pid_mode), ("uts", &h.uts_mode)] {
            if let NamespaceMode::Container(_) | NamespaceMode::Other(_) = mode {
                return Err(format!("--{name} {mode} is not supported"));
            }
        }
        if let NamespaceMode::Container(_) = &h.ipc_mode {
            return Err(format!("--ipc {} is not supported", h.ipc_mode));
        }
        spec.pid_host = host(&h.pid_mode);
        spec.ipc_host = host(&h.ipc_mode);
        spec.uts_host = host(&h.uts_mode);
        spec.cgroupns_host = host(&h.cgroupns_mode);
        spec.cpu_shares = bytes(r.cpu_shares);
        spec.cpu_period = bytes(r.cpu_period);
        spec.cpu_quota = (r.cpu_quota != 0).then_some(r.cpu_quota);
        spec.cpuset_cpus = Some(r.cpuset_cpus.clone()).filter(|s| !s.is_empty());
        spec.cpuset_mems = Some(r.cpuset_mems.clone()).filter(|s| !s.is_empty());
        spec.memory_reservation = bytes(r.memory_reservation);
        spec.memory_swap = (r.memory_swap != 0).then_some(r.memory_swap);
        spec.memory_swappiness = r.memory_swappiness.and_then(|s| u64::try_from(s).ok());
        spec.oom_kill_disable = r.oom_kill_disable.unwrap_or(false);
        spec.oom_score_adj = (h.oom_score_adj != 0).then_some(h.oom_score_adj);
        spec.blkio_weight = (r.blkio_weight != 0).then_some(r.blkio_weight);
        let throttles = |v: &[super::ThrottleDevice]| {
            v.iter()
                .map(|t| (PathBuf::from(&t.path), t.rate))
                .collect::<Vec<_>>()
        };
        spec.device_read_bps = throttles(&r.blkio_device_read_bps);
        spec.device_write_bps = throttles(&r.blkio_device_write_bps);
        spec.device_read_iops = throttles(&r.blkio_device_read_iops);
        spec.device_write_iops = throttles(&r.blkio_device_write_iops);
        spec.cgroup_parent = Some(r.cgroup_parent.clone()).filter(|s| !s.is_empty());
        spec.devices = r
            .devices
            .iter()
            .map(|d| RtDevice {
                host: PathBuf::from(&d.path_on_host),
                container: if d.path_in_container.is_empty() {
                    d.path_on_host.clone()
                } else {
                    d.path_in_container.clone()
                },
                permissions: if d.cgroup_permissions.is_empty() {
                    "rwm".into()
                } else {
                    d.cgroup_permissions.clone()
                },
            })
            .collect();
        spec.device_cgroup_rules = r.device_cgroup_rules.clone();
        Ok(spec)
    }
}
