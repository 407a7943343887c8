//! `berth run -i` and `-t` as root: stdin only with `-i`, a real pseudo-terminal with `-t`
//! (the caller's window size, resizes forwarded, the exit code kept), driven from a pty this
//! test opens, as a user's terminal would.

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{busybox, needs_busybox};
use common::terminal::{OnTerminal, resize};

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
            "busybox tty; busybox stty size; [ -t 0 ] && echo stdin-tty; echo term=$TERM; exit 3",
        ],
        40,
        100,
    );
    // All of the output before looking at it: it arrives as the container writes it.
    t.expect("40 100");
    t.expect("stdin-tty");
    // Docker's TERM with -t (issue 11).
    t.expect("term=xterm");
    let text = t.text();
    let code = t.wait();
    assert!(text.contains("/dev/pts/0"), "{text:?}");
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
        "busybox tty; echo to-stderr >&2; echo term=$TERM",
    ]);
    let id = id.trim();
    assert_eq!(env.ok(&["wait", id]).trim(), "0");
    let out = env.run(&["logs", id]);
    let text = String::from_utf8_lossy(&out.stdout);
    // One terminal carries both streams, all of it on stdout.
    assert!(text.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(text.contains("to-stderr\r\n"), "{out:?}");
    assert!(text.contains("term=xterm\r\n"), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    env.ok(&["rm", id]);
}

/// `-t` with an external runtime: the runtime makes the terminal (in the container's devpts)
/// and sends its master to berth's console socket, which relays it; the size, input and exit
/// code are the same as with berth's engine.
#[test]
fn tty_with_external_runtimes() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    for runtime in ["runc", "crun"] {
        if !common::require_tool(runtime) {
            continue;
        }
        let t = OnTerminal::start(
            &env,
            &[
                "run",
                "--rm",
                "-t",
                "--runtime",
                runtime,
                "bb:1",
                "sh",
                "-c",
                "busybox tty; busybox stty size; exit 3",
            ],
            40,
            100,
        );
        t.expect("40 100");
        let text = t.text();
        assert_eq!(t.wait(), 3, "{runtime}: {text:?}");
        assert!(text.contains("/dev/pts/0"), "{runtime}: {text:?}");
        let mut t = OnTerminal::start(
            &env,
            &["run", "--rm", "-it", "--runtime", runtime, "bb:1", "sh"],
            24,
            80,
        );
        t.master.write_all(b"echo $((6 * 7))x\n").unwrap();
        t.expect("42x");
        t.master.write_all(b"exit 7\n").unwrap();
        assert_eq!(t.wait(), 7, "{runtime}");
        // Detached: the monitor relays the terminal into the log.
        let id = env.ok(&[
            "run",
            "-d",
            "-t",
            "--runtime",
            runtime,
            "bb:1",
            "sh",
            "-c",
            "busybox tty; exit 5",
        ]);
        let id = id.trim();
        assert_eq!(env.ok(&["wait", id]).trim(), "5", "{runtime}");
        let logs = env.ok(&["logs", id]);
        assert!(logs.contains("/dev/pts/0\r\n"), "{runtime}: {logs:?}");
        env.ok(&["rm", id]);
    }
}
