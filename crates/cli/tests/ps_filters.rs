//! `berth ps --filter` for each of Docker's keys, on real containers (as root): `publish`,
//! `expose`, `network`, `health`, `is-task`, `ancestor` (id, name:tag, images built on it),
//! `before`/`since`, and Docker's errors for bad keys and values.

mod common;

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

/// The names `ps -a --filter F…` lists, sorted.
fn names(env: &Env, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    let mut out: Vec<String> = env.ok(&args).lines().map(String::from).collect();
    out.sort();
    out
}

fn fails(env: &Env, filter: &str, message: &str) {
    let out = env.run(&["ps", "-a", "--filter", filter]);
    assert!(!out.status.success(), "{filter} was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(message), "{filter}: {err}");
}

#[test]
fn every_docker_filter_selects_real_containers() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let _cleanup = KillAll(&env);
    busybox(&env);
    // f0: stopped, and the base of an image built on bb:1 (one more layer).
    env.ok(&["run", "--name", "f0", "bb:1", "sh", "-c", "echo x > /x"]);
    env.ok(&["commit", "f0", "child:1"]);
    env.ok(&[
        "run", "-d", "--name", "f1", "-p", "8080:80", "bb:1", "sleep", "30",
    ]);
    env.ok(&[
        "run", "-d", "--name", "f2", "--expose", "7000", "bb:1", "sleep", "30",
    ]);
    env.ok(&[
        "create",
        "--name",
        "f3",
        "--network",
        "host",
        "bb:1",
        "true",
    ]);
    env.ok(&["create", "--name", "f4", "child:1", "true"]);
    let all = ["f0", "f1", "f2", "f3", "f4"];

    // name: a regular expression on `/NAME`, as Docker matches it.
    assert_eq!(names(&env, &["name=^/f[12]$"]), ["f1", "f2"]);
    assert_eq!(names(&env, &["name=f4"]), ["f4"]);
    assert!(
        names(&env, &["name=^f1"]).is_empty(),
        "the name starts with '/'"
    );
    let out = env.run(&["ps", "-a", "--filter", "name=f("]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid filter 'name=f('"));

    // publish / expose: private ports, with a protocol (tcp by default) or a range.
    assert_eq!(names(&env, &["publish=80"]), ["f1"]);
    assert_eq!(names(&env, &["publish=80/tcp"]), ["f1"]);
    assert_eq!(names(&env, &["publish=79-81/tcp"]), ["f1"]);
    assert!(names(&env, &["publish=8000-8080/tcp"]).is_empty());
    assert!(names(&env, &["publish=80/udp"]).is_empty());
    assert!(
        names(&env, &["publish=8080"]).is_empty(),
        "host ports do not match"
    );
    assert!(names(&env, &["publish=7000"]).is_empty());
    assert_eq!(names(&env, &["expose=7000"]), ["f2"]);
    assert_eq!(names(&env, &["expose=6999-7001/tcp"]), ["f2"]);
    assert_eq!(
        names(&env, &["expose=80/tcp"]),
        ["f1"],
        "published ports are exposed"
    );
    assert_eq!(names(&env, &["expose=80", "expose=7000"]), ["f1", "f2"]);
    fails(
        &env,
        "publish=80:80",
        "filter for 'publish' should not contain ':'",
    );
    fails(
        &env,
        "expose=http",
        "error while looking up for expose http",
    );

    // network: the container's network mode by name.
    assert_eq!(names(&env, &["network=host"]), ["f3"]);
    assert_eq!(names(&env, &["network=none"]), ["f0", "f1", "f2", "f4"]);
    assert!(names(&env, &["network=bridge"]).is_empty());

    // health: no container has a health check running: all are `none`.
    assert_eq!(names(&env, &["health=none"]), all);
    assert!(names(&env, &["health=healthy"]).is_empty());
    assert!(names(&env, &["health=starting"]).is_empty());
    fails(&env, "health=sick", "invalid filter 'health=sick'");

    // is-task: no swarm, no task.
    assert_eq!(names(&env, &["is-task=false"]), all);
    assert!(names(&env, &["is-task=true"]).is_empty());
    fails(&env, "is-task=maybe", "invalid filter 'is-task=maybe'");

    // ancestor: by name:tag, by id (full or short), and images built on it.
    let id = env.inspect("bb:1")["Id"].as_str().unwrap().to_string();
    let short = &id["sha256:".len().."sha256:".len() + 12];
    assert_eq!(names(&env, &["ancestor=bb:1"]), all);
    assert_eq!(names(&env, &[&format!("ancestor={id}")]), all);
    assert_eq!(names(&env, &[&format!("ancestor={short}")]), all);
    assert_eq!(names(&env, &["ancestor=child:1"]), ["f4"]);
    assert_eq!(
        names(&env, &["ancestor=child"]),
        Vec::<String>::new(),
        "child:latest"
    );
    assert!(names(&env, &["ancestor=nothing:1"]).is_empty());
    // Keys AND, values OR.
    assert_eq!(names(&env, &["ancestor=bb:1", "network=host"]), ["f3"]);
    assert_eq!(
        names(&env, &["ancestor=child:1", "publish=80"]),
        Vec::<String>::new()
    );

    // before / since: by name or id, relative to creation order.
    assert_eq!(names(&env, &["before=f2"]), ["f0", "f1"]);
    assert_eq!(names(&env, &["since=f2"]), ["f3", "f4"]);
    let f2 = env.ok(&["ps", "-aq", "--filter", "name=f2"]);
    assert_eq!(
        names(&env, &[&format!("since={}", f2.trim())]),
        ["f3", "f4"]
    );
    assert_eq!(names(&env, &["since=f0", "before=f3"]), ["f1", "f2"]);
    fails(&env, "since=nope", "No such container: nope");

    // Without -a, only running containers.
    let running: Vec<String> = env
        .ok(&["ps", "--filter", "health=none", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(running.len(), 2, "{running:?}");

    // Unknown keys, as Docker words it.
    fails(&env, "colour=red", "invalid filter 'colour'");
}
