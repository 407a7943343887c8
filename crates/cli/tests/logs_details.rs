//! `berth logs --details`: Docker's format with no log attributes (a lone space before each
//! line), end to end as root with a real container.

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

#[test]
fn details_prefix_each_line_with_the_empty_attribute_set() {
    if !needs_busybox() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true: this test needs root and /bin/busybox and must not skip"
        );
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "lg",
        "bb:1",
        "sh",
        "-c",
        "echo one; echo two >&2; echo three",
    ]);
    assert_eq!(env.ok(&["wait", "lg"]), "0\n");
    assert_eq!(env.ok(&["logs", "lg"]), "one\nthree\n");
    let out = env.run(&["logs", "--details", "lg"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), " one\n three\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), " two\n");
    // With timestamps: `TIME ` then the attributes and their space, then the line.
    // (stdout and stderr lines are logged by two readers: their order between the streams
    // is not fixed, so every stdout line is checked.)
    let out = env.ok(&["container", "logs", "--details", "-t", "lg"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    for (line, text) in lines.iter().zip(["one", "three"]) {
        let (time, rest) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("a timestamp: {out:?}"));
        assert!(time.ends_with('Z') && time.starts_with("20"), "{out:?}");
        assert_eq!(rest, format!(" {text}"), "{out:?}");
    }
}
