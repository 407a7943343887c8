//! The container engines against real containers: one conformance suite run by the native
//! engine and by runc through the OCI path. Needs root and `/bin/busybox` (busybox-static);
//! the runc half also needs `runc`. Each test skips with a message when they are missing.
//! Every test has its own ids and temp dirs, and checks that no mount is left behind.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_runtime::engine::{ExitStatus, NativeRuntime, OciRuntime, Runtime, Stdio};
use berth_runtime::spec::{ContainerSpec, DEFAULT_CAPABILITIES, capability_number};
use tempfile::TempDir;

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "ps", "hostname", "id", "pwd", "wc", "true",
];

/// Copying busybox (write) excludes starting containers (read): a container process cloned
/// while another test's copy is open for writing would hold that descriptor until its exec,
/// and exec of the copy then fails with ETXTBSY.
static FORK_LOCK: RwLock<()> = RwLock::new(());

/// A runtime with a busybox rootfs of its own, in a temp dir.
struct Env {
    runtime: Box<dyn Runtime>,
    dir: TempDir,
    rootfs: PathBuf,
}

/// What a container printed and how it ended.
struct Outcome {
    status: ExitStatus,
    stdout: String,
}

fn unique_id(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("berth-test-{name}-{}-{n}", std::process::id())
}

fn prerequisites(runtime: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: the engine tests need root");
        return false;
    }
    if !Path::new(BUSYBOX).exists() {
        eprintln!("skipping: {BUSYBOX} is missing (apt-get install busybox-static)");
        return false;
    }
    // A PATH search, not `runtime --version`: spawning here would race with FORK_LOCK.
    let installed = |name: &str| {
        std::env::var("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|dir| Path::new(dir).join(name).is_file())
    };
    if runtime != "native" && !installed(runtime) {
        eprintln!("skipping: {runtime} is not installed");
        return false;
    }
    true
}

impl Env {
    fn new(runtime: &str) -> Option<Env> {
        if !prerequisites(runtime) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-engine-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        {
            let _copying = FORK_LOCK.write().unwrap_or_else(|e| e.into_inner());
            std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        }
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let runtime: Box<dyn Runtime> = match runtime {
            "native" => Box::new(NativeRuntime::new()),
            binary => Box::new(OciRuntime::new(
                binary,
                dir.path().join("state"),
                dir.path().join("bundles"),
            )),
        };
        Some(Env {
            runtime,
            dir,
            rootfs,
        })
    }

    fn spec(&self, name: &str, args: &[&str]) -> ContainerSpec {
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut spec = ContainerSpec::new(unique_id(name), &self.rootfs, args);
        spec.env = vec!["PATH=/bin".into()];
        spec
    }

    /// Run with stdin from `input`, stdout to a file; check nothing is left mounted.
    fn try_run(&self, spec: &ContainerSpec, input: &[u8]) -> berth_runtime::error::Result<Outcome> {
        let stdin_path = self.dir.path().join(format!("{}.in", spec.id));
        let stdout_path = self.dir.path().join(format!("{}.out", spec.id));
        std::fs::write(&stdin_path, input).unwrap();
        let stdio = Stdio {
            stdin: Some(OwnedFd::from(File::open(&stdin_path).unwrap())),
            stdout: Some(OwnedFd::from(File::create(&stdout_path).unwrap())),
            stderr: None,
        };
        let result = {
            let _forking = FORK_LOCK.read().unwrap_or_else(|e| e.into_inner());
            self.runtime.run(spec, stdio)
        };
        self.assert_clean();
        let stdout = std::fs::read_to_string(&stdout_path).unwrap();
        result.map(|status| Outcome { status, stdout })
    }

    fn run(&self, spec: &ContainerSpec) -> Outcome {
        match self.try_run(spec, b"") {
            Ok(outcome) => outcome,
            Err(e) => panic!("{} failed to run {:?}: {e}", self.runtime.name(), spec.args),
        }
    }

    fn run_args(&self, name: &str, args: &[&str]) -> Outcome {
        self.run(&self.spec(name, args))
    }

    fn assert_clean(&self) {
        let dir = self.dir.path().to_str().unwrap();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let left: Vec<_> = mounts.lines().filter(|l| l.contains(dir)).collect();
        assert!(left.is_empty(), "mounts left behind: {left:#?}");
        let bundles = self.dir.path().join("bundles");
        if let Ok(entries) = std::fs::read_dir(&bundles) {
            assert_eq!(
                entries.count(),
                0,
                "bundles left behind in {}",
                bundles.display()
            );
        }
    }
}

fn echo_hi(env: Env) {
    let out = env.run_args("echo", &["/bin/busybox", "echo", "hi"]);
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (ExitStatus::Exited(0), "hi\n")
    );
}

