//! `berth run | ps | rm` end to end, as root: the reference scenario offline against berth's own
//! registry, exit codes, `--rm`, and images in use.

mod common;

use std::process::Command;

use common::containers::{KillAll, busybox, busybox_with, is_root, needs_busybox, ps_row};
use common::{Env, Registry};

#[test]
fn bind_mounts_and_named_volumes() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let host = env.path("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hello.txt"), "from the host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "bb:1",
        "sh",
        "-c",
        "cat /data/hello.txt && echo written > /data/new.txt",
    ]);
    assert_eq!(out.trim(), "from the host");
    assert_eq!(
        std::fs::read_to_string(host.join("new.txt"))
            .unwrap()
            .trim(),
        "written"
    );
    let ro = format!("{}:/deep/data:ro", host.display());
    let out = env.run(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "bb:1",
        "sh",
        "-c",
        "cat /deep/data/hello.txt; echo no > /deep/data/x",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success());
    assert_eq!(stdout.trim(), "from the host");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(!host.join("x").exists());
    // A file bound onto a file.
    let file = format!("{}:/etc/greeting:ro", host.join("hello.txt").display());
    let out = env.ok(&["run", "--rm", "-v", &file, "bb:1", "cat", "/etc/greeting"]);
    assert_eq!(out.trim(), "from the host");
    // A named volume keeps its data between containers.
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "cargo:/hold",
        "bb:1",
        "sh",
        "-c",
        "echo kept > /hold/f",
    ]);
    let out = env.ok(&["run", "--rm", "-v", "cargo:/hold", "bb:1", "cat", "/hold/f"]);
    assert_eq!(out.trim(), "kept");
    assert!(env.root().join("volumes/v1/cargo/_data/f").is_file());
    // Refused: a missing host path, a relative target.
    let missing = format!("{}:/x", env.path("missing").display());
    let out = env.run(&["run", "--rm", "-v", &missing, "bb:1", "echo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = env.run(&["run", "--rm", "-v", "vol:rel", "bb:1", "echo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be absolute"));
    assert!(
        !mounts_mention(env.root().to_str().unwrap()),
        "no mounts left"
    );
}

#[test]
fn bind_target_symlink_out_of_rootfs_is_refused() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // An image whose /escape points at a host directory.
    let rootfs = env.path("evil");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink(&outside, rootfs.join("escape")).unwrap();
    let tar = env.path("evil.tar");
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
    env.ok(&["import", tar.to_str().unwrap(), "evil:1"]);
    let host = env.path("src");
    std::fs::create_dir_all(&host).unwrap();
    let v = format!("{}:/escape/sub", host.display());
    let out = env.run(&["run", "--rm", "-v", &v, "evil:1", "/bin/busybox", "true"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("symlink"), "{stderr}");
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing created outside the rootfs"
    );
}

fn mounts_mention(s: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(s)
}

