//! `berth exec` end to end, as root, and `berth run --init`: the exec'd process joins the
//! running container's namespaces, cgroups, environment, user and capabilities; exit codes
//! propagate (126/127 when the command cannot run); stopped containers are refused; `-t`
//! gives the command a terminal of the container's devpts, driven from a pty this test opens.

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{busybox, needs_busybox};
use common::terminal::OnTerminal;

/// A busybox container `name` running in the background with a hostname, an environment
/// variable, a memory limit (so it has cgroups of its own) and a file it created.
fn running(env: &Env, name: &str) {
    env.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        "exechost",
        "-e",
        "FOO=bar",
        "-m",
        "64m",
        "bb:1",
        "sh",
        "-c",
        "echo made > /made; sleep 60",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.run(&["exec", name, "cat", "/made"]).status.code() != Some(0) {
        assert!(
            Instant::now() < deadline,
            "container {name} never made /made"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exec_joins_the_container() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    running(&env, "x1");
    // The container's pid namespace: pid 1 is its command.
    let ps = env.ok(&["exec", "x1", "ps"]);
    let first = ps.lines().nth(1).unwrap_or_default();
    assert!(
        first.trim_start().starts_with("1 ") && first.contains("sleep 60"),
        "{ps}"
    );
    assert_eq!(env.ok(&["exec", "x1", "hostname"]).trim(), "exechost");
    assert_eq!(env.ok(&["exec", "x1", "cat", "/made"]).trim(), "made");
    // Its environment, plus -e; its working directory unless -w.
    let out = env.ok(&["exec", "-e", "X=1", "x1", "sh", "-c", "echo $FOO $X; pwd"]);
    assert_eq!(out, "bar 1\n/\n");
    assert_eq!(
        env.ok(&["exec", "-w", "/bin", "x1", "sh", "-c", "pwd"])
            .trim(),
        "/bin"
    );
    // Its user unless -u.
    assert_eq!(env.ok(&["exec", "x1", "id", "-u"]).trim(), "0");
    assert_eq!(
        env.ok(&["exec", "-u", "1000", "x1", "id", "-u"]).trim(),
        "1000"
    );
    // Its cgroups and capabilities.
    let out = env.ok(&[
        "exec",
        "x1",
        "sh",
        "-c",
        "cat /proc/1/cgroup; echo --; cat /proc/self/cgroup; echo --; \
         grep CapEff /proc/1/status; echo --; grep CapEff /proc/self/status",
    ]);
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    assert_eq!(parts[0], parts[1], "same cgroups");
    assert_eq!(parts[2], parts[3], "same capabilities");
    // Host side: the container's memory cgroup (v1 here) holds the exec'd process too.
    let short = env.ok(&["ps", "-q"]).trim().to_string();
    let dir = std::fs::read_dir("/sys/fs/cgroup/memory/berth")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&short));
    if let Some(dir) = dir {
        let mut sleeper = env.cmd(&["exec", "x1", "sleep", "5"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert_eq!(procs.lines().count(), 2, "{procs}");
    }
    // stdin is inherited.
    assert_eq!(env.ok_stdin(&["exec", "-i", "x1", "cat"], "hi\n"), "hi\n");
    env.ok(&["rm", "-f", "x1"]);
}

#[test]
fn exec_exit_codes_detach_and_stopped_containers() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    running(&env, "x2");
    let code = |args: &[&str]| env.run(args).status.code();
    assert_eq!(code(&["exec", "x2", "sh", "-c", "exit 3"]), Some(3));
    let missing = env.run(&["exec", "x2", "nope"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope"));
    assert_eq!(code(&["exec", "x2", "/etc"]), Some(126));
    // -d: nothing printed, the command runs on.
    let out = env.run(&["exec", "-d", "x2", "sh", "-c", "sleep 0.2; echo bg > /bg"]);
    assert!(out.status.success() && out.stdout.is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while code(&["exec", "x2", "cat", "/bg"]) != Some(0) {
        assert!(Instant::now() < deadline, "the detached command never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A stopped container: one clear line, exit code 1.
    env.ok(&["stop", "-t", "1", "x2"]);
    let out = env.run(&["exec", "x2", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "berth: error: container x2 is not running"
    );
    env.ok(&["rm", "-f", "x2"]);
}

#[test]
fn init_is_pid_1_reaps_and_passes_the_exit_code() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let ps = env.ok(&["run", "--rm", "--init", "bb:1", "ps"]);
    let first = ps.lines().nth(1).unwrap_or_default();
    assert!(
        first.trim_start().starts_with("1 ") && first.contains("init"),
        "{ps}"
    );
    let second = ps.lines().nth(2).unwrap_or_default();
    assert!(second.trim_start().starts_with("2 "), "{ps}");
    // The program's exit ends the container at once, background processes or not.
    let started = Instant::now();
    let out = env.run(&[
        "run",
        "--rm",
        "--init",
        "bb:1",
        "sh",
        "-c",
        "sleep 100 & exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5));
    assert!(started.elapsed() < Duration::from_secs(10));
    // A signal sent to the container reaches the program through the init.
    env.ok(&["run", "-d", "--name", "i1", "--init", "bb:1", "sleep", "60"]);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    env.ok(&["stop", "-t", "5", "i1"]);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "SIGTERM forwarded"
    );
    assert_eq!(env.ok(&["wait", "i1"]).trim(), "143");
    env.ok(&["rm", "i1"]);
}

#[test]
fn exec_tty_gets_a_terminal_with_the_callers_size() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    running(&env, "xt1");
    let t = OnTerminal::start(
        &env,
        &[
            "exec",
            "-t",
            "xt1",
            "sh",
            "-c",
            "busybox tty; busybox stty size; [ -t 0 ] && echo stdin-tty; echo env-$FOO; exit 4",
        ],
        33,
        91,
    );
    t.expect("env-bar");
    let text = t.text();
    assert_eq!(t.wait(), 4, "{text:?}");
    // A terminal of the container's own devpts (its first process has none: /dev/pts/0);
    // lines end in CR LF from that terminal (this one, not raw without -i, adds a CR).
    assert!(text.contains("/dev/pts/0\r"), "{text:?}");
    assert!(text.contains("33 91\r"), "{text:?}");
    assert!(text.contains("stdin-tty"), "{text:?}");
    env.ok(&["rm", "-f", "xt1"]);
}

#[test]
fn exec_interactive_tty_follows_input_and_exits_with_its_code() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    running(&env, "xt2");
    let mut t = OnTerminal::start(&env, &["exec", "-it", "xt2", "sh"], 24, 80);
    t.master
        .write_all(b"echo $((6 * 7))x; cat /made\n")
        .unwrap();
    t.expect("42x");
    t.expect("made");
    // The shell's terminal is its controlling terminal: job control is on, `tty` names it.
    t.master.write_all(b"busybox tty; exit 9\n").unwrap();
    t.expect("/dev/pts/");
    let text = t.text();
    assert_eq!(t.wait(), 9, "{text:?}");
    // The container runs on.
    assert_eq!(env.ok(&["exec", "xt2", "cat", "/made"]).trim(), "made");
    env.ok(&["rm", "-f", "xt2"]);
}

/// `exec -t` through an external runtime: it makes the terminal and berth relays it.
#[test]
fn exec_tty_with_external_runtimes() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    for runtime in ["runc", "crun"] {
        if !common::require_tool(runtime) {
            continue;
        }
        let name = format!("xt-{runtime}");
        env.ok(&[
            "run",
            "-d",
            "--runtime",
            runtime,
            "--name",
            &name,
            "bb:1",
            "sleep",
            "60",
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while env.run(&["exec", &name, "sh", "-c", ":"]).status.code() != Some(0) {
            assert!(Instant::now() < deadline, "{runtime}: {name} never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        let t = OnTerminal::start(
            &env,
            &[
                "exec",
                "-t",
                &name,
                "sh",
                "-c",
                "busybox tty; busybox stty size; exit 4",
            ],
            33,
            91,
        );
        t.expect("33 91");
        let text = t.text();
        assert_eq!(t.wait(), 4, "{runtime}: {text:?}");
        assert!(text.contains("/dev/pts/"), "{runtime}: {text:?}");
        let mut t = OnTerminal::start(&env, &["exec", "-it", &name, "sh"], 24, 80);
        t.master.write_all(b"echo $((6 * 7))x\n").unwrap();
        t.expect("42x");
        t.master.write_all(b"exit 9\n").unwrap();
        assert_eq!(t.wait(), 9, "{runtime}");
        env.ok(&["rm", "-f", &name]);
    }
}
