//! The plan's last steps, inside the new root: the working directory, the read-only root,
//! then the confinement (no_new_privs, seccomp, capabilities, identity), `--init` and the
//! `execve`. [`capability_mask`] and [`exec_step`] are shared with exec's plan.

use std::ffi::CString;

use super::{Op, Step, Steps, cstr};
use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, capability_number, rlimit_resource};

/// Add the steps from the working directory to the `execve`; returns the strings the exec
/// op points into.
pub(super) fn confine_and_exec(s: &mut Steps, spec: &ContainerSpec) -> Result<Vec<CString>> {
    let id = s.id;
    // The working directory is created (mkdir -p) inside the new root, where symlinks in
    // the image cannot point outside it.
    let mut prefix = String::new();
    for part in spec.cwd.split('/').filter(|p| !p.is_empty()) {
        prefix = format!("{prefix}/{part}");
        s.push(
            format!("create {prefix}"),
            Op::Mkdir {
                path: cstr(id, prefix.as_str())?,
            },
        );
    }
    s.push(
        format!("chdir to {}", spec.cwd),
        Op::Chdir {
            path: cstr(id, spec.cwd.as_str())?,
        },
    );
    if spec.readonly_rootfs {
        let op = s.mount(
            None,
            cstr(id, "/")?,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            None,
        )?;
        s.push("make the root filesystem read-only", op);
    }
    // While still root with every capability berth has (raising a hard limit or lowering
    // the OOM score needs CAP_SYS_RESOURCE).
    for r in &spec.rlimits {
        let resource = rlimit_resource(&r.kind)
            .ok_or_else(|| Error::invalid(id, format!("unknown ulimit {:?}", r.kind)))?;
        s.push(
            format!("set ulimit {}={}:{}", r.kind, r.soft, r.hard),
            Op::Setrlimit {
                resource: resource as i32,
                soft: r.soft,
                hard: r.hard,
            },
        );
    }
    if let Some(score) = spec.oom_score_adj {
        s.push(
            "set the OOM score adjustment",
            Op::WriteFile {
                path: cstr(id, "/proc/self/oom_score_adj")?,
                data: cstr(id, score.to_string())?,
            },
        );
    }
    let keep = capability_mask(&spec.capabilities);
    if spec.no_new_privileges {
        s.push("set no_new_privs", Op::NoNewPrivs);
    }
    if spec.seccomp {
        // Late, so that only the capability drop, identity and exec run under it.
        s.push(
            "install the seccomp filter",
            Op::Seccomp {
                program: crate::engine::seccomp::program(
                    id,
                    spec.seccomp_profile.as_ref(),
                    &spec.capabilities,
                )?,
            },
        );
    }
    s.push("drop bounding capabilities", Op::DropBounding { keep });
    s.push(
        format!("set uid {} gid {}", spec.uid, spec.gid),
        Op::Identity {
            uid: spec.uid,
            gid: spec.gid,
            groups: spec.groups.clone(),
        },
    );
    if spec.uid == 0 {
        // A non-root uid has already lost its effective and permitted sets in setuid.
        s.push("set capabilities", Op::Capset { keep });
    }
    if spec.init {
        s.push("start the init process", Op::Init);
    }
    let (exec, strings) = exec_step(id, &spec.args, spec.full_env(), spec.path_env())?;
    s.list.push(exec);
    Ok(strings)
}

/// The capabilities named in `names` that this process holds itself (permitted set): a root
/// without some capability (CAP_SYS_RESOURCE in some sandboxes) cannot grant it, and
/// `--privileged`'s "all" means all it has.
pub(in crate::engine) fn capability_mask(names: &[String]) -> u64 {
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
pub(in crate::engine) fn exec_step(
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
