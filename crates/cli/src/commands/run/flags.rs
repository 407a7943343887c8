//! The `docker run`/`docker create` flags beyond `berth run`'s first set: metadata, mounts,
//! ports, DNS, namespaces, devices, resources, logging and health checks. [`ContainerFlags`]
//! goes into both commands (`#[command(flatten)]`), [`RunOnlyFlags`] into `run` only; values
//! are kept as given and parsed, with docker's semantics and messages, by
//! [`ContainerFlags::apply`] and the helpers below.

use std::path::PathBuf;

use berth_engine::model::{HostConfig, NetworkMode};

#[path = "flags_apply.rs"]
mod apply;
#[path = "flags_parse.rs"]
pub(crate) mod parse;
#[path = "flags_ports.rs"]
mod ports;

pub use parse::invalid;

/// Flags `docker run` and `docker create` share (beyond `berth run`'s own).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ContainerFlags {
    /// Set a label on the container: KEY=VALUE (or KEY, empty value).
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Read labels from a file (a KEY=VALUE a line, `#` comments); before `-l`.
    #[arg(long, value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// Add an annotation for the OCI runtime: KEY=VALUE.
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// The container's NIS domain name.
    #[arg(long)]
    pub domainname: Option<String>,
    /// Write the container's id to this file (which must not exist).
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// When to pull the image: `always`, `missing` (the default) or `never`.
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// The platform to pull and run (os/arch[/variant], e.g. linux/arm64).
    #[arg(long)]
    pub platform: Option<String>,
    /// Don't print the pull's progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Attach to these streams only: `stdin`, `stdout`, `stderr` (repeatable).
    #[arg(short, long, value_name = "STREAM")]
    pub attach: Vec<String>,
    /// Mount a filesystem: `type=bind|volume|tmpfs,source=…,target=…[,readonly]`, with
    /// `volume-nocopy`, `volume-label=K=V`, `tmpfs-size=64m`, `tmpfs-mode=1770`,
    /// `bind-propagation=…`.
    #[arg(long, value_name = "MOUNT")]
    pub mount: Vec<String>,
    /// Mount the volumes of another container: CONTAINER[:ro|rw].
    #[arg(long, value_name = "CONTAINER[:MODE]")]
    pub volumes_from: Vec<String>,
    /// The volume driver for `-v` and `--mount` volumes (berth has only `local`).
    #[arg(long, value_name = "DRIVER")]
    pub volume_driver: Option<String>,
    /// Publish container ports on the host: [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]
    /// (`8080:80`, `127.0.0.1:53:53/udp`, `8000-8001:80-81`, `[::1]:80:80`).
    #[arg(short, long, value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish every exposed port on a random host port.
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port or a range of ports: PORT[/PROTO], START-END[/PROTO].
    #[arg(long, value_name = "PORTS")]
    pub expose: Vec<String>,
    /// Add a line to /etc/hosts: NAME:IP or NAME=IP (IPv6 may be in brackets, `host-gateway`).
    #[arg(long, value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Use this DNS server.
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// Set a resolv.conf option (`ndots:2`).
    #[arg(long, value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Add a DNS search domain (`.`: none).
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Link to another container: NAME[:ALIAS].
    #[arg(long, value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// A network-scoped alias for the container.
    #[arg(long, value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// The container's IPv4 address on its network (e.g. 172.30.100.104).
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<String>,
    /// The container's IPv6 address on its network (e.g. 2001:db8::33).
    #[arg(long, value_name = "IPV6")]
    pub ip6: Option<String>,
    /// The container's MAC address (e.g. 92:d0:c6:0a:29:33).
    #[arg(long, value_name = "MAC")]
    pub mac_address: Option<String>,
    /// A link-local IPv4/IPv6 address for the container.
    #[arg(long, value_name = "IP")]
    pub link_local_ip: Vec<String>,
    /// PID namespace: `host` or `container:NAME|ID` (default: its own).
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// IPC namespace: `private`, `shareable`, `none`, `host` or `container:NAME|ID`.
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// UTS namespace: `host` (default: its own).
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
    /// Cgroup namespace: `host` or `private` (the default).
    #[arg(long, value_name = "MODE")]
    pub cgroupns: Option<String>,
    /// User namespace: `host` (berth has no remapping daemon).
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,
    /// Add a supplementary group (name from the image's /etc/group, or a number).
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Set a namespaced kernel parameter: KEY=VALUE (`net.*`, `fs.mqueue.*`, IPC `kernel.*`).
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Bind mount berth's API socket into the container.
    #[arg(long)]
    pub use_api_socket: bool,
    /// Add a host device: HOST_PATH[:CONTAINER_PATH][:PERMISSIONS] (permissions `rwm`).
    #[arg(long, value_name = "DEVICE")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup's allowed devices: 'TYPE MAJOR:MINOR PERMISSIONS' (`c 1:3 rwm`).
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
    /// CPU shares (relative weight; 1024 is one CPU's worth).
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// The CFS scheduler period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// The CFS scheduler quota in microseconds per period (-1: none).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs the container may run on (`0-3`, `0,1`).
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (`0-3`, `0,1`).
    #[arg(long, value_name = "MEMS")]
    pub cpuset_mems: Option<String>,
    /// Memory soft limit (`512m`).
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (`1g`; -1: unlimited swap).
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Memory swappiness, 0 to 100 (-1: the host's).
    #[arg(long, allow_negative_numbers = true)]
    pub memory_swappiness: Option<i64>,
    /// Size of /dev/shm (`64m`, the default).
    #[arg(long, value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// Set a resource limit: NAME=SOFT[:HARD] (`nofile=1024:2048`; -1: unlimited).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Block IO weight, 10 to 1000 (0: none).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Block IO weight of a device: DEVICE:WEIGHT (`/dev/sda:200`).
    #[arg(long, value_name = "DEVICE:WEIGHT")]
    pub blkio_weight_device: Vec<String>,
    /// Limit reads from a device, in bytes per second: DEVICE:RATE (`/dev/sda:1mb`).
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_read_bps: Vec<String>,
    /// Limit writes to a device, in bytes per second: DEVICE:RATE.
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_write_bps: Vec<String>,
    /// Limit reads from a device, in operations per second: DEVICE:RATE (`/dev/sda:1000`).
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_read_iops: Vec<String>,
    /// Limit writes to a device, in operations per second: DEVICE:RATE.
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_write_iops: Vec<String>,
    /// Don't let the OOM killer kill the container's processes.
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Adjust the container's OOM score, -1000 to 1000.
    #[arg(long, allow_negative_numbers = true)]
    pub oom_score_adj: Option<i32>,
    /// The cgroup to create the container's cgroup in.
    #[arg(long, value_name = "CGROUP")]
    pub cgroup_parent: Option<String>,
    /// Storage driver options (berth's overlay storage has none).
    #[arg(long, value_name = "KEY=VALUE")]
    pub storage_opt: Vec<String>,
    /// The log driver: `json-file` (the default), `local` or `none`.
    #[arg(long, value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// A log driver option: `max-size=10m`, `max-file=3`, `compress=true`…
    #[arg(long, value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Health check command, run with /bin/sh -c.
    #[arg(long, value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between health checks (ms|s|m|h; default 30s).
    #[arg(long, value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Time a health check may take (ms|s|m|h; default 30s).
    #[arg(long, value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Consecutive failures before the container is unhealthy (default 3).
    #[arg(long, allow_negative_numbers = true)]
    pub health_retries: Option<i64>,
    /// Time to start during which failures don't count (ms|s|m|h).
    #[arg(long, value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between health checks during the start period (ms|s|m|h; default 5s).
    #[arg(long, value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Disable the image's health check.
    #[arg(long)]
    pub no_healthcheck: bool,
}

