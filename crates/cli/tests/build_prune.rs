//! `berth builder prune`: the build cache goes, with the layers only it kept (a build stage's
//! that no image uses); images keep theirs and still run; the next build runs every step.

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

/// Number of blob files in the store.
fn blobs(env: &Env) -> usize {
    fn count(p: &std::path::Path) -> usize {
        std::fs::read_dir(p)
            .map(|es| {
                es.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            count(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    count(&env.root().join("images/v1/blobs"))
}

#[test]
fn prune_forgets_the_cache_and_its_layers() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb:1 AS tools\nRUN echo intermediate > /tool && echo scratch > /scratch\n\
         FROM bb:1\nCOPY --from=tools /tool /tool\n",
    )
    .unwrap();
    let dir = ctx.to_str().unwrap();
    env.ok(&["build", "-q", "-t", "final:1", dir]);
    let before = blobs(&env);
    let out = env.ok(&["builder", "prune", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    // The tools stage's RUN layer went; the final image's blobs stayed.
    assert_eq!(blobs(&env), before - 1, "{out}");
    assert!(!env.root().join("build/cache/v1").exists());
    assert_eq!(
        env.ok(&["run", "--rm", "final:1", "cat", "/tool"]),
        "intermediate\n"
    );
    let again = env.run(&["build", "-t", "final:1", dir]);
    let progress = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{progress}");
    assert!(!progress.contains("CACHED"), "{progress}");
}
