//! What to run: [`ContainerSpec`], berth's own small description of one container, and its
//! translation into an OCI runtime-spec `config.json` for external runtimes (runc, crun).
//!
//! Both engines read the same spec and the same defaults from here (Docker's default
//! capabilities, masked and read-only paths), so `berth run` means the same thing whichever
//! engine runs it. This module does no system calls but reading the host's `/dev` for
//! privileged containers ([`host_devices`]).

use std::path::PathBuf;

use crate::error::{Error, Result};

mod caps;
mod defaults;
mod devices;
mod oci;
mod oci_resources;
pub(crate) mod resources;
mod seccomp;

pub use caps::{capability_name, capability_number};
pub use defaults::{DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, SECCOMP_BLOCKED};
pub use devices::{DeviceMapping, DeviceRule, HostDevice, host_devices};
pub use oci::{oci_spec, write_bundle};
pub use resources::{DEFAULT_SHM_SIZE, Rlimit, cpu_shares_to_weight, rlimit_resource};
pub use seccomp::{SeccompAction, SeccompArg, SeccompOp, SeccompProfile, SeccompRule};

/// The CFS period berth uses with `--cpus` (Docker's), in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// `PATH` when the image sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What an extra mount puts at its target.
#[derive(Debug, Clone, PartialEq)]
pub enum MountKind {
    /// Bind a host path (absolute, existing): `-v HOST:CTR`, named volumes, `/etc/hosts`.
    Bind {
        /// The host path.
        source: PathBuf,
    },
    /// A fresh tmpfs (`--tmpfs`): `options` as Docker takes them (`size=64m,mode=1777,exec`);
    /// `noexec,nosuid,nodev` unless the options say otherwise.
    Tmpfs {
        /// Comma-separated mount options.
        options: String,
    },
}

/// One extra mount in the container, set up after the kernel filesystems.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Absolute path inside the container; created (with no symlink on the way) when missing.
    pub target: String,
    /// What to mount there.
    pub kind: MountKind,
    /// Remount it read-only.
    pub readonly: bool,
}

