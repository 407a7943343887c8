//! Two steps of the container's first process kept apart from [`super::child`] for size, under
//! the same rules (no allocation, locks, panics or formatting): the terminal made in the
//! container (`-t`) and the minimal init (`--init`).

use std::ptr::null;

use super::child::{SysResult, check, errno};

/// See [`Op::Console`](super::plan::Op::Console).
pub(super) unsafe fn console(socket: i32, rows: u16, cols: u16) -> SysResult {
    // SAFETY: pty ioctls and sendmsg on descriptors this function opens, with stack buffers.
    unsafe {
        let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
        let master = libc::open(c"/dev/pts/ptmx".as_ptr(), flags);
        check(master as _)?;
        let unlock: libc::c_int = 0;
        check(libc::ioctl(master, libc::TIOCSPTLCK, &unlock) as _)?;
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        if rows > 0 && cols > 0 {
            check(libc::ioctl(master, libc::TIOCSWINSZ, &size) as _)?;
        }
        let peer = libc::ioctl(master, libc::TIOCGPTPEER, flags);
        check(peer as _)?;
        // One byte of data carrying the master in an SCM_RIGHTS control message.
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut control = [0u64; 4]; // CMSG_SPACE(sizeof(int)) is 24 bytes, 8-aligned
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), master);
        check(libc::sendmsg(socket, &msg, libc::MSG_NOSIGNAL) as _)?;
        libc::close(master);
        libc::close(socket);
        for fd in 0..3 {
            check(libc::dup2(peer, fd) as _)?;
        }
        libc::close(peer);
        check(libc::setsid() as _)?;
        check(libc::ioctl(0, libc::TIOCSCTTY, 0) as _)
    }
}

/// `--init`: fork; the child returns (to exec the program), the parent becomes the container's
/// init and never returns. Signals are blocked before the fork so none is lost in between.
pub(super) unsafe fn init(error_fd: i32) -> SysResult {
    let all = !0u64;
    let none = 0u64;
    // SAFETY: raw signal-mask calls on stack words; a raw fork-like clone (this process has
    // one thread); raw prctl, close, wait4, kill and rt_sigtimedwait on stack buffers.
    unsafe {
        let mask = |set: &u64| {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                set as *const u64,
                null::<u64>(),
                8,
            )
        };
        check(mask(&all))?;
        let child = libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0);
        if child < 0 {
            let e = errno();
            mask(&none);
            return Err(e);
        }
        if child == 0 {
            // The program: signals as the plan reset them.
            return check(mask(&none));
        }
        let child = child as libc::pid_t;
        // Only the program reports through the error pipe; its exec closes the pipe's last
        // write end. The name shows in `ps` (the command line stays the parent's).
        libc::close(error_fd);
        libc::prctl(libc::PR_SET_NAME, c"init".as_ptr(), 0, 0, 0);
        let mut info = [0u64; 16]; // siginfo_t, 128 bytes
        loop {
            let signal = libc::syscall(
                libc::SYS_rt_sigtimedwait,
                &all as *const u64,
                info.as_mut_ptr(),
                null::<libc::timespec>(),
                8,
            );
            if signal < 0 {
                continue; // EINTR
            }
            let signal = signal as i32;
            if signal != libc::SIGCHLD {
                libc::kill(child, signal);
                continue;
            }
            // Reap every zombie (orphans are re-parented to us); leave with the program.
            loop {
                let mut status = 0;
                let pid = libc::wait4(-1, &mut status, libc::WNOHANG, std::ptr::null_mut());
                if pid <= 0 {
                    break;
                }
                if pid == child {
                    let code = if libc::WIFSIGNALED(status) {
                        128 + libc::WTERMSIG(status)
                    } else {
                        libc::WEXITSTATUS(status)
                    };
                    libc::_exit(code);
                }
            }
        }
    }
}
