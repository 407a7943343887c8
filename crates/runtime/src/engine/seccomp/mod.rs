//! Seccomp filters as BPF programs, compiled in the parent so the child only hands the kernel a
//! ready `sock_fprog`: the default profile here (with `seccompiler`, pure Rust), a custom
//! Docker profile in `profile` (with berth's own small BPF emitter). Calls nothing but
//! [`crate::spec`].
//!
//! The profile is Docker's default in spirit: everything is allowed but
//! [`SECCOMP_BLOCKED`], which fails with EPERM; a system call of another architecture
//! (i386 via `int 0x80`) kills the process, and x32-ABI calls on x86_64 fail with EPERM.
//! None of the calls the child makes after installing it (capability drop, `setuid`,
//! `prctl`, `close_range`, `execve`, `nanosleep`) is in the list.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch, sock_filter};

use crate::error::{Error, Result};
use crate::spec::{SECCOMP_BLOCKED, SeccompProfile};

mod profile;
mod syscalls_x86_64;

/// The filter a container (or an exec'd process) with `capabilities` gets: its custom
/// `profile`, or the default one.
pub(super) fn program(
    id: &str,
    profile: Option<&SeccompProfile>,
    capabilities: &[String],
) -> Result<Vec<sock_filter>> {
    match profile {
        Some(p) => profile::profile_program(id, p, capabilities),
        None => default_program(id),
    }
}

/// `SECCOMP_RET_ERRNO | EPERM`.
const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
/// x86_64's x32 ABI: system call numbers with this bit set (same audit arch as x86_64).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The number of system call `name` on this architecture, or `None` where it doesn't exist.
fn syscall_number(name: &str) -> Option<i64> {
    macro_rules! table {
        ($($sys:ident),* $(,)?) => {
            match name {
                $(n if n == &stringify!($sys)[4..] => Some(libc::$sys as i64),)*
                _ => None,
            }
        };
    }
    #[cfg(target_arch = "x86_64")]
    {
        // Old module calls libc has no constants for (x86_64 numbers, never reused).
        match name {
            "create_module" => return Some(174),
            "get_kernel_syms" => return Some(177),
            "query_module" => return Some(178),
            _ => {}
        }
        if let Some(n) = table!(
            SYS__sysctl,
            SYS_ioperm,
            SYS_iopl,
            SYS_sysfs,
            SYS_uselib,
            SYS_ustat
        ) {
            return Some(n);
        }
    }
    table!(
        SYS_acct,
        SYS_add_key,
        SYS_bpf,
        SYS_clock_adjtime,
        SYS_clock_settime,
        SYS_delete_module,
        SYS_finit_module,
        SYS_fsconfig,
        SYS_fsmount,
        SYS_fsopen,
        SYS_fspick,
        SYS_get_mempolicy,
        SYS_init_module,
        SYS_kcmp,
        SYS_kexec_file_load,
        SYS_kexec_load,
        SYS_keyctl,
        SYS_lookup_dcookie,
        SYS_mbind,
        SYS_mount,
        SYS_mount_setattr,
        SYS_move_mount,
        SYS_move_pages,
        SYS_name_to_handle_at,
        SYS_nfsservctl,
        SYS_open_by_handle_at,
        SYS_open_tree,
        SYS_perf_event_open,
        SYS_pivot_root,
        SYS_process_vm_readv,
        SYS_process_vm_writev,
        SYS_quotactl,
        SYS_quotactl_fd,
        SYS_reboot,
        SYS_request_key,
        SYS_set_mempolicy,
        SYS_setns,
        SYS_settimeofday,
        SYS_swapoff,
        SYS_swapon,
        SYS_umount2,
        SYS_unshare,
        SYS_userfaultfd,
    )
}

/// The default profile, compiled for this architecture.
fn default_program(id: &str) -> Result<Vec<sock_filter>> {
    let bad = |e: seccompiler::BackendError| Error::invalid(id, format!("seccomp filter: {e}"));
    let rules = SECCOMP_BLOCKED
        .iter()
        .filter_map(|name| syscall_number(name))
        .map(|nr| (nr, Vec::new()))
        .collect::<BTreeMap<_, _>>();
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| Error::invalid(id, format!("seccomp: {e}")))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(bad)?;
    let program: BpfProgram = filter.try_into().map_err(bad)?;
    let mut full = Vec::with_capacity(program.len() + 3);
    if cfg!(target_arch = "x86_64") {
        // Before seccompiler's architecture check (which kills a foreign architecture): an
        // x32 call has the x86_64 audit arch and a number no rule compares equal to.
        const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
        const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
        const RET_K: u16 = 0x06; // BPF_RET | BPF_K
        let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
        full.push(insn(LD_W_ABS, 0, 0, 0)); // seccomp_data.nr
        full.push(insn(JGE_K, 0, 1, X32_SYSCALL_BIT));
        full.push(insn(RET_K, 0, 0, RET_EPERM));
    }
    full.extend(program);
    if full.len() > u16::MAX as usize {
        return Err(Error::invalid(id, "seccomp filter too long"));
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_and_covers_the_list() {
        let program = default_program("s1").unwrap();
        assert!(program.len() > SECCOMP_BLOCKED.len());
        assert_eq!(syscall_number("add_key"), Some(libc::SYS_add_key));
        assert_eq!(syscall_number("execve"), None);
        // Nothing the child still calls after installing the filter is blocked.
        for name in ["capset", "prctl", "setuid", "setgid", "setgroups", "execve"] {
            assert!(!SECCOMP_BLOCKED.contains(&name), "{name}");
        }
    }
}
