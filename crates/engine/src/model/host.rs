//! Docker's `HostConfig`: how a container sits on this host — mounts, namespaces, resources,
//! restart policy, security — with typed enums where Docker has a closed set of values.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::nullable;

/// A container's host configuration, field for field Docker's (`container.HostConfig`, with
/// its `Resources` flattened as on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v` values as given: `HOST:CTR[:ro]`, `NAME:CTR[:ro]`, `CTR`.
    #[serde(deserialize_with = "nullable")]
    pub binds: Vec<String>,
    /// Where the container's id is written (`--cidfile`).
    pub container_id_file: String,
    /// The log driver and its options (`--log-driver`, `--log-opt`).
    pub log_config: LogConfig,
    /// `--network`.
    pub network_mode: NetworkMode,
    /// `-p`: `"80/tcp"` → host bindings.
    #[serde(deserialize_with = "nullable")]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `--restart`.
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--volumes-from CONTAINER[:ro|rw]`.
    #[serde(deserialize_with = "nullable")]
    pub volumes_from: Vec<String>,
    /// `--cap-add` (`NET_ADMIN`, `CAP_NET_ADMIN` or `ALL`).
    #[serde(deserialize_with = "nullable")]
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    #[serde(deserialize_with = "nullable")]
    pub cap_drop: Vec<String>,
    /// `--cgroupns`.
    pub cgroupns_mode: NamespaceMode,
    /// `--dns`.
    #[serde(deserialize_with = "nullable")]
    pub dns: Vec<String>,
    /// `--dns-option`.
    #[serde(deserialize_with = "nullable")]
    pub dns_options: Vec<String>,
    /// `--dns-search`.
    #[serde(deserialize_with = "nullable")]
    pub dns_search: Vec<String>,
    /// `--add-host NAME:IP`.
    #[serde(deserialize_with = "nullable")]
    pub extra_hosts: Vec<String>,
    /// `--group-add` (names from the image's /etc/group, or numbers).
    #[serde(deserialize_with = "nullable")]
    pub group_add: Vec<String>,
    /// `--ipc`.
    pub ipc_mode: NamespaceMode,
    /// `--link NAME[:ALIAS]`.
    #[serde(deserialize_with = "nullable")]
    pub links: Vec<String>,
    /// `--oom-score-adj`.
    pub oom_score_adj: i32,
    /// `--pid`.
    pub pid_mode: NamespaceMode,
    /// `--privileged`.
    pub privileged: bool,
    /// `-P`.
    pub publish_all_ports: bool,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--security-opt`; a seccomp profile is kept by content (`seccomp=<JSON>`), as the
    /// docker CLI sends it, so the file is not needed later.
    #[serde(deserialize_with = "nullable")]
    pub security_opt: Vec<String>,
    /// `--storage-opt`.
    #[serde(deserialize_with = "nullable")]
    pub storage_opt: BTreeMap<String, String>,
    /// `--tmpfs PATH[:OPTIONS]`: path → options.
    #[serde(deserialize_with = "nullable")]
    pub tmpfs: BTreeMap<String, String>,
    /// `--uts`.
    #[serde(rename = "UTSMode")]
    pub uts_mode: NamespaceMode,
    /// `--userns` (only `host` or empty).
    pub userns_mode: String,
    /// `--shm-size` in bytes (0: 64 MiB).
    pub shm_size: i64,
    /// `--sysctl`.
    #[serde(deserialize_with = "nullable")]
    pub sysctls: BTreeMap<String, String>,
    /// `--runtime`: `berth` (the default) or the path/name of an OCI runtime.
    pub runtime: String,
    /// `--mount`.
    #[serde(deserialize_with = "nullable")]
    pub mounts: Vec<Mount>,
    /// `--init`.
    pub init: Option<bool>,
    /// Docker's `Resources`.
    #[serde(flatten)]
    pub resources: Resources,
    /// `--annotation`.
    #[serde(deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, String>,
}

