//! Terminals for `-t`: a pseudo-terminal pair whose slave becomes the container's stdio and
//! controlling terminal, the caller's terminal in raw mode while attached, the window size
//! copied at start and on every SIGWINCH, and the bytes pumped both ways. [`attach`] puts
//! these together for a foreground `run -t` or `exec -t`.

use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};

use anyhow::{Context as _, Result};

fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// A connected pair of unix sockets: (berth's end, the engine's end), close-on-exec. The
/// container's terminal master arrives on berth's end.
pub fn console_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills two descriptors that we then own.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(last_error()).context("cannot create the console socket");
    }
    // SAFETY: fresh descriptors from socketpair.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Wait for the terminal master the container sends on `socket`; `None` when the other end
/// closed without sending one (the container failed before making its terminal).
pub fn receive_master(socket: &OwnedFd) -> std::io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; 4];
    // SAFETY: recvmsg into stack buffers sized for one descriptor; the descriptor read from
    // the control message is fresh and ours.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        loop {
            let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 {
                let e = last_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Ok(None);
            }
            break;
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

/// The window size (rows, columns) of terminal `fd`; zeros when it is not one.
pub fn window_size(fd: RawFd) -> (u16, u16) {
    // SAFETY: TIOCGWINSZ fills a winsize on the stack.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) == 0 {
            (size.ws_row, size.ws_col)
        } else {
            (0, 0)
        }
    }
}

/// Copy the window size of terminal `from` to terminal `to`, if `from` is one.
pub fn copy_size(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ fill and read a winsize on the stack.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &size);
        }
    }
}

/// The caller's terminal in raw mode until dropped (then restored as it was).
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Put terminal `fd` in raw mode; `None` when it is not a terminal.
    pub fn enable(fd: RawFd) -> Option<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on a termios on the stack.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// Copy everything the container writes to the pty's master to `out`, until the last
/// holder of the slave closes it (EIO) — the container has ended.
pub fn pump_output(master: &OwnedFd, mut out: impl std::io::Write) {
    let mut file = std::fs::File::from(master.try_clone().expect("dup the pty master"));
    let mut buf = [0u8; 16 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return, // EIO: the slave is closed everywhere
        }
    }
}

/// Copy berth's stdin to the pty's master in a thread that lives until stdin ends (or the
/// process exits: a read on a terminal cannot be cancelled).
pub fn pump_input(master: &OwnedFd) -> Result<()> {
    let mut to = std::fs::File::from(master.try_clone()?);
    std::thread::spawn(move || {
        // SAFETY: fd 0 stays open for the process's life; borrowed, not closed.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        let mut from = std::fs::File::from(stdin.try_clone_to_owned().expect("dup stdin"));
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) => {
                    // End of input: the terminal's EOF character, as `docker run -i -t` does
                    // when its stdin is not a terminal.
                    let _ = to.write_all(&[4]);
                    return;
                }
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
    Ok(())
}

/// A foreground process's terminal: its master pumped to stdout, resized on SIGWINCH, and
/// this terminal in raw mode while attached with `-i`.
pub struct Terminal {
    output: tokio::task::JoinHandle<()>,
    resize: tokio::task::JoinHandle<()>,
    _raw: Option<RawMode>,
}

impl Terminal {
    /// Wait for the last output of the ended process, then restore the terminal.
    pub async fn finish(self) {
        let _ = self.output.await;
        self.resize.abort();
    }
}

/// A terminal for a process started in a container: the console (socket and this terminal's
/// window size) to hand the engine, and the [`Terminal`] that receives the master, pumps it
/// (and stdin with `interactive`, this terminal then in raw mode) and forwards resizes.
pub fn attach(interactive: bool) -> Result<(berth_runtime::engine::Console, Terminal)> {
    use tokio::signal::unix::{SignalKind, signal};
    let (ours, theirs) = console_pair()?;
    let (rows, cols) = window_size(0);
    let master = std::sync::Arc::new(std::sync::OnceLock::<OwnedFd>::new());
    let m = master.clone();
    let output = tokio::task::spawn_blocking(move || {
        let Ok(Some(fd)) = receive_master(&ours) else {
            return;
        };
        let fd = m.get_or_init(|| fd);
        if interactive {
            let _ = pump_input(fd);
        }
        pump_output(fd, std::io::stdout().lock());
    });
    let mut winch = signal(SignalKind::window_change())?;
    let resize = tokio::spawn(async move {
        while winch.recv().await.is_some() {
            if let Some(fd) = master.get() {
                copy_size(0, fd.as_raw_fd());
            }
        }
    });
    let raw = if interactive {
        RawMode::enable(0)
    } else {
        None
    };
    let console = berth_runtime::engine::Console {
        socket: theirs,
        rows,
        cols,
    };
    Ok((
        console,
        Terminal {
            output,
            resize,
            _raw: raw,
        },
    ))
}
