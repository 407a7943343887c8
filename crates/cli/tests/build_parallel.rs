//! Independent stages build at the same time: two stages that each wait for the other's
//! signal (a file in a shared cache mount) can only both finish when they run concurrently.

mod common;

use common::Env;
use common::containers::{busybox, needs_busybox};

#[test]
fn independent_stages_run_concurrently() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    // Each stage leaves its mark, then waits up to 20 s for the other's.
    let stage = |me: &str, other: &str| {
        format!(
            "FROM bb:1 AS {me}\n\
             RUN --mount=type=cache,id=meet,target=/meet \
             busybox touch /meet/{me} && i=0; \
             while [ ! -e /meet/{other} ]; do i=$((i+1)); [ $i -gt 400 ] && exit 1; busybox sleep 0.05; done; \
             echo {me} > /{me}\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM bb:1\nCOPY --from=left /left /\nCOPY --from=right /right /\n",
        stage("left", "right"),
        stage("right", "left")
    );
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let out = env.run(&["build", "-t", "met:1", ctx.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.ok(&["run", "--rm", "met:1", "cat", "/left", "/right"]),
        "left\nright\n"
    );
}
