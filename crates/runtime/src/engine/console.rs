//! Terminal masters passed between processes over unix sockets (SCM_RIGHTS), as an OCI
//! runtime's `--console-socket` does; used to relay an external runtime's terminal to the
//! caller's [`super::Console`]. Plain `libc` calls only; nothing above the OS.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Receive one descriptor sent on `socket` with SCM_RIGHTS; `None` when the peer closed
/// without sending one.
pub(super) fn receive_fd(socket: &impl AsRawFd) -> std::io::Result<Option<OwnedFd>> {
    // runc sends the terminal's name as data along with the descriptor.
    let mut data = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control = [0u64; 4]; // CMSG_SPACE(sizeof(int)) is 24 bytes, 8-aligned
    // SAFETY: recvmsg into stack buffers sized for one descriptor; a descriptor read from the
    // control message is fresh and ours.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        loop {
            let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n > 0 {
                break;
            }
            if n == 0 {
                return Ok(None);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Ok(None);
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>());
        Ok(Some(OwnedFd::from_raw_fd(fd)))
    }
}

/// Send `fd` on `socket` with SCM_RIGHTS, with one byte of data (as the native engine's
/// console op sends it).
pub(super) fn send_fd(socket: &impl AsRawFd, fd: &impl AsRawFd) -> std::io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; 4];
    // SAFETY: sendmsg from stack buffers laid out with the CMSG macros for one descriptor.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), fd.as_raw_fd());
        if libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Set terminal `fd`'s window size; nothing when either dimension is 0.
pub(super) fn set_window_size(fd: &impl AsRawFd, rows: u16, cols: u16) {
    if rows == 0 || cols == 0 {
        return;
    }
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the stack.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_crosses_a_socket() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        send_fd(&a, &file).unwrap();
        let got = receive_fd(&b).unwrap().unwrap();
        let text = std::fs::read_to_string(format!("/proc/self/fd/{}", got.as_raw_fd()));
        assert!(text.unwrap().contains("Pid:"));
        drop(a);
        assert!(receive_fd(&b).unwrap().is_none());
    }
}