/// Flags only `docker run` has (it attaches; `create` does not).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RunOnlyFlags {
    /// Pass the signals berth receives on to the container (default true; `--sig-proxy=false`).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub sig_proxy: Option<bool>,
    /// The keys that detach from the container (default `ctrl-p,ctrl-q`).
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
}

/// `--pull`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull before every run.
    Always,
    /// Pull when the image is not local (the default).
    #[default]
    Missing,
    /// Never pull: a missing image is an error.
    Never,
}

/// The streams a container attaches (`-a`, `-i`, `-d`): stdin, stdout, stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attach {
    /// stdin.
    pub stdin: bool,
    /// stdout.
    pub stdout: bool,
    /// stderr.
    pub stderr: bool,
}

/// What `--ip`, `--ip6`, `--mac-address`, `--link-local-ip` and `--network-alias` ask of the
/// container's network endpoint, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `--ip`.
    pub ipv4: Option<std::net::Ipv4Addr>,
    /// `--ip6`.
    pub ipv6: Option<std::net::Ipv6Addr>,
    /// `--mac-address`, lower case.
    pub mac: Option<String>,
    /// `--link-local-ip`.
    pub link_local: Vec<std::net::IpAddr>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
}

impl RunOnlyFlags {
    /// `--sig-proxy` (true unless `--sig-proxy=false`).
    pub fn sig_proxy(&self) -> bool {
        self.sig_proxy.unwrap_or(true)
    }

    /// `--detach-keys` as bytes (default ctrl-p, ctrl-q).
    pub fn detach_keys(&self) -> Result<Vec<u8>, String> {
        let keys = self.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q");
        parse::detach_keys(keys).map_err(|e| format!("Invalid detach keys ({keys}) provided: {e}"))
    }
}

