//! `rmi` of images containers use, as Docker: a running container's image cannot be deleted
//! even with `-f` (its name can go; the image stays), a stopped one's can with `-f` (the
//! container keeps running from its layers); and `ps` never shows a stale image name.

mod common;

use common::Env;
use common::containers::{KillAll, busybox, busybox_with, needs_busybox};

fn ready() -> bool {
    if needs_busybox() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI=true: this test needs root and /bin/busybox and must not skip"
    );
    false
}

fn image_id(env: &Env, image: &str) -> String {
    env.inspect(image)["Id"].as_str().unwrap().to_string()
}

fn short(id: &str) -> &str {
    &id.trim_start_matches("sha256:")[..12]
}

/// The `IMAGE` column of `ps -a` for container `name`.
fn ps_image(env: &Env, name: &str) -> String {
    env.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}} {{.Image}}",
    ])
    .lines()
    .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
    .unwrap_or_default()
}

#[test]
fn a_running_containers_image_cannot_be_forced_out() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let _cleanup = KillAll(&env);
    busybox(&env);
    let id = image_id(&env, "bb:1");
    let c = env.ok(&["run", "-d", "--name", "live", "bb:1", "sleep", "30"]);
    let c = c.trim();
    assert_eq!(ps_image(&env, "live"), "bb:1");
    for args in [vec!["rmi", "-f", id.as_str()], vec!["rmi", short(&id)]] {
        let out = env.run(&args);
        assert!(!out.status.success(), "{args:?} deleted the image");
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
            short(&id),
            &c[..12]
        );
        assert!(err.contains(&want), "{args:?}: {err}");
    }
    // Without -f, its last name is refused too.
    let out = env.run(&["rmi", "bb:1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "conflict: unable to remove repository reference \"bb:1\" (must force) - container {} is using its referenced image {}",
            &c[..12],
            short(&id)
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With -f, the name goes and the image stays (dangling) under the running container.
    assert_eq!(env.ok(&["rmi", "-f", "bb:1"]), "Untagged: bb:1\n");
    assert!(
        env.ok(&["images", "-q"]).contains(short(&id)),
        "the image was deleted"
    );
    // `ps` shows its id, not the name that no longer names it.
    assert_eq!(ps_image(&env, "live"), short(&id));
    let full = env.ok(&[
        "ps",
        "--no-trunc",
        "--filter",
        "name=live",
        "--format",
        "{{.Image}}",
    ]);
    assert_eq!(full.trim(), id);
    // It still runs, and once it has stopped the image can go.
    assert_eq!(env.ok(&["exec", "live", "echo", "ok"]), "ok\n");
    env.ok(&["kill", "live"]);
    env.ok(&["wait", "live"]);
    let out = env.ok(&["rmi", "-f", &id]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
}

#[test]
fn a_stopped_containers_image_goes_with_force_and_the_container_still_runs() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    let _cleanup = KillAll(&env);
    busybox_with(&env, "bb:2", &[("etc/two", "2\n")]);
    let id = image_id(&env, "bb:2");
    env.ok(&["run", "-d", "--name", "st", "bb:2", "cat", "/etc/two"]);
    assert_eq!(env.ok(&["wait", "st"]), "0\n");
    let c = env.ok(&["ps", "-aq", "--no-trunc", "--filter", "name=st"]);
    let c = c.trim();
    let out = env.run(&["rmi", &id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            short(&id),
            &c[..12]
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.ok(&["rmi", "-f", "bb:2"]);
    assert!(out.starts_with("Untagged: bb:2\n"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert!(!env.ok(&["images", "-q"]).contains(short(&id)));
    assert_eq!(ps_image(&env, "st"), short(&id));
    // The container keeps its file system: it starts and runs again.
    env.ok(&["start", "st"]);
    assert_eq!(env.ok(&["wait", "st"]), "0\n");
    assert_eq!(
        env.ok(&["logs", "st"]),
        "2\n2\n",
        "run from the kept layers"
    );
}

#[test]
fn ps_shows_the_id_when_the_name_moved_to_another_image() {
    if !ready() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox_with(&env, "bb:3", &[("etc/three", "3\n")]);
    busybox_with(&env, "bb:4", &[("etc/four", "4\n")]);
    let three = image_id(&env, "bb:3");
    env.ok(&["create", "--name", "rt", "bb:3", "true"]);
    assert_eq!(ps_image(&env, "rt"), "bb:3");
    env.ok(&["tag", "bb:4", "bb:3"]);
    assert_eq!(ps_image(&env, "rt"), short(&three));
    // Named back: the name again.
    env.ok(&["tag", &three, "bb:3"]);
    assert_eq!(ps_image(&env, "rt"), "bb:3");
}
