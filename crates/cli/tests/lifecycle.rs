//! Container lifecycle end to end, as root: `start [-a]`, `restart`, `rm -f`, `container
//! prune`, records whose supervisor was killed, and the `run` flags that shape a container's
//! stop (`--stop-signal`, `--stop-timeout`), environment (`--env-file`) and privileges.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox, ps_row};

fn pid(env: &Env, name: &str) -> i64 {
    env.inspect(name)["State"]["Pid"].as_i64().unwrap()
}

/// Whether any mount under the data root is left.
fn mounted(env: &Env) -> bool {
    let root = env.root();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(root.to_str().unwrap())
}

/// Container cgroup directories (`berth/<id>`) of container `id` left under any hierarchy.
fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut candidates = vec![root.join("berth").join(id)];
    for h in std::fs::read_dir(root).unwrap().flatten() {
        candidates.push(h.path().join("berth").join(id));
    }
    left.extend(candidates.into_iter().filter(|p| p.is_dir()));
    left
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn start_again_attach_and_restart() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);

    // An exited container runs again: same id, its changes kept, its log appended to.
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "s1",
        "bb:1",
        "sh",
        "-c",
        "echo x >> /count; cat /count; exit 3",
    ]);
    let id = id.trim();
    assert_eq!(env.ok(&["wait", "s1"]).trim(), "3");
    let first = env.inspect("s1");
    assert_eq!(first["State"]["ExitCode"], 3);
    assert_eq!(env.ok(&["start", "s1"]).trim(), "s1");
    assert_eq!(env.ok(&["wait", "s1"]).trim(), "3");
    let second = env.inspect("s1");
    assert_eq!(second["Id"], id);
    assert_eq!(second["State"]["Status"], "exited");
    assert_eq!(env.ok(&["logs", "s1"]), "x\nx\nx\n");
    assert!(ps_row(&env, "s1").contains("Exited (3)"));
    assert!(!mounted(&env), "unmounted after each run");

    // -a: this run's output only, and its exit code.
    let attached = env.run(&["start", "-a", &id[..12]]);
    assert_eq!(attached.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&attached.stdout), "x\nx\nx\n");
    let attached = env.run(&["start", "-a", "s1", "s1"]);
    assert!(!attached.status.success());
    assert!(String::from_utf8_lossy(&attached.stderr).contains("cannot start and attach"));

    // Starting a running container changes nothing.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "s2",
        "bb:1",
        "sh",
        "-c",
        "trap 'exit 5' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    let before = pid(&env, "s2");
    let started_at = env.inspect("s2")["State"]["StartedAt"].clone();
    assert_eq!(env.ok(&["start", "s2"]).trim(), "s2");
    assert_eq!(pid(&env, "s2"), before);
    assert_eq!(env.inspect("s2")["State"]["StartedAt"], started_at);

    // restart: stopped (its SIGTERM trap ends it), then started again with a new process.
    std::thread::sleep(Duration::from_millis(1100));
    let t = Instant::now();
    assert_eq!(env.ok(&["restart", "-t", "5", "s2"]).trim(), "s2");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let after = env.inspect("s2");
    assert_eq!(after["State"]["Status"], "running");
    assert_eq!(after["State"]["ExitCode"], 0);
    assert_ne!(after["State"]["Pid"].as_i64().unwrap(), before);
    assert_ne!(after["State"]["StartedAt"], started_at);
    assert!(
        std::path::Path::new(&format!("/proc/{}", after["State"]["Pid"])).exists(),
        "{after}"
    );
    eventually("the second run's output", || {
        env.ok(&["logs", "s2"]) == "up\nup\n"
    });
    // The `container` management spellings.
    assert!(env.ok(&["container", "ls"]).contains("s2"));
    assert_eq!(env.ok(&["container", "stop", "-t", "1", "s2"]).trim(), "s2");
    assert!(ps_row(&env, "s2").contains("Exited (5)"));
    assert_eq!(env.ok(&["container", "start", "s2"]).trim(), "s2");
    assert!(ps_row(&env, "s2").contains("Up "));
    assert_eq!(env.ok(&["container", "rm", "-f", "s2"]).trim(), "s2");
    env.ok(&["rm", "s1"]);
    assert!(!mounted(&env));
}

