//! `berth system df` and `berth system prune`: what uses disk, and one command that gives back
//! stopped containers, dangling images and the build cache — unpacked layers included, as
//! `rmi` now does too.

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

fn unpacked_layers(env: &Env) -> usize {
    std::fs::read_dir(env.root().join("layers/v1"))
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).count())
        .unwrap_or(0)
}

/// The `df` row of `kind`, split into columns.
fn row(df: &str, kind: &str) -> Vec<String> {
    let line = df.lines().find(|l| l.starts_with(kind)).expect(kind);
    line[kind.len()..]
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn df_and_prune() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:1\nRUN echo built > /built\n",
    )
    .unwrap();
    let dangling = env.ok(&["build", "-q", ctx.to_str().unwrap()]);
    // A container of it (removed) unpacks its RUN layer.
    env.ok(&["run", "--rm", dangling.trim(), "sh", "-c", "exit 0"]);
    env.ok(&[
        "run",
        "--name",
        "stopped",
        "bb:1",
        "sh",
        "-c",
        "echo x > /x",
    ]);
    let df = env.ok(&["system", "df"]);
    assert_eq!(row(&df, "Images")[..2], ["2", "1"], "{df}");
    assert_eq!(row(&df, "Containers")[..2], ["1", "0"], "{df}");
    assert_ne!(row(&df, "Build Cache")[0], "0", "{df}");
    assert!(unpacked_layers(&env) >= 2, "base + the RUN layer unpacked");

    let out = env.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(
        out.contains(&format!("deleted: {}", dangling.trim())),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let df = env.ok(&["system", "df"]);
    assert_eq!(row(&df, "Images")[..2], ["1", "0"], "{df}");
    assert_eq!(row(&df, "Containers")[0], "0", "{df}");
    assert_eq!(row(&df, "Build Cache")[0], "0", "{df}");
    assert_eq!(
        unpacked_layers(&env),
        1,
        "only bb:1's layer is left unpacked"
    );
    // rmi removes the unpacked layer with the blob.
    env.ok(&["rmi", "bb:1"]);
    assert_eq!(unpacked_layers(&env), 0);
    // Answering no changes nothing.
    let out = env.run_stdin(&["system", "prune"], "n\n");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Total reclaimed space"));
}

#[test]
fn system_prune_takes_anonymous_volumes_only_with_volumes() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    env.ok(&[
        "run",
        "--name",
        "v",
        "-v",
        "/data",
        "-v",
        "keep:/keep",
        "bb:1",
        "busybox",
        "true",
    ]);
    env.ok(&["rm", "v"]);
    let volumes = || env.ok(&["volume", "ls", "-q"]).lines().count();
    assert_eq!(volumes(), 2);
    let out = env.ok(&["system", "prune", "-f"]);
    assert!(!out.contains("Deleted Volumes:"), "{out}");
    assert_eq!(volumes(), 2);
    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Volumes:"), "{out}");
    assert_eq!(
        env.ok(&["volume", "ls", "-q"]).trim(),
        "keep",
        "named volumes stay"
    );
}
