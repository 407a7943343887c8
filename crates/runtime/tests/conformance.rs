//! The runtime conformance suite (`berth_runtime::engine::conformance::conformance`, one
//! function) run against every implementation of the `Runtime` seam available here: the
//! in-memory fake (always), the native engine and runc (need root and busybox-static; runc
//! is required when `CI=true`, else skipped with a message when missing) and crun.
//!
//! crun is an exception to "required under CI": on hybrid cgroup hosts (v1 controllers plus
//! controllers on the unified v2 hierarchy) crun 1.8 refuses to run unless the host's
//! cgroups are rebound machine-wide, which tests must not do. So crun is used only when a
//! quick `run` of a trivial bundle works here; otherwise its run is skipped with the reason
//! printed, even with `CI=true`.
//!
//! Each test has its own ids and temp dir, so they run in parallel.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_runtime::cgroupfs::ContainerCgroups;
use berth_runtime::engine::conformance::{Checks, PROGRAM, conformance};
use berth_runtime::engine::{
    ExitStatus, FakeRuntime, NativeRuntime, OciRuntime, Resources, Runtime, Status, Stdio,
};
use berth_runtime::error::Error;
use berth_runtime::spec::ContainerSpec;
use tempfile::TempDir;

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &["sh", "sleep", "true"];

/// Copying busybox (write) excludes starting containers (read): a process cloned while a
/// copy is open for writing would hold it until its exec, and exec of the copy would then
/// fail with ETXTBSY. (A hard link, when /tmp is on busybox's filesystem, writes nothing.)
static FORK_LOCK: RwLock<()> = RwLock::new(());

fn unique_id(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("berth-conf-{name}-{}-{n}", std::process::id())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn installed(name: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|dir| Path::new(dir).join(name).is_file())
}

/// Root and busybox, or why not.
fn real_prerequisites() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the real runtimes need root".into());
    }
    if !Path::new(BUSYBOX).exists() {
        return Err(format!(
            "{BUSYBOX} is missing (apt-get install busybox-static)"
        ));
    }
    Ok(())
}

/// A temp dir with a busybox rootfs in it.
struct Rootfs {
    dir: TempDir,
    rootfs: PathBuf,
}

