//! The native engine's set-up plan: every system call the container's first process makes
//! between `clone3` and `execve`, worked out in the parent from a [`ContainerSpec`].
//!
//! Why a plan: the child is a raw `clone3` copy of a possibly multi-threaded process, so it
//! may not allocate, lock or run glibc's multi-thread wrappers (a heap lock or `setxid`
//! broadcast held by a thread that doesn't exist in the child would hang it). So every path,
//! flag and string is built here, as `CString`s, and [`super::child`] only walks the list.

use std::ffi::{CString, c_char};
use std::path::Path;

use crate::error::{Error, Result};
use crate::safepath::{self, Kind};
use crate::spec::{
    ContainerSpec, MASKED_PATHS, MountKind, READONLY_PATHS, capability_number, host_devices,
};

/// Host devices bind-mounted into the container's `/dev` (bind, not mknod, so the same code
/// works in a user namespace later).
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// `/dev` symlinks every container gets (as runc and Docker make them).
const DEV_LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

/// One system call (or a small fixed group of them) of the set-up.
#[derive(Debug)]
pub(super) enum Op {
    /// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the container dies with the thread that runs it.
    DieWithParent,
    /// Every signal back to its default action and unblocked: ignored signals and the mask
    /// survive `execve`, and Rust ignores SIGPIPE in every program (as `std::process` does).
    ResetSignals,
    /// Block until the parent writes one byte to `fd` (it has put us in our cgroups), then
    /// close it; EOF means the parent gave up.
    WaitForParent { fd: i32 },
    /// `unshare(CLONE_NEWCGROUP)`: a cgroup namespace rooted at the cgroups we are in now.
    UnshareCgroup,
    /// `mount(2)`.
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// `mkdir(2)`; an existing entry is fine.
    Mkdir { path: CString },
    /// Create an empty file to bind a device onto; an existing entry is fine.
    Touch { path: CString },
    /// `symlink(2)`; an existing entry is fine.
    Symlink { target: CString, link: CString },
    /// `chdir(new_root)`, `pivot_root(".", ".")`, make the old root a slave and detach it,
    /// `chdir("/")`: runc's way, which needs no directory for the old root.
    PivotRoot { new_root: CString },
    /// Hide a path: `/dev/null` bound over a file, a read-only tmpfs over a directory;
    /// a missing path is fine.
    Mask { path: CString },
    /// Bind a path over itself and remount it read-only; a missing path is fine.
    ReadOnly { path: CString },
    /// `sethostname(2)`.
    Hostname { name: CString },
    /// Bring the new network namespace's `lo` up (as `--network none` has it).
    LoopbackUp,
    /// `chdir(2)` inside the container.
    Chdir { path: CString },
    /// Drop every capability not in `keep` from the bounding set.
    DropBounding { keep: u64 },
    /// Raw `setgroups(groups)`, `setgid`, `setuid` syscalls.
    Identity {
        uid: u32,
        gid: u32,
        groups: Vec<libc::gid_t>,
    },
    /// Raw `capset`: effective and permitted become `keep`, inheritable and ambient empty.
    Capset { keep: u64 },
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    NoNewPrivs,
    /// `seccomp(SECCOMP_SET_MODE_FILTER, 0, program)`: before the capability drop, so
    /// CAP_SYS_ADMIN allows it without `no_new_privs`.
    Seccomp {
        program: Vec<seccompiler::sock_filter>,
    },
    /// `dup2` the given descriptors onto 0, 1 and 2, then close every other descriptor but
    /// the error pipe, so nothing of the parent leaks into the container.
    /// Also keeps `keep` open (the console socket).
    Stdio { fds: [Option<i32>; 3], keep: i32 },
    /// The container's terminal, made inside its own devpts (so `ttyname` works there):
    /// open `/dev/pts/ptmx`, unlock it, set its window size, open the peer, send the master
    /// over unix socket `socket` (SCM_RIGHTS) and close both; then the peer becomes fds
    /// 0, 1 and 2 and the controlling terminal of a new session.
    Console { socket: i32, rows: u16, cols: u16 },
    /// `setns(fd, nstype)`: join namespaces of a running container (`fd` a pidfd of its
    /// first process); used by exec.
    Setns { fd: i32, nstype: i32 },
    /// `setsid()`: a session of its own, away from the caller's terminal (`exec -d`).
    Setsid,
    /// `mknod(path, mode, dev)` then `lchown(path, uid, gid)`: one of the host's devices in a
    /// privileged container's `/dev`; an existing entry is fine.
    Mknod {
        path: CString,
        mode: u32,
        dev: u64,
        uid: u32,
        gid: u32,
    },
    /// `--init`: fork; the parent stays behind as a minimal init (all signals blocked, each
    /// one but SIGCHLD forwarded to the child, every zombie reaped, exits with the child's
    /// status) and never returns; the child goes on with the next op (the exec).
    Init,
    /// `execve` each candidate path in turn (a `PATH` search); the last op.
    Exec {
        candidates: Vec<CString>,
        argv: Vec<*const c_char>,
        envp: Vec<*const c_char>,
    },
}

