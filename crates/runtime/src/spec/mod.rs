//! What to run: [`ContainerSpec`], berth's own small description of one container, and its
//! translation into an OCI runtime-spec `config.json` for external runtimes (runc, crun).
//!
//! Both engines read the same spec and the same defaults from here (Docker's default
//! capabilities, masked and read-only paths), so `berth run` means the same thing whichever
//! engine runs it. This module does no system calls but reading the host's `/dev` for
//! privileged containers ([`host_devices`]).

use std::path::PathBuf;

use crate::error::{Error, Result};

mod devices;
mod oci;
mod seccomp;

pub use devices::{HostDevice, host_devices};
pub use oci::{oci_spec, write_bundle};
pub use seccomp::{SeccompAction, SeccompArg, SeccompOp, SeccompProfile, SeccompRule};

/// The CFS period berth uses with `--cpus` (Docker's), in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// `PATH` when the image sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The capabilities Docker grants a container by default.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths hidden from the container (Docker's list): files get `/dev/null` bound over them,
/// directories an empty read-only tmpfs.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths the container sees read-only (Docker's list).
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// System calls Docker's default seccomp profile refuses (EPERM) to a container without extra
/// capabilities; everything else is allowed. Names missing on the running architecture (the
/// x86-only ones on aarch64) are skipped. `ptrace` is allowed, as in Docker on kernels >= 4.8;
/// `personality` (refused for some arguments only) is not filtered.
pub const SECCOMP_BLOCKED: &[&str] = &[
    "_sysctl",
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
];

/// Linux capability names and numbers (`linux/capability.h`), up to CAP_CHECKPOINT_RESTORE.
const CAPABILITIES: &[(&str, u32)] = &[
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_LINUX_IMMUTABLE", 9),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_BROADCAST", 11),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_IPC_LOCK", 14),
    ("CAP_IPC_OWNER", 15),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_PACCT", 20),
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SYS_BOOT", 22),
    ("CAP_SYS_NICE", 23),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_SYS_TIME", 25),
    ("CAP_SYS_TTY_CONFIG", 26),
    ("CAP_MKNOD", 27),
    ("CAP_LEASE", 28),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_AUDIT_CONTROL", 30),
    ("CAP_SETFCAP", 31),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
    ("CAP_AUDIT_READ", 37),
    ("CAP_PERFMON", 38),
    ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
];

/// The number of a capability named as Docker and OCI name it (`CAP_CHOWN`), or `None`.
pub fn capability_number(name: &str) -> Option<u32> {
    CAPABILITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, number)| number)
}

/// The name of capability `number` (`CAP_CHOWN` for 0), or `None` past the table.
pub fn capability_name(number: u32) -> Option<&'static str> {
    CAPABILITIES
        .iter()
        .find(|&&(_, n)| n == number)
        .map(|&(name, _)| name)
}

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
    /// Memory limit in bytes (`--memory`); swap is limited to the same total, so swapping
    /// cannot hide the limit. `None`: unlimited.
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
        Ok(())
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
