//! The `docker run` flags berth added for the container model, each checked by its effect
//! inside the container (/proc, mounts, /etc files, ids) or on the host (cidfile, volumes),
//! not just accepted. The cgroup resource flags are checked file by file in berth-runtime's
//! `tests/resources.rs`; here one of them goes end to end.

mod common;

use common::Env;
use common::containers::{KillAll, busybox, needs_busybox};

fn sh(env: &Env, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["bb:1", "sh", "-c", script]);
    env.ok(&args)
}

fn err(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn process_limits_sysctls_and_namespaces() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);

    let limits = sh(
        &env,
        &["--ulimit", "nofile=1024:2048"],
        "cat /proc/self/limits",
    );
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&fields[3..5], ["1024", "2048"], "{line}");

    let out = sh(
        &env,
        &["--sysctl", "kernel.shmmax=123456789"],
        "cat /proc/sys/kernel/shmmax",
    );
    assert_eq!(out.trim(), "123456789");
    let out = sh(
        &env,
        &["--domainname", "example.test"],
        "cat /proc/sys/kernel/domainname",
    );
    assert_eq!(out.trim(), "example.test");
    let out = sh(
        &env,
        &["--oom-score-adj", "500"],
        "cat /proc/self/oom_score_adj",
    );
    assert_eq!(out.trim(), "500");
    let out = sh(
        &env,
        &["--shm-size", "8m"],
        "grep ' /dev/shm ' /proc/mounts",
    );
    assert!(out.contains("size=8192k"), "{out}");

    let host_ns = |ns: &str| std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
    for (flag, ns) in [
        ("--pid", "pid"),
        ("--ipc", "ipc"),
        ("--uts", "uts"),
        ("--cgroupns", "cgroup"),
    ] {
        let own = sh(&env, &[], &format!("readlink /proc/self/ns/{ns}"));
        assert_ne!(
            own.trim(),
            host_ns(ns).to_str().unwrap(),
            "{ns} private by default"
        );
        let shared = sh(
            &env,
            &[flag, "host"],
            &format!("readlink /proc/self/ns/{ns}"),
        );
        assert_eq!(shared.trim(), host_ns(ns).to_str().unwrap(), "{flag} host");
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        sh(&env, &["--uts", "host"], "hostname").trim(),
        hostname.trim()
    );

    let groups = sh(
        &env,
        &["--user", "1000:1000", "--group-add", "1234"],
        "grep Groups /proc/self/status",
    );
    assert!(groups.split_whitespace().any(|g| g == "1234"), "{groups}");

    // A device of the host, under another name, usable.
    let dev = sh(
        &env,
        &["--device", "/dev/null:/dev/mynull:rw"],
        "ls -l /dev/mynull; echo x > /dev/mynull && echo wrote",
    );
    assert!(
        dev.starts_with('c') && dev.contains("1,") && dev.contains("wrote"),
        "{dev}"
    );

    // The one cgroup flag checked end to end: the container's cgroup, seen from the host
    // through its process's /proc/PID/cgroup, carries it.
    let id = env.ok(&["run", "-d", "--cpu-shares", "512", "bb:1", "sleep", "30"]);
    let pid = env.inspect(id.trim())["State"]["Pid"].as_i64().unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let value = cgroups
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let file = if controllers.split(',').any(|c| c == "cpu") {
                format!("/sys/fs/cgroup/{controllers}{path}/cpu.shares")
            } else if controllers.is_empty() {
                format!("/sys/fs/cgroup{path}/cpu.weight")
            } else {
                return None;
            };
            std::fs::read_to_string(file).ok()
        })
        .unwrap_or_else(|| panic!("no cpu cgroup file for {cgroups}"));
    assert!(
        ["512", "20"].contains(&value.trim()),
        "shares 512 (v1) or weight 20 (v2): {value}"
    );
    env.ok(&["rm", "-f", id.trim()]);
}

