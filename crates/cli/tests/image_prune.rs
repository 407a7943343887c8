//! `berth image prune`: dangling (untagged) images go, tagged ones stay unless `-a`, images a
//! container uses always stay; the blobs go with them and the space is reported.

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

#[test]
fn prune_removes_unused_images() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let build = |content: &str, tag: Option<&str>| {
        std::fs::write(ctx.join("f"), content).unwrap();
        std::fs::write(ctx.join("Dockerfile"), "FROM bb:1\nCOPY f /f\n").unwrap();
        let mut args = vec!["build", "-q"];
        if let Some(t) = tag {
            args.extend(["-t", t]);
        }
        args.push(ctx.to_str().unwrap());
        env.ok(&args).trim().to_string()
    };
    let dangling = build("one", None);
    let used = build("two", None);
    let tagged = build("three", Some("kept:1"));
    env.ok(&["run", "--name", "user", &used, "sh", "-c", "exit 0"]);
    let out = env.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(!out.contains(&used) && !out.contains(&tagged), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    let ids = env.ok(&["images", "-q", "--no-trunc"]);
    assert!(!ids.contains(&dangling), "{ids}");
    // -a: every image no container uses; the used one and its base stay.
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.contains("untagged: kept:1") && out.contains(&tagged),
        "{out}"
    );
    assert!(out.contains("untagged: bb:1"), "{out}");
    let left = env.ok(&["image", "ls", "-q"]);
    assert_eq!(left.lines().count(), 1, "{left}");
    assert_eq!(env.ok(&["run", "--rm", &used, "cat", "/f"]), "two");
    // Nothing left to prune.
    let out = env.ok(&["image", "prune", "-f"]);
    assert_eq!(out.trim(), "Total reclaimed space: 0B");
}