impl ContainerFlags {
    /// `--pull`.
    pub fn pull_policy(&self) -> Result<PullPolicy, String> {
        match self.pull.as_deref() {
            None | Some("" | "missing") => Ok(PullPolicy::Missing),
            Some("always") => Ok(PullPolicy::Always),
            Some("never") => Ok(PullPolicy::Never),
            Some(p) => Err(format!(
                "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
            )),
        }
    }

    /// `--platform` as (os, arch, variant), if given.
    pub fn platform(&self) -> Result<Option<(String, String, Option<String>)>, String> {
        self.platform
            .as_deref()
            .map(crate::commands::context::parse_platform)
            .transpose()
            .map_err(|e| format!("{e:#}"))
    }

    /// The streams to attach, as Docker decides: `-a`'s (stdin also with `-i`), else stdout
    /// and stderr (and stdin with `-i`); none with `-d`, which `-a` conflicts with.
    pub fn attach(&self, interactive: bool, detach: bool) -> Result<Attach, String> {
        let mut a = Attach::default();
        for s in &self.attach {
            match s.to_ascii_lowercase().as_str() {
                "stdin" => a.stdin = true,
                "stdout" => a.stdout = true,
                "stderr" => a.stderr = true,
                _ => {
                    let msg = "valid streams are STDIN, STDOUT and STDERR";
                    return Err(invalid("-a, --attach", s, msg));
                }
            }
        }
        if detach {
            return match self.attach.is_empty() {
                true => Ok(Attach::default()),
                false => Err("Conflicting options: -a and -d".into()),
            };
        }
        if self.attach.is_empty() {
            (a.stdout, a.stderr) = (true, true);
        }
        a.stdin |= interactive;
        Ok(a)
    }

    /// `--ip`, `--ip6`, `--mac-address`, `--link-local-ip`, `--network-alias`, checked; they need
    /// a user-defined network (`network` is `--network`'s mode).
    pub fn endpoint(&self, network: &NetworkMode) -> Result<Endpoint, String> {
        let e = Endpoint {
            ipv4: self.ip.as_deref().map(|v| ip("--ip", v)).transpose()?,
            ipv6: self.ip6.as_deref().map(|v| ip("--ip6", v)).transpose()?,
            mac: self.mac_address.as_deref().map(mac).transpose()?,
            link_local: (self.link_local_ip.iter())
                .map(|v| ip("--link-local-ip", v))
                .collect::<Result<_, _>>()?,
            aliases: self.network_alias.clone(),
        };
        let named = matches!(network, NetworkMode::Named(_));
        if !named && (e.ipv4.is_some() || e.ipv6.is_some() || !e.link_local.is_empty()) {
            return Err(
                "user specified IP address is supported only for user-defined networks".into(),
            );
        }
        if !named && !e.aliases.is_empty() {
            return Err("network-scoped alias is supported only for user-defined networks".into());
        }
        if e.mac.is_some()
            && matches!(
                network,
                NetworkMode::Host | NetworkMode::None | NetworkMode::Container(_)
            )
        {
            return Err("conflicting options: mac-address and the network mode".into());
        }
        Ok(e)
    }
}

/// An IP address flag's value.
fn ip<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| invalid(flag, v, format!("invalid IP address: {v}")))
}

/// `--mac-address`: six hex bytes separated by `:` or `-`.
fn mac(v: &str) -> Result<String, String> {
    let parts: Vec<&str> = v.split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok());
    match ok {
        true => Ok(parts.join(":").to_ascii_lowercase()),
        false => Err(invalid(
            "--mac-address",
            v,
            format!("address {v}: invalid MAC address"),
        )),
    }
}

/// Checks across flags, once `config`/`host` hold everything (`berth run`'s own flags too):
/// memory limits against each other, net sysctls against the host's network, DNS, hosts and
/// ports against another container's network.
pub fn check(host: &HostConfig) -> Result<(), String> {
    let r = &host.resources;
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        );
    }
    if r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        );
    }
    if r.memory > 0 && r.memory_reservation > r.memory {
        return Err(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        );
    }
    if matches!(host.network_mode, NetworkMode::Container(_)) {
        let conflict =
            |what: &str| Err(format!("conflicting options: {what} and the network mode"));
        if !host.port_bindings.is_empty() || host.publish_all_ports {
            return conflict("port publishing");
        }
        if !host.dns.is_empty() || !host.dns_options.is_empty() || !host.dns_search.is_empty() {
            return conflict("dns");
        }
        if !host.extra_hosts.is_empty() {
            return conflict("custom host-to-IP mapping");
        }
    }
    let net = host.sysctls.keys().find(|k| k.starts_with("net."));
    if let Some(k) = net.filter(|_| host.network_mode == NetworkMode::Host) {
        return Err(format!(
            "sysctl {k:?} not allowed in host network namespace"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "flags_apply_tests.rs"]
mod apply_tests;
#[cfg(test)]
#[path = "flags_cli_tests.rs"]
mod cli_tests;
#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