/// One step: the op and what it does, in words, for the error if it fails.
#[derive(Debug)]
pub(super) struct Step {
    pub(super) what: String,
    pub(super) op: Op,
}

/// Everything the child does, in order, with the strings the `Exec` op points into.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) steps: Vec<Step>,
    /// Owns the argv and envp strings the `Exec` op's pointers point at.
    _strings: Vec<CString>,
}

pub(super) fn cstr(id: &str, s: impl Into<Vec<u8>>) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(id, "a string contains a NUL byte"))
}

fn under(id: &str, root: &Path, rel: &str) -> Result<CString> {
    cstr(id, root.join(rel).into_os_string().into_encoded_bytes())
}

/// Docker's `--tmpfs` options as mount flags and data: `noexec,nosuid,nodev` unless the
/// options say otherwise, and mode 1777 unless one is given.
fn tmpfs_options(options: &str) -> (libc::c_ulong, String) {
    let mut flags = libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV;
    let mut data = Vec::new();
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => flags |= libc::MS_RDONLY,
            "rw" => flags &= !libc::MS_RDONLY,
            "exec" => flags &= !libc::MS_NOEXEC,
            "noexec" => flags |= libc::MS_NOEXEC,
            "suid" => flags &= !libc::MS_NOSUID,
            "nosuid" => flags |= libc::MS_NOSUID,
            "dev" => flags &= !libc::MS_NODEV,
            "nodev" => flags |= libc::MS_NODEV,
            other => data.push(other),
        }
    }
    if !data.iter().any(|o| o.starts_with("mode=")) {
        data.push("mode=1777");
    }
    (flags, data.join(","))
}

/// The capabilities named in `names` that this process holds itself (permitted set): a root
/// without some capability (CAP_SYS_RESOURCE in some sandboxes) cannot grant it, and
/// `--privileged`'s "all" means all it has.
pub(super) fn capability_mask(names: &[String]) -> u64 {
    let wanted = names
        .iter()
        .filter_map(|c| capability_number(c))
        .fold(0u64, |bits, n| bits | 1 << n);
    let permitted = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapPrm:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(!0);
    wanted & permitted
}

/// The final step: `execve` of `args[0]` (looked up in `path` when it has no `/`) with `args`
/// and `env`; returns it with the strings its pointers point into, which must outlive it.
pub(super) fn exec_step(
    id: &str,
    args: &[String],
    env: Vec<String>,
    path: &str,
) -> Result<(Step, Vec<CString>)> {
    let program = args
        .first()
        .map(String::as_str)
        .ok_or_else(|| Error::invalid(id, "no program to run"))?;
    let candidates = if program.contains('/') {
        vec![cstr(id, program)?]
    } else {
        path.split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| cstr(id, format!("{}/{program}", dir.trim_end_matches('/'))))
            .collect::<Result<_>>()?
    };
    let args = args
        .iter()
        .map(|a| cstr(id, a.as_str()))
        .collect::<Result<Vec<_>>>()?;
    let env = env
        .into_iter()
        .map(|e| cstr(id, e))
        .collect::<Result<Vec<_>>>()?;
    // The pointers stay valid: CString data is on the heap and does not move with the Vec.
    let pointers = |list: &[CString]| {
        list.iter()
            .map(|s| s.as_ptr())
            .chain([std::ptr::null()])
            .collect::<Vec<_>>()
    };
    let (argv, envp) = (pointers(&args), pointers(&env));
    let step = Step {
        what: format!("execute {program}"),
        op: Op::Exec {
            candidates,
            argv,
            envp,
        },
    };
    let mut strings = args;
    strings.extend(env);
    Ok((step, strings))
}

