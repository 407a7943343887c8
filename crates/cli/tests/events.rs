//! `berth events`: the journal of what happened to containers, read back with Docker's filters
//! and formats (as root: it runs containers).

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn a_container_run_leaves_die_and_destroy_events() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    assert_eq!(
        env.ok(&["events", "--filter", "type=container"]),
        "",
        "no container yet"
    );
    let _ = env.run(&["run", "--rm", "--name", "ev1", "bb:1", "sh", "-c", "exit 3"]);
    env.ok(&["run", "--name", "ev2", "bb:1", "sh", "-c", "exit 0"]);

    env.ok(&["rm", "ev2"]);

    let all = json_lines(&env.ok(&["events", "--filter", "type=container", "--format", "json"]));
    let seen: Vec<(String, String)> = all
        .iter()
        .map(|e| {
            (
                e["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                e["Action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("ev1", "create"),
        ("ev1", "start"),
        ("ev1", "die"),
        ("ev1", "destroy"),
        ("ev2", "create"),
        ("ev2", "start"),
        ("ev2", "die"),
        ("ev2", "destroy"),
    ];
    assert_eq!(seen, expected.map(|(a, b)| (a.to_string(), b.to_string())));
    assert!(
        all.iter()
            .all(|e| e["Type"] == "container" && e["Actor"]["Attributes"]["image"] == "bb:1")
    );
    let die1 = &all[2];
    assert_eq!(die1["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(all[6]["Actor"]["Attributes"]["exitCode"], "0");
    assert!(
        all.windows(2)
            .all(|w| w[0]["timeNano"].as_i64() <= w[1]["timeNano"].as_i64())
    );
    let id = die1["Actor"]["ID"].as_str().unwrap();
    assert_eq!(id.len(), 64, "the full container ID: {id}");

    // Filters: by container name, by event, by type; Docker's plain line format.
    let ev1 = json_lines(&env.ok(&[
        "events",
        "--filter",
        "container=ev1",
        "--format",
        "{{json .}}",
    ]));
    assert_eq!(ev1.len(), 4);
    let by_id = json_lines(&env.ok(&[
        "events",
        "--filter",
        &format!("container={}", &id[..12]),
        "--format",
        "json",
    ]));
    assert_eq!(by_id.len(), 4, "an ID prefix names the container too");
    let dies = env.ok(&["events", "--filter", "event=die"]);
    assert_eq!(dies.lines().count(), 2, "{dies}");
    let line = dies.lines().next().unwrap();
    assert!(line.contains(" container die "), "{line}");
    assert!(
        line.ends_with("(exitCode=3, image=bb:1, name=ev1)"),
        "{line}"
    );
    let images = env.ok(&["events", "--filter", "type=image"]);
    assert_eq!(images.lines().count(), 1, "busybox's import: {images}");
    assert!(images.contains(" image import sha256:"), "{images}");
    let starts = json_lines(&env.ok(&[
        "events",
        "--filter",
        "event=start",
        "--filter",
        "event=destroy",
        "--format",
        "json",
    ]));
    assert_eq!(starts.len(), 4, "values of one key are alternatives");
    assert_eq!(
        env.ok(&["events", "--since", "4000000000"]),
        "",
        "nothing in the future"
    );
    assert_eq!(
        env.ok(&["events", "--until", "1000000000"]),
        "",
        "nothing in 2001"
    );

    // Bad input: one line.
    let out = env.run(&["events", "--filter", "colour=red"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("invalid filter 'colour'"), "{err}");
}

/// Image and volume events, Docker's: no containers run, so not root-only.
#[test]
fn image_and_volume_operations_leave_events() {
    let r = common::Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    env.ok(&["pull", "hello-world"]);

    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", &b"hi\n"[..]).unwrap();
    let rootfs = env.path("rootfs.tar");
    std::fs::write(&rootfs, b.into_inner().unwrap()).unwrap();
    let id = env
        .ok(&["import", rootfs.to_str().unwrap(), "imp:1"])
        .trim()
        .to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    env.ok(&["tag", "imp:1", "imp:2"]);
    env.ok(&["push", "imp:1"]);
    let saved = env.path("imp.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), "imp:1"]);
    env.ok(&["rmi", "imp:2"]);
    assert!(
        !env.run(&["rmi", "nothing:here"]).status.success(),
        "a failure records nothing"
    );
    env.ok(&["rmi", "imp:1"]);
    env.ok(&["load", "-i", saved.to_str().unwrap()]);
    env.ok(&["volume", "create", "vol1"]);
    env.ok(&["volume", "create", "vol1"]);
    env.ok(&["volume", "rm", "vol1"]);

    let all = json_lines(&env.ok(&["events", "--format", "json"]));
    let seen: Vec<(String, String, String)> = all
        .iter()
        .map(|e| {
            let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
            (s(&e["Type"]), s(&e["Action"]), s(&e["Actor"]["ID"]))
        })
        .collect();
    let expected = [
        ("image", "pull", "hello-world:latest"),
        ("image", "import", id.as_str()),
        ("image", "tag", id.as_str()),
        ("image", "push", "imp:1"),
        ("image", "save", id.as_str()),
        ("image", "untag", id.as_str()),
        ("image", "untag", id.as_str()),
        ("image", "untag", id.as_str()),
        ("image", "delete", id.as_str()),
        ("image", "load", id.as_str()),
        ("volume", "create", "vol1"),
        ("volume", "destroy", "vol1"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(seen, expected);
    let name = |i: usize| {
        all[i]["Actor"]["Attributes"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(name(0), "hello-world");
    assert_eq!(name(1), "imp:1");
    assert_eq!(name(2), "imp:2", "the tag event names the new reference");
    assert_eq!(name(3), "imp");
    assert_eq!(name(5), "imp:2");
    assert_eq!(name(6), "imp:1");
    assert!(
        name(7).starts_with("imp@sha256:"),
        "the pushed digest: {}",
        name(7)
    );
    assert_eq!(name(9), "imp:1");
    assert!(
        all[10..]
            .iter()
            .all(|e| e["Actor"]["Attributes"]["driver"] == "local")
    );
    let images = json_lines(&env.ok(&["events", "--filter", "type=image", "--format", "json"]));
    assert_eq!(images.len(), 10);
    let volumes = env.ok(&["events", "--filter", "type=volume"]);
    assert_eq!(volumes.lines().count(), 2, "{volumes}");
    assert!(
        volumes
            .lines()
            .next()
            .unwrap()
            .ends_with(" volume create vol1 (driver=local)"),
        "{volumes}"
    );
}

#[test]
fn pause_unpause_rename_and_stop_leave_events() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    env.ok(&["run", "-d", "--name", "ev3", "bb:1", "sleep", "60"]);
    env.ok(&["pause", "ev3"]);
    env.ok(&["unpause", "ev3"]);
    env.ok(&["rename", "ev3", "ev4"]);
    // `sleep` as PID 1 ignores SIGTERM: SIGKILL follows after the timeout.
    env.ok(&["stop", "-t", "1", "ev4"]);
    let all = json_lines(&env.ok(&["events", "--filter", "type=container", "--format", "json"]));
    let actions: Vec<&str> = all.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    assert_eq!(
        &actions[..5],
        ["create", "start", "pause", "unpause", "rename"],
        "{actions:?}"
    );
    assert_eq!(all[4]["Actor"]["Attributes"]["oldName"], "/ev3");
    assert_eq!(all[4]["Actor"]["Attributes"]["name"], "ev4");
    let mut rest: Vec<&str> = actions[5..].to_vec();
    let kill = rest
        .iter()
        .position(|a| *a == "kill")
        .expect("a kill event");
    let stop = rest
        .iter()
        .position(|a| *a == "stop")
        .expect("a stop event");
    assert!(kill < stop, "{actions:?}");
    assert_eq!(all[5 + kill]["Actor"]["Attributes"]["signal"], "15");
    let kills: Vec<&str> = all[5..]
        .iter()
        .filter(|e| e["Action"] == "kill")
        .map(|e| e["Actor"]["Attributes"]["signal"].as_str().unwrap())
        .collect();
    assert_eq!(kills, ["15", "9"], "TERM, then KILL after the timeout");
    rest.sort();
    assert_eq!(rest, ["die", "kill", "kill", "stop"], "{actions:?}");
    env.ok(&["rm", "ev4"]);
}
