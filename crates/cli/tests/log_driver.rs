//! `--log-driver` and `--log-opt`: json-file rotation by size and count (what `logs` reads
//! back across the rotated files), and `none` (nothing kept; `logs` says so).

mod common;

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox};

#[test]
fn rotation_keeps_the_newest_lines_and_none_keeps_nothing() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    let id = env.ok(&[
        "run", "-d", "--log-opt", "max-size=300", "--log-opt", "max-file=3",
        "bb:1", "sh", "-c", "i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo line-$i; done",
    ]);
    let id = id.trim();
    assert_eq!(env.ok(&["wait", id]), "0\n");
    let dir = env.root().join("containers/v1").join(id);
    let log = |suffix: &str| dir.join(format!("{id}-json.log{suffix}"));
    assert!(log("").exists() && log(".1").exists() && log(".2").exists());
    assert!(!log(".3").exists(), "at most max-file files");
    for f in [log(""), log(".1"), log(".2")] {
        assert!(std::fs::metadata(&f).unwrap().len() <= 300, "{}", f.display());
    }
    let out = env.ok(&["logs", id]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"line-60"));
    assert!(!lines.contains(&"line-1"), "the oldest rotated away: {out}");
    // In order across the files.
    let numbers: Vec<u32> = lines.iter().map(|l| l[5..].parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert_eq!(env.ok(&["logs", "--tail", "2", id]), "line-59\nline-60\n");

    let quiet = env.ok(&["run", "-d", "--log-driver", "none", "bb:1", "echo", "hi"]);
    let quiet = quiet.trim();
    assert_eq!(env.ok(&["wait", quiet]), "0\n");
    let out = env.run(&["logs", quiet]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("configured logging driver does not support reading"), "{err}");
    let qdir = env.root().join("containers/v1").join(quiet);
    assert!(!qdir.join(format!("{quiet}-json.log")).exists());
    assert_eq!(env.inspect(quiet)["HostConfig"]["LogConfig"]["Type"], "none");
}
