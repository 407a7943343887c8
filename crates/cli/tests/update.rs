//! `berth update`: resources of a running container changed in its cgroups (read from the
//! host) and its record; a restart policy that takes effect at the next exit; docker's
//! refusals.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox};

/// The value of cgroup file `v1` (in controller `controller`) or `v2` of process `pid`.
fn cgroup_value(pid: i64, controller: &str, v1: &str, v2: &str) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    cgroups
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let file = if controllers.split(',').any(|c| c == controller) {
                format!("/sys/fs/cgroup/{controllers}{path}/{v1}")
            } else if controllers.is_empty() {
                format!("/sys/fs/cgroup{path}/{v2}")
            } else {
                return None;
            };
            std::fs::read_to_string(file).ok()
        })
        .unwrap_or_else(|| panic!("no {controller} file for {cgroups}"))
        .trim()
        .to_string()
}

#[test]
fn resources_change_live_and_in_the_record() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "u",
        "-m",
        "64m",
        "--pids-limit",
        "20",
        "bb:1",
        "sleep",
        "60",
    ]);
    let pid = env.inspect("u")["State"]["Pid"].as_i64().unwrap();
    let mem = || cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(mem(), (64u64 << 20).to_string());
    env.ok(&[
        "update",
        "-m",
        "128m",
        "--memory-swap",
        "256m",
        "--pids-limit",
        "50",
        "--cpu-shares",
        "256",
        "u",
    ]);
    assert_eq!(mem(), (128u64 << 20).to_string());
    assert_eq!(cgroup_value(pid, "pids", "pids.max", "pids.max"), "50");
    let shares = cgroup_value(pid, "cpu", "cpu.shares", "cpu.weight");
    assert!(["256", "10"].contains(&shares.as_str()), "{shares}");
    let host = &env.inspect("u")["HostConfig"];
    assert_eq!(host["Memory"], 128 << 20);
    assert_eq!(host["MemorySwap"], 256 << 20);
    assert_eq!(host["PidsLimit"], 50);
    assert_eq!(host["CpuShares"], 256);
    let events = env.ok(&[
        "events",
        "--filter",
        "container=u",
        "--filter",
        "event=update",
    ]);
    assert_eq!(events.lines().count(), 1, "{events}");

    // Docker's refusals, one line each, nothing changed.
    for (args, says) in [
        (
            &["update", "--memory-reservation", "512m", "u"][..],
            "memory reservation",
        ),
        (&["update", "--memory-swap", "64m", "u"], "memoryswap"),
        (&["update", "--restart", "sometimes", "u"], "restart policy"),
    ] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(mem(), (128u64 << 20).to_string());
    env.ok(&["run", "-d", "--rm", "--name", "gone", "bb:1", "sleep", "60"]);
    let out = env.run(&["update", "--restart", "always", "gone"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("AutoRemove"));
}

#[test]
fn a_new_restart_policy_holds_from_the_next_exit() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    env.ok(&["update", "--restart", "on-failure:2", "r"]);
    assert_eq!(
        env.inspect("r")["HostConfig"]["RestartPolicy"]["Name"],
        "on-failure"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = env.inspect("r");
        if c["RestartCount"] == 2 && c["State"]["Status"] == "exited" {
            assert_eq!(c["State"]["ExitCode"], 3);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not restarted twice: {}",
            c["State"]
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