/// One container to run: what the CLI (or the API) hands an engine.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// Container id: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 128 bytes, unique on this host.
    pub id: String,
    /// The prepared root filesystem directory (absolute); later the overlay's merged dir.
    /// The engines create `proc`, `sys` and `dev` in it when missing.
    pub rootfs: PathBuf,
    /// The program and its arguments; a program without `/` is looked up in `PATH`.
    pub args: Vec<String>,
    /// The environment, `KEY=value` strings; [`DEFAULT_PATH`] is used when it has no `PATH`.
    pub env: Vec<String>,
    /// The working directory inside the container (absolute).
    pub cwd: String,
    /// The container's hostname.
    pub hostname: String,
    /// User id the program runs as.
    pub uid: u32,
    /// Group id the program runs as.
    pub gid: u32,
    /// Supplementary groups of the program (empty: none).
    pub groups: Vec<u32>,
    /// Extra mounts, in order (bind mounts, volumes, tmpfs).
    pub mounts: Vec<Mount>,
    /// Remount the root filesystem read-only once set up (`--read-only`); `/dev`, `/proc`,
    /// `/dev/shm` and the extra mounts stay as they are.
    pub readonly_rootfs: bool,
    /// Share the host's network namespace (`--network host`) instead of a new one with only
    /// `lo` up (`--network none`, the default).
    pub host_network: bool,
    /// The capabilities the program keeps, by name (`CAP_CHOWN`); all others are dropped from
    /// every set, the bounding set included.
    pub capabilities: Vec<String>,
    /// Set `no_new_privs`, so setuid binaries and file capabilities grant nothing. Docker's
    /// default is off (`--security-opt no-new-privileges` turns it on).
    pub no_new_privileges: bool,
    /// Apply the default seccomp profile ([`SECCOMP_BLOCKED`] refused with EPERM, other
    /// architectures' system calls refused). Docker's default is on
    /// (`--security-opt seccomp=unconfined` turns it off).
    pub seccomp: bool,
    /// A custom profile (`--security-opt seccomp=PROFILE.json`) used instead of the default
    /// one when `seccomp` is on; ignored when it is off or the container is privileged.
    pub seccomp_profile: Option<SeccompProfile>,
    /// Memory limit in bytes (`--memory`); swap is limited to the same total (unless
    /// [`Self::memory_swap`] says otherwise), so swapping cannot hide the limit. `None`:
    /// unlimited.
    pub memory: Option<u64>,
    /// CPU limit in CPUs (`--cpus 0.5`: half of one CPU per 100 ms period). `None`: unlimited.
    pub cpus: Option<f64>,
    /// Maximum number of processes (`--pids-limit`); zero or negative: unlimited (as Docker).
    pub pids_limit: Option<i64>,
    /// The program's stdin is a terminal (`-t`): it gets a new session with that terminal as
    /// its controlling terminal, so job control and window-size signals work.
    pub terminal: bool,
    /// `--privileged`: every capability, no seccomp filter, nothing masked or read-only in
    /// `/proc` and `/sys`, and the host's devices.
    pub privileged: bool,
    /// `--init`: a minimal init is the container's pid 1; it forwards signals to the program
    /// and reaps zombies.
    pub init: bool,
    /// `--ulimit KIND=SOFT[:HARD]`: resource limits set on the program before it starts, in
    /// order; limits not listed are inherited from berth. See [`Rlimit`].
    pub rlimits: Vec<Rlimit>,
    /// `--sysctl KEY=VALUE`: kernel parameters written to `/proc/sys/KEY` (dots or slashes
    /// separate its parts) inside the container before `/proc/sys` is made read-only. Only
    /// Docker's namespaced ones: `kernel.msgmax`, `kernel.msgmnb`, `kernel.msgmni`,
    /// `kernel.sem`, `kernel.shmall`, `kernel.shmmax`, `kernel.shmmni`,
    /// `kernel.shm_rmid_forced` and `fs.mqueue.*` (not with [`Self::ipc_host`]), `net.*` (not
    /// with [`Self::host_network`]), `kernel.domainname` and `kernel.hostname` (not with
    /// [`Self::uts_host`]).
    pub sysctls: Vec<(String, String)>,
    /// `--shm-size`: size of the container's `/dev/shm` tmpfs in bytes (at least 4096, rounded
    /// down to KiB); `None`: Docker's [`DEFAULT_SHM_SIZE`] (64 MiB). Not allowed with
    /// [`Self::ipc_host`], where `/dev/shm` is the host's, bound in.
    pub shm_size: Option<u64>,
    /// `--pid host`: share the host's pid namespace (the program is not pid 1 and sees every
    /// host process) instead of a new one.
    pub pid_host: bool,
    /// `--ipc host`: share the host's IPC namespace, and bind the host's `/dev/shm`.
    pub ipc_host: bool,
    /// `--uts host`: share the host's hostname and domain name; [`Self::hostname`] is then
    /// ignored (not set).
    pub uts_host: bool,
    /// `--cgroupns host`: see the host's cgroup tree instead of a private cgroup namespace
    /// rooted at the container's cgroup (the default, as Docker's on cgroup v2).
    pub cgroupns_host: bool,
    /// `--cpu-shares`: relative CPU weight (Docker's default is 1024); `None` or `Some(0)`:
    /// the default. Values are clamped to 2..=262144 as the kernel does; cgroup v1
    /// `cpu.shares`, v2 `cpu.weight` by [`cpu_shares_to_weight`] (runc's conversion).
    pub cpu_shares: Option<u64>,
    /// `--cpu-period`: the CFS period in microseconds (1000..=1000000); not with
    /// [`Self::cpus`]. With no [`Self::cpu_quota`] it sets the period only.
    pub cpu_period: Option<u64>,
    /// `--cpu-quota`: CFS run time allowed per period, in microseconds (at least 1000, or -1
    /// or 0 for no quota); the period is [`Self::cpu_period`] or [`CPU_PERIOD_US`]; not with
    /// [`Self::cpus`].
    pub cpu_quota: Option<i64>,
    /// `--cpuset-cpus`: the CPUs the container may run on, a list such as `0-2,4`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`: the memory nodes it may allocate from, same syntax.
    pub cpuset_mems: Option<String>,
    /// `--memory-reservation`: soft memory limit in bytes (v1 `memory.soft_limit_in_bytes`,
    /// v2 `memory.low`); at most [`Self::memory`] when both are set.
    pub memory_reservation: Option<u64>,
    /// `--memory-swap`, Docker's meaning: the memory **plus swap** total in bytes, at least
    /// [`Self::memory`] (which it needs), or -1 for unlimited swap. `None`: the total equals
    /// the memory limit (no swap), as [`Self::memory`] documents. v1
    /// `memory.memsw.limit_in_bytes`, v2 `memory.swap.max` = total - memory (both skipped
    /// when the kernel has no swap accounting).
    pub memory_swap: Option<i64>,
    /// `--memory-swappiness` (0..=100): v1 `memory.swappiness`. Cgroup v2 has no per-cgroup
    /// swappiness: accepted and ignored there (Docker warns and ignores it too).
    pub memory_swappiness: Option<u64>,
    /// `--oom-kill-disable`: v1 `memory.oom_control` = 1. Cgroup v2 cannot disable the OOM
    /// killer: accepted and ignored there, as Docker does.
    pub oom_kill_disable: bool,
    /// `--oom-score-adj` (-1000..=1000): written to the program's `/proc/self/oom_score_adj`
    /// before it starts. Lowering it below berth's own needs CAP_SYS_RESOURCE.
    pub oom_score_adj: Option<i32>,
    /// `--blkio-weight` (10..=1000): v1 `blkio.weight` or `blkio.bfq.weight`, v2 `io.weight`
    /// or `io.bfq.weight`, the first the kernel has; skipped (with a warning) when it has none.
    pub blkio_weight: Option<u16>,
    /// `--device-read-bps PATH:RATE`: read bytes per second from a block device (the host path
    /// of its node; major:minor are taken from it). v1 `blkio.throttle.read_bps_device`, v2
    /// `io.max` `rbps=`.
    pub device_read_bps: Vec<(PathBuf, u64)>,
    /// `--device-write-bps`: as [`Self::device_read_bps`], writes (`wbps=`).
    pub device_write_bps: Vec<(PathBuf, u64)>,
    /// `--device-read-iops`: read operations per second (`riops=`).
    pub device_read_iops: Vec<(PathBuf, u64)>,
    /// `--device-write-iops`: write operations per second (`wiops=`).
    pub device_write_iops: Vec<(PathBuf, u64)>,
    /// `--cgroup-parent`: the cgroup (a path below each hierarchy's root, such as `/mygroup`
    /// or `a/b`) the container's cgroup `<parent>/<id>` is made in; `None`: `/berth`.
    /// Missing parents are created and left in place. [`crate::cgroupfs`] (stats, pause) only
    /// finds containers under the default parent.
    pub cgroup_parent: Option<String>,
    /// `--device HOST[:CONTAINER[:PERMS]]`: host device nodes made in the container, and
    /// allowed in its device cgroup. See [`DeviceMapping`].
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule 'TYPE MAJOR:MINOR ACCESS'` (`c 1:3 mr`, `a *:* rwm`; see
    /// [`DeviceRule::parse`]): extra devices the container may use, added to Docker's default
    /// allow list. Enforced by the native engine on cgroup v1 (`devices.allow`); on cgroup v2
    /// the native engine has no eBPF device filter (no device is denied there, so these
    /// allowances change nothing); external runtimes get them in `linux.resources.devices`.
    pub device_cgroup_rules: Vec<String>,
}

impl ContainerSpec {
    /// A spec with Docker's defaults: root, cwd `/`, `PATH` only, hostname the first 12 bytes
    /// of the id, Docker's default capabilities.
    pub fn new(id: impl Into<String>, rootfs: impl Into<PathBuf>, args: Vec<String>) -> Self {
        let id = id.into();
        let hostname = id.chars().take(12).collect();
        ContainerSpec {
            id,
            rootfs: rootfs.into(),
            args,
            env: vec![format!("PATH={DEFAULT_PATH}")],
            cwd: "/".to_string(),
            hostname,
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            mounts: Vec::new(),
            readonly_rootfs: false,
            host_network: false,
            capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            no_new_privileges: false,
            seccomp: true,
            seccomp_profile: None,
            memory: None,
            cpus: None,
            pids_limit: None,
            terminal: false,
            privileged: false,
            init: false,
            rlimits: Vec::new(),
            sysctls: Vec::new(),
            shm_size: None,
            pid_host: false,
            ipc_host: false,
            uts_host: false,
            cgroupns_host: false,
            cpu_shares: None,
            cpu_period: None,
            cpu_quota: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            memory_reservation: None,
            memory_swap: None,
            memory_swappiness: None,
            oom_kill_disable: false,
            oom_score_adj: None,
            blkio_weight: None,
            device_read_bps: Vec::new(),
            device_write_bps: Vec::new(),
            device_read_iops: Vec::new(),
            device_write_iops: Vec::new(),
            cgroup_parent: None,
            devices: Vec::new(),
            device_cgroup_rules: Vec::new(),
        }
    }

    /// Check what both engines rely on; every engine calls this before doing anything.
    pub fn validate(&self) -> Result<()> {
        let id = &self.id;
        let bad = |reason: String| Err(Error::invalid(id, reason));
        let id_ok = !id.is_empty()
            && id.len() <= 128
            && id.as_bytes()[0].is_ascii_alphanumeric()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !id_ok {
            return bad("id must match [A-Za-z0-9][A-Za-z0-9_.-]* (at most 128 bytes)".into());
        }
        if !self.rootfs.is_absolute() {
            return bad(format!("rootfs {} is not absolute", self.rootfs.display()));
        }
        if !self.rootfs.is_dir() {
            return bad(format!(
                "rootfs {} is not a directory",
                self.rootfs.display()
            ));
        }
        if self.args.is_empty() || self.args[0].is_empty() {
            return bad("no program to run".into());
        }
        if !self.cwd.starts_with('/') {
            return bad(format!("working directory {:?} is not absolute", self.cwd));
        }
        if self.hostname.len() > 64 {
            return bad("hostname is longer than 64 bytes".into());
        }
        if let Some(e) = self.env.iter().find(|e| !e.contains('=')) {
            return bad(format!("environment entry {e:?} has no '='"));
        }
        let strings = self
            .args
            .iter()
            .chain(&self.env)
            .chain([&self.cwd, &self.hostname]);
        if strings.into_iter().any(|s| s.contains('\0'))
            || self.rootfs.as_os_str().as_encoded_bytes().contains(&0)
        {
            return bad("a string contains a NUL byte".into());
        }
        if let Some(c) = self
            .capabilities
            .iter()
            .find(|c| capability_number(c).is_none())
        {
            return bad(format!("unknown capability {c:?}"));
        }
        for m in &self.mounts {
            if !m.target.starts_with('/') || m.target.split('/').any(|p| p == "..") {
                return bad(format!(
                    "mount target {:?} must be absolute, without '..'",
                    m.target
                ));
            }
            let options = match &m.kind {
                MountKind::Bind { source } => {
                    if !source.is_absolute() || !source.exists() {
                        return bad(format!(
                            "bind source {} must be an absolute, existing path",
                            source.display()
                        ));
                    }
                    source.as_os_str().as_encoded_bytes()
                }
                MountKind::Tmpfs { options } => options.as_bytes(),
            };
            if options.contains(&0) || m.target.contains('\0') {
                return bad("a string contains a NUL byte".into());
            }
        }
        if self.memory == Some(0) {
            return bad("memory limit must be positive".into());
        }
        if let Some(cpus) = self.cpus
            && (!cpus.is_finite() || cpus <= 0.0 || cpus * 100_000.0 < 1_000.0)
        {
            return bad(format!("cpus {cpus} must be at least 0.01"));
        }
        resources::validate(self).or_else(bad)
    }

    /// The `PATH` the program is looked up in: the spec's own, or [`DEFAULT_PATH`].
    pub fn path_env(&self) -> &str {
        path_env(&self.env)
    }

    /// The spec's environment, with `PATH` added when it has none.
    pub fn full_env(&self) -> Vec<String> {
        full_env(&self.env)
    }
}

/// The `PATH` of environment `env` (its last one), or [`DEFAULT_PATH`].
pub fn path_env(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// Environment `env` with `PATH` added when it has none.
pub fn full_env(env: &[String]) -> Vec<String> {
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env
}

/// The environment Docker gives a container's process: `PATH` (the default), `HOSTNAME`,
/// `TERM=xterm` with a terminal, each replaced in place by the same key of `env` (the image's
/// and `-e`'s), then `env`'s other variables, and `HOME` last when nothing set it (as runc
/// adds it from the user's passwd entry).
pub fn container_env(env: &[String], hostname: &str, terminal: bool, home: &str) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let mut out = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if terminal {
        out.push("TERM=xterm".to_string());
    }
    for e in env {
        match out.iter_mut().find(|have| key(have) == key(e)) {
            Some(have) => *have = e.clone(),
            None => out.push(e.clone()),
        }
    }
    if !out.iter().any(|e| key(e) == "HOME") {
        out.push(format!("HOME={home}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_container_env() {
        let env = |e: &[&str], tty| {
            let e: Vec<String> = e.iter().map(|s| s.to_string()).collect();
            container_env(&e, "abc", tty, "/root")
        };
        let path = format!("PATH={DEFAULT_PATH}");
        assert_eq!(env(&[], false), [&path, "HOSTNAME=abc", "HOME=/root"]);
        assert_eq!(
            env(&["PATH=/bin", "A=1"], true),
            [
                "PATH=/bin",
                "HOSTNAME=abc",
                "TERM=xterm",
                "A=1",
                "HOME=/root"
            ]
        );
        assert_eq!(
            env(&["HOME=/x", "HOSTNAME=h", "TERM=vt100"], true),
            [&path, "HOSTNAME=h", "TERM=vt100", "HOME=/x"]
        );
    }

    fn spec(id: &str) -> ContainerSpec {
        ContainerSpec::new(id, "/", vec!["/bin/true".into()])
    }

    #[test]
    fn validates_ids_and_strings() {
        assert!(spec("abc-1.2_x").validate().is_ok());
        for id in ["", "-x", "a/b", "a b", &"x".repeat(129)] {
            assert!(spec(id).validate().is_err(), "{id:?}");
        }
        let mut s = spec("ok");
        s.args = vec!["a\0b".into()];
        assert!(s.validate().is_err());
        let mut s = spec("ok");
        s.capabilities.push("CAP_NOPE".into());
        assert!(s.validate().is_err());
        let mut s = spec("ok");
        s.rootfs = "relative".into();
        assert!(s.validate().is_err());
        let bind = |source: &str, target: &str| Mount {
            target: target.into(),
            kind: MountKind::Bind {
                source: source.into(),
            },
            readonly: false,
        };
        let mut s = spec("ok");
        s.mounts = vec![bind("/", "/host")];
        assert!(s.validate().is_ok());
        for m in [
            bind("relative", "/x"),
            bind("/nonexistent-berth-path", "/x"),
            bind("/", "x"),
            bind("/", "/a/../b"),
        ] {
            s.mounts = vec![m.clone()];
            assert!(s.validate().is_err(), "{m:?}");
        }
    }

    #[test]
    fn capability_table_covers_the_defaults() {
        for c in DEFAULT_CAPABILITIES {
            assert!(capability_number(c).is_some(), "{c}");
        }
        assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
    }
}
