//! The container's first process between `clone3` and `execve`: it walks the
//! [`Plan`](super::plan::Plan) and either becomes the container's program or reports the step
//! that failed, with its errno, through the error pipe.
//!
//! Rules for this file (the child is a raw copy of a possibly multi-threaded parent): no heap
//! allocation, no locks, no panics, no formatting, and raw `syscall`s where glibc's wrapper
//! would talk to other threads (`setuid`, `setgid`, `setgroups` broadcast to every thread the
//! parent had). Only the data built by the plan is read.

use std::ffi::CStr;
use std::ptr::null;

use super::child_tty::{console, init};
use super::plan::{Op, Plan};

/// `linux/capability.h`: `_LINUX_CAPABILITY_VERSION_3`, two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

pub(super) type SysResult = Result<(), i32>;

pub(super) fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

pub(super) fn check(ret: libc::c_long) -> SysResult {
    if ret < 0 { Err(errno()) } else { Ok(()) }
}

fn ok_if_exists(result: SysResult) -> SysResult {
    match result {
        Err(libc::EEXIST) => Ok(()),
        other => other,
    }
}

fn ptr(s: &Option<std::ffi::CString>) -> *const libc::c_char {
    s.as_deref().map_or(null(), CStr::as_ptr)
}

fn mount(
    source: *const libc::c_char,
    target: &CStr,
    fstype: *const libc::c_char,
    flags: libc::c_ulong,
    data: *const libc::c_char,
) -> SysResult {
    // SAFETY: every pointer is null or a NUL-terminated string that outlives the call.
    check(unsafe { libc::mount(source, target.as_ptr(), fstype, flags, data.cast()) } as _)
}

/// Run the plan and exec; returns only by `_exit`. On failure writes `[step u32][errno i32]`
/// (native endian) to `error_fd`, which is close-on-exec: EOF there means exec succeeded.
pub(super) fn run(plan: &Plan, error_fd: i32) -> ! {
    for (index, step) in plan.steps.iter().enumerate() {
        if let Err(errno) = run_op(&step.op, error_fd) {
            let mut report = [0u8; 8];
            report[..4].copy_from_slice(&(index as u32).to_ne_bytes());
            report[4..].copy_from_slice(&errno.to_ne_bytes());
            // SAFETY: writing a stack buffer to a descriptor we own; then leaving at once.
            unsafe {
                libc::write(error_fd, report.as_ptr().cast(), report.len());
                libc::_exit(127)
            }
        }
    }
    // Exec is the last op and returns only on failure, which is reported above.
    // SAFETY: leaving the child.
    unsafe { libc::_exit(127) }
}