#[test]
fn names_mounts_and_files() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);

    let hosts = sh(
        &env,
        &[
            "--add-host",
            "db:192.0.2.10",
            "--add-host",
            "v6=[2001:db8::1]",
        ],
        "cat /etc/hosts",
    );
    assert!(hosts.contains("192.0.2.10\tdb"), "{hosts}");
    assert!(hosts.contains("2001:db8::1\tv6"), "{hosts}");
    let resolv = sh(
        &env,
        &[
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.test",
            "--dns-option",
            "ndots:2",
        ],
        "cat /etc/resolv.conf",
    );
    assert!(resolv.contains("nameserver 192.0.2.53"), "{resolv}");
    assert_eq!(
        resolv.matches("nameserver").count(),
        1,
        "the host's replaced: {resolv}"
    );
    assert!(
        resolv.contains("search example.test") && resolv.contains("options ndots:2"),
        "{resolv}"
    );

    // --mount: tmpfs with a size, a named volume, a read-only bind.
    let out = sh(
        &env,
        &["--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m"],
        "grep ' /scratch ' /proc/mounts",
    );
    assert!(out.contains("tmpfs") && out.contains("size=1024k"), "{out}");
    sh(
        &env,
        &["--mount", "type=volume,src=flagvol,dst=/data"],
        "echo kept > /data/f",
    );
    let out = sh(&env, &["--mount", "source=flagvol,target=/v"], "cat /v/f");
    assert_eq!(out.trim(), "kept");
    let host = env.path("bindsrc");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hello"), "hi").unwrap();
    let mount = format!("type=bind,src={},dst=/h,readonly", host.display());
    let out = sh(
        &env,
        &["--mount", &mount],
        "cat /h/hello; touch /h/x 2>/dev/null && echo WROTE || echo refused",
    );
    assert_eq!(out, "hirefused\n");
    let e = err(
        &env,
        &["run", "--rm", "--mount", "type=bind,dst=/x", "bb:1", "true"],
    );
    assert!(e.contains("Source must not be empty"), "{e}");

    // --volumes-from: the other container's volumes at the same places.
    env.ok(&[
        "create", "--name", "holder", "-v", "/shared", "bb:1", "true",
    ]);
    sh(&env, &["--volumes-from", "holder"], "echo from > /shared/f");
    assert_eq!(
        sh(
            &env,
            &["--volumes-from", "holder:ro"],
            "cat /shared/f; touch /shared/g 2>/dev/null || echo ro"
        ),
        "from\nro\n"
    );

    // --cidfile: the id, once; an existing file is refused.
    let cid = env.path("cid");
    let id = env.ok(&[
        "create",
        "--cidfile",
        cid.to_str().unwrap(),
        "--label",
        "tier=web",
        "bb:1",
        "true",
    ]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    let e = err(
        &env,
        &["create", "--cidfile", cid.to_str().unwrap(), "bb:1", "true"],
    );
    assert!(e.contains("cid"), "{e}");
    let inspect = env.inspect(id.trim());
    assert_eq!(inspect["Config"]["Labels"]["tier"], "web");
    assert_eq!(inspect["State"]["Status"], "created");
}

#[test]
fn streams_pull_policy_and_refusals() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);

    // -a stdout: stderr is not attached.
    let out = env.run(&[
        "run",
        "--rm",
        "-a",
        "stdout",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let e = err(&env, &["run", "-d", "-a", "stdout", "bb:1", "true"]);
    assert!(e.contains("Conflicting options: -a and -d"), "{e}");

    // --pull never: a missing image is an error, without contacting a registry.
    let e = err(
        &env,
        &["run", "--rm", "--pull", "never", "nothere:1", "true"],
    );
    assert!(e.contains("No such image"), "{e}");
    let e = err(
        &env,
        &["run", "--rm", "--pull", "sometimes", "bb:1", "true"],
    );
    assert!(e.contains("pull option"), "{e}");

    for (args, says) in [
        (
            &["--storage-opt", "size=1G"][..],
            "--storage-opt size is not supported",
        ),
        (&["--ulimit", "nofile=20:10"], "ulimit"),
        (&["--log-driver", "syslog"], "log driver"),
        (&["--no-healthcheck", "--health-cmd", "true"], "health"),
        (&["--sysctl", "kernel.panic=1"], "sysctl"),
        (&["--network", "bridge"], "no container networks yet"),
    ] {
        let mut run = vec!["run", "--rm"];
        run.extend_from_slice(args);
        run.extend_from_slice(&["bb:1", "true"]);
        let e = err(&env, &run);
        assert!(e.contains(says), "{args:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    }
}

#[test]
fn the_oom_killer_is_reported() {
    if !needs_busybox() {
        return;
    }
    let env = Env::new("127.0.0.1:9");
    busybox(&env);
    let _cleanup = KillAll(&env);
    // dd's 64 MiB buffer does not fit in 16 MiB (no swap beyond the limit).
    let out = env.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "bb:1",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = &env.inspect("hog")["State"];
    assert_eq!(state["OOMKilled"], true, "{state}");
    assert_eq!(state["ExitCode"], 137);
    let events = env.ok(&["events", "--filter", "container=hog"]);
    let oom = events.find(" oom ").expect(&events);
    let die = events.find(" die ").expect(&events);
    assert!(oom < die, "{events}");
    // Started again and ending normally: no longer OOM-killed.
    env.ok(&["rm", "hog"]);
    env.ok(&[
        "run", "--name", "fine", "-m", "16m", "bb:1", "busybox", "true",
    ]);
    assert_eq!(env.inspect("fine")["State"]["OOMKilled"], false);
}