/// Docker's `Resources` (0/empty: unset).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// `--cpu-shares`.
    pub cpu_shares: i64,
    /// `-m` in bytes.
    pub memory: i64,
    /// `--cpus` × 10⁹.
    #[serde(rename = "NanoCpus")]
    pub nano_cpus: i64,
    /// `--cgroup-parent`.
    pub cgroup_parent: String,
    /// `--blkio-weight`.
    pub blkio_weight: u16,
    /// `--blkio-weight-device` (accepted only as Docker does: per-device weights).
    #[serde(deserialize_with = "nullable")]
    pub blkio_weight_device: Vec<WeightDevice>,
    /// `--device-read-bps`.
    #[serde(deserialize_with = "nullable")]
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    /// `--device-write-bps`.
    #[serde(deserialize_with = "nullable")]
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    /// `--device-read-iops`.
    #[serde(rename = "BlkioDeviceReadIOps", deserialize_with = "nullable")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    /// `--device-write-iops`.
    #[serde(rename = "BlkioDeviceWriteIOps", deserialize_with = "nullable")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    /// `--cpu-period` (µs).
    pub cpu_period: i64,
    /// `--cpu-quota` (µs).
    pub cpu_quota: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--device`.
    #[serde(deserialize_with = "nullable")]
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule`.
    #[serde(deserialize_with = "nullable")]
    pub device_cgroup_rules: Vec<String>,
    /// `--memory-reservation` in bytes.
    pub memory_reservation: i64,
    /// `--memory-swap` in bytes (memory + swap; -1 unlimited).
    pub memory_swap: i64,
    /// `--memory-swappiness` (-1 or unset: the host's).
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: Option<bool>,
    /// `--pids-limit` (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    #[serde(deserialize_with = "nullable")]
    pub ulimits: Vec<Ulimit>,
}

/// `--device-read-bps /dev/sda:1mb`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDevice {
    /// The host's device path.
    pub path: String,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// `--blkio-weight-device /dev/sda:200`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDevice {
    /// The host's device path.
    pub path: String,
    /// 10..=1000.
    pub weight: u16,
}

/// `--device HOST[:CONTAINER[:PERMISSIONS]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    /// The host's device node.
    pub path_on_host: String,
    /// Where it appears in the container.
    pub path_in_container: String,
    /// A subset of `rwm`.
    pub cgroup_permissions: String,
}

/// `--ulimit NAME=SOFT[:HARD]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    /// Docker's name: `nofile`, `nproc`, `core`...
    pub name: String,
    /// Soft limit (-1: unlimited).
    pub soft: i64,
    /// Hard limit (-1: unlimited).
    pub hard: i64,
}

/// `-p` target: `{"HostIp": "", "HostPort": "8080"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// The host address (empty: every one).
    pub host_ip: String,
    /// The host port (empty: any free one).
    pub host_port: String,
}

/// `--restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// The policy.
    pub name: RestartPolicyName,
    /// `on-failure:N`: at most N restarts (0: no limit).
    pub maximum_retry_count: i64,
}

/// Docker's restart policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicyName {
    /// Never (Docker writes it `no`, or empty).
    #[default]
    #[serde(rename = "no", alias = "")]
    No,
    /// Always, unless removed.
    #[serde(rename = "always")]
    Always,
    /// Always, unless the user stopped it.
    #[serde(rename = "unless-stopped")]
    UnlessStopped,
    /// When it exits non-zero.
    #[serde(rename = "on-failure")]
    OnFailure,
}

impl RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let (name, count) = s.split_once(':').unwrap_or((s, ""));
        let name = match name {
            "" | "no" => RestartPolicyName::No,
            "always" => RestartPolicyName::Always,
            "unless-stopped" => RestartPolicyName::UnlessStopped,
            "on-failure" => RestartPolicyName::OnFailure,
            _ => return Err(format!("invalid restart policy {s:?}")),
        };
        let maximum_retry_count = match (name, count) {
            (_, "") => 0,
            (RestartPolicyName::OnFailure, n) => n
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("invalid restart count in {s:?}"))?,
            (_, _) => {
                return Err(format!(
                    "maximum retry count cannot be used with restart policy '{}'",
                    s.split(':').next().unwrap_or_default()
                ));
            }
        };
        Ok(RestartPolicy {
            name,
            maximum_retry_count,
        })
    }

    /// Whether a container that exited with `code` after `restarts` restarts is restarted
    /// (the user's stop is checked by the caller).
    pub fn restarts(&self, code: i32, restarts: i64) -> bool {
        match self.name {
            RestartPolicyName::No => false,
            RestartPolicyName::Always | RestartPolicyName::UnlessStopped => true,
            RestartPolicyName::OnFailure => {
                code != 0 && (self.maximum_retry_count == 0 || restarts < self.maximum_retry_count)
            }
        }
    }
}

