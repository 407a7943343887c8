//! `berth wait --condition not-running|next-exit|removed`, end to end as root with real
//! containers. Every `wait` runs with a deadline: a wait that never returns fails the test.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox};

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

/// `berth wait ARGS` in the background.
fn spawn(env: &Env, args: &[&str]) -> Child {
    let mut all = vec!["wait"];
    all.extend_from_slice(args);
    env.cmd(&all)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Its output once it ends; killed, and the test failed, after 20 s.
fn finish(mut child: Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth wait did not return within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "berth wait failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// It is still waiting after a while (it did not return at once).
fn still_waiting(child: &mut Child) {
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "wait returned before the condition"
    );
}

#[test]
fn not_running_returns_at_once_for_a_stopped_container() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _ = env.run(&["run", "--name", "w1", "bb:1", "sh", "-c", "exit 3"]);
    assert_eq!(finish(spawn(&env, &["w1"])), "3\n");
    assert_eq!(
        finish(spawn(&env, &["--condition", "not-running", "w1"])),
        "3\n"
    );
    let out = env.run(&["wait", "--condition", "bogus", "w1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid condition: \"bogus\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn next_exit_waits_for_the_next_exit_even_of_a_fast_restart() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let _cleanup = KillAll(&env);
    busybox(&env);
    // Stopped now: the next exit is the one after `start`, however fast it is.
    let _ = env.run(&["run", "--name", "w2", "bb:1", "sh", "-c", "exit 3"]);
    let mut waiting = spawn(&env, &["--condition", "next-exit", "w2"]);
    still_waiting(&mut waiting);
    env.ok(&["start", "w2"]);
    assert_eq!(finish(waiting), "3\n");

    // Running: its exit.
    env.ok(&["run", "-d", "--name", "w3", "bb:1", "sleep", "30"]);
    let mut waiting = spawn(&env, &["--condition", "next-exit", "w3"]);
    still_waiting(&mut waiting);
    env.ok(&["kill", "w3"]);
    assert_eq!(finish(waiting), "137\n");

    // Several in a row, each started as soon as the wait is: none is missed.
    for _ in 0..3 {
        let mut waiting = spawn(&env, &["--condition", "next-exit", "w2"]);
        std::thread::sleep(Duration::from_millis(300));
        assert!(waiting.try_wait().unwrap().is_none());
        env.ok(&["start", "w2"]);
        assert_eq!(finish(waiting), "3\n");
    }
}

#[test]
fn removed_waits_for_the_removal_and_prints_the_last_exit_code() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let _cleanup = KillAll(&env);
    busybox(&env);
    let _ = env.run(&["run", "--name", "w4", "bb:1", "sh", "-c", "exit 5"]);
    let mut waiting = spawn(&env, &["--condition", "removed", "w4"]);
    still_waiting(&mut waiting);
    env.ok(&["rm", "w4"]);
    assert_eq!(finish(waiting), "5\n");

    // A running container: through its exit to its removal.
    env.ok(&["run", "-d", "--name", "w5", "bb:1", "sleep", "30"]);
    let mut waiting = spawn(&env, &["--condition", "removed", "w5"]);
    still_waiting(&mut waiting);
    env.ok(&["kill", "w5"]);
    env.ok(&["wait", "w5"]);
    still_waiting(&mut waiting);
    env.ok(&["rm", "w5"]);
    assert_eq!(finish(waiting), "137\n");
}
