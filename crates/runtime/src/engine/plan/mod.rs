//! The native engine's set-up plan: every system call the container's first process makes
//! between `clone3` and `execve`, worked out in the parent from a [`ContainerSpec`].
//!
//! Why a plan: the child is a raw `clone3` copy of a possibly multi-threaded process, so it
//! may not allocate, lock or run glibc's multi-thread wrappers (a heap lock or `setxid`
//! broadcast held by a thread that doesn't exist in the child would hang it). So every path,
//! flag and string is built here, as `CString`s, and [`super::child`] only walks the list.
//!
//! This module owns the ops and the order of the set-up; its parts build the steps of one
//! topic each: `mounts` (the root, kernel filesystems and the spec's mounts), `devices`
//! (`/dev`) and `process` (confinement, identity and the `execve`). They call only
//! [`crate::spec`], [`crate::safepath`] and the seccomp module.

mod devices;
mod mounts;
mod process;

pub(super) use process::{capability_mask, exec_step};

use std::ffi::{CString, c_char};
use std::path::Path;

use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, MASKED_PATHS, READONLY_PATHS};

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
    /// Open `path` (write-only, the last component not followed), write `data`, close it:
    /// a sysctl under `/proc/sys`, or `/proc/self/oom_score_adj`.
    WriteFile { path: CString, data: CString },
    /// Raw `prlimit64(0, resource, {soft, hard})`: one `--ulimit`.
    Setrlimit { resource: i32, soft: u64, hard: u64 },
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
    /// Also keeps `keep` (the console socket) and `start` (the start socket of a created
    /// container) open; -1: none.
    Stdio {
        fds: [Option<i32>; 3],
        keep: i32,
        start: i32,
    },
    /// A created container (`create`): write one byte to socket `fd` (set-up is done), then
    /// block until one byte comes back (`start`) and close it; EOF means it was deleted.
    AwaitStart { fd: i32 },
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

/// The steps of a plan being built for container `id`.
struct Steps<'a> {
    id: &'a str,
    list: Vec<Step>,
}

