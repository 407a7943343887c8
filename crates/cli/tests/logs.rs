//! `berth logs --since/--until`: the lines of a time window, by timestamp or duration.

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

#[test]
fn since_and_until_select_lines_by_time() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let id = env.ok(&[
        "run",
        "-d",
        "bb:1",
        "sh",
        "-c",
        "echo early; sleep 2; echo late",
    ]);
    let id = id.trim();
    assert_eq!(env.ok(&["wait", id]).trim(), "0");
    let stamped = env.ok(&["logs", "-t", id]);
    let late_time = stamped
        .lines()
        .find(|l| l.ends_with(" late"))
        .and_then(|l| l.split(' ').next())
        .expect("a timestamped late line")
        .to_string();
    assert_eq!(env.ok(&["logs", "--since", &late_time, id]), "late\n");
    assert_eq!(env.ok(&["logs", "--until", &late_time, id]), "early\n");
    assert_eq!(env.ok(&["logs", "--since", "1h", id]), "early\nlate\n");
    assert_eq!(env.ok(&["logs", "--until", "1h", id]), "");
    let bad = env.run(&["logs", "--since", "soon", id]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid time"),
        "{bad:?}"
    );
}
