//! `berth build` with a registry, as root: `FROM` an image that is not local is pulled from
//! the configured registry (berth's own, offline), and `--push` uploads the result, which a
//! fresh client then pulls and runs.

mod common;

use common::containers::is_root;
use common::{Env, Registry};

#[test]
fn from_pulls_and_push_uploads() {
    if !is_root() {
        eprintln!("skipping: builds run containers, which need root");
        return;
    }
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    let ctx = env.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("note.txt"), "built by berth\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM hello-world\nCOPY note.txt /note.txt\nLABEL built=yes\n",
    )
    .unwrap();
    let tag = format!("{}/team/greeter:1", r.addr);
    let out = env.run(&["build", "--push", "-t", &tag, ctx.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The base was not local: pulled from the registry.
    assert!(
        stderr.contains("Pulling from library/hello-world"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[stage-0 2/2] COPY note.txt /note.txt"),
        "{stderr}"
    );

    // A fresh client pulls the pushed image and runs it.
    let other = Env::new(&r.addr);
    let pulled = other.run(&["pull", &tag]);
    assert!(pulled.status.success(), "{pulled:?}");
    let inspect = other.ok(&["inspect", &tag]);
    let config: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let config = if config.is_array() {
        &config[0]
    } else {
        &config
    };
    assert_eq!(
        config["Config"]["Labels"]["built"].as_str(),
        Some("yes"),
        "{inspect}"
    );
    let run = other.run(&["run", "--rm", &tag]);
    assert!(run.status.success(), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stdout).starts_with("Hello from berth!"),
        "{run:?}"
    );
}