/// The log driver (`--log-driver`, `--log-opt`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// The driver.
    #[serde(rename = "Type")]
    pub kind: LogDriver,
    /// `max-size`, `max-file`...
    #[serde(deserialize_with = "nullable")]
    pub config: BTreeMap<String, String>,
}

/// The log drivers berth has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogDriver {
    /// JSON lines, Docker's default.
    #[default]
    #[serde(rename = "json-file", alias = "")]
    JsonFile,
    /// Docker's compact local format (berth: the same file format as json-file).
    #[serde(rename = "local")]
    Local,
    /// No log: `logs` has nothing.
    #[serde(rename = "none")]
    None,
}

/// `--mount type=...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// bind, volume or tmpfs.
    #[serde(rename = "Type")]
    pub kind: MountType,
    /// Host path (bind), volume name (volume; empty: anonymous), unused for tmpfs.
    pub source: String,
    /// Absolute path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// `volume-nocopy`: don't fill a new volume with the image's content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// tmpfs size and mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Mount types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    /// A volume (the default of `--mount`).
    #[default]
    Volume,
    /// A host path.
    Bind,
    /// A fresh tmpfs.
    Tmpfs,
}

/// `--mount type=volume,volume-nocopy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Don't copy the image's content into a new volume.
    pub no_copy: bool,
    /// Labels for a volume created by this mount.
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
}

/// `--mount type=tmpfs,tmpfs-size=…,tmpfs-mode=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Bytes (0: half of RAM, the kernel's default).
    pub size_bytes: i64,
    /// Permission bits (0: 1777).
    pub mode: u32,
}

/// `--network`: Docker's names for the modes, or a network's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// The default: `bridge` once networking exists; berth gives a namespace with `lo`
    /// until then (as `none`).
    #[default]
    Default,
    /// Docker's bridge network.
    Bridge,
    /// A namespace with only `lo`.
    None,
    /// The host's network namespace.
    Host,
    /// Another container's network namespace.
    Container(String),
    /// A user-defined network.
    Named(String),
}

impl FromStr for NetworkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" | "default" => NetworkMode::Default,
            "bridge" => NetworkMode::Bridge,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            s => match s.strip_prefix("container:") {
                Some("") => return Err("--network container: needs a container".into()),
                Some(c) => NetworkMode::Container(c.to_string()),
                None => NetworkMode::Named(s.to_string()),
            },
        })
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Default => f.write_str("default"),
            NetworkMode::Bridge => f.write_str("bridge"),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
            NetworkMode::Named(n) => f.write_str(n),
        }
    }
}

/// `--pid`, `--ipc`, `--uts`, `--cgroupns`: a namespace of its own, the host's, or another
/// container's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NamespaceMode {
    /// Its own (Docker: empty, `private`; `shareable` for IPC).
    #[default]
    Private,
    /// The host's.
    Host,
    /// Another container's.
    Container(String),
    /// IPC only: `none` (no /dev/shm) or `shareable`, kept as given.
    Other(String),
}

impl FromStr for NamespaceMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" | "private" => NamespaceMode::Private,
            "host" => NamespaceMode::Host,
            "shareable" | "none" => NamespaceMode::Other(s.to_string()),
            s => match s.strip_prefix("container:") {
                Some(c) if !c.is_empty() => NamespaceMode::Container(c.to_string()),
                _ => return Err(format!("invalid namespace mode {s:?}")),
            },
        })
    }
}

impl fmt::Display for NamespaceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceMode::Private => Ok(()),
            NamespaceMode::Host => f.write_str("host"),
            NamespaceMode::Container(c) => write!(f, "container:{c}"),
            NamespaceMode::Other(o) => f.write_str(o),
        }
    }
}

macro_rules! as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Option::<String>::deserialize(d)?.unwrap_or_default();
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
as_string!(NetworkMode);
as_string!(NamespaceMode);