fn exit_code_propagates(env: Env) {
    let out = env.run_args("exit", &["/bin/busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status, ExitStatus::Exited(3));
    assert_eq!(out.status.code(), 3);
}

fn signal_becomes_128_plus_n(env: Env) {
    // pid 1 ignores signals it sent itself, but not a real fault: unbounded recursion on a
    // small stack ends in SIGSEGV.
    let out = env.run_args("segv", &["sh", "-c", "ulimit -s 256; f() { f; }; f"]);
    assert_eq!(out.status.code(), 128 + 11, "{:?}", out.status);
}

fn program_is_pid_1(env: Env) {
    let out = env.run_args("pid1", &["/bin/busybox", "sh", "-c", "echo $$"]);
    assert_eq!(out.stdout.trim(), "1");
}

fn hostname_is_the_containers(env: Env) {
    let mut spec = env.spec("host", &["hostname"]);
    spec.hostname = "berth-box".into();
    assert_eq!(env.run(&spec).stdout.trim(), "berth-box");
}

fn host_processes_are_invisible(env: Env) {
    let out = env.run_args("ps", &["sh", "-c", "ps"]);
    let processes = out.stdout.lines().skip(1).count();
    assert!(
        (1..=2).contains(&processes),
        "ps shows {processes} processes:\n{}",
        out.stdout
    );
}

fn host_mounts_are_invisible(env: Env) {
    let out = env.run_args("mounts", &["cat", "/proc/self/mountinfo"]);
    for line in out.stdout.lines() {
        let fields: Vec<_> = line.split(' ').collect();
        let (point, options) = (fields[4], fields[5]);
        let allowed = ["/proc", "/sys", "/dev"]
            .iter()
            .any(|p| point.starts_with(p));
        assert!(point == "/" || allowed, "host mount visible: {line}");
        if point == "/sys" {
            assert!(
                options.split(',').any(|o| o == "ro"),
                "/sys is writable: {line}"
            );
        }
    }
}

fn paths_are_masked_and_read_only(env: Env) {
    // Masked files read empty (the usual /proc/kcore is missing on some kernels).
    for file in ["/proc/timer_list", "/proc/keys", "/proc/kcore"] {
        if Path::new(file).exists() {
            let out = env.run_args("masked", &["wc", "-c", file]);
            assert_eq!(
                out.stdout.split_whitespace().next(),
                Some("0"),
                "{}",
                out.stdout
            );
        }
    }
    let out = env.run_args("ro", &["sh", "-c", "echo x > /proc/sys/kernel/hostname"]);
    assert_ne!(out.status.code(), 0, "/proc/sys is writable");
}

fn dev_has_the_standard_devices(env: Env) {
    let script = "for d in null zero full random urandom tty pts/ptmx shm mqueue; do \
                  [ -e /dev/$d ] || echo missing $d; done; echo x > /dev/null && echo ok";
    let out = env.run_args("dev", &["sh", "-c", script]);
    assert_eq!(out.stdout, "ok\n");
}

fn docker_default_capabilities(env: Env) {
    let expected = DEFAULT_CAPABILITIES
        .iter()
        .map(|c| 1u64 << capability_number(c).unwrap())
        .fold(0, |a, b| a | b);
    let out = env.run_args("caps", &["cat", "/proc/self/status"]);
    let field = |name: &str| {
        let line = out.stdout.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(field("CapEff:"), expected, "CapEff");
    assert_eq!(field("CapBnd:"), expected, "CapBnd");
}

fn signals_are_reset(env: Env) {
    // The test harness ignores SIGPIPE (every Rust program does); the container must not.
    let out = env.run_args("signals", &["cat", "/proc/self/status"]);
    for field in ["SigIgn:", "SigBlk:"] {
        let line = out.stdout.lines().find(|l| l.starts_with(field)).unwrap();
        assert_eq!(
            line.split_whitespace().nth(1),
            Some("0000000000000000"),
            "{line}"
        );
    }
}

fn user_env_cwd_and_stdin(env: Env) {
    let mut spec = env.spec(
        "user",
        &["sh", "-c", "echo $(id -u):$(id -g) $FOO $(pwd) $(cat)"],
    );
    (spec.uid, spec.gid) = (1000, 1001);
    spec.env.push("FOO=bar".into());
    spec.cwd = "/work/dir".into();
    let out = env.try_run(&spec, b"from-stdin").unwrap();
    assert_eq!(out.stdout, "1000:1001 bar /work/dir from-stdin\n");
}

fn missing_program_is_an_error(env: Env) {
    let spec = env.spec("missing", &["no-such-program"]);
    assert!(env.try_run(&spec, b"").is_err());
}

/// One `#[test]` per check and engine.
macro_rules! suite {
    ($engine:ident, $runtime:literal: $($check:ident),* $(,)?) => {
        mod $engine {
            $(
                #[test]
                fn $check() {
                    if let Some(env) = super::Env::new($runtime) {
                        super::$check(env);
                    }
                }
            )*
        }
    };
}

suite!(native, "native": echo_hi, exit_code_propagates, signal_becomes_128_plus_n, program_is_pid_1, hostname_is_the_containers,
    host_processes_are_invisible, host_mounts_are_invisible, paths_are_masked_and_read_only,
    dev_has_the_standard_devices, docker_default_capabilities, signals_are_reset, user_env_cwd_and_stdin,
    missing_program_is_an_error);
suite!(runc, "runc": echo_hi, exit_code_propagates, signal_becomes_128_plus_n, program_is_pid_1, hostname_is_the_containers,
    host_processes_are_invisible, host_mounts_are_invisible, paths_are_masked_and_read_only,
    dev_has_the_standard_devices, docker_default_capabilities, signals_are_reset, user_env_cwd_and_stdin,
    missing_program_is_an_error);
