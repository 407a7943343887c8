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
    assert_eq!(env.ok(&["events"]), "", "nothing happened yet");
    let _ = env.run(&["run", "--rm", "--name", "ev1", "bb:1", "sh", "-c", "exit 3"]);
    env.ok(&["run", "--name", "ev2", "bb:1", "sh", "-c", "exit 0"]);

    let all = json_lines(&env.ok(&["events", "--format", "json"]));
    let seen: Vec<(String, String)> = all
        .iter()
        .map(|e| (e["Actor"]["Attributes"]["name"].as_str().unwrap().to_string(), e["Action"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        seen,
        [("ev1", "die"), ("ev1", "destroy"), ("ev2", "die")].map(|(a, b)| (a.to_string(), b.to_string())),
    );
    assert_eq!(all[0]["Type"], "container");
    assert_eq!(all[0]["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(all[0]["Actor"]["Attributes"]["image"], "bb:1");
    assert_eq!(all[2]["Actor"]["Attributes"]["exitCode"], "0");
    assert!(all.windows(2).all(|w| w[0]["timeNano"].as_i64() <= w[1]["timeNano"].as_i64()));

    // Filters: by container name, by event, by type; Docker's plain line format.
    let ev1 = json_lines(&env.ok(&["events", "--filter", "container=ev1", "--format", "{{json .}}"]));
    assert_eq!(ev1.len(), 2);
    let dies = env.ok(&["events", "--filter", "event=die"]);
    assert_eq!(dies.lines().count(), 2, "{dies}");
    let line = dies.lines().next().unwrap();
    assert!(line.contains(" container die "), "{line}");
    assert!(line.ends_with("(exitCode=3, image=bb:1, name=ev1)"), "{line}");
    assert_eq!(env.ok(&["events", "--filter", "type=image"]), "");
    assert_eq!(env.ok(&["events", "--since", "4000000000"]), "", "nothing in the future");
    assert_eq!(env.ok(&["events", "--until", "1000000000"]), "", "nothing in 2001");

    // Bad input: one line.
    let out = env.run(&["events", "--filter", "colour=red"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("invalid filter 'colour'"), "{err}");
}
