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
    "sh", "echo", "cat", "ps", "hostname", "id", "pwd", "wc", "true", "grep", "unshare",
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
            console: None,
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

fn seccomp_mode(env: &Env, unconfined: bool) -> String {
    let mut spec = env.spec("seccomp-mode", &["grep", "^Seccomp:", "/proc/self/status"]);
    spec.seccomp = !unconfined;
    env.run(&spec)
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string()
}

fn seccomp_is_on_by_default(env: Env) {
    assert_eq!(seccomp_mode(&env, false), "2");
    assert_eq!(seccomp_mode(&env, true), "0");
}

fn seccomp_blocks_unshare_even_with_cap_sys_admin(env: Env) {
    let run = |seccomp: bool| {
        let mut spec = env.spec(
            "seccomp-unshare",
            &["sh", "-c", "unshare -n true 2>&1; echo $?"],
        );
        spec.capabilities.push("CAP_SYS_ADMIN".into());
        spec.seccomp = seccomp;
        env.run(&spec).stdout
    };
    let confined = run(true);
    assert!(confined.contains("Operation not permitted"), "{confined}");
    assert!(confined.ends_with("1\n"), "{confined}");
    assert_eq!(run(false), "0\n");
}

/// A static x86_64 ELF that makes system call `nr` with all-zero arguments and exits with the
/// negated result (the errno on failure). For `add_key(NULL, …)` (248, no capability needed):
/// EPERM (1) from seccomp, EFAULT (14) from the kernel otherwise.
fn syscall_elf(nr: u32) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    #[rustfmt::skip]
    let code: &[u8] = &[
        0xb8, nr as u8, (nr >> 8) as u8, (nr >> 16) as u8, (nr >> 24) as u8, // mov eax, nr
        0x31, 0xff,               // xor edi, edi
        0x31, 0xf6,               // xor esi, esi
        0x31, 0xd2,               // xor edx, edx
        0x45, 0x31, 0xd2,         // xor r10d, r10d
        0x45, 0x31, 0xc0,         // xor r8d, r8d
        0x0f, 0x05,               // syscall
        0xf7, 0xd8,               // neg eax
        0x89, 0xc7,               // mov edi, eax
        0xb8, 60, 0, 0, 0,        // mov eax, 60 (__NR_exit)
        0x0f, 0x05,               // syscall
    ];
    let size = (64 + 56 + code.len()) as u64;
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + 120).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R + X
    for word in [0, BASE, BASE, size, size, 0x1000u64] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(code);
    assert_eq!(elf.len() as u64, size);
    elf
}

fn seccomp_refuses_add_key(env: Env) {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipping: the add_key test program is x86_64 code");
        return;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let _copying = FORK_LOCK.write().unwrap_or_else(|e| e.into_inner());
        let path = env.rootfs.join("bin/add_key");
        std::fs::write(&path, syscall_elf(248)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // x32 getpid: ENOSYS (38) or the pid without the filter, EPERM with it.
        let path = env.rootfs.join("bin/x32");
        std::fs::write(&path, syscall_elf(0x4000_0000 | 39)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut x32 = env.spec("seccomp-x32", &["/bin/x32"]);
    // EPERM from berth's filter; runc's libseccomp kills a foreign ABI's call (SIGSYS).
    let status = env.run(&x32).status;
    assert!(
        status == ExitStatus::Exited(libc::EPERM) || status.code() == 128 + libc::SIGSYS,
        "{status:?}"
    );
    x32.seccomp = false;
    assert_ne!(env.run(&x32).status, ExitStatus::Exited(libc::EPERM));
    let mut spec = env.spec("seccomp-add-key", &["/bin/add_key"]);
    assert_eq!(env.run(&spec).status, ExitStatus::Exited(libc::EPERM));
    spec.seccomp = false;
    let status = env.run(&spec).status;
    assert!(
        status != ExitStatus::Exited(libc::EPERM) && status != ExitStatus::Exited(0),
        "{status:?}"
    );
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
    missing_program_is_an_error, seccomp_is_on_by_default, seccomp_blocks_unshare_even_with_cap_sys_admin,
    seccomp_refuses_add_key);
suite!(runc, "runc": echo_hi, exit_code_propagates, signal_becomes_128_plus_n, program_is_pid_1, hostname_is_the_containers,
    host_processes_are_invisible, host_mounts_are_invisible, paths_are_masked_and_read_only,
    dev_has_the_standard_devices, docker_default_capabilities, signals_are_reset, user_env_cwd_and_stdin,
    missing_program_is_an_error, seccomp_is_on_by_default, seccomp_blocks_unshare_even_with_cap_sys_admin,
    seccomp_refuses_add_key);
