//! `berth inspect -f TEMPLATE` and `--type`, as Docker's: the template runs over the JSON
//! inspect prints, one line per object; `--type` restricts the lookup; `container inspect` and
//! `image inspect` take `-f` too. Image cases import a tiny rootfs (no root needed); container
//! cases need root and busybox-static.

mod common;

use std::process::Command;

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox};

/// An image `name` imported from a one-file rootfs, with an env and a label.
fn tiny_image(env: &Env, name: &str) {
    let rootfs = env.path("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::write(rootfs.join("hello"), "hi\n").unwrap();
    let tar = env.path("rootfs.tar");
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    env.ok(&[
        "import",
        "-c",
        "ENV A=1 B=<two>",
        "-c",
        "LABEL com.example.k=v",
        tar.to_str().unwrap(),
        name,
    ]);
}

fn fails(env: &Env, args: &[&str]) -> (String, String) {
    let out = env.run(args);
    assert!(!out.status.success(), "{args:?} should fail");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn format_and_type_on_images() {
    let env = Env::new("127.0.0.1:9");
    tiny_image(&env, "tiny:1");
    let full = env.inspect("tiny:1");
    let id = full["Id"].as_str().unwrap();

    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Id}}", "tiny:1"]),
        format!("{id}\n")
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "--format",
            "{{index .RepoTags 0}} {{.Os}}",
            "tiny:1"
        ]),
        format!("tiny:1 {}\n", full["Os"].as_str().unwrap())
    );
    // Go's %v of a list, and json of it as Go marshals it.
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Config.Env}}", "tiny:1"]),
        "[A=1 B=<two>]\n"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{json .Config.Env}}", "tiny:1"]),
        "[\"A=1\",\"B=\\u003ctwo\\u003e\"]\n"
    );
    let config: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "-f", "{{json .Config}}", "tiny:1"])).unwrap();
    assert_eq!(config, full["Config"]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"com.example.k\"}}",
            "tiny:1"
        ]),
        "v\n"
    );
    // A missing key prints Docker's `<no value>`; index of a missing key, nothing.
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.Nope}}|{{.Config.Nope}}|{{index .Config.Labels \"x\"}}|",
            "tiny:1"
        ]),
        "<no value>|<no value>||\n"
    );
    // `image inspect` and `--type image` take the same template; several names, several lines.
    env.ok(&["tag", "tiny:1", "tiny:2"]);
    assert_eq!(
        env.ok(&["image", "inspect", "-f", "{{.Id}}", "tiny:1", "tiny:2"]),
        format!("{id}\n{id}\n")
    );
    assert_eq!(
        env.ok(&[
            "inspect", "--type", "image", "-f", "{{.Id}}", "tiny:1", "tiny:2"
        ]),
        format!("{id}\n{id}\n")
    );

    // Errors: an unknown type, a bad template, an unknown function, a missing object.
    let (out, err) = fails(&env, &["inspect", "--type", "foo", "tiny:1"]);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("\"foo\" is not a valid value for --type"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for bad in ["{{.Id", "{{nope .Id}}"] {
        let (out, err) = fails(&env, &["inspect", "-f", bad, "tiny:1"]);
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("template parsing error: template: "), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let (out, err) = fails(&env, &["inspect", "-f", "{{.Nope.Deeper}}", "tiny:1"]);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("nil pointer evaluating"), "{err}");
    let (out, err) = fails(&env, &["inspect", "-f", "{{.Id}}", "tiny:1", "ghost"]);
    assert_eq!(out, format!("{id}\n"));
    assert!(err.contains("No such object: ghost"), "{err}");
    let (_, err) = fails(&env, &["inspect", "--type", "image", "ghost"]);
    assert!(err.contains("No such image: ghost"), "{err}");
    let (_, err) = fails(&env, &["inspect", "--type", "volume", "ghost"]);
    assert!(err.contains("no such volume"), "{err}");
    let (_, err) = fails(&env, &["inspect", "--type", "container", "tiny:1"]);
    assert!(err.contains("No such container: tiny:1"), "{err}");
}

#[test]
fn format_and_type_on_containers() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    env.ok(&[
        "run", "--name", "f1", "-e", "X=1", "bb:1", "sh", "-c", "exit 0",
    ]);
    env.ok(&["run", "-d", "--name", "f2", "bb:1", "sh", "-c", "exit 3"]);
    assert_eq!(env.ok(&["wait", "f2"]).trim(), "3");
    let full = env.inspect("f1");
    let id = full["Id"].as_str().unwrap();

    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "f1"]),
        "exited\n"
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}} {{.State.ExitCode}}",
            "f1",
            "f2"
        ]),
        "/f1 exited 0\n/f2 exited 3\n"
    );
    assert_eq!(
        env.ok(&["container", "inspect", "-f", "{{.Id}}", "f1"]),
        format!("{id}\n")
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "--type",
            "container",
            "-f",
            "{{.State.ExitCode}}",
            "f1"
        ]),
        "0\n"
    );
    let envs: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "-f", "{{json .Config.Env}}", "f1"])).unwrap();
    assert_eq!(envs, full["Config"]["Env"]);
    assert!(
        envs.as_array().unwrap().iter().any(|e| e == "X=1"),
        "{envs}"
    );

    // `--type image` (and `image inspect`) does not find a container.
    let (out, err) = fails(&env, &["inspect", "--type", "image", "-f", "{{.Id}}", "f1"]);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("No such image: f1"), "{err}");
    // `container inspect` does not find an image.
    let (_, err) = fails(&env, &["container", "inspect", "bb:1"]);
    assert!(err.contains("No such container: bb:1"), "{err}");
    // Nor `image inspect` a container.
    let (_, err) = fails(&env, &["image", "inspect", "f1"]);
    assert!(err.contains("No such image: f1"), "{err}");
}
