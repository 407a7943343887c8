//! `berth run | ps | rm` end to end, as root: the reference scenario offline against berth's own
//! registry, exit codes, `--rm`, and images in use.

mod common;

use std::process::Command;

use common::{Env, Registry};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A busybox image imported into `env` as `bb:1`.
fn busybox(env: &Env) {
    let rootfs = env.path("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat", "hostname", "ps", "id"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
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
    env.ok(&["import", tar.to_str().unwrap(), "bb:1"]);
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

#[test]
fn external_oci_runtime() {
    if !is_root() || !common::require_tool("runc") || !std::path::Path::new("/bin/busybox").exists()
    {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let out = env.ok(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "bb:1",
        "/bin/sh",
        "-c",
        "echo via-runc; echo $$",
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["via-runc", "1"]);
    let failed = env.run(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "bb:1",
        "/bin/sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(failed.status.code(), Some(7));
}

/// Container cgroup directories (`berth/<id>`) left under any hierarchy.
fn berth_cgroups() -> Vec<std::path::PathBuf> {
    let mut left = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for parent in [hierarchy.path().join("berth"), hierarchy.path()] {
            if !parent.ends_with("berth") {
                continue;
            }
            if let Ok(dirs) = std::fs::read_dir(&parent) {
                left.extend(dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()));
            }
        }
    }
    left
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
        if let Some(dir) = berth_cgroups()
            .into_iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/cpu/"))
        {
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

#[test]
fn capabilities_default_add_and_drop() {
    if !is_root() || !std::path::Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and busybox-static");
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let cap_eff = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["bb:1", "cat", "/proc/self/status"]);
        let status = env.ok(&args);
        status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|v| v.trim().to_string())
            .unwrap()
    };
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
    let mode = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["bb:1", "cat", "/proc/self/status"]);
        let status = env.ok(&args);
        status
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:"))
            .map(|v| v.trim().to_string())
            .unwrap()
    };
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