fn run_op(op: &Op, error_fd: i32) -> SysResult {
    // SAFETY (whole function): raw system calls on NUL-terminated strings and stack buffers
    // owned by the plan or this frame; see the module doc for why they are raw.
    unsafe {
        match op {
            Op::DieWithParent => check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) as _),
            Op::ResetSignals => reset_signals(),
            Op::WaitForParent { fd } => {
                let mut byte = 0u8;
                let result = loop {
                    let n = libc::read(*fd, (&mut byte as *mut u8).cast(), 1);
                    if n == 1 {
                        break Ok(());
                    }
                    if n == 0 {
                        break Err(libc::EPIPE);
                    }
                    if errno() != libc::EINTR {
                        break Err(errno());
                    }
                };
                libc::close(*fd);
                result
            }
            Op::Console { socket, rows, cols } => console(*socket, *rows, *cols),
            Op::UnshareCgroup => check(libc::unshare(libc::CLONE_NEWCGROUP) as _),
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => mount(ptr(source), target, ptr(fstype), *flags, ptr(data)),
            Op::Mkdir { path } => ok_if_exists(check(libc::mkdir(path.as_ptr(), 0o755) as _)),
            Op::Touch { path } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                );
                check(fd as _)?;
                libc::close(fd);
                Ok(())
            }
            Op::Symlink { target, link } => {
                ok_if_exists(check(libc::symlink(target.as_ptr(), link.as_ptr()) as _))
            }
            Op::PivotRoot { new_root } => pivot_root(new_root),
            Op::Mask { path } => mask(path),
            Op::ReadOnly { path } => read_only(path),
            Op::Hostname { name } => {
                check(libc::sethostname(name.as_ptr(), name.to_bytes().len()) as _)
            }
            Op::LoopbackUp => loopback_up(),
            Op::WriteFile { path, data } => write_file(path, data),
            Op::Setrlimit {
                resource,
                soft,
                hard,
            } => {
                let limit = [*soft, *hard]; // struct rlimit64
                check(libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    *resource,
                    limit.as_ptr(),
                    null::<u64>(),
                ))
            }
            Op::Chdir { path } => check(libc::chdir(path.as_ptr()) as _),
            Op::DropBounding { keep } => {
                for cap in 0..64u64 {
                    if keep & (1 << cap) != 0 {
                        continue;
                    }
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0 {
                        // EINVAL: past the last capability this kernel knows.
                        return if errno() == libc::EINVAL {
                            Ok(())
                        } else {
                            Err(errno())
                        };
                    }
                }
                Ok(())
            }
            Op::Identity { uid, gid, groups } => {
                check(libc::syscall(
                    libc::SYS_setgroups,
                    groups.len(),
                    groups.as_ptr(),
                ))?;
                check(libc::syscall(libc::SYS_setgid, *gid))?;
                check(libc::syscall(libc::SYS_setuid, *uid))
            }
            Op::Capset { keep } => capset(*keep),
            Op::NoNewPrivs => check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as _),
            Op::Seccomp { program } => {
                // `struct sock_fprog`; the plan checked the length fits in 16 bits.
                #[repr(C)]
                struct Fprog {
                    len: libc::c_ushort,
                    filter: *const seccompiler::sock_filter,
                }
                let prog = Fprog {
                    len: program.len() as libc::c_ushort,
                    filter: program.as_ptr(),
                };
                check(libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog,
                ))
            }
            Op::Stdio { fds, keep, start } => stdio(fds, [*keep, *start, error_fd]),
            Op::AwaitStart { fd } => await_start(*fd),
            Op::Setns { fd, nstype } => check(libc::setns(*fd, *nstype) as _),
            Op::Setsid => check(libc::setsid() as _),
            Op::Mknod {
                path,
                mode,
                dev,
                uid,
                gid,
            } => {
                ok_if_exists(check(libc::mknod(path.as_ptr(), *mode, *dev) as _))?;
                check(libc::lchown(path.as_ptr(), *uid, *gid) as _)
            }
            Op::Init => init(error_fd),
            Op::Exec {
                candidates,
                argv,
                envp,
            } => {
                let mut error = libc::ENOENT;
                for path in candidates {
                    exec_retrying_busy(path, argv, envp);
                    match errno() {
                        // Keep searching PATH, but remember a permission problem (as execvp).
                        libc::ENOENT | libc::ENOTDIR => {}
                        libc::EACCES => error = libc::EACCES,
                        other => return Err(other),
                    }
                }
                Err(error)
            }
        }
    }
}

/// `execve`, retried for a few milliseconds on ETXTBSY: another process cloned by this
/// multi-threaded parent may briefly hold a write descriptor of the program (copied while it
/// was being written) until it closes its inherited descriptors.
unsafe fn exec_retrying_busy(
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) {
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000,
    };
    for _ in 0..10 {
        // SAFETY: NUL-terminated path, NULL-terminated argv and envp built by the plan.
        unsafe {
            libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            if errno() != libc::ETXTBSY {
                return;
            }
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
    }
}

pub(super) unsafe fn reset_signals() -> SysResult {
    // The kernel's `struct sigaction` (handler, flags, restorer, 64-bit mask), all zero: SIG_DFL.
    // Raw, because glibc's sigaction refuses its own reserved signals 32 and 33.
    let default = [0u64; 4];
    // SAFETY: rt_sigaction and rt_sigprocmask read stack buffers of the kernel's layout.
    unsafe {
        for signal in 1..=64 {
            // SIGKILL and SIGSTOP refuse with EINVAL: nothing to do for them.
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                default.as_ptr(),
                null::<u64>(),
                8,
            );
        }
        let empty = 0u64;
        check(libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty,
            null::<u64>(),
            8,
        ))
    }
}

unsafe fn pivot_root(new_root: &CStr) -> SysResult {
    let dot = c".";
    // SAFETY: raw calls on static and plan-owned strings.
    unsafe {
        check(libc::chdir(new_root.as_ptr()) as _)?;
        // pivot_root(".", ".") stacks the old root under the new one; detaching "." then
        // removes it, with no put_old directory needed in the image.
        check(libc::syscall(
            libc::SYS_pivot_root,
            dot.as_ptr(),
            dot.as_ptr(),
        ))?;
        mount(null(), dot, null(), libc::MS_SLAVE | libc::MS_REC, null())?;
        check(libc::umount2(dot.as_ptr(), libc::MNT_DETACH) as _)?;
        check(libc::chdir(c"/".as_ptr()) as _)
    }
}

