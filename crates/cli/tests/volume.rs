//! Volumes end to end: `berth volume create|ls|inspect|rm|prune` and their errors, named
//! volumes shared by containers, anonymous volumes (`-v /path` and image `VOLUME`s) filled
//! from the image, removed by `--rm` and `rm -v`, shown by `inspect` and `system df`.

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::process::Command;

use common::Env;
use common::containers::{busybox, busybox_with, needs_busybox};

fn fails(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(!out.status.success(), "berth {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names(env: &Env, args: &[&str]) -> Vec<String> {
    let mut a = vec!["volume", "ls", "-q"];
    a.extend_from_slice(args);
    env.ok(&a).lines().map(str::to_string).collect()
}

fn meta(env: &Env, name: &str) -> serde_json::Value {
    let path = env.root().join("volumes/v1").join(name).join("meta.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A busybox image with a `VOLUME /data` whose files are `/data/hello` (0640, owned by
/// 1000:1000) and `/data/sub/x`, imported as `vol:1`.
fn volume_image(env: &Env) {
    busybox_with(
        env,
        "vol:0",
        &[("data/hello", "from image\n"), ("data/sub/x", "x")],
    );
    let rootfs = env.path("rootfs-vol-0");
    let hello = rootfs.join("data/hello");
    std::fs::set_permissions(&hello, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&hello, Some(1000), Some(1000)).unwrap();
    let tar = env.path("vol.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    env.ok(&[
        "import",
        tar.to_str().unwrap(),
        "vol:1",
        "-c",
        "VOLUME /data",
    ]);
}

#[test]
fn create_ls_inspect_rm_and_errors() {
    let env = Env::new("127.0.0.1:1");
    assert_eq!(env.ok(&["volume", "create", "one"]).trim(), "one");
    assert_eq!(
        env.ok(&["volume", "create", "--label", "a=b", "--label", "c", "two"])
            .trim(),
        "two"
    );
    // Created again: the same volume, printed again.
    assert_eq!(env.ok(&["volume", "create", "one"]).trim(), "one");
    let random = env.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(random.len(), 64);
    assert!(random.bytes().all(|b| b.is_ascii_hexdigit()));
    let err = fails(&env, &["volume", "create", "a/b"]);
    assert!(err.contains("includes invalid characters"), "{err}");

    let table = env.ok(&["volume", "ls"]);
    let mut lines = table.lines();
    let columns = |l: &str| {
        l.split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(columns(lines.next().unwrap()), ["DRIVER", "VOLUME NAME"]);
    assert!(lines.any(|l| columns(l) == ["local", "one"]), "{table}");
    assert_eq!(names(&env, &[]).len(), 3);
    assert_eq!(names(&env, &["-f", "label=a=b"]), ["two"]);
    assert_eq!(names(&env, &["-f", "label=c"]), ["two"]);
    assert!(names(&env, &["-f", "label=a=x"]).is_empty());
    assert_eq!(names(&env, &["-f", "name=on"]), ["one"]);
    assert_eq!(names(&env, &["-f", "dangling=true"]).len(), 3);
    assert!(names(&env, &["-f", "dangling=false"]).is_empty());
    let err = fails(&env, &["volume", "ls", "-f", "colour=red"]);
    assert!(err.contains("invalid filter"), "{err}");
    let json = env.ok(&["volume", "ls", "--format", "json", "-f", "name=two"]);
    let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(line["Name"], "two");
    assert_eq!(line["Driver"], "local");
    assert_eq!(line["Labels"], "a=b,c=");

    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["volume", "inspect", "two"])).unwrap();
    let v = &v[0];
    assert_eq!(v["Name"], "two");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["a"], "b");
    assert!(v["CreatedAt"].as_str().unwrap().ends_with('Z'));
    let mountpoint = env.root().join("volumes/v1/two/_data");
    assert_eq!(v["Mountpoint"], mountpoint.to_str().unwrap());
    assert!(mountpoint.is_dir());
    // The metadata on disk, and no temporary file left.
    assert_eq!(meta(&env, "two")["Labels"]["c"], "");
    let left: Vec<_> = std::fs::read_dir(env.root().join("volumes/v1/two"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    let out = env.run(&["volume", "inspect", "one", "nosuch"]);
    assert!(!out.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("get nosuch: no such volume"));

    let err = fails(&env, &["volume", "rm", "nosuch"]);
    assert!(err.contains("no such volume"), "{err}");
    env.ok(&["volume", "rm", "-f", "nosuch"]);
    assert_eq!(env.ok(&["volume", "rm", "one", &random]).lines().count(), 2);
    assert_eq!(names(&env, &[]), ["two"]);
}

#[test]
fn prune_removes_unused_anonymous_volumes_then_all_with_a() {
    let env = Env::new("127.0.0.1:1");
    env.ok(&["volume", "create", "named"]);
    std::fs::write(env.root().join("volumes/v1/named/_data/f"), "12345").unwrap();
    // An anonymous volume as `run -v /path` leaves it: made here through its label.
    let anon = env
        .ok(&[
            "volume",
            "create",
            "--label",
            "com.docker.volume.anonymous=",
        ])
        .trim()
        .to_string();
    let out = env.ok(&["volume", "prune", "-f"]);
    assert_eq!(
        out,
        format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n")
    );
    // Without -f it asks; no answer is no.
    let out = env.run_stdin(&["volume", "prune", "-a"], "n\n");
    assert!(String::from_utf8_lossy(&out.stdout).contains("WARNING! This will remove all"));
    assert_eq!(names(&env, &[]), ["named"]);
    let out = env.ok_stdin(&["volume", "prune", "-a"], "y\n");
    assert!(out.contains("Deleted Volumes:\nnamed\n"), "{out}");
    assert!(out.ends_with("Total reclaimed space: 5B\n"), "{out}");
    assert!(names(&env, &[]).is_empty());
}

#[test]
fn named_volume_persists_across_containers_and_is_refused_while_used() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:1");
    busybox(&env);
    env.ok(&[
        "run",
        "--name",
        "w",
        "-v",
        "store:/store",
        "bb:1",
        "sh",
        "-c",
        "echo kept > /store/f",
    ]);
    // Made on first use, with metadata.
    assert_eq!(meta(&env, "store")["Name"], "store");
    let out = env.ok(&["run", "--rm", "-v", "store:/s:ro", "bb:1", "cat", "/s/f"]);
    assert_eq!(out, "kept\n");
    let id = env.inspect("w")["Id"].as_str().unwrap().to_string();
    let err = fails(&env, &["volume", "rm", "store"]);
    assert!(
        err.contains(&format!("remove store: volume is in use - [{id}]")),
        "{err}"
    );
    // Even with -f, as Docker does; and prune keeps it.
    fails(&env, &["volume", "rm", "-f", "store"]);
    assert_eq!(names(&env, &["-f", "dangling=false"]), ["store"]);
    env.ok(&["volume", "prune", "-a", "-f"]);
    assert_eq!(names(&env, &[]), ["store"]);
    let mounts = &env.inspect("w")["Mounts"];
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "store");
    assert_eq!(mounts[0]["Destination"], "/store");
    assert_eq!(mounts[0]["RW"], true);
    // `rm -v` never removes a named volume.
    env.ok(&["rm", "-v", "w"]);
    assert_eq!(names(&env, &["-f", "dangling=true"]), ["store"]);
    env.ok(&["volume", "rm", "store"]);
}

