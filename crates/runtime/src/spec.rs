//! What to run: [`ContainerSpec`], berth's own small description of one container, and its
//! translation into an OCI runtime-spec `config.json` for external runtimes (runc, crun).
//!
//! Both engines read the same spec and the same defaults from here (Docker's default
//! capabilities, masked and read-only paths), so `berth run` means the same thing whichever
//! engine runs it. This module does no system calls but reading the host's `/dev` for
//! privileged containers ([`host_devices`]).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespace, LinuxNamespaceType,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder, get_default_mounts,
};

use crate::error::{Error, Result};

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
///
/// Fields still to come: custom seccomp profiles.
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
        self.env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
    }

    /// The spec's environment, with `PATH` added when it has none.
    pub fn full_env(&self) -> Vec<String> {
        let mut env = self.env.clone();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        env
    }
}

/// One of the host's device nodes, as a privileged container gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Path under `/dev` (`null`, `net/tun`).
    pub path: String,
    /// `c` (character) or `b` (block).
    pub kind: char,
    /// Permission bits.
    pub mode: u32,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The host's character and block devices under `/dev` (recursively), as runc lists them for
/// `--privileged`: the `pts`, `shm`, `mqueue` and `fd` trees, `console` and `ptmx` are left
/// out (the container has its own), symlinks are not followed. Unreadable entries are skipped.
pub fn host_devices() -> Vec<HostDevice> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    const SKIPPED: &[&str] = &["pts", "shm", "mqueue", "fd", "console", "ptmx", ".udev"];
    let mut found = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(Path::new("/dev").join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && SKIPPED.contains(&name.as_str()) {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_char_device() || kind.is_block_device() {
                let rdev = meta.rdev();
                found.push(HostDevice {
                    path,
                    kind: if kind.is_block_device() { 'b' } else { 'c' },
                    mode: meta.mode() & 0o7777,
                    major: libc::major(rdev),
                    minor: libc::minor(rdev),
                    uid: meta.uid(),
                    gid: meta.gid(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// The OCI runtime spec (`config.json`) that makes runc or crun run `spec` as berth's own engine
/// would: the same namespaces (mount, pid, uts, ipc, net, cgroup), mounts, masked and read-only
/// paths, user and capabilities. `root.path` is the absolute rootfs, so the bundle directory
/// needs nothing but the `config.json`.
pub fn oci_spec(spec: &ContainerSpec) -> Result<Spec> {
    spec.validate()?;
    let oci_err = |source| Error::OciSpec {
        id: spec.id.clone(),
        source,
    };
    let caps = spec
        .capabilities
        .iter()
        .map(|name| {
            // oci-spec parses capability names through serde only.
            serde_json::from_value::<Capability>(serde_json::Value::String(name.to_uppercase()))
                .map_err(|e| Error::invalid(&spec.id, format!("capability {name}: {e}")))
        })
        .collect::<Result<std::collections::HashSet<_>>>()?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(oci_err)?;
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.groups.clone())
        .build()
        .map_err(oci_err)?;
    let process = ProcessBuilder::default()
        // The runtime then makes the terminal and sends its master to `--console-socket`.
        .terminal(spec.terminal)
        .user(user)
        .args(spec.args.clone())
        .env(spec.full_env())
        .cwd(&spec.cwd)
        .capabilities(capabilities)
        .no_new_privileges(spec.no_new_privileges)
        .build()
        .map_err(oci_err)?;
    let namespaces = [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .filter(|typ| !(spec.host_network && *typ == LinuxNamespaceType::Network))
    .map(|typ| {
        let mut ns = LinuxNamespace::default();
        ns.set_typ(typ);
        ns
    })
    .collect::<Vec<_>>();
    let to_strings = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (masked, readonly) = if spec.privileged {
        (Vec::new(), Vec::new())
    } else {
        (to_strings(MASKED_PATHS), to_strings(READONLY_PATHS))
    };
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(masked)
        .readonly_paths(readonly)
        // Where the native engine puts its cgroups, so both are found and cleaned up alike.
        .cgroups_path(PathBuf::from(format!("/berth/{}", spec.id)))
        .build()
        .map_err(oci_err)?;
    let mut resources = serde_json::Map::new();
    if let Some(bytes) = spec.memory {
        // Swap is the memory+swap total: equal to the limit, the container gets no swap (as
        // the native engine has it).
        resources.insert(
            "memory".into(),
            serde_json::json!({ "limit": bytes, "swap": bytes }),
        );
    }
    if let Some(cpus) = spec.cpus {
        let quota = (cpus * CPU_PERIOD_US as f64).round() as i64;
        resources.insert(
            "cpu".into(),
            serde_json::json!({ "quota": quota, "period": CPU_PERIOD_US }),
        );
    }
    if let Some(n) = spec.pids_limit {
        // 0 or less: no limit, as Docker has it (-1 is "max" to runc and crun).
        resources.insert(
            "pids".into(),
            serde_json::json!({ "limit": if n > 0 { n } else { -1 } }),
        );
    }
    if spec.privileged {
        // Every host device, and the devices cgroup allowing them all (as Docker asks runc).
        let devices = host_devices()
            .into_iter()
            .map(|d| {
                serde_json::json!({
                    "path": format!("/dev/{}", d.path), "type": d.kind.to_string(),
                    "major": d.major, "minor": d.minor, "fileMode": d.mode,
                    "uid": d.uid, "gid": d.gid,
                })
            })
            .collect::<Vec<_>>();
        resources.insert(
            "devices".into(),
            serde_json::json!([{ "allow": true, "access": "rwm" }]),
        );
        let privileged: oci_spec::runtime::Linux =
            serde_json::from_value(serde_json::json!({ "devices": devices }))
                .map_err(|e| Error::invalid(&spec.id, format!("privileged devices: {e}")))?;
        linux.set_devices(privileged.devices().clone());
    }
    if !resources.is_empty() {
        let resources = serde_json::from_value(serde_json::Value::Object(resources))
            .map_err(|e| Error::invalid(&spec.id, format!("resources: {e}")))?;
        linux.set_resources(Some(resources));
    }
    if spec.seccomp && !spec.privileged {
        linux.set_seccomp(Some(oci_seccomp(&spec.id)?));
    }
    let root = RootBuilder::default()
        .path(&spec.rootfs)
        .readonly(spec.readonly_rootfs)
        .build()
        .map_err(oci_err)?;
    SpecBuilder::default()
        .version("1.0.2")
        .root(root)
        .hostname(&spec.hostname)
        .mounts(oci_mounts(spec)?)
        .process(process)
        .linux(linux)
        .build()
        .map_err(oci_err)
}

/// runc's default mounts (`/sys` read-write when privileged), then the spec's own.
fn oci_mounts(spec: &ContainerSpec) -> Result<Vec<oci_spec::runtime::Mount>> {
    let mut mounts = get_default_mounts();
    if spec.privileged {
        for m in mounts
            .iter_mut()
            .filter(|m| m.typ().as_deref() == Some("sysfs"))
        {
            let options = m.options().clone().unwrap_or_default();
            m.set_options(Some(options.into_iter().filter(|o| o != "ro").collect()));
        }
    }
    for m in &spec.mounts {
        let (typ, source, mut options) = match &m.kind {
            MountKind::Bind { source } => (
                "bind",
                source.to_string_lossy().into_owned(),
                vec!["rbind".to_string()],
            ),
            MountKind::Tmpfs { options } => (
                "tmpfs",
                "tmpfs".to_string(),
                options
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
        };
        if m.readonly {
            options.push("ro".into());
        }
        let value = serde_json::json!({
            "destination": m.target,
            "type": typ,
            "source": source,
            "options": options,
        });
        mounts.push(
            serde_json::from_value(value)
                .map_err(|e| Error::invalid(&spec.id, format!("mount {}: {e}", m.target)))?,
        );
    }
    Ok(mounts)
}

/// [`SECCOMP_BLOCKED`] as an OCI `linux.seccomp`: allow by default, EPERM for the list.
/// Built through serde (oci-spec's builders would need every field spelled out).
fn oci_seccomp(id: &str) -> Result<oci_spec::runtime::LinuxSeccomp> {
    let native_arch = match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_X86_64",
    };
    let value = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        // Only the native ABI: libseccomp then refuses the others (x32, i386) itself.
        "architectures": [native_arch],
        "syscalls": [{
            "names": SECCOMP_BLOCKED,
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
        }],
    });
    serde_json::from_value(value).map_err(|e| Error::invalid(id, format!("seccomp profile: {e}")))
}

/// Write `spec`'s `config.json` into `bundle` (created if missing) and return its path.
pub fn write_bundle(spec: &ContainerSpec, bundle: &Path) -> Result<PathBuf> {
    let oci = oci_spec(spec)?;
    std::fs::create_dir_all(bundle).map_err(|e| Error::io(bundle, e))?;
    let config = bundle.join("config.json");
    oci.save(&config).map_err(|source| Error::OciSpec {
        id: spec.id.clone(),
        source,
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn oci_spec_carries_mounts_read_only_root_and_host_network() {
        let mut s = spec("c2");
        s.readonly_rootfs = true;
        s.host_network = true;
        s.groups = vec![10, 20];
        s.mounts = vec![
            Mount {
                target: "/data".into(),
                kind: MountKind::Bind { source: "/".into() },
                readonly: true,
            },
            Mount {
                target: "/scratch".into(),
                kind: MountKind::Tmpfs {
                    options: "size=1m".into(),
                },
                readonly: false,
            },
        ];
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["linux"]["namespaces"].as_array().unwrap().len(), 5);
        assert_eq!(json["process"]["user"]["additionalGids"][1], 20);
        let mounts = json["mounts"].as_array().unwrap();
        let data = mounts.iter().find(|m| m["destination"] == "/data").unwrap();
        assert_eq!(data["options"], serde_json::json!(["rbind", "ro"]));
        let scratch = mounts
            .iter()
            .find(|m| m["destination"] == "/scratch")
            .unwrap();
        assert_eq!(scratch["type"], "tmpfs");
    }

    #[test]
    fn oci_spec_carries_the_limits() {
        let mut s = spec("c3");
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert!(json["linux"]["resources"]["memory"].is_null());
        assert_eq!(json["linux"]["cgroupsPath"], "/berth/c3");
        s.memory = Some(32 << 20);
        s.cpus = Some(0.5);
        s.pids_limit = Some(10);
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        let resources = &json["linux"]["resources"];
        assert_eq!(resources["memory"]["limit"], 32 << 20);
        assert_eq!(resources["memory"]["swap"], 32 << 20);
        assert_eq!(resources["cpu"]["quota"], 50_000);
        assert_eq!(resources["cpu"]["period"], 100_000);
        assert_eq!(resources["pids"]["limit"], 10);
        s.pids_limit = Some(0);
        s.privileged = true;
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], -1);
        assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], true);
    }

    #[test]
    fn capability_table_covers_the_defaults() {
        for c in DEFAULT_CAPABILITIES {
            assert!(capability_number(c).is_some(), "{c}");
        }
        assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
    }

    #[test]
    fn oci_spec_carries_the_container() {
        let mut s = spec("c1");
        s.env = vec!["A=1".into()];
        s.uid = 7;
        let oci = oci_spec(&s).unwrap();
        let json = serde_json::to_value(&oci).unwrap();
        assert_eq!(json["process"]["args"][0], "/bin/true");
        assert_eq!(json["process"]["user"]["uid"], 7);
        assert_eq!(json["process"]["env"][1], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(json["root"]["path"], "/");
        assert_eq!(json["root"]["readonly"], false);
        assert_eq!(json["hostname"], "c1");
        assert_eq!(json["linux"]["namespaces"].as_array().unwrap().len(), 6);
        let bounding = json["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert_eq!(bounding.len(), DEFAULT_CAPABILITIES.len());
        let seccomp = &json["linux"]["seccomp"];
        assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(seccomp["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(seccomp["syscalls"][0]["errnoRet"], 1);
        assert_eq!(
            seccomp["syscalls"][0]["names"].as_array().unwrap().len(),
            SECCOMP_BLOCKED.len()
        );
        s.seccomp = false;
        let json = serde_json::to_value(oci_spec(&s).unwrap()).unwrap();
        assert!(json["linux"]["seccomp"].is_null());
    }
    #[test]
    fn oci_spec_of_a_privileged_container() {
        let mut spec = ContainerSpec::new("o9", "/tmp", vec!["true".into()]);
        spec.privileged = true;
        let oci = oci_spec(&spec).unwrap();
        let linux = oci.linux().as_ref().unwrap();
        assert!(linux.masked_paths().as_ref().is_none_or(|p| p.is_empty()));
        assert!(linux.readonly_paths().as_ref().is_none_or(|p| p.is_empty()));
        assert!(linux.seccomp().is_none());
        let allowed = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .clone()
            .unwrap();
        assert!(allowed[0].allow());
        let sys = oci.mounts().as_ref().unwrap().iter();
        let sys = sys
            .clone()
            .find(|m| m.typ().as_deref() == Some("sysfs"))
            .unwrap();
        assert!(
            !sys.options()
                .clone()
                .unwrap_or_default()
                .contains(&"ro".to_string())
        );
    }
}