impl Rootfs {
    fn new() -> Rootfs {
        let dir = tempfile::Builder::new()
            .prefix("berth-conformance-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        let target = rootfs.join("bin/busybox");
        if std::fs::hard_link(BUSYBOX, &target).is_err() {
            let _copying = FORK_LOCK.write().unwrap_or_else(|e| e.into_inner());
            std::fs::copy(BUSYBOX, &target).unwrap();
        }
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        Rootfs { dir, rootfs }
    }

    fn spec(&self, name: &str, args: &[&str]) -> ContainerSpec {
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut spec = ContainerSpec::new(unique_id(name), &self.rootfs, args);
        spec.env = vec!["PATH=/bin".into()];
        spec
    }

    fn oci(&self, binary: &str) -> OciRuntime {
        OciRuntime::new(
            binary,
            self.dir.path().join("state"),
            self.dir.path().join("bundles"),
        )
    }
}

/// Run the suite against `runtime`, with specs of `rootfs` running the suite's program.
fn run_suite(runtime: &dyn Runtime, rootfs: &Rootfs, checks: Checks) {
    let _forking = FORK_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let started = std::time::Instant::now();
    conformance(runtime, &|name| rootfs.spec(name, PROGRAM), checks);
    eprintln!(
        "conformance [{}]: passed in {:?}",
        runtime.name(),
        started.elapsed()
    );
}

#[test]
fn conformance_fake() {
    let fake = FakeRuntime::new(ExitStatus::Exited(0), "");
    let make = |name: &str| ContainerSpec::new(unique_id(name), "/", vec!["sh".into()]);
    conformance(&fake, &make, Checks::default());
}

#[test]
fn conformance_native() {
    if let Err(why) = real_prerequisites() {
        assert!(!ci(), "CI=true but the native engine cannot run: {why}");
        eprintln!("skipping the native conformance run: {why}");
        return;
    }
    let rootfs = Rootfs::new();
    run_suite(&NativeRuntime::new(), &rootfs, Checks { cgroups: true });
}

#[test]
fn conformance_runc() {
    let why = real_prerequisites().err().or_else(|| {
        (!installed("runc")).then(|| "runc is not installed (apt-get install runc)".to_string())
    });
    if let Some(why) = why {
        assert!(!ci(), "CI=true but runc cannot run: {why}");
        eprintln!("skipping the runc conformance run: {why}");
        return;
    }
    let rootfs = Rootfs::new();
    run_suite(&rootfs.oci("runc"), &rootfs, Checks { cgroups: true });
}

/// Skipped (even under CI, see the module doc) unless a trivial `crun run` works here.
#[test]
fn conformance_crun() {
    let why = real_prerequisites().err().or_else(|| {
        (!installed("crun")).then(|| "crun is not installed (apt-get install crun)".to_string())
    });
    if let Some(why) = why {
        eprintln!("skipping the crun conformance run: {why}");
        return;
    }
    let rootfs = Rootfs::new();
    let crun = rootfs.oci("crun");
    let probe = {
        let _forking = FORK_LOCK.read().unwrap_or_else(|e| e.into_inner());
        crun.run(&rootfs.spec("probe", &["/bin/true"]), Stdio::inherit())
    };
    match probe {
        Ok(status) if status.code() == 0 => {}
        other => {
            eprintln!(
                "skipping the crun conformance run: a trivial `crun run` fails here: {other:?}"
            );
            return;
        }
    }
    // crun uses the v1 hierarchies here (see `OciRuntime`), so its cgroups are found as
    // runc's are.
    run_suite(&crun, &rootfs, Checks { cgroups: true });
}

/// Native only: `exec` happens at `start`, so a missing program is `create`'s success and
/// `start`'s [`Error::Exec`]; the process then ends with 127 and deletes cleanly.
#[test]
fn native_start_reports_a_missing_program() {
    if let Err(why) = real_prerequisites() {
        eprintln!("skipping: {why}");
        return;
    }
    let rootfs = Rootfs::new();
    let native = NativeRuntime::new();
    let spec = rootfs.spec("missing", &["/bin/no-such-program"]);
    let _forking = FORK_LOCK.read().unwrap_or_else(|e| e.into_inner());
    native.create(&spec, Stdio::inherit()).unwrap();
    let err = native.start(&spec.id).unwrap_err();
    assert!(matches!(err, Error::Exec { .. }), "{err:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let state = loop {
        let state = native.state(&spec.id).unwrap();
        if state.status == Status::Stopped {
            break state;
        }
        assert!(std::time::Instant::now() < deadline, "{state:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(state.exit, Some(ExitStatus::Exited(127)));
    native.delete(&spec.id, false).unwrap();
    assert!(ContainerCgroups::find(&spec.id).is_empty());
}

/// Native only: `update` writes the v1 cgroup files (cpu quota, pids, cpuset) of a running
/// container; a set-up failure at `create` leaves nothing behind.
#[test]
fn native_update_writes_cgroup_files() {
    if let Err(why) = real_prerequisites() {
        eprintln!("skipping: {why}");
        return;
    }
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipping: the file checks are for v1 hierarchies");
        return;
    }
    let rootfs = Rootfs::new();
    let native = NativeRuntime::new();
    let spec = rootfs.spec("update", PROGRAM);
    let _forking = FORK_LOCK.read().unwrap_or_else(|e| e.into_inner());
    native.create(&spec, Stdio::inherit()).unwrap();
    native.start(&spec.id).unwrap();
    let resources = Resources {
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        pids_limit: Some(50),
        cpuset_cpus: Some("0".into()),
        blkio_weight: Some(300),
        ..Resources::default()
    };
    native.update(&spec.id, &resources).unwrap();
    let read = |file: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{file}"))
            .unwrap()
            .trim()
            .to_string()
    };
    let id = &spec.id;
    assert_eq!(read(&format!("cpu/berth/{id}/cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&format!("pids/berth/{id}/pids.max")), "50");
    assert_eq!(read(&format!("cpuset/berth/{id}/cpuset.cpus")), "0");
    native.delete(id, true).unwrap();
    assert!(ContainerCgroups::find(id).is_empty());

    // A rootfs that does not exist: create fails and leaves no container or cgroup.
    let mut bad = rootfs.spec("bad", &["/bin/sh"]);
    bad.rootfs = rootfs.dir.path().join("no-such-rootfs");
    assert!(native.create(&bad, Stdio::inherit()).is_err());
    assert!(matches!(native.state(&bad.id), Err(Error::NotFound { .. })));
    assert!(ContainerCgroups::find(&bad.id).is_empty());
}

/// Latency of one create → start → delete (force) cycle per runtime, median of 10
/// (`cargo test -p berth-runtime --test conformance -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check"]
fn lifecycle_latency() {
    if let Err(why) = real_prerequisites() {
        eprintln!("skipping: {why}");
        return;
    }
    let rootfs = Rootfs::new();
    let mut runtimes: Vec<Box<dyn Runtime>> = vec![Box::new(NativeRuntime::new())];
    for binary in ["runc", "crun"] {
        if installed(binary) {
            runtimes.push(Box::new(rootfs.oci(binary)));
        }
    }
    let _forking = FORK_LOCK.read().unwrap_or_else(|e| e.into_inner());
    for runtime in &runtimes {
        let mut times = Vec::new();
        for _ in 0..10 {
            let spec = rootfs.spec("latency", &["/bin/sleep", "60"]);
            let started = std::time::Instant::now();
            runtime.create(&spec, Stdio::inherit()).unwrap();
            let created = started.elapsed();
            runtime.start(&spec.id).unwrap();
            let running = started.elapsed();
            runtime.delete(&spec.id, true).unwrap();
            times.push((created, running, started.elapsed()));
        }
        times.sort_by_key(|t| t.2);
        let (c, s, d) = times[times.len() / 2];
        eprintln!(
            "{}: create {c:?}, +start {:?}, +delete --force {:?} (total {d:?})",
            runtime.name(),
            s - c,
            d - s
        );
    }
}
