//! `berth run -i` and `-t` as root: stdin only with `-i`, a real pseudo-terminal with `-t`
//! (the caller's window size, resizes forwarded, the exit code kept), driven from a pty this
//! test opens, as a user's terminal would.

mod common;

use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{busybox, needs_busybox};

#[test]
fn stdin_only_with_interactive() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let out = env.run_stdin(&["run", "--rm", "-i", "bb:1", "cat"], "hello\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    // Without -i the container's stdin is empty, as Docker has it.
    let out = env.run_stdin(&["run", "--rm", "bb:1", "cat"], "hello\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

/// A pty pair for the test's side: (master, slave), with the given window size.
fn pty(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    // SAFETY: plain pty set-up calls on descriptors this function owns.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(slave >= 0);
        let master = OwnedFd::from_raw_fd(master);
        resize(&master, rows, cols);
        (master, OwnedFd::from_raw_fd(slave))
    }
}

fn resize(master: &OwnedFd, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the stack.
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) },
        0
    );
}

/// berth with the slave as its controlling terminal and stdio, its output collected.
struct OnTerminal {
    child: std::process::Child,
    master: std::fs::File,
    output: Arc<Mutex<Vec<u8>>>,
}

impl OnTerminal {
    fn start(env: &Env, args: &[&str], rows: u16, cols: u16) -> OnTerminal {
        let (master, slave) = pty(rows, cols);
        let mut cmd = env.cmd(args);
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = std::fs::File::from(master.try_clone().unwrap());
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        OnTerminal {
            child,
            master: std::fs::File::from(master),
            output,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Wait until the output contains `needle`; panics with the output after 20 s.
    fn expect(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("berth did not exit; output {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn tty_gets_a_terminal_with_the_callers_size() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let t = OnTerminal::start(
        &env,
        &[
            "run",
            "--rm",
            "-t",
            "bb:1",
            "sh",
            "-c",
            "busybox tty; busybox stty size; [ -t 0 ] && echo stdin-tty; exit 3",
        ],
        40,
        100,
    );
    t.expect("40 100");
    let text = t.text();
    let code = t.wait();
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("stdin-tty"), "{text:?}");
    assert_eq!(code, 3, "{text:?}");
    // Output through the container's terminal ends lines with CR LF, as `docker run -t`
    // does (this terminal, not in raw mode without -i, adds its own CR).
    assert!(text.contains("40 100\r"), "{text:?}");
}

#[test]
fn interactive_tty_follows_input_and_resizes() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let mut t = OnTerminal::start(&env, &["run", "--rm", "-it", "bb:1", "sh"], 24, 80);
    t.master.write_all(b"echo $((6 * 7))x\n").unwrap();
    t.expect("42x");
    // A window change on the caller's terminal reaches the container's.
    resize(&t.master.try_clone().unwrap().into(), 50, 120);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !t.text().contains("50 120") {
        assert!(Instant::now() < deadline, "no resize in {:?}", t.text());
        t.master.write_all(b"busybox stty size\n").unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    // Job control works: the shell has the terminal as its controlling terminal.
    t.master.write_all(b"exit 7\n").unwrap();
    assert_eq!(t.wait(), 7);
}

#[test]
fn detached_tty_is_logged() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let id = env.ok(&[
        "run",
        "-d",
        "-t",
        "bb:1",
        "sh",
        "-c",
        "busybox tty; echo to-stderr >&2",
    ]);
    let id = id.trim();
    assert_eq!(env.ok(&["wait", id]).trim(), "0");
    let out = env.run(&["logs", id]);
    let text = String::from_utf8_lossy(&out.stdout);
    // One terminal carries both streams, all of it on stdout.
    assert!(text.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(text.contains("to-stderr\r\n"), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    env.ok(&["rm", id]);
}
