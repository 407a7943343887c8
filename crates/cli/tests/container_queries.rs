//! Questions asked of containers: `berth wait --condition not-running|next-exit|removed` (the
//! Engine API's conditions) and `ps --filter volume=` (as root: it runs containers).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{busybox, needs_busybox};

/// `berth wait` started in the background; its output once it ends.
fn spawn_wait(env: &Env, args: &[&str]) -> std::process::Child {
    env.cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn still_waiting(child: &mut std::process::Child, for_: Duration) -> bool {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn finish(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn wait_conditions() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);

    // not-running (the default): an exited container answers at once.
    let _ = env.run(&["run", "--name", "w2", "bb:1", "sh", "-c", "exit 4"]);
    assert_eq!(env.ok(&["wait", "w2"]), "4\n");
    assert_eq!(env.ok(&["wait", "--condition", "not-running", "w2"]), "4\n");

    // next-exit: not the exit that already happened, the one after the next start.
    let mut next = spawn_wait(&env, &["wait", "--condition", "next-exit", "w2"]);
    assert!(still_waiting(&mut next, Duration::from_millis(600)), "returned before a start");
    env.ok(&["start", "w2"]);
    assert_eq!(finish(next), "4\n");

    // removed: still waiting after the exit, answers once the container is gone.
    env.ok(&["run", "-d", "--name", "w1", "bb:1", "sh", "-c", "sleep 60"]);
    let mut removed = spawn_wait(&env, &["wait", "--condition", "removed", "w1"]);
    env.ok(&["kill", "w1"]);
    assert_eq!(env.ok(&["wait", "w1"]), "137\n");
    assert!(still_waiting(&mut removed, Duration::from_millis(600)), "returned before the removal");
    env.ok(&["rm", "w1"]);
    assert_eq!(finish(removed), "137\n");

    let bad = env.run(&["wait", "--condition", "forever", "w2"]);
    assert!(!bad.status.success());
    env.ok(&["rm", "w2"]);
}

#[test]
fn ps_filters_by_volume_name_or_destination() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    env.ok(&["volume", "create", "vdata"]);
    let _ = env.run(&["run", "--name", "pv1", "-v", "vdata:/data", "bb:1", "true"]);
    let _ = env.run(&["run", "--name", "pv2", "bb:1", "true"]);
    let names = |f: &str| env.ok(&["ps", "-a", "--filter", f, "--format", "{{.Names}}"]);
    assert_eq!(names("volume=vdata"), "pv1\n");
    assert_eq!(names("volume=/data"), "pv1\n");
    assert_eq!(names("volume=nothing"), "");
    env.ok(&["rm", "pv1", "pv2"]);
}
