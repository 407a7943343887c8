//! `run --restart` end to end, as root: the monitor runs a detached container again as its
//! policy says (`on-failure[:N]`, `always`, `no`), counts the restarts in `inspect`, and a
//! `stop` by the user ends it for good; `--restart` with `--rm` is refused.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::containers::{busybox, needs_busybox};

/// Kills what a failed test left running.
struct StopAll<'a>(&'a Env);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        for id in self.0.ok(&["ps", "-aq"]).lines() {
            let _ = self.0.run(&["stop", "-t", "0", id]);
        }
    }
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn restarts(env: &Env, name: &str) -> i64 {
    env.inspect(name)["RestartCount"].as_i64().unwrap()
}

#[test]
fn on_failure_restarts_at_most_n_times() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = StopAll(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "f",
        "--restart",
        "on-failure:2",
        "bb:1",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    eventually("two restarts, then exited for good", || {
        let c = env.inspect("f");
        c["RestartCount"] == 2 && c["State"]["Status"] == "exited"
    });
    let c = env.inspect("f");
    assert_eq!(c["State"]["ExitCode"], 1);
    assert_eq!(
        c["HostConfig"]["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
    );
    // The monitor has finished: nothing more happens.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(restarts(&env, "f"), 2);
    assert_eq!(env.ok(&["logs", "f"]), "run\nrun\nrun\n");
    let row = env.ok(&["ps", "-a"]);
    assert!(row.contains("Exited (1)"), "{row}");
}

#[test]
fn always_restarts_until_stopped() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = StopAll(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "a",
        "--restart",
        "always",
        "bb:1",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    eventually("restarted twice", || restarts(&env, "a") >= 2);
    assert_eq!(
        env.inspect("a")["HostConfig"]["RestartPolicy"]["Name"],
        "always"
    );
    // A clean exit is restarted too; `ps` shows the wait between runs.
    let mut seen_restarting = false;
    eventually("shown restarting", || {
        let ps = env.ok(&["ps", "-a"]);
        seen_restarting |= ps.contains("Restarting (0)");
        seen_restarting
    });
    env.ok(&["stop", "-t", "1", "a"]);
    let stopped = restarts(&env, "a");
    std::thread::sleep(Duration::from_millis(1500));
    let c = env.inspect("a");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["RestartCount"], stopped, "not restarted after stop");
    // `start` clears the user's stop: the policy holds again.
    env.ok(&["start", "a"]);
    eventually("restarted after start", || restarts(&env, "a") >= 1);
    env.ok(&["rm", "-f", "a"]);
    assert!(!env.ok(&["ps", "-a"]).contains(" a\n"));
}

#[test]
fn no_policy_never_restarts() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = StopAll(&env);
    env.ok(&["run", "-d", "--name", "n", "bb:1", "sh", "-c", "exit 1"]);
    assert_eq!(env.ok(&["wait", "n"]).trim(), "1");
    std::thread::sleep(Duration::from_millis(600));
    let c = env.inspect("n");
    assert_eq!(
        (c["RestartCount"].as_i64(), c["State"]["Status"].as_str()),
        (Some(0), Some("exited"))
    );
    assert_eq!(
        c["HostConfig"]["RestartPolicy"],
        serde_json::json!({"Name": "no", "MaximumRetryCount": 0})
    );
}

#[test]
fn restart_with_rm_is_refused() {
    let env = Env::new("127.0.0.1:9");
    for args in [
        &["run", "--restart", "always", "--rm", "bb:1"][..],
        &["run", "--restart", "sometimes", "bb:1"],
        &["run", "--restart", "always:3", "bb:1"],
    ] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("restart"), "{args:?}: {err}");
    }
    let out = env.run(&["run", "--restart", "always", "--rm", "bb:1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Conflicting options: --restart and --rm")
    );
}
