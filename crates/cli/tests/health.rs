//! Health checks end to end: `--health-*` flags and an image's `HEALTHCHECK`, the states
//! Docker goes through (starting → healthy → unhealthy), `ps` and inspect showing them, and
//! the `health_status` events; `--no-healthcheck` turning the image's off.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox};

fn health(env: &Env, name: &str) -> serde_json::Value {
    env.inspect(name)["State"]["Health"].clone()
}

fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status_of(env: &Env, name: &str) -> String {
    env.ok(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ])
    .trim()
    .to_string()
}

#[test]
fn flags_drive_starting_healthy_unhealthy_with_events() {
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
        "hc",
        "--health-cmd",
        "test -f /ok && echo fine",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "--health-timeout",
        "2s",
        // Failures before the file exists fall in the start period: they don't count.
        "--health-start-period",
        "3s",
        "--health-start-interval",
        "200ms",
        "bb:1",
        "sh",
        "-c",
        "sleep 1; touch /ok; sleep 60",
    ]);
    assert_eq!(health(&env, "hc")["Status"], "starting");
    assert!(
        status_of(&env, "hc").ends_with("(health: starting)"),
        "{}",
        status_of(&env, "hc")
    );
    eventually("healthy", Duration::from_secs(15), || {
        health(&env, "hc")["Status"] == "healthy"
    });
    assert!(status_of(&env, "hc").ends_with("(healthy)"));
    let listed = env.ok(&["ps", "-q", "--filter", "health=healthy"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(env.ok(&["ps", "-q", "--filter", "health=unhealthy"]).is_empty());
    let h = health(&env, "hc");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    assert_eq!(h["FailingStreak"], 0);

    env.ok(&["exec", "hc", "sh", "-c", "rm /ok"]);
    eventually("unhealthy", Duration::from_secs(15), || {
        health(&env, "hc")["Status"] == "unhealthy"
    });
    assert!(status_of(&env, "hc").ends_with("(unhealthy)"));
    assert!(health(&env, "hc")["FailingStreak"].as_i64().unwrap() >= 2);
    let events = env.ok(&[
        "events",
        "--filter",
        "container=hc",
        "--filter",
        "event=health_status",
    ]);
    let changes: Vec<&str> = events
        .lines()
        .filter_map(|l| l.split("health_status: ").nth(1)?.split_whitespace().next())
        .collect();
    assert_eq!(changes, ["healthy", "unhealthy"], "{events}");
    let execs = env.ok(&[
        "events",
        "--filter",
        "container=hc",
        "--filter",
        "event=exec_start",
    ]);
    assert!(execs.contains("exec_start: sh -c rm /ok"), "{execs}");
}

#[test]
fn an_image_healthcheck_runs_and_no_healthcheck_turns_it_off() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:1\nHEALTHCHECK --interval=200ms --retries=1 CMD exit 3\n",
    )
    .unwrap();
    env.ok(&["build", "-q", "-t", "sick:1", ctx.to_str().unwrap()]);
    env.ok(&["run", "-d", "--name", "sick", "sick:1", "sleep", "60"]);
    eventually("unhealthy", Duration::from_secs(15), || {
        health(&env, "sick")["Status"] == "unhealthy"
    });
    let log = health(&env, "sick")["Log"].clone();
    assert_eq!(log.as_array().unwrap().last().unwrap()["ExitCode"], 3);

    env.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "sick:1",
        "sleep",
        "60",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(health(&env, "off").is_null(), "{}", health(&env, "off"));
    assert!(status_of(&env, "off").starts_with("Up") && !status_of(&env, "off").contains("health"));
    let cfg = &env.inspect("off")["Config"]["Healthcheck"]["Test"];
    assert_eq!(cfg[0], "NONE");
}