#[test]
fn image_volume_starts_with_the_image_files_and_keeps_writes_out_of_the_image() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:1");
    volume_image(&env);
    let out = env.ok(&[
        "run",
        "--name",
        "c1",
        "vol:1",
        "sh",
        "-c",
        "cat /data/hello /data/sub/x; echo; busybox stat -c '%a %u:%g' /data/hello; echo new > /data/hello",
    ]);
    assert_eq!(out, "from image\nx\n640 1000:1000\n");
    let mounts = &env.inspect("c1")["Mounts"];
    assert_eq!(mounts.as_array().unwrap().len(), 1, "{mounts}");
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Destination"], "/data");
    let name = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    assert!(
        meta(&env, &name)["Labels"]
            .as_object()
            .unwrap()
            .contains_key("com.docker.volume.anonymous")
    );
    let data = env.root().join("volumes/v1").join(&name).join("_data");
    assert_eq!(
        std::fs::read_to_string(data.join("hello")).unwrap(),
        "new\n"
    );
    assert_eq!(std::fs::metadata(data.join("hello")).unwrap().uid(), 1000);
    // Writes persist for that container (started again) …
    assert_eq!(env.ok(&["start", "-a", "c1"]), "new\nx\n640 1000:1000\n");
    // … but a new container starts from the image, with its own volume.
    let out = env.ok(&["run", "--rm", "vol:1", "cat", "/data/hello"]);
    assert_eq!(out, "from image\n");
    // A mount over the image's VOLUME path replaces the anonymous volume.
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        "mine:/data",
        "vol:1",
        "busybox",
        "ls",
        "/data",
    ]);
    assert_eq!(out, "hello\nsub\n", "a new named volume is filled too");
    assert_eq!(names(&env, &[]).len(), 2, "c1's and mine");
    // Anonymous volumes are in use while their container exists; prune keeps them.
    let out = env.ok(&["volume", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    // `rm -v` removes the container's anonymous volume, not the named one.
    env.ok(&["rm", "-v", "c1"]);
    assert_eq!(names(&env, &[]), ["mine"]);
}

#[test]
fn rm_flag_removes_anonymous_volumes_but_not_named_ones() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:1");
    busybox(&env);
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "/anon",
        "-v",
        "keep:/keep",
        "bb:1",
        "sh",
        "-c",
        "echo a > /anon/f; echo k > /keep/f",
    ]);
    assert_eq!(names(&env, &[]), ["keep"]);
    // Detached too (the monitor removes them).
    let id = env
        .ok(&[
            "run",
            "-d",
            "--rm",
            "-v",
            "/anon",
            "bb:1",
            "sh",
            "-c",
            "echo a > /anon/f",
        ])
        .trim()
        .to_string();
    env.run(&["wait", &id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while names(&env, &[]).len() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            names(&env, &[])
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Without --rm, `rm` keeps them and `rm -v` removes them.
    env.ok(&[
        "run", "--name", "a", "-v", "/anon", "bb:1", "busybox", "true",
    ]);
    env.ok(&[
        "run", "--name", "b", "-v", "/anon", "bb:1", "busybox", "true",
    ]);
    assert_eq!(names(&env, &[]).len(), 3);
    env.ok(&["rm", "a"]);
    assert_eq!(names(&env, &["-f", "dangling=true"]).len(), 2);
    env.ok(&["rm", "-v", "b"]);
    assert_eq!(names(&env, &[]).len(), 2);
    let out = env.ok(&["volume", "prune", "-f"]);
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert_eq!(names(&env, &[]), ["keep"]);
}

#[test]
fn system_df_counts_volumes() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:1");
    busybox(&env);
    env.ok(&["volume", "create", "idle"]);
    env.ok(&[
        "run",
        "-v",
        "used:/u",
        "bb:1",
        "sh",
        "-c",
        "echo 123456789 > /u/f",
    ]);
    let df = env.ok(&["system", "df"]);
    let row = df
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(row.starts_with("Local Volumes 2 1 "), "{df}");
}
