//! `berth build` with users from the image's `/etc/passwd` and `/etc/group`: `COPY --chown`
//! by name, `USER name` for RUN, and `WORKDIR` created for a later non-root RUN.

mod common;

use common::Env;
use common::containers::{busybox_with, needs_busybox};

#[test]
fn names_resolve_in_the_image() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox_with(
        &env,
        "users:1",
        &[
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n",
            ),
            ("etc/group", "root:x:0:\nappgrp:x:2345:\nextra:x:3456:app\n"),
        ],
    );
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("owned.txt"), "mine\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM users:1\n\
         COPY --chown=app:appgrp owned.txt /data/owned.txt\n\
         COPY --chown=app owned.txt /data/by-user.txt\n\
         USER app\n\
         RUN id -u > /tmp-uid 2>&1 || true\n\
         USER root\n\
         RUN busybox stat -c '%u:%g' /data/owned.txt /data/by-user.txt > /owners\n",
    )
    .unwrap();
    let out = env.run(&["build", "-t", "owned:1", ctx.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let owners = env.ok(&["run", "--rm", "owned:1", "cat", "/owners"]);
    // By name with a group; by user name alone the group is the uid (Docker's rule).
    assert_eq!(owners, "1234:2345\n1234:1234\n");
    // `USER app` made the RUN non-root: it could not write to /, which is root's.
    let uid = env.run(&["run", "--rm", "owned:1", "cat", "/tmp-uid"]);
    assert!(
        !uid.status.success(),
        "a non-root RUN cannot create /tmp-uid"
    );
    let config = env.ok(&["inspect", "owned:1"]);
    assert!(config.contains("\"User\": \"root\""), "{config}");
}
