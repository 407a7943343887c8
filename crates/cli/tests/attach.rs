//! `berth attach` to detached containers, as root with real containers: the live output
//! (stdout and stderr apart), stdin with `-i`, a terminal with `-t`, the detach keys, signals
//! proxied, the exit code, and Docker's refusals. Every berth process is killed after 20 s.

mod common;

use std::io::Write as _;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox, ps_row};
use common::terminal::OnTerminal;

const DEADLINE: Duration = Duration::from_secs(20);

/// A `berth attach` (or any berth) process, its output collected, killed when dropped.
struct Attached {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

fn collect(mut from: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let s = sink.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    sink
}

impl Attached {
    /// `berth ARGS`, with a pipe for stdin when `input`, else none.
    fn start(env: &Env, args: &[&str], input: bool) -> Attached {
        let mut child = env
            .cmd(args)
            .stdin(if input { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Attached {
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    fn out(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn err(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    fn write(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    /// Wait until stdout contains `needle`.
    fn expect(&self, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.out().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {:?} (stderr {:?})",
                self.out(),
                self.err()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its exit code, once its output is all read.
    fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "berth did not exit; stdout {:?} stderr {:?}",
                    self.out(),
                    self.err()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup() -> Option<Env> {
    if !needs_busybox() {
        return None;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    Some(env)
}

#[test]
fn attach_streams_output_apart_and_exits_with_the_code() {
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    let id = env.ok(&[
        "run",
        "-d",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; echo out; echo err >&2; sleep 1; exit 5",
    ]);
    let id = id.trim();
    let mut a = Attached::start(&env, &["attach", id], false);
    assert_eq!(a.wait(), 5, "stdout {:?} stderr {:?}", a.out(), a.err());
    assert_eq!(a.out(), "out\n");
    assert_eq!(a.err(), "err\n");
    // The log has had it all too.
    let logs = env.run(&["logs", id]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "err\n");
    // `container attach` is the same command; the container has exited now.
    let out = env.run(&["container", "attach", id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("You cannot attach to a stopped container, start it first"),
        "{out:?}"
    );
}

#[test]
fn attach_forwards_stdin_and_detaches_with_the_keys() {
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    env.ok(&["run", "-d", "-i", "--name", "att-cat", "bb:1", "cat"]);
    let mut a = Attached::start(&env, &["attach", "att-cat"], true);
    a.write(b"hello\n");
    a.expect("hello\n");
    // A second client at once, without stdin, sees the same output once connected.
    let b = Attached::start(&env, &["attach", "--no-stdin", "att-cat"], false);
    let deadline = Instant::now() + DEADLINE;
    while !b.out().contains("ping") {
        assert!(Instant::now() < deadline, "b got nothing: {:?}", b.err());
        a.write(b"ping\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A partial detach sequence followed by something else is forwarded as it is.
    a.write(b"x\x10y\n");
    a.expect("x\x10y\n");
    b.expect("x\x10y\n");
    // The whole sequence: attach leaves, as Docker's, the container keeps running.
    a.write(b"\x10\x11");
    assert_eq!(a.wait(), 1, "{:?}", a.err());
    assert!(a.err().contains("read escape sequence"), "{:?}", a.err());
    assert!(
        ps_row(&env, "att-cat").contains("Up"),
        "{}",
        env.ok(&["ps", "-a"])
    );
    // The other client is still attached; a new one works too.
    let mut c = Attached::start(&env, &["attach", "att-cat"], true);
    c.write(b"again\n");
    c.expect("again\n");
    b.expect("again\n");
    // The log received everything while clients were attached.
    let logs = env.ok(&["logs", "att-cat"]);
    assert!(logs.starts_with("hello\nping\n"), "{logs:?}");
    assert!(logs.contains("x\x10y\nagain\n"), "{logs:?}");
    // The container's end ends every attach, with its code.
    env.ok(&["kill", "att-cat"]);
    assert_eq!(c.wait(), 137);
    let mut b = b;
    assert_eq!(b.wait(), 137);
}

#[test]
fn attach_custom_detach_keys() {
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    env.ok(&["run", "-d", "-i", "--name", "att-keys", "bb:1", "cat"]);
    let mut a = Attached::start(
        &env,
        &["attach", "--detach-keys", "ctrl-a", "att-keys"],
        true,
    );
    // ctrl-p ctrl-q is no longer special.
    a.write(b"one\x10\x11two\n");
    a.expect("one\x10\x11two\n");
    a.write(b"\x01");
    assert_eq!(a.wait(), 1, "{:?}", a.err());
    assert!(a.err().contains("read escape sequence"), "{:?}", a.err());
    assert!(ps_row(&env, "att-keys").contains("Up"));
    // Bad keys are refused as Docker does.
    let out = env.run(&["attach", "--detach-keys", "ctrl-", "att-keys"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Invalid detach keys"),
        "{out:?}"
    );
}

#[test]
fn attach_to_a_terminal() {
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    env.ok(&["run", "-d", "-it", "--name", "att-tty", "bb:1", "sh"]);
    let mut t = OnTerminal::start(&env, &["attach", "att-tty"], 30, 90);
    t.master.write_all(b"echo $TERM\r").unwrap();
    t.expect("xterm");
    // The container's terminal has this one's size.
    t.master.write_all(b"busybox stty size\r").unwrap();
    t.expect("30 90");
    t.master.write_all(&[0x10, 0x11]).unwrap();
    let text = t.text();
    assert_eq!(t.wait(), 1, "{text:?}");
    assert!(ps_row(&env, "att-tty").contains("Up"));
    // Again, then the shell's exit ends the attach with its code.
    let mut t = OnTerminal::start(&env, &["attach", "att-tty"], 24, 80);
    t.master.write_all(b"echo again-$((40 + 2))\r").unwrap();
    t.expect("again-42");
    t.master.write_all(b"exit 3\r").unwrap();
    assert_eq!(t.wait(), 3);
    // Its input must be a terminal, as Docker's.
    env.ok(&["run", "-d", "-it", "--name", "att-tty2", "bb:1", "sh"]);
    let out = env.run(&["attach", "att-tty2"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the input device is not a TTY"),
        "{out:?}"
    );
}

#[test]
fn attach_proxies_signals() {
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    let id = env.ok(&[
        "run",
        "-d",
        "bb:1",
        "sh",
        "-c",
        "trap 'echo got-int; exit 7' INT; while :; do echo tick; sleep 0.2; done",
    ]);
    let mut a = Attached::start(&env, &["attach", id.trim()], false);
    a.expect("tick");
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(a.child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(a.wait(), 7, "{:?} {:?}", a.out(), a.err());
    assert!(a.out().contains("got-int"), "{:?}", a.out());
}

#[test]
fn attach_refuses_stopped_and_paused_containers() {
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    env.ok(&["run", "-d", "--name", "att-p", "bb:1", "sleep", "100"]);
    env.ok(&["pause", "att-p"]);
    let out = env.run(&["attach", "att-p"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("You cannot attach to a paused container, unpause it first"),
        "{out:?}"
    );
    env.ok(&["unpause", "att-p"]);
    env.ok(&["kill", "att-p"]);
    env.ok(&["wait", "att-p"]);
    let out = env.run(&["attach", "att-p"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("You cannot attach to a stopped container, start it first"),
        "{out:?}"
    );
    // Its socket went with its monitor.
    assert!(
        !std::fs::read_dir(env.root().join("containers/v1"))
            .unwrap()
            .flatten()
            .any(|d| d.path().join("attach.sock").exists())
    );
    env.ok(&["create", "--name", "att-new", "bb:1", "true"]);
    let out = env.run(&["attach", "att-new"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("You cannot attach to a stopped container, start it first"),
        "{out:?}"
    );
}

#[test]
fn a_client_that_does_not_read_blocks_nothing() {
    use std::os::fd::AsRawFd as _;
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    let id = env.ok(&[
        "run",
        "-d",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; busybox seq 400000",
    ]);
    let id = id.trim();
    // A client of the socket itself that never reads what it is sent (the path is too long
    // for a socket address: through the directory's descriptor).
    let sock = env
        .root()
        .join("containers/v1")
        .join(id)
        .join("attach.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let dir = std::fs::File::open(env.root().join("containers/v1").join(id)).unwrap();
    let path = format!("/proc/self/fd/{}/attach.sock", dir.as_raw_fd());
    let mut stuck = std::os::unix::net::UnixStream::connect(path).unwrap();
    let mut wait = Attached::start(&env, &["wait", id], false);
    assert_eq!(wait.wait(), 0, "{:?}", wait.err());
    assert_eq!(wait.out().trim(), "0");
    let logs = env.ok(&["logs", id]);
    assert_eq!(logs.lines().count(), 400000);
    assert!(logs.ends_with("\n400000\n"));
    // What the client was sent, read now: frames (the last maybe cut), less than all the
    // output (the rest was dropped for it, not waited for).
    let mut got = Vec::new();
    stuck
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = std::io::Read::read_to_end(&mut stuck, &mut got);
    let mut at = 0;
    let mut data = 0;
    while at + 8 <= got.len() {
        assert_eq!(&got[at..at + 4], &[1, 0, 0, 0]);
        let len = u32::from_be_bytes(got[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 8 + len;
        data += len;
    }
    assert!(at >= got.len());
    eprintln!("the client got {data} bytes of {}", logs.len());
    assert!(data < logs.len());
}

#[test]
fn attach_gets_all_of_a_long_output() {
    let Some(env) = setup() else { return };
    let _k = KillAll(&env);
    let id = env.ok(&[
        "run",
        "-d",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; busybox seq 100000",
    ]);
    let mut a = Attached::start(&env, &["attach", id.trim()], false);
    assert_eq!(a.wait(), 0, "{:?}", a.err());
    let out = a.out();
    assert_eq!(out.lines().count(), 100000, "{:?}", &out[out.len() - 100..]);
    assert!(out.ends_with("\n100000\n"));
}