#[test]
fn rm_force_and_container_prune() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    // With a memory limit, so the container has cgroups to leave behind.
    let id = env.ok(&[
        "run", "-d", "-m", "64m", "--name", "r1", "bb:1", "sleep", "60",
    ]);
    let id = id.trim().to_string();
    let container_pid = pid(&env, "r1");
    assert!(!cgroups_of(&id).is_empty(), "a cgroup while it runs");
    let refused = env.run(&["rm", "r1"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "cannot remove container \"/r1\": container is running: stop the container before removing or force remove"
        ),
        "{stderr}"
    );
    let t = Instant::now();
    assert_eq!(env.ok(&["rm", "-f", "r1"]).trim(), "r1");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!env.ok(&["ps", "-a"]).contains("r1"));
    assert!(!std::path::Path::new(&format!("/proc/{container_pid}")).exists());
    assert!(!env.root().join("containers/v1").join(&id).exists());
    assert!(cgroups_of(&id).is_empty(), "{:?}", cgroups_of(&id));
    assert!(!mounted(&env));
    // -f of one that has exited, and of a --rm one that runs.
    env.ok(&["run", "--name", "r2", "bb:1", "sh", "-c", "exit 0"]);
    assert_eq!(env.ok(&["rm", "-f", "r2"]).trim(), "r2");
    env.ok(&["run", "-d", "--rm", "--name", "r3", "bb:1", "sleep", "60"]);
    assert_eq!(env.ok(&["rm", "-f", "r3"]).trim(), "r3");
    assert!(!env.ok(&["ps", "-a"]).contains("r3"));

    // prune: every container but the running ones, after asking.
    let mut exited = vec![];
    for name in ["p1", "p2"] {
        let id = env.ok(&[
            "run",
            "--name",
            name,
            "bb:1",
            "sh",
            "-c",
            "echo some output; echo data > /file",
        ]);
        assert_eq!(id, "some output\n");
        exited.push(env.inspect(name)["Id"].as_str().unwrap().to_string());
    }
    env.ok(&["run", "-d", "--name", "p3", "bb:1", "sleep", "60"]);
    let declined = env.ok_stdin(&["container", "prune"], "n\n");
    assert_eq!(
        declined,
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
    );
    assert!(ps_row(&env, "p1").contains("Exited (0)"));
    let pruned = env.ok_stdin(&["container", "prune"], "y\n");
    let rest = pruned
        .strip_prefix(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ",
        )
        .unwrap();
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines[0], "Deleted Containers:", "{pruned}");
    let mut deleted: Vec<String> = lines[1..3].iter().map(|s| s.to_string()).collect();
    deleted.sort();
    exited.sort();
    assert_eq!(deleted, exited);
    assert_eq!(lines[3], "");
    let space = lines[4].strip_prefix("Total reclaimed space: ").unwrap();
    assert!(space.ends_with('B') && space != "0B", "{space}");
    assert_eq!(lines.len(), 5);
    assert!(env.ok(&["ps", "-a"]).contains("p3"));
    for id in &exited {
        assert!(!env.root().join("containers/v1").join(id).exists());
    }
    env.ok(&["stop", "-t", "0", "p3"]);
    let pruned = env.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert_eq!(
        env.ok(&["container", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    assert!(!mounted(&env));
}

/// The parent (supervising monitor) of process `pid`.
fn parent(pid: i64) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_record_whose_monitor_was_killed_is_reconciled() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    let id = env.ok(&[
        "run", "-d", "-m", "64m", "--name", "l1", "bb:1", "sleep", "60",
    ]);
    let id = id.trim().to_string();
    let container_pid = pid(&env, "l1");
    let monitor = parent(container_pid);
    // SAFETY: SIGKILL to the monitor this test started (berth killed with -9).
    assert_eq!(unsafe { libc::kill(monitor as i32, libc::SIGKILL) }, 0);
    eventually("the monitor to die", || {
        !std::path::Path::new(&format!("/proc/{monitor}")).exists()
            || std::fs::read_to_string(format!("/proc/{monitor}/stat"))
                .is_ok_and(|s| s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'))
    });
    // inspect already tells the truth; ps records it and cleans up.
    let inspect = env.inspect("l1");
    assert_eq!(inspect["State"]["Status"], "exited", "{inspect}");
    assert_eq!(inspect["State"]["ExitCode"], 255);
    assert!(
        ps_row(&env, "l1").contains("Exited (255)"),
        "{}",
        ps_row(&env, "l1")
    );
    assert!(!env.ok(&["ps"]).contains("l1"));
    eventually("the orphaned container to be killed", || {
        !std::path::Path::new(&format!("/proc/{container_pid}")).exists()
    });
    assert!(!mounted(&env));
    assert!(cgroups_of(&id).is_empty(), "{:?}", cgroups_of(&id));
    assert_eq!(env.ok(&["wait", "l1"]).trim(), "255");
    // It starts again, and stop works on it.
    assert_eq!(env.ok(&["start", "l1"]).trim(), "l1");
    assert!(ps_row(&env, "l1").contains("Up "));
    // stop reconciles too: the monitor killed once more, stop does not wait for it.
    let monitor = parent(pid(&env, "l1"));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(monitor as i32, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(env.ok(&["stop", "l1"]).trim(), "l1");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(ps_row(&env, "l1").contains("Exited (255)"));
    env.ok(&["rm", "l1"]);
    assert!(!mounted(&env));

    // A foreground `berth run` is its container's supervisor: killed, the same.
    let mut fg = env
        .cmd(&["run", "--name", "fg", "bb:1", "sleep", "60"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the foreground container to run", || {
        ps_row(&env, "fg").contains("Up ")
    });
    let container_pid = pid(&env, "fg");
    assert_eq!(parent(container_pid), i64::from(fg.id()));
    fg.kill().unwrap();
    fg.wait().unwrap();
    assert!(ps_row(&env, "fg").contains("Exited (255)"));
    eventually("the orphaned container to be killed", || {
        !std::path::Path::new(&format!("/proc/{container_pid}")).exists()
    });
    assert!(!mounted(&env));
    env.ok(&["rm", "fg"]);
}

#[test]
fn stop_signal_stop_timeout_and_env_file() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    // --stop-signal: stop sends it (the container ignores SIGTERM).
    env.ok(&[
        "run",
        "-d",
        "--stop-signal",
        "USR1",
        "--name",
        "g1",
        "bb:1",
        "sh",
        "-c",
        "trap '' TERM; trap 'exit 9' USR1; while true; do sleep 0.1; done",
    ]);
    assert_eq!(env.inspect("g1")["Config"]["StopSignal"], "USR1");
    let t = Instant::now();
    env.ok(&["stop", "g1"]);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(env.ok(&["wait", "g1"]).trim(), "9");
    // restart uses it too.
    env.ok(&["start", "g1"]);
    env.ok(&["restart", "g1"]);
    assert!(ps_row(&env, "g1").contains("Up "));
    env.ok(&["stop", "-t", "0", "g1"]);
    // The image's STOPSIGNAL, unless --stop-signal says otherwise.
    let tar = env.path("rootfs-bb-1.tar");
    env.ok(&[
        "import",
        "-c",
        "STOPSIGNAL SIGUSR2",
        tar.to_str().unwrap(),
        "bb:sig",
    ]);
    let script = "trap '' TERM; trap 'exit 11' USR2; trap 'exit 12' HUP; \
                  while true; do sleep 0.1; done";
    env.ok(&["run", "-d", "--name", "g3", "bb:sig", "sh", "-c", script]);
    assert_eq!(env.inspect("g3")["Config"]["StopSignal"], "SIGUSR2");
    env.ok(&["stop", "-t", "3", "g3"]);
    assert_eq!(env.ok(&["wait", "g3"]).trim(), "11");
    let opts = ["run", "-d", "--stop-signal", "1", "--name", "g4", "bb:sig"];
    env.ok(&[&opts[..], &["sh", "-c", script]].concat());
    env.ok(&["stop", "-t", "3", "g4"]);
    assert_eq!(env.ok(&["wait", "g4"]).trim(), "12");
    env.ok(&["rm", "g3", "g4"]);
    // --stop-timeout: stop without -t waits that long before SIGKILL.
    env.ok(&[
        "run",
        "-d",
        "--stop-timeout",
        "1",
        "--name",
        "g2",
        "bb:1",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    env.ok(&["stop", "g2"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(env.ok(&["wait", "g2"]).trim(), "137");
    let bad = env.run(&["run", "--stop-signal", "NOPE", "bb:1", "sh"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid signal"));

    // --env-file: comments and blanks skipped, a bare name copied from here, -e wins.
    let file = env.path("vars.env");
    std::fs::write(
        &file,
        "# settings\nA=from file\n\nB=file\n  FROM_HOST\nNOT_SET_HERE\nC=\"kept\"\n",
    )
    .unwrap();
    let out = env
        .cmd(&[
            "run",
            "--rm",
            "--env-file",
            file.to_str().unwrap(),
            "-e",
            "B=cli",
            "bb:1",
            "sh",
            "-c",
            "echo \"$A|$B|$FROM_HOST|${NOT_SET_HERE-unset}|$C\"",
        ])
        .env("FROM_HOST", "host value")
        .env_remove("NOT_SET_HERE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from file|cli|host value|unset|\"kept\"\n"
    );
    let missing = env.run(&["run", "--env-file", "/nonexistent.env", "bb:1", "sh"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.env"));
    env.ok(&["rm", "g1", "g2"]);
}

/// `CapEff` and `Seccomp` of the container's shell.
fn caps_and_seccomp(status: &str) -> (u64, String) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    (
        u64::from_str_radix(&field("CapEff:"), 16).unwrap(),
        field("Seccomp:"),
    )
}

#[test]
fn privileged_and_init_are_recorded() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    // Every capability this (root) process may have.
    let bounding = std::fs::read_to_string("/proc/self/status").unwrap();
    let every = bounding
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    let out = env.ok(&[
        "run",
        "--privileged",
        "--cap-drop",
        "ALL",
        "--name",
        "priv",
        "bb:1",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(caps_and_seccomp(&out), (every, "0".to_string()));
    let out = env.ok(&["run", "--rm", "bb:1", "cat", "/proc/self/status"]);
    let (caps, seccomp) = caps_and_seccomp(&out);
    assert_ne!(caps, every);
    assert_eq!(seccomp, "2");
    // Kept with the container, so `start` runs it the same way.
    let inspect = env.inspect("priv");
    assert_eq!(inspect["HostConfig"]["Privileged"], true);
    assert_eq!(inspect["HostConfig"]["Init"], false);
    let again = env.run(&["start", "-a", "priv"]);
    assert!(again.status.success());
    assert_eq!(
        caps_and_seccomp(&String::from_utf8_lossy(&again.stdout)),
        (every, "0".to_string())
    );
    env.ok(&[
        "run", "-d", "--init", "--name", "ini", "bb:1", "sleep", "60",
    ]);
    assert_eq!(env.inspect("ini")["HostConfig"]["Init"], true);
    env.ok(&["rm", "-f", "priv", "ini"]);
}

/// The options of the mount at `target` in a container's `/proc/self/mountinfo`.
fn mount_options(mountinfo: &str, target: &str) -> String {
    mountinfo
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(4) == Some(&target))
        .map(|f| f[5].to_string())
        .unwrap_or_default()
}

#[test]
fn privileged_and_init_take_effect() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let list_dev = ["sh", "-c", "echo /dev/*"];
    let plain = env.ok(&[&["run", "--rm", "bb:1"][..], &list_dev].concat());
    let privileged = env.ok(&[&["run", "--rm", "--privileged", "bb:1"][..], &list_dev].concat());
    assert!(
        privileged.split_whitespace().count() > plain.split_whitespace().count(),
        "{plain} / {privileged}"
    );
    let info = ["cat", "/proc/self/mountinfo"];
    let plain = env.ok(&[&["run", "--rm", "bb:1"][..], &info].concat());
    let privileged = env.ok(&[&["run", "--rm", "--privileged", "bb:1"][..], &info].concat());
    assert!(mount_options(&plain, "/sys").starts_with("ro"), "{plain}");
    assert!(
        mount_options(&privileged, "/sys").starts_with("rw"),
        "{privileged}"
    );
    // --init: the program is not pid 1, and a detached one started again keeps it.
    let pid = ["sh", "-c", "echo $$"];
    assert_eq!(
        env.ok(&[&["run", "--rm", "bb:1"][..], &pid].concat()),
        "1\n"
    );
    let with_init = env.ok(&[&["run", "--name", "i1", "--init", "bb:1"][..], &pid].concat());
    assert_ne!(with_init, "1\n");
    let again = env.run(&["start", "-a", "i1"]);
    assert!(again.status.success());
    assert_ne!(String::from_utf8_lossy(&again.stdout), "1\n");
    env.ok(&["rm", "i1"]);
}

#[test]
fn logs_follow_ends_when_the_monitor_was_killed() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "lf1",
        "bb:1",
        "sh",
        "-c",
        "echo followed; sleep 60",
    ]);
    let mut follow = env
        .cmd(&["logs", "-f", "lf1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        text
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(follow.try_wait().unwrap().is_none(), "logs -f ended early");
    let monitor = parent(pid(&env, "lf1"));
    // SAFETY: SIGKILL to the monitor this test started.
    assert_eq!(unsafe { libc::kill(monitor as i32, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = follow.kill();
            panic!("logs -f did not end after its container's monitor died");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(reader.join().unwrap(), "followed\n");
    assert!(ps_row(&env, "lf1").contains("Exited (255)"));
    env.ok(&["rm", "lf1"]);
}

/// The pid of the `berth container-monitor` process started for this environment's data root.
fn find_monitor(env: &Env) -> Option<i32> {
    let root = env.root().into_os_string().into_encoded_bytes();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let is_monitor = cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == b"container-monitor");
        let ours = environ
            .split(|&b| b == 0)
            .any(|var| var.strip_prefix(b"BERTH_ROOT=") == Some(root.as_slice()));
        if is_monitor && ours {
            return Some(pid);
        }
    }
    None
}

#[test]
fn cli_killed_during_run_detach_leaves_the_container_supervised() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    let mut cli = env
        .cmd(&["run", "-d", "--name", "orphaned", "bb:1", "sleep", "30"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the CLI as soon as its monitor exists (it may be waiting for the start, or done).
    let deadline = Instant::now() + Duration::from_secs(20);
    while find_monitor(&env).is_none() {
        assert!(Instant::now() < deadline, "no monitor started");
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = cli.kill();
    let _ = cli.wait();
    // The monitor runs the container on: it shows Up, and stop records its exit.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ps_row(&env, "orphaned").contains("Up ") {
        assert!(Instant::now() < deadline, "{}", env.ok(&["ps", "-a"]));
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["stop", "-t", "1", "orphaned"]);
    // sleep as pid 1 has no SIGTERM handler: killed after the timeout, as with Docker.
    let row = ps_row(&env, "orphaned");
    assert!(row.contains("Exited (137)"), "{row}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while find_monitor(&env).is_some() {
        assert!(
            Instant::now() < deadline,
            "the monitor ends with its container"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