impl Plan {
    /// The plan that runs `spec`; `stdio` are the descriptors for 0, 1, 2 (`None`: inherit);
    /// `sync`: a pipe's read end to wait on before anything else (cgroups being joined);
    /// `console`: a unix socket and window size (rows, columns) for a terminal made in the
    /// container, which then replaces `stdio`.
    pub(super) fn new(
        spec: &ContainerSpec,
        stdio: [Option<i32>; 3],
        sync: Option<i32>,
        console: Option<(i32, u16, u16)>,
    ) -> Result<Plan> {
        let id = spec.id.as_str();
        let root = spec.rootfs.as_path();
        let mut steps = Vec::new();
        let mut step = |what: String, op: Op| steps.push(Step { what, op });
        let mount = |source: Option<&str>,
                     target: CString,
                     fstype: Option<&str>,
                     flags: libc::c_ulong,
                     data: Option<&str>| {
            Ok::<_, Error>(Op::Mount {
                source: source.map(|s| cstr(id, s)).transpose()?,
                target,
                fstype: fstype.map(|s| cstr(id, s)).transpose()?,
                flags,
                data: data.map(|s| cstr(id, s)).transpose()?,
            })
        };
        let (nosuid, nodev, noexec) = (libc::MS_NOSUID, libc::MS_NODEV, libc::MS_NOEXEC);

        step("set the parent-death signal".into(), Op::DieWithParent);
        step("reset signals".into(), Op::ResetSignals);
        if let Some(fd) = sync {
            step(
                "wait to be placed in the cgroups".into(),
                Op::WaitForParent { fd },
            );
        }
        // After the cgroups are joined, so the namespace's root is the container's cgroup.
        step("create the cgroup namespace".into(), Op::UnshareCgroup);
        // First, so the parent's other descriptors (a file another thread is writing, say) are
        // closed microseconds after clone rather than at exec.
        let keep = console.map_or(-1, |(socket, _, _)| socket);
        step("set up stdio".into(), Op::Stdio { fds: stdio, keep });
        // Nothing we mount may propagate back to the host, and host unmounts still reach us.
        let slash = cstr(id, "/")?;
        step(
            "make / a recursive slave mount".into(),
            mount(None, slash, None, libc::MS_REC | libc::MS_SLAVE, None)?,
        );
        let rootfs = under(id, root, "")?;
        step(
            format!("bind {} onto itself", root.display()),
            mount(
                Some(&spec.rootfs.to_string_lossy()),
                rootfs.clone(),
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?,
        );
        // (target in the rootfs, fstype, flags, data): the kernel filesystems every container has.
        let filesystems: &[(&str, &str, libc::c_ulong, Option<&str>)] = &[
            ("proc", "proc", nosuid | nodev | noexec, None),
            (
                "sys",
                "sysfs",
                // Privileged containers may write to /sys (as Docker's do).
                nosuid | nodev | noexec | if spec.privileged { 0 } else { libc::MS_RDONLY },
                None,
            ),
            (
                "dev",
                "tmpfs",
                nosuid | libc::MS_STRICTATIME,
                Some("mode=755,size=65536k"),
            ),
            (
                "dev/pts",
                "devpts",
                nosuid | noexec,
                Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
            ),
            (
                "dev/shm",
                "tmpfs",
                nosuid | nodev | noexec,
                Some("mode=1777,size=65536k"),
            ),
            ("dev/mqueue", "mqueue", nosuid | nodev | noexec, None),
        ];
        for &(rel, fstype, flags, data) in filesystems {
            let target = under(id, root, rel)?;
            step(
                format!("create /{rel}"),
                Op::Mkdir {
                    path: target.clone(),
                },
            );
            step(
                format!("mount {fstype} on /{rel}"),
                mount(Some(fstype), target, Some(fstype), flags, data)?,
            );
        }
        for dev in DEVICES {
            let target = under(id, root, &format!("dev/{dev}"))?;
            step(
                format!("create /dev/{dev}"),
                Op::Touch {
                    path: target.clone(),
                },
            );
            let host = format!("/dev/{dev}");
            step(
                format!("bind {host}"),
                mount(Some(&host), target, None, libc::MS_BIND, None)?,
            );
        }
        for (target, link) in DEV_LINKS {
            step(
                format!("link /dev/{link}"),
                Op::Symlink {
                    target: cstr(id, *target)?,
                    link: under(id, root, &format!("dev/{link}"))?,
                },
            );
        }
        if spec.privileged {
            // The host's devices as nodes of their own in the container's tmpfs /dev (as runc
            // makes them for Docker's --privileged), not a bind of the host's /dev: removing
            // or creating entries in the container's /dev must not touch the host's.
            for dev in host_devices() {
                if DEVICES.contains(&dev.path.as_str()) {
                    continue; // bound above
                }
                if let Some((dir, _)) = dev.path.rsplit_once('/') {
                    let mut prefix = String::new();
                    for part in dir.split('/') {
                        prefix = format!("{prefix}/{part}");
                        step(
                            format!("create /dev{prefix}"),
                            Op::Mkdir {
                                path: under(id, root, &format!("dev{prefix}"))?,
                            },
                        );
                    }
                }
                let kind = if dev.kind == 'b' {
                    libc::S_IFBLK
                } else {
                    libc::S_IFCHR
                };
                step(
                    format!("create /dev/{}", dev.path),
                    Op::Mknod {
                        path: under(id, root, &format!("dev/{}", dev.path))?,
                        mode: kind | dev.mode,
                        dev: libc::makedev(dev.major, dev.minor),
                        uid: dev.uid,
                        gid: dev.gid,
                    },
                );
            }
        }
        for m in &spec.mounts {
            let kind = match &m.kind {
                MountKind::Bind { source } if !source.is_dir() => Kind::File,
                _ => Kind::Dir,
            };
            // Made here, in the parent, where a symlink in the image is refused rather than
            // followed out of the rootfs; the container has not started, so nothing races us.
            let host_target = safepath::prepare(root, &m.target, kind).map_err(|e| {
                Error::invalid(id, format!("cannot create mount target {}: {e}", m.target))
            })?;
            let target = cstr(id, host_target.into_os_string().into_encoded_bytes())?;
            match &m.kind {
                MountKind::Bind { source } => {
                    step(
                        format!("bind {} on {}", source.display(), m.target),
                        Op::Mount {
                            source: Some(cstr(id, source.as_os_str().as_encoded_bytes())?),
                            target: target.clone(),
                            fstype: None,
                            flags: libc::MS_BIND | libc::MS_REC,
                            data: None,
                        },
                    );
                    if m.readonly {
                        step(
                            format!("make {} read-only", m.target),
                            mount(
                                None,
                                target,
                                None,
                                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                                None,
                            )?,
                        );
                    }
                }
                MountKind::Tmpfs { options } => {
                    let (mut flags, data) = tmpfs_options(options);
                    if m.readonly {
                        flags |= libc::MS_RDONLY;
                    }
                    step(
                        format!("mount tmpfs on {}", m.target),
                        mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(&data))?,
                    );
                }
            }
        }
        step(
            format!("pivot_root into {}", root.display()),
            Op::PivotRoot { new_root: rootfs },
        );
        if let Some((socket, rows, cols)) = console {
            step(
                "create the terminal".into(),
                Op::Console { socket, rows, cols },
            );
        }
        // Privileged containers see /proc and /sys as they are.
        let (masked, readonly) = if spec.privileged {
            (&[][..], &[][..])
        } else {
            (MASKED_PATHS, READONLY_PATHS)
        };
        for path in masked {
            step(
                format!("mask {path}"),
                Op::Mask {
                    path: cstr(id, *path)?,
                },
            );
        }
        for path in readonly {
            step(
                format!("make {path} read-only"),
                Op::ReadOnly {
                    path: cstr(id, *path)?,
                },
            );
        }
        step(
            "set the hostname".into(),
            Op::Hostname {
                name: cstr(id, spec.hostname.as_str())?,
            },
        );
        if !spec.host_network {
            step("bring lo up".into(), Op::LoopbackUp);
        }
        // The working directory is created (mkdir -p) inside the new root, where symlinks in
        // the image cannot point outside it.
        let mut prefix = String::new();
        for part in spec.cwd.split('/').filter(|p| !p.is_empty()) {
            prefix = format!("{prefix}/{part}");
            step(
                format!("create {prefix}"),
                Op::Mkdir {
                    path: cstr(id, prefix.as_str())?,
                },
            );
        }
        step(
            format!("chdir to {}", spec.cwd),
            Op::Chdir {
                path: cstr(id, spec.cwd.as_str())?,
            },
        );
        if spec.readonly_rootfs {
            step(
                "make the root filesystem read-only".into(),
                mount(
                    None,
                    cstr(id, "/")?,
                    None,
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    None,
                )?,
            );
        }
        let keep = capability_mask(&spec.capabilities);
        if spec.no_new_privileges {
            step("set no_new_privs".into(), Op::NoNewPrivs);
        }
        if spec.seccomp {
            // Late, so that only the capability drop, identity and exec run under it.
            step(
                "install the seccomp filter".into(),
                Op::Seccomp {
                    program: super::seccomp::default_program(id)?,
                },
            );
        }
        step(
            "drop bounding capabilities".into(),
            Op::DropBounding { keep },
        );
        step(
            format!("set uid {} gid {}", spec.uid, spec.gid),
            Op::Identity {
                uid: spec.uid,
                gid: spec.gid,
                groups: spec.groups.clone(),
            },
        );
        if spec.uid == 0 {
            // A non-root uid has already lost its effective and permitted sets in setuid.
            step("set capabilities".into(), Op::Capset { keep });
        }

        if spec.init {
            step("start the init process".into(), Op::Init);
        }
        let (exec, strings) = exec_step(id, &spec.args, spec.full_env(), spec.path_env())?;
        steps.push(exec);
        Ok(Plan::from_parts(steps, strings))
    }