#[test]
fn reference_scenario_offline() {
    if !is_root() {
        eprintln!("skipping: containers need root");
        return;
    }
    let r = Registry::start_args(&["--samples"]);
    let env = Env::new(&r.addr);
    assert_eq!(env.ok(&["images"]).lines().count(), 1, "no images yet");
    let out = env.run(&["run", "hello-world"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("Unable to find image 'hello-world:latest' locally"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Status: Downloaded newer image for hello-world:latest"),
        "{stderr}"
    );
    assert!(
        stdout.starts_with("Hello from berth!"),
        "the container's greeting on stdout: {stdout}"
    );
    let images = env.ok(&["images"]);
    assert!(
        images.lines().nth(1).unwrap().starts_with("hello-world "),
        "{images}"
    );
    let ps = env.ok(&["ps", "-a"]);
    let row = ps.lines().nth(1).expect("one container");
    assert!(
        row.contains("hello-world") && row.contains("\"/hello\"") && row.contains("Exited (0)"),
        "{ps}"
    );
    assert!(env.ok(&["ps"]).lines().count() == 1, "nothing running");
    assert!(
        !mounts_mention(env.root().to_str().unwrap()),
        "no overlay left mounted"
    );
    // The image is in use: rmi refuses without -f.
    let refused = env.run(&["rmi", "hello-world"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is using its referenced image"));
    let name = row.split_whitespace().last().unwrap();
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", name])).unwrap();
    assert_eq!(inspect[0]["State"]["Status"], "exited");
    assert_eq!(inspect[0]["State"]["ExitCode"], 0);
    assert_eq!(inspect[0]["Path"], "/hello");
    assert_eq!(inspect[0]["Name"], format!("/{name}"));
    assert!(
        inspect[0]["State"]["FinishedAt"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );
    assert_eq!(env.ok(&["rm", name]).trim(), name);
    assert_eq!(env.ok(&["ps", "-a"]).lines().count(), 1);
    env.ok(&["rmi", "hello-world"]);
}

#[test]
fn exit_codes_rm_and_isolation() {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let out = env.run(&["run", "--rm", "bb:1", "/bin/sh", "-c", "exit 3"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the container's exit code is berth's"
    );
    assert!(
        out.stderr.is_empty(),
        "nothing printed for a non-zero exit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = env.ok(&["run", "--rm", "bb:1", "/bin/sh", "-c", "echo $$"]);
    assert_eq!(pid.trim(), "1", "the command is pid 1");
    let host = env.ok(&["run", "--rm", "--hostname", "boxy", "bb:1", "hostname"]);
    assert_eq!(host.trim(), "boxy");
    let env_out = env.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=ahoy",
        "bb:1",
        "/bin/sh",
        "-c",
        "echo $GREETING",
    ]);
    assert_eq!(env_out.trim(), "ahoy");
    let id = env.ok(&["run", "--rm", "-u", "1000:1000", "bb:1", "id", "-u"]);
    assert_eq!(id.trim(), "1000");
    assert_eq!(
        env.ok(&["ps", "-a"]).lines().count(),
        1,
        "--rm leaves no record"
    );
    let containers = env.root().join("containers/v1");
    let left = std::fs::read_dir(&containers)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "--rm leaves no container directory");
    assert!(
        !mounts_mention(env.root().to_str().unwrap()),
        "no mounts left"
    );
}

/// What `--runtime NAME` must do as the native engine does: output, exit codes, and the
/// memory (OOM kill: 137), cpu and pids limits in the container's cgroups.
fn external_runtime_checks(env: &Env, runtime: &str) {
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--runtime", runtime];
        all.extend_from_slice(args);
        env.run(&all)
    };
    let out = run(&["bb:1", "/bin/sh", "-c", "echo via-oci; echo $$"]);
    assert!(out.status.success(), "{runtime}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["via-oci", "1"],
        "{runtime}"
    );
    let failed = run(&["bb:1", "/bin/sh", "-c", "exit 7"]);
    assert_eq!(failed.status.code(), Some(7), "{runtime}: {failed:?}");
    let oom = run(&[
        "--memory",
        "32m",
        "bb:1",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(oom.status.code(), Some(137), "{runtime}: {oom:?}");
    // Only 4 processes: the shell and three of the background sleeps.
    let pids = run(&[
        "--pids-limit",
        "4",
        "bb:1",
        "sh",
        "-c",
        "n=0; for i in 1 2 3 4 5 6; do sleep 5 & [ $? = 0 ] && n=$((n+1)); done; echo $n; \
         kill $(jobs -p) 2>/dev/null; exit 0",
    ]);
    let text = String::from_utf8_lossy(&pids.stdout);
    let stderr = String::from_utf8_lossy(&pids.stderr);
    assert!(
        stderr.contains("can't fork") || text.trim() != "6",
        "{runtime}: {pids:?}"
    );
    // The limits as the container's own cgroups (v1 on this kind of host, v2 elsewhere) hold them.
    let out = run(&[
        "--cpus",
        "0.5",
        "--pids-limit",
        "9",
        "-m",
        "48m",
        "bb:1",
        "sh",
        "-c",
        "cd /sys/fs/cgroup; cat cpu/cpu.cfs_quota_us pids/pids.max memory/memory.limit_in_bytes \
         2>/dev/null || cat cpu.max pids.max memory.max",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let values: Vec<&str> = text.split_whitespace().collect();
    assert!(
        values == ["50000", "9", "50331648"] || values == ["50000", "100000", "9", "50331648"],
        "{runtime}: {out:?}"
    );
    // In the background: its pid is recorded (from the runtime's pid file), exec joins it,
    // rm -f kills it.
    let name = format!("oci-{runtime}");
    env.ok(&[
        "run",
        "-d",
        "--runtime",
        runtime,
        "--name",
        &name,
        "bb:1",
        "sleep",
        "60",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.inspect(&name)["State"]["Pid"].as_i64().unwrap_or(0) <= 0 {
        assert!(std::time::Instant::now() < deadline, "{runtime}: no pid");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = env.run(&["exec", &name, "sh", "-c", "echo in-oci; exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{runtime}: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "in-oci\n",
        "{runtime}"
    );
    env.ok(&["rm", "-f", &name]);
}

#[test]
fn external_oci_runtime() {
    if !is_root() || !common::require_tool("runc") || !std::path::Path::new("/bin/busybox").exists()
    {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    external_runtime_checks(&env, "runc");
}

/// crun refuses hybrid cgroups with a controller on the v2 side (this kind of host): berth runs
/// it where the v2 mount is hidden, so it works, limits included.
#[test]
fn external_oci_runtime_crun() {
    if !is_root() || !common::require_tool("crun") || !std::path::Path::new("/bin/busybox").exists()
    {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    external_runtime_checks(&env, "crun");
}

/// Container cgroup directories (`berth/<id>`) under any hierarchy.
fn all_berth_cgroups() -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if let Ok(dirs) = std::fs::read_dir(hierarchy.path().join("berth")) {
            found.extend(dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()));
        }
    }
    found
}

/// Container cgroup directories left behind: empty (no process) now and 200 ms later, so
/// the cgroups of containers other tests are running or setting up do not count.
fn berth_cgroups() -> Vec<std::path::PathBuf> {
    let empty = |d: &std::path::PathBuf| {
        std::fs::read_to_string(d.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty())
    };
    let first: Vec<_> = all_berth_cgroups().into_iter().filter(empty).collect();
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    first
        .into_iter()
        .filter(|d| d.exists() && empty(d))
        .collect()
}

#[test]
fn memory_cpu_and_pids_limits() {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let oom = env.run(&[
        "run",
        "--rm",
        "--memory",
        "32m",
        "bb:1",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(
        oom.status.code(),
        Some(137),
        "OOM-killed: {}",
        String::from_utf8_lossy(&oom.stderr)
    );
    assert!(berth_cgroups().is_empty(), "left: {:?}", berth_cgroups());

    // Count the container's processes with builtins only (no fork needed to count).
    let script = "for i in $(busybox seq 60); do busybox sleep 5 & done; \
                  n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n";
    let started = std::time::Instant::now();
    let limited = env.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "bb:1",
        "sh",
        "-c",
        script,
    ]);
    let stderr = String::from_utf8_lossy(&limited.stderr);
    // busybox sh gives up (exit 2) at the first fork the pids controller refuses.
    assert_eq!(limited.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("can't fork"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "fails fast, without waiting for the sleeps"
    );
    let free = env.ok(&["run", "--rm", "bb:1", "sh", "-c", script]);
    let n: u32 = free.trim().parse().unwrap();
    assert!(n > 20, "without a limit all 60 sleeps start, saw {n}");
    assert!(berth_cgroups().is_empty(), "left: {:?}", berth_cgroups());

    // A CPU quota: the container's cgroup holds it while it runs.
    let mut running = env
        .cmd(&[
            "run", "--rm", "--cpus", "0.5", "bb:1", "busybox", "sleep", "3",
        ])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut quota = String::new();
    for _ in 0..200 {
        if let Some(dir) = all_berth_cgroups().into_iter().find(|d| {
            d.starts_with("/sys/fs/cgroup/cpu/")
                && std::fs::read_to_string(d.join("cpu.cfs_quota_us"))
                    .is_ok_and(|q| q.trim() != "-1")
        }) {
            quota = std::fs::read_to_string(dir.join("cpu.cfs_quota_us")).unwrap_or_default();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(running.wait().unwrap().success());
    assert_eq!(quota.trim(), "50000");
    assert!(berth_cgroups().is_empty(), "left: {:?}", berth_cgroups());
    let bad = env.run(&["run", "--rm", "--memory", "12q", "bb:1", "true"]);
    assert!(!bad.status.success());
}

/// Field `field` of `/proc/self/status` in a `berth run --rm EXTRA… bb:1` container.
fn status_field(env: &Env, extra: &[&str], field: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["bb:1", "cat", "/proc/self/status"]);
    let prefix = format!("{field}:");
    env.ok(&args)
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

#[test]
fn capabilities_default_add_and_drop() {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let cap_eff = |extra: &[&str]| status_field(&env, extra, "CapEff");
    assert_eq!(cap_eff(&[]), "00000000a80425fb", "Docker's default set");
    // NET_ADMIN is bit 12, CHOWN bit 0.
    assert_eq!(
        cap_eff(&["--cap-add", "NET_ADMIN", "--cap-drop", "chown"]),
        "00000000a80435fa"
    );
    assert_eq!(cap_eff(&["--cap-drop", "ALL"]), "0000000000000000");
}

#[test]
fn seccomp_default_and_unconfined() {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let mode = |extra: &[&str]| status_field(&env, extra, "Seccomp");
    assert_eq!(mode(&[]), "2", "filtered by default");
    assert_eq!(mode(&["--security-opt", "seccomp=unconfined"]), "0");
    let out = env.run(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=nope.json",
        "bb:1",
        "true",
    ]);
    assert!(!out.status.success());
}

#[test]
fn detached_logs_stop_kill_wait() {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "d1",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2; sleep 30",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "the full id: {id}");
    // The CLI has exited: the container runs on, recorded with its pid.
    let row = ps_row(&env, "d1");
    assert!(row.contains("Up "), "{row}");
    assert!(env.ok(&["ps"]).contains("d1"));
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "d1"])).unwrap();
    let pid = inspect[0]["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0, "{inspect}");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // Its parent, the monitor, leads its own session: killing the CLI's session spares it.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{ppid}/stat")).unwrap();
    let after_comm: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        after_comm[3],
        ppid.to_string(),
        "session id of the monitor: {stat}"
    );
    // Output reaches the log a moment after it is written.
    let mut out = None;
    for _ in 0..100 {
        let o = env.run(&["logs", "d1"]);
        if !o.stderr.is_empty() && !o.stdout.is_empty() {
            out = Some(o);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = out.expect("logs show the output");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let ts = env.ok(&["logs", "-t", "--tail", "2", "d1"]);
    assert!(ts.starts_with("20") && ts.ends_with("Z out\n"), "{ts:?}");
    let log = env
        .root()
        .join("containers/v1")
        .join(id)
        .join(format!("{id}-json.log"));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = lines.iter().find(|l| l["stream"] == "stdout").unwrap();
    assert_eq!(first["log"], "out\n");

    let started = std::time::Instant::now();
    assert_eq!(env.ok(&["stop", "-t", "1", "d1"]).trim(), "d1");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let row = ps_row(&env, "d1");
    assert!(
        row.contains("Exited (143)") || row.contains("Exited (137)"),
        "{row}"
    );
    let code = env.ok(&["wait", "d1"]);
    assert!(code.trim() == "143" || code.trim() == "137", "{code}");
    assert!(!mounts_mention(env.root().to_str().unwrap()), "unmounted");

    // One that ignores SIGTERM is killed after the timeout.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "d2",
        "bb:1",
        "sh",
        "-c",
        "trap '' TERM; sleep 30",
    ]);
    let started = std::time::Instant::now();
    env.ok(&["stop", "-t", "1", "d2"]);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(4),
        "{took:?}"
    );
    assert!(ps_row(&env, "d2").contains("Exited (137)"));
    assert_eq!(env.ok(&["wait", "d2"]).trim(), "137");

    // kill -s, wait, logs -f until the end, and --rm.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "d3",
        "bb:1",
        "sh",
        "-c",
        "trap 'exit 7' USR1; echo hi; while true; do sleep 0.1; done",
    ]);
    let follow = env
        .cmd(&["logs", "-f", "d3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(env.ok(&["kill", "-s", "USR1", "d3"]).trim(), "d3");
    assert_eq!(env.ok(&["wait", "d3"]).trim(), "7");
    let followed = follow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "hi\n");
    let rm_id = env.ok(&["run", "-d", "--rm", "bb:1", "sh", "-c", "exit 0"]);
    let rm_id = rm_id.trim();
    for _ in 0..100 {
        if !env.ok(&["ps", "-a", "-q"]).contains(&rm_id[..12]) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !env.ok(&["ps", "-a", "-q"]).contains(&rm_id[..12]),
        "--rm removed it"
    );
    assert!(!env.root().join("containers/v1").join(rm_id).exists());
    // A program that cannot be run is an error, as in the foreground.
    let bad = env.run(&["run", "-d", "--name", "d4", "bb:1", "/nope"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("/nope"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    env.ok(&["rm", "d1", "d2", "d3", "d4"]);
}

#[test]
fn foreground_run_records_pid_and_forwards_signals() {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    for (sig, code) in [("TERM", 5), ("INT", 6)] {
        let script =
            "trap 'exit 5' TERM; trap 'exit 6' INT; echo ready; while true; do sleep 0.1; done";
        let child = env
            .cmd(&["run", "--name", "fg", "bb:1", "sh", "-c", script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut pid = 0;
        for _ in 0..100 {
            let inspect: serde_json::Value =
                serde_json::from_slice(&env.run(&["inspect", "fg"]).stdout).unwrap_or_default();
            pid = inspect[0]["State"]["Pid"].as_i64().unwrap_or(0);
            if pid > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(pid > 0, "the container's pid is recorded");
        assert!(ps_row(&env, "fg").contains("Up "));
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(child.id().to_string())
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{sig}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\n");
        env.ok(&["rm", "fg"]);
    }
}

#[test]
fn read_only_rootfs_and_tmpfs() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let out = env.run(&[
        "run",
        "--rm",
        "--read-only",
        "bb:1",
        "sh",
        "-c",
        "echo x > /x",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    let out = env.ok(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "bb:1",
        "sh",
        "-c",
        "echo ok > /scratch/f && cat /scratch/f && echo shm > /dev/shm/f && cat /dev/shm/f \
         && echo null > /dev/null && cat /proc/self/mountinfo",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("ok"));
    assert_eq!(lines.next(), Some("shm"));
    let scratch = out
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/scratch"))
        .unwrap_or_else(|| panic!("a /scratch mount: {out}"));
    assert!(
        scratch.contains("noexec") && scratch.contains("tmpfs"),
        "{scratch}"
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/run:size=1m,exec",
        "bb:1",
        "cat",
        "/proc/self/mountinfo",
    ]);
    let run = out
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/run"))
        .unwrap_or_else(|| panic!("a /run mount: {out}"));
    assert!(
        !run.contains("noexec") && run.contains("size=1024k"),
        "{run}"
    );
}

/// Interface names in a `/proc/net/dev`.
fn interfaces(dev: &str) -> Vec<String> {
    let mut names: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn network_none_and_host() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let none = env.ok(&["run", "--rm", "bb:1", "cat", "/proc/net/dev"]);
    assert_eq!(interfaces(&none), ["lo"]);
    let explicit = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "cat",
        "/proc/net/dev",
    ]);
    assert_eq!(interfaces(&explicit), ["lo"]);
    let host = env.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "bb:1",
        "cat",
        "/proc/net/dev",
    ]);
    let ours = interfaces(&std::fs::read_to_string("/proc/net/dev").unwrap());
    assert_eq!(interfaces(&host), ours);
    assert!(
        !env.run(&["run", "--rm", "--network", "bridge", "bb:1", "echo"])
            .status
            .success()
    );
}

#[test]
fn user_names_from_the_image() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox_with(
        &env,
        "bb:2",
        &[
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nsailor:x:1234:1234::/home/sailor:/bin/sh\n",
            ),
            ("etc/group", "root:x:0:\ncrew:x:1234:\ndeck:x:50:sailor\n"),
        ],
    );
    assert_eq!(
        env.ok(&["run", "--rm", "-u", "sailor", "bb:2", "id", "-u"])
            .trim(),
        "1234"
    );
    assert_eq!(
        env.ok(&["run", "--rm", "-u", "sailor", "bb:2", "id", "-g"])
            .trim(),
        "1234"
    );
    let groups = env.ok(&["run", "--rm", "-u", "sailor", "bb:2", "id", "-G"]);
    assert_eq!(
        groups.split_whitespace().collect::<Vec<_>>(),
        ["1234", "50"]
    );
    assert_eq!(
        env.ok(&["run", "--rm", "-u", "sailor:deck", "bb:2", "id", "-g"])
            .trim(),
        "50"
    );
    assert_eq!(
        env.ok(&["run", "--rm", "-u", "77:88", "bb:2", "id", "-g"])
            .trim(),
        "88"
    );
    let out = env.run(&["run", "--rm", "-u", "nobody", "bb:2", "id"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unable to find user nobody"), "{stderr}");
    // Detached containers resolve the user too.
    let id = env.ok(&["run", "-d", "-u", "sailor", "bb:2", "id", "-u"]);
    env.ok(&["wait", id.trim()]);
    assert_eq!(env.ok(&["logs", id.trim()]).trim(), "1234");
}

#[test]
fn etc_hostname_hosts_and_resolv_conf() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let out = env.ok(&[
        "run",
        "--rm",
        "--hostname",
        "boxy",
        "bb:1",
        "sh",
        "-c",
        "cat /etc/hostname /etc/hosts; echo extra >> /etc/hosts",
    ]);
    assert!(out.starts_with("boxy\n"), "{out}");
    assert!(out.contains("localhost") && out.contains("\tboxy"), "{out}");
    let resolv = env.ok(&["run", "--rm", "bb:1", "cat", "/etc/resolv.conf"]);
    assert_eq!(
        resolv,
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    );
}

/// Docker's container environment (issue 11): `PATH`, `HOSTNAME` and `HOME` (the user's
/// passwd entry's, else `/`), each unless the image or `-e` set it, and no `TERM` without
/// `-t`; `inspect` shows `Config.Env` as Docker does: the image's and `-e`'s only (Docker
/// adds the others when it starts the process).
#[test]
fn hostname_home_and_path_in_the_environment() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    busybox_with(
        &env,
        "bb:2",
        &[(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nsailor:x:1234:1234::/home/sailor:/bin/sh\n",
        )],
    );
    let vars = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["run"];
        all.extend(args);
        all.extend(["sh", "-c", "busybox env; echo host=$(hostname)"]);
        let mut lines: Vec<String> = env.ok(&all).lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let out = vars(&["--name", "plain", "-e", "A=1", "bb:1"]);
    let id = env.inspect("plain")["Id"].as_str().unwrap().to_string();
    let host = &id[..12];
    let want = [
        "A=1".to_string(),
        "HOME=/".to_string(),
        format!("HOSTNAME={host}"),
        path.to_string(),
        format!("host={host}"),
    ];
    // busybox's sh adds PWD and SHLVL itself.
    let out: Vec<String> = out
        .into_iter()
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL="))
        .collect();
    assert_eq!(out, want);
    assert_eq!(
        env.inspect("plain")["Config"]["Env"],
        serde_json::json!(["A=1"])
    );
    let has = |args: &[&str], var: &str| {
        let out = vars(args);
        assert!(
            out.iter().any(|l| l == var),
            "{args:?}: {var} not in {out:?}"
        );
    };
    has(&["--rm", "bb:2"], "HOME=/root");
    has(&["--rm", "-u", "sailor", "bb:2"], "HOME=/home/sailor");
    has(&["--rm", "-u", "4242", "bb:2"], "HOME=/");
    has(&["--rm", "-e", "HOME=/x", "bb:2"], "HOME=/x");
    has(&["--rm", "-e", "HOSTNAME=h", "bb:2"], "HOSTNAME=h");
    has(&["--rm", "--hostname", "boxy", "bb:2"], "HOSTNAME=boxy");
    has(&["--rm", "-e", "PATH=/bin", "bb:2"], "PATH=/bin");
    assert!(
        !vars(&["--rm", "bb:2"])
            .iter()
            .any(|l| l.starts_with("TERM="))
    );
    // A detached container's monitor gives the same environment.
    let id = env.ok(&["run", "-d", "-u", "sailor", "bb:2", "busybox", "env"]);
    env.ok(&["wait", id.trim()]);
    let logs = env.ok(&["logs", id.trim()]);
    assert!(logs.lines().any(|l| l == "HOME=/home/sailor"), "{logs}");
    let host = format!("HOSTNAME={}", &id.trim()[..12]);
    assert!(logs.lines().any(|l| l == host), "{logs}");
}

/// System calls the engines' last set-up steps (runc's Go runtime included), busybox's `sh`,
/// `echo` and `mkdir` need; no `mkdir` or `mkdirat`.
const ALLOW_LIST: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clock_gettime",
    "clone",
    "clone3",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fchown",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getpgrp",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "gettid",
    "getuid",
    "ioctl",
    "kill",
    "lseek",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "select",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setresgid",
    "setresuid",
    "setsid",
    "setuid",
    "sigaltstack",
    "stat",
    "statx",
    "tgkill",
    "uname",
    "wait4",
    "waitid",
    "write",
    "writev",
];

#[test]
fn seccomp_custom_profiles() {
    if !common::containers::needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let deny_mkdir = env.path("deny-mkdir.json");
    std::fs::write(
        &deny_mkdir,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_call"],
                          "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let allow_list = env.path("allow-list.json");
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ALLOW_LIST, "action": "SCMP_ACT_ALLOW"},
            // Only for a container with CAP_SYS_ADMIN, which these have not.
            {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    });
    std::fs::write(&allow_list, profile.to_string()).unwrap();
    let mut runtimes = vec![None];
    if common::require_tool("runc") {
        runtimes.push(Some("runc"));
    }
    for runtime in runtimes {
        let run = |profile: &std::path::Path, cmd: &[&str]| {
            let opt = format!("seccomp={}", profile.display());
            let mut args = vec!["run", "--rm", "--security-opt", &opt];
            if let Some(r) = runtime {
                args.extend(["--runtime", r]);
            }
            args.push("bb:1");
            args.extend_from_slice(cmd);
            env.run(&args)
        };
        for profile in [&deny_mkdir, &allow_list] {
            let what = format!("{runtime:?} {}", profile.display());
            let out = run(profile, &["echo", "still-works"]);
            assert!(out.status.success(), "{what}: {out:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "still-works\n",
                "{what}"
            );
            let out = run(profile, &["/bin/busybox", "mkdir", "/x"]);
            assert!(!out.status.success(), "{what}: {out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("Operation not permitted"),
                "{what}: {stderr}"
            );
        }
        // With the needed capability, the included rule allows mkdir.
        let opt = format!("seccomp={}", allow_list.display());
        let mut args = vec![
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            &opt,
        ];
        if let Some(r) = runtime {
            args.extend(["--runtime", r]);
        }
        args.extend(["bb:1", "/bin/busybox", "mkdir", "/x"]);
        let out = env.run(&args);
        assert!(
            out.status.success(),
            "{runtime:?} with CAP_SYS_ADMIN: {out:?}"
        );
    }
    // A detached container (run by its monitor) and `start` apply the stored profile.
    let opt = format!("seccomp={}", deny_mkdir.display());
    env.ok(&[
        "run",
        "-d",
        "--name",
        "sc1",
        "--security-opt",
        &opt,
        "bb:1",
        "/bin/busybox",
        "mkdir",
        "/y",
    ]);
    assert_eq!(env.ok(&["wait", "sc1"]).trim(), "1");
    let logs = env.run(&["logs", "sc1"]);
    assert!(
        String::from_utf8_lossy(&logs.stderr).contains("Operation not permitted"),
        "{logs:?}"
    );
    let out = env.run(&["start", "-a", "sc1"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    env.ok(&["rm", "-f", "sc1"]);
    // A missing or bad profile: one error line, nothing run.
    let out = env.run(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/nonexistent.json",
        "bb:1",
        "true",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent.json"), "{stderr}");
    let bad = env.path("bad.json");
    std::fs::write(
        &bad,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", bad.display());
    let out = env.run(&["run", "--rm", "--security-opt", &opt, "bb:1", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("syscalls[0] (mkdir)") && stderr.contains("SCMP_ACT_NOTIFY"),
        "{stderr}"
    );
}