/// See [`Op::WriteFile`].
unsafe fn write_file(path: &CStr, data: &CStr) -> SysResult {
    // SAFETY: open, write and close on a plan-owned path and buffer.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        );
        check(fd as _)?;
        let bytes = data.to_bytes();
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let result = if written < 0 {
            Err(errno())
        } else if written as usize != bytes.len() {
            Err(libc::EIO)
        } else {
            Ok(())
        };
        libc::close(fd);
        result
    }
}

unsafe fn mask(path: &CStr) -> SysResult {
    match mount(c"/dev/null".as_ptr(), path, null(), libc::MS_BIND, null()) {
        Err(libc::ENOENT) => Ok(()),
        Err(libc::ENOTDIR) => {
            let tmpfs = c"tmpfs".as_ptr();
            mount(tmpfs, path, tmpfs, libc::MS_RDONLY, null())
        }
        other => other,
    }
}

unsafe fn read_only(path: &CStr) -> SysResult {
    match mount(
        path.as_ptr(),
        path,
        null(),
        libc::MS_BIND | libc::MS_REC,
        null(),
    ) {
        Err(libc::ENOENT) => return Ok(()),
        other => other?,
    }
    let flags = libc::MS_BIND
        | libc::MS_REMOUNT
        | libc::MS_RDONLY
        | libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC;
    mount(null(), path, null(), flags, null())
}

/// `struct ifreq` as far as SIOCGIFFLAGS / SIOCSIFFLAGS use it (40 bytes on Linux).
#[repr(C)]
struct IfreqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

unsafe fn loopback_up() -> SysResult {
    // SAFETY: a socket and two ioctls on a stack struct of the kernel's layout.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(sock as _)?;
        let mut req = IfreqFlags {
            name: [0; 16],
            flags: 0,
            _pad: [0; 22],
        };
        req.name[..2].copy_from_slice(b"lo");
        let mut result = check(libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) as _);
        if result.is_ok() {
            req.flags |= libc::IFF_UP as libc::c_short;
            result = check(libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) as _);
        }
        libc::close(sock);
        result
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

unsafe fn capset(keep: u64) -> SysResult {
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let word = |shift: u32| CapData {
        effective: (keep >> shift) as u32,
        permitted: (keep >> shift) as u32,
        inheritable: 0,
    };
    let data = [word(0), word(32)];
    // SAFETY: the kernel reads the header and two data words from our stack.
    unsafe {
        check(libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) as _)?;
        check(libc::syscall(libc::SYS_capset, &header, data.as_ptr()))
    }
}

unsafe fn stdio(fds: &[Option<i32>; 3], mut kept: [i32; 3]) -> SysResult {
    // SAFETY: dup2/fcntl/close_range on descriptors handed to us by the parent.
    unsafe {
        for (target, fd) in fds.iter().enumerate() {
            match *fd {
                // Already in place: dup2 would be a no-op that keeps close-on-exec set.
                Some(fd) if fd == target as i32 => check(libc::fcntl(fd, libc::F_SETFD, 0) as _)?,
                Some(fd) => check(libc::dup2(fd, target as i32) as _)?,
                None => {}
            }
        }
        // Close everything else but the error pipe (and the other `kept` ones, -1: none).
        // Kernels before 5.11 lack close_range; there the descriptors' O_CLOEXEC closes them
        // at exec.
        let close =
            |first: i32, last: u32| libc::syscall(libc::SYS_close_range, first as u32, last, 0u32);
        kept.sort_unstable();
        let mut next = 3;
        for kept in kept {
            if kept >= next {
                if kept > next {
                    close(next, kept as u32 - 1);
                }
                next = kept + 1;
            }
        }
        close(next, u32::MAX);
        Ok(())
    }
}

/// [`Op::AwaitStart`]: tell the parent set-up is done, wait for its go.
unsafe fn await_start(fd: i32) -> SysResult {
    // SAFETY: one-byte reads and writes on a socket we own, then closing it.
    unsafe {
        let mut byte = 1u8;
        let result = loop {
            if libc::write(fd, (&byte as *const u8).cast(), 1) == 1 {
                break Ok(());
            }
            if errno() != libc::EINTR {
                break Err(errno());
            }
        };
        let result = result.and_then(|()| {
            loop {
                let n = libc::read(fd, (&mut byte as *mut u8).cast(), 1);
                if n == 1 {
                    break Ok(());
                }
                if n == 0 {
                    break Err(libc::EPIPE);
                }
                if errno() != libc::EINTR {
                    break Err(errno());
                }
            }
        });
        libc::close(fd);
        result
    }
}
