//! `berth export` (a container's merged root filesystem as a tar) and `berth port` (its
//! published ports), end to end as root with real containers.

mod common;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{KillAll, busybox, busybox_with, needs_busybox};
use common::terminal::OnTerminal;

/// Whether the container tests can run here; under CI they must.
fn ready() -> bool {
    if needs_busybox() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI=true: this test needs root and /bin/busybox and must not skip"
    );
    false
}

/// A tar archive's entries: path (without `./`, `/`) → contents of regular files.
fn entries(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(tar);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let mut data = vec![];
        e.read_to_end(&mut data).unwrap();
        out.insert(path, data);
    }
    out
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn export_writes_the_merged_filesystem_of_stopped_and_running_containers() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let _cleanup = KillAll(&env);
    busybox_with(
        &env,
        "bb:x",
        &[("etc/gone", "bye\n"), ("etc/kept", "stay\n")],
    );
    // Stopped: a file created, an image file deleted (a whiteout in the upper directory).
    env.ok(&[
        "run",
        "--name",
        "ex1",
        "bb:x",
        "sh",
        "-c",
        "echo hi > /created && busybox rm /etc/gone",
    ]);
    let file = env.path("ex1.tar");
    assert_eq!(env.ok(&["export", "-o", file.to_str().unwrap(), "ex1"]), "");
    let listed = entries(&std::fs::read(&file).unwrap());
    assert_eq!(
        listed.get("created").map(Vec::as_slice),
        Some(&b"hi\n"[..]),
        "{:?}",
        listed.keys()
    );
    assert_eq!(
        listed.get("etc/kept").map(Vec::as_slice),
        Some(&b"stay\n"[..])
    );
    assert!(listed.contains_key("bin/busybox"), "{:?}", listed.keys());
    assert!(
        !listed.contains_key("etc/gone"),
        "deleted file exported: {:?}",
        listed.keys()
    );
    assert!(
        !listed.keys().any(|k| k.contains(".wh.")),
        "whiteouts exported: {:?}",
        listed.keys()
    );
    // To stdout, and as `container export`: the same tree.
    let out = env.run(&["container", "export", "ex1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let piped = entries(&out.stdout);
    assert_eq!(
        piped.keys().collect::<Vec<_>>(),
        listed.keys().collect::<Vec<_>>()
    );

    // The export imports as an image that runs.
    env.ok(&["import", file.to_str().unwrap(), "imp:1"]);
    assert_eq!(env.ok(&["run", "--rm", "imp:1", "cat", "/created"]), "hi\n");
    let out = env.run(&["run", "--rm", "imp:1", "cat", "/etc/gone"]);
    assert!(!out.status.success(), "the deleted file came back");

    // Running: its changes so far, read from the live overlay.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ex2",
        "bb:x",
        "sh",
        "-c",
        "echo r > /running && busybox rm /etc/kept && sleep 30",
    ]);
    let mut live = BTreeMap::new();
    eventually("the running container's changes", || {
        let out = env.run(&["export", "ex2"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        live = entries(&out.stdout);
        live.contains_key("running") && !live.contains_key("etc/kept")
    });
    assert_eq!(live.get("running").map(Vec::as_slice), Some(&b"r\n"[..]));
    assert!(live.contains_key("etc/gone"), "{:?}", live.keys());
    env.ok(&["kill", "ex2"]);
    env.ok(&["wait", "ex2"]);
    let out = env.run(&["export", "no-such-container"]);
    assert!(!out.status.success());
}

#[test]
fn export_refuses_a_terminal() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    env.ok(&["create", "--name", "ex3", "bb:1", "true"]);
    let tty = OnTerminal::start(&env, &["export", "ex3"], 24, 80);
    tty.expect("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    assert_ne!(tty.wait(), 0);
    // With -o, a terminal is fine; a never-started container exports its image's tree.
    let file = env.path("ex3.tar");
    let tty = OnTerminal::start(
        &env,
        &["export", "-o", file.to_str().unwrap(), "ex3"],
        24,
        80,
    );
    assert_eq!(tty.wait(), 0);
    assert!(entries(&std::fs::read(&file).unwrap()).contains_key("bin/sh"));
}

#[test]
fn port_lists_the_bindings_of_a_running_container() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let _cleanup = KillAll(&env);
    busybox(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "pt",
        "-p",
        "127.0.0.1:8080:80",
        "-p",
        "9090:90/udp",
        "bb:1",
        "sleep",
        "30",
    ]);
    assert_eq!(
        env.ok(&["port", "pt"]),
        "80/tcp -> 127.0.0.1:8080\n90/udp -> 0.0.0.0:9090\n90/udp -> [::]:9090\n"
    );
    assert_eq!(env.ok(&["port", "pt", "80"]), "127.0.0.1:8080\n");
    assert_eq!(env.ok(&["port", "pt", "80/tcp"]), "127.0.0.1:8080\n");
    assert_eq!(
        env.ok(&["container", "port", "pt", "90/udp"]),
        "0.0.0.0:9090\n[::]:9090\n"
    );
    let out = env.run(&["port", "pt", "81/tcp"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error: No public port '81/tcp' published for pt"),
        "{err}"
    );
    // 90 is published for udp only; the default protocol is tcp.
    assert!(!env.run(&["port", "pt", "90"]).status.success());
    // A container without bindings prints nothing.
    env.ok(&["run", "-d", "--name", "np", "bb:1", "sleep", "30"]);
    assert_eq!(env.ok(&["port", "np"]), "");
    // Stopped: nothing is published any more, as Docker shows it.
    env.ok(&["kill", "pt"]);
    env.ok(&["wait", "pt"]);
    assert_eq!(env.ok(&["port", "pt"]), "");
    let out = env.run(&["port", "pt", "80"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Error: No public port '80' published for pt")
    );
}
