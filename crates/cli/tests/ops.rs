//! Container inspection and control end to end, as root: `top`, `stats --no-stream`, `pause`
//! and `unpause` (the cgroup freezer), `ps` and `stop` of a paused container, and `rename`
//! with Docker's name rules and errors.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox, ps_row};

/// `berth ARGS`, which must fail: its stderr.
fn fails(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn top_and_stats_show_the_container() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _guard = KillAll(&env);
    env.ok(&[
        "run", "-d", "--name", "sleeper", "-m", "64m", "bb:1", "sleep", "300",
    ]);
    let pid = env.inspect("sleeper")["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0);

    // top: Docker's `ps -ef` columns, the container's sleep with its host pid.
    let top = env.ok(&["top", "sleeper"]);
    let mut lines = top.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert_eq!(rows[0][1], pid.to_string(), "{top}");
    assert_eq!(rows[0][7..], ["sleep", "300"], "{top}");
    // ps options pass through; `container top` is the same command.
    let top = env.ok(&["container", "top", "sleeper", "-o", "pid,comm"]);
    assert_eq!(
        top.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [pid.to_string().as_str(), "sleep"]
    );

    // stats: the -m limit and at least one pid.
    let stats = env.ok(&["stats", "--no-stream"]);
    let header = stats.lines().next().unwrap();
    for title in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
    ] {
        assert!(header.contains(title), "{stats}");
    }
    let row = stats.lines().find(|l| l.contains("sleeper")).unwrap();
    assert!(row.contains(" / 64MiB"), "{stats}");
    let pids: u64 = row.split_whitespace().last().unwrap().parse().unwrap();
    assert!(pids >= 1, "{stats}");
    let json: serde_json::Value = serde_json::from_str(
        env.ok(&["stats", "--no-stream", "--format", "json", "sleeper"])
            .trim(),
    )
    .unwrap();
    assert_eq!(json["Name"], "sleeper");
    assert!(
        json["MemUsage"].as_str().unwrap().ends_with(" / 64MiB"),
        "{json}"
    );
    assert!(json["CPUPerc"].as_str().unwrap().ends_with('%'), "{json}");
    assert_ne!(json["PIDs"], "0", "{json}");

    // Not running: top refuses, stats shows zeros.
    env.ok(&["kill", "sleeper"]);
    env.ok(&["wait", "sleeper"]);
    assert!(fails(&env, &["top", "sleeper"]).contains("is not running"));
    assert!(fails(&env, &["top", "nosuch"]).contains("No such container"));
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _guard = KillAll(&env);
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let volume = format!("{}:/out", out.display());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "-v",
        &volume,
        "bb:1",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done",
    ]);
    let count = || -> u64 {
        std::fs::read_to_string(out.join("n"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    eventually("the counter runs", || count() > 2);

    // unpause of a running container is an error, as in Docker.
    assert!(fails(&env, &["unpause", "counter"]).contains("is not paused"));
    assert_eq!(env.ok(&["pause", "counter"]).trim(), "counter");
    let frozen = count();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(), frozen, "the counter advanced while paused");
    assert!(
        ps_row(&env, "counter").contains("(Paused)"),
        "{}",
        ps_row(&env, "counter")
    );
    assert!(fails(&env, &["pause", "counter"]).contains("already paused"));
    let inspect = env.inspect("counter");
    assert_eq!(inspect["State"]["Status"], "paused");
    assert_eq!(inspect["State"]["Paused"], true);
    let exec = fails(&env, &["exec", "counter", "echo", "hi"]);
    assert!(exec.contains("is paused"), "{exec}");
    // Still listed as running (Docker's ps lists paused containers).
    assert!(env.ok(&["ps"]).contains("counter"));

    assert_eq!(env.ok(&["unpause", "counter"]).trim(), "counter");
    eventually("the counter advances after unpause", || count() > frozen);
    assert!(!ps_row(&env, "counter").contains("Paused"));

    // stop of a paused container works (sh as pid 1 ignores SIGTERM: SIGKILL after -t 1).
    env.ok(&["container", "pause", "counter"]);
    env.ok(&["stop", "-t", "1", "counter"]);
    let row = ps_row(&env, "counter");
    assert!(row.contains("Exited (137)"), "{row}");
    assert!(fails(&env, &["pause", "counter"]).contains("is not running"));
    assert!(fails(&env, &["unpause", "counter"]).contains("is not paused"));

    // kill of a paused container works too (the frozen task is thawed so that it dies).
    env.ok(&["run", "-d", "--name", "frozen", "bb:1", "sleep", "300"]);
    env.ok(&["pause", "frozen"]);
    env.ok(&["kill", "frozen"]);
    assert_eq!(env.ok(&["wait", "frozen"]).trim(), "137");
    // And a restarted container is not paused any more.
    env.ok(&["start", "frozen"]);
    assert!(!ps_row(&env, "frozen").contains("Paused"));
    env.ok(&["pause", "frozen"]);
    env.ok(&["rm", "-f", "frozen"]);
    assert!(ps_row(&env, "frozen").is_empty());
}

#[test]
fn rename_follows_dockers_rules() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _guard = KillAll(&env);
    env.ok(&["run", "-d", "--name", "first", "bb:1", "sleep", "300"]);
    env.ok(&["run", "--name", "second", "bb:1", "echo", "hi"]);
    let id = env.inspect("first")["Id"].as_str().unwrap().to_string();

    // A running container, by name; then by id prefix, with a leading slash.
    assert_eq!(env.ok(&["rename", "first", "renamed"]), "");
    assert_eq!(env.inspect("renamed")["Name"], "/renamed");
    assert!(ps_row(&env, "renamed").starts_with(&id[..12]));
    env.ok(&["container", "rename", &id[..8], "/web.1_a-b"]);
    assert_eq!(env.inspect(&id)["Name"], "/web.1_a-b");
    // The old name is free again.
    env.ok(&["rename", "second", "first"]);

    let err = fails(&env, &["rename", "web.1_a-b", "first"]);
    let second = env.inspect("first")["Id"].as_str().unwrap().to_string();
    assert!(
        err.contains("Conflict. The container name \"/first\" is already in use by container")
            && err.contains(&second),
        "{err}"
    );
    for bad in ["_x", ".x", "a", "with space", "sl/ash", "dollar$"] {
        let err = fails(&env, &["rename", "first", bad]);
        assert!(err.contains("Invalid container name"), "{bad}: {err}");
    }
    assert!(fails(&env, &["rename", "first", "first"]).contains("same name as its current name"));
    assert!(fails(&env, &["rename", "first", ""]).contains("may be empty"));
    assert!(fails(&env, &["rename", "nosuch", "other"]).contains("No such container"));
    assert_eq!(env.inspect(&id)["Name"], "/web.1_a-b", "unchanged");
}