    /// A plan of `steps`, keeping `strings` (those the `Exec` op points into) alive with it.
    pub(super) fn from_parts(steps: Vec<Step>, strings: Vec<CString>) -> Plan {
        Plan {
            steps,
            _strings: strings,
        }
    }

    /// Whether step `index` is the final `execve`.
    pub(super) fn is_exec(&self, index: usize) -> bool {
        matches!(
            self.steps.get(index),
            Some(Step {
                op: Op::Exec { .. },
                ..
            })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_mounts_before_pivot_and_execs_last() {
        let spec = ContainerSpec::new("p1", "/tmp", vec!["sh".into(), "-c".into(), "true".into()]);
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        let pivot = plan
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::PivotRoot { .. }))
            .unwrap();
        let proc = plan
            .steps
            .iter()
            .position(|s| s.what == "mount proc on /proc")
            .unwrap();
        let mask = plan
            .steps
            .iter()
            .position(|s| s.what == "mask /proc/kcore")
            .unwrap();
        assert!(proc < pivot && pivot < mask);
        assert!(plan.is_exec(plan.steps.len() - 1));
        let Op::Exec {
            candidates, argv, ..
        } = &plan.steps.last().unwrap().op
        else {
            panic!()
        };
        assert_eq!(candidates[0].to_str().unwrap(), "/usr/local/sbin/sh");
        assert_eq!(candidates.len(), 6);
        assert_eq!(argv.len(), 4);
        assert!(argv[3].is_null());
    }