impl Steps<'_> {
    fn push(&mut self, what: impl Into<String>, op: Op) {
        self.list.push(Step {
            what: what.into(),
            op,
        });
    }

    /// A `mount(2)` op from plain strings.
    fn mount(
        &self,
        source: Option<&str>,
        target: CString,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> Result<Op> {
        let id = self.id;
        Ok(Op::Mount {
            source: source.map(|s| cstr(id, s)).transpose()?,
            target,
            fstype: fstype.map(|s| cstr(id, s)).transpose()?,
            flags,
            data: data.map(|s| cstr(id, s)).transpose()?,
        })
    }
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
        let mut s = Steps {
            id,
            list: Vec::new(),
        };
        s.push("set the parent-death signal", Op::DieWithParent);
        s.push("reset signals", Op::ResetSignals);
        if let Some(fd) = sync {
            s.push("wait to be placed in the cgroups", Op::WaitForParent { fd });
        }
        // After the cgroups are joined, so the namespace's root is the container's cgroup.
        if !spec.cgroupns_host {
            s.push("create the cgroup namespace", Op::UnshareCgroup);
        }
        // First, so the parent's other descriptors (a file another thread is writing, say) are
        // closed microseconds after clone rather than at exec.
        let keep = console.map_or(-1, |(socket, _, _)| socket);
        s.push(
            "set up stdio",
            Op::Stdio {
                fds: stdio,
                keep,
                start: -1,
            },
        );
        let rootfs = mounts::root_and_filesystems(&mut s, spec)?;
        devices::dev(&mut s, spec)?;
        mounts::spec_mounts(&mut s, spec)?;
        s.push(
            format!("pivot_root into {}", spec.rootfs.display()),
            Op::PivotRoot { new_root: rootfs },
        );
        if let Some((socket, rows, cols)) = console {
            s.push("create the terminal", Op::Console { socket, rows, cols });
        }
        // Before /proc/sys is made read-only.
        for (key, value) in &spec.sysctls {
            let path = if key.contains('/') {
                key.clone()
            } else {
                key.replace('.', "/")
            };
            s.push(
                format!("set sysctl {key}"),
                Op::WriteFile {
                    path: cstr(id, format!("/proc/sys/{path}"))?,
                    data: cstr(id, value.as_str())?,
                },
            );
        }
        // Privileged containers see /proc and /sys as they are.
        let (masked, readonly) = if spec.privileged {
            (&[][..], &[][..])
        } else {
            (MASKED_PATHS, READONLY_PATHS)
        };
        for path in masked {
            s.push(
                format!("mask {path}"),
                Op::Mask {
                    path: cstr(id, *path)?,
                },
            );
        }
        for path in readonly {
            s.push(
                format!("make {path} read-only"),
                Op::ReadOnly {
                    path: cstr(id, *path)?,
                },
            );
        }
        if !spec.uts_host {
            s.push(
                "set the hostname",
                Op::Hostname {
                    name: cstr(id, spec.hostname.as_str())?,
                },
            );
        }
        if !spec.host_network {
            s.push("bring lo up", Op::LoopbackUp);
        }
        let strings = process::confine_and_exec(&mut s, spec)?;
        Ok(Plan::from_parts(s.list, strings))
    }

    /// A plan of `steps`, keeping `strings` (those the `Exec` op points into) alive with it.
    pub(super) fn from_parts(steps: Vec<Step>, strings: Vec<CString>) -> Plan {
        Plan {
            steps,
            _strings: strings,
        }
    }

    /// Make this the plan of a created container (`create`): no parent-death signal (it
    /// outlives the call that made it), `start` kept open through the stdio step, and an
    /// [`Op::AwaitStart`] on it just before the program starts (before the init, if any).
    pub(super) fn await_start(&mut self, start: i32) {
        self.steps.retain(|s| !matches!(s.op, Op::DieWithParent));
        for step in &mut self.steps {
            if let Op::Stdio { start: kept, .. } = &mut step.op {
                *kept = start;
            }
        }
        let at = self
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::Init | Op::Exec { .. }))
            .unwrap_or(self.steps.len());
        self.steps.insert(
            at,
            Step {
                what: "wait for start".into(),
                op: Op::AwaitStart { fd: start },
            },
        );
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
    use crate::spec::MountKind;

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
    fn kernel_features_have_their_steps_in_order() {
        let mut spec = ContainerSpec::new("p7", "/tmp", vec!["/bin/true".into()]);
        spec.sysctls = vec![("net.ipv4.ip_forward".into(), "1".into())];
        spec.rlimits = vec![crate::spec::Rlimit {
            kind: "nofile".into(),
            soft: 10,
            hard: 20,
        }];
        spec.oom_score_adj = Some(100);
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        let position = |what: &str| plan.steps.iter().position(|s| s.what == what);
        let sysctl = position("set sysctl net.ipv4.ip_forward").unwrap();
        assert!(position("pivot_root into /tmp").unwrap() < sysctl);
        assert!(sysctl < position("make /proc/sys read-only").unwrap());
        let rlimit = position("set ulimit nofile=10:20").unwrap();
        let oom = position("set the OOM score adjustment").unwrap();
        let capset = position("set capabilities").unwrap();
        assert!(rlimit < capset && oom < capset);
        assert!(position("set the hostname").is_some());
        assert!(position("create the cgroup namespace").is_some());
        spec.uts_host = true;
        spec.cgroupns_host = true;
        let plan = Plan::new(&spec, [None, None, None], None, None).unwrap();
        let position = |what: &str| plan.steps.iter().position(|s| s.what == what);
        assert!(position("set the hostname").is_none());
        assert!(position("create the cgroup namespace").is_none());
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