    #[test]
    fn non_root_user_gets_no_capset() {
        let mut spec = ContainerSpec::new("p2", "/tmp", vec!["/bin/true".into()]);
        spec.uid = 1000;
        spec.cwd = "/home/u".into();
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        assert!(!plan.steps.iter().any(|s| matches!(s.op, Op::Capset { .. })));
        assert!(plan.steps.iter().any(|s| s.what == "create /home/u"));
    }

    #[test]
    fn seccomp_goes_before_the_capability_drop_unless_unconfined() {
        let mut spec = ContainerSpec::new("p3", "/tmp", vec!["/bin/true".into()]);
        let position = |plan: &Plan, what: &str| plan.steps.iter().position(|s| s.what == what);
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        let seccomp = position(&plan, "install the seccomp filter").unwrap();
        let drop = position(&plan, "drop bounding capabilities").unwrap();
        assert_eq!(seccomp + 1, drop);
        spec.seccomp = false;
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        assert!(position(&plan, "install the seccomp filter").is_none());
    }

    #[test]
    fn mounts_go_before_pivot_and_the_read_only_root_after_chdir() {
        let root = std::env::temp_dir().join(format!("berth-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut spec = ContainerSpec::new("p4", &root, vec!["/bin/true".into()]);
        spec.mounts = vec![
            crate::spec::Mount {
                target: "/data/in".into(),
                kind: MountKind::Bind { source: "/".into() },
                readonly: true,
            },
            crate::spec::Mount {
                target: "/scratch".into(),
                kind: MountKind::Tmpfs {
                    options: "size=1m,exec".into(),
                },
                readonly: false,
            },
        ];
        spec.readonly_rootfs = true;
        spec.host_network = true;
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        let position = |what: &str| plan.steps.iter().position(|s| s.what == what).unwrap();
        let pivot = plan
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::PivotRoot { .. }))
            .unwrap();
        assert!(position("bind / on /data/in") < position("make /data/in read-only"));
        assert!(position("make /data/in read-only") < pivot);
        assert!(position("mount tmpfs on /scratch") < pivot);
        assert!(position("chdir to /") < position("make the root filesystem read-only"));
        assert!(!plan.steps.iter().any(|s| s.what == "bring lo up"));
        assert!(root.join("data/in").is_dir() && root.join("scratch").is_dir());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn tmpfs_options_follow_docker() {
        let (flags, data) = tmpfs_options("");
        assert_eq!(flags, libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV);
        assert_eq!(data, "mode=1777");
        let (flags, data) = tmpfs_options("size=1m,exec,mode=700,ro");
        assert_eq!(flags, libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY);
        assert_eq!(data, "size=1m,mode=700");
    }
    #[test]
    fn privileged_unmasks_and_gets_the_host_devices() {
        let mut spec = ContainerSpec::new("p5", "/tmp", vec!["/bin/true".into()]);
        let has = |plan: &Plan, what: &str| plan.steps.iter().any(|s| s.what == what);
        let sys_flags = |plan: &Plan| {
            plan.steps
                .iter()
                .find_map(|s| match (&s.op, s.what.as_str()) {
                    (Op::Mount { flags, .. }, "mount sysfs on /sys") => Some(*flags),
                    _ => None,
                })
                .unwrap()
        };
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        assert!(has(&plan, "mask /proc/kcore") && has(&plan, "make /proc/sys read-only"));
        assert_ne!(sys_flags(&plan) & libc::MS_RDONLY, 0);
        assert!(!plan.steps.iter().any(|s| matches!(s.op, Op::Mknod { .. })));
        spec.privileged = true;
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        assert!(!has(&plan, "mask /proc/kcore") && !has(&plan, "make /proc/sys read-only"));
        assert_eq!(sys_flags(&plan) & libc::MS_RDONLY, 0);
        // Every host device but the bound ones gets a node of its own, before pivot_root.
        let pivot = plan
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::PivotRoot { .. }))
            .unwrap();
        for dev in host_devices() {
            let what = format!("create /dev/{}", dev.path);
            let at = plan.steps.iter().position(|s| s.what == what);
            if DEVICES.contains(&dev.path.as_str()) {
                continue;
            }
            assert!(at.is_some_and(|at| at < pivot), "{what}");
        }
        assert!(
            !host_devices()
                .iter()
                .any(|d| d.path == "ptmx" || d.path.starts_with("pts/"))
        );
    }

    #[test]
    fn init_forks_just_before_exec() {
        let mut spec = ContainerSpec::new("p6", "/tmp", vec!["/bin/true".into()]);
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        assert!(!plan.steps.iter().any(|s| matches!(s.op, Op::Init)));
        spec.init = true;
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        let n = plan.steps.len();
        assert!(matches!(plan.steps[n - 2].op, Op::Init));
        assert!(plan.is_exec(n - 1));
        // After the whole confinement: the init runs as the program's user, filtered.
        let position = |what: &str| plan.steps.iter().position(|s| s.what == what).unwrap();
        assert!(position("set capabilities") < n - 2);
        assert!(position("install the seccomp filter") < n - 2);
    }
}
