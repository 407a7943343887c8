//! The runtime conformance suite: one function, [`conformance`], that drives any [`Runtime`]
//! through the OCI lifecycle and checks it behaves as the seam documents (states, pids,
//! errors, freezer, resources, stats). `tests/conformance.rs` runs it against the fake, the
//! native engine, runc and crun; other crates' tests may run it against the fake. It panics
//! on the first difference, naming the runtime and the step.

use std::time::{Duration, Instant};

use super::{Resources, Runtime, State, Status, Stdio};
use crate::cgroupfs::ContainerCgroups;
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// The program a conformance container runs (a busybox `sh` at `/bin/sh` in its rootfs): it
/// stays up, uses a little CPU, and exits 3 on SIGTERM (it is pid 1, which the kernel
/// protects from signals it has no handler for).
pub const PROGRAM: &[&str] = &[
    "/bin/sh",
    "-c",
    "trap 'exit 3' TERM; while :; do sleep 0.1; done",
];

/// What to check beyond the common state machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks {
    /// The runtime makes real cgroups under the default parent (`berth/<id>`): check the
    /// freezer state after pause and resume, and that delete removes them.
    pub cgroups: bool,
}

/// How long a killed container may take to be reported stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// `/dev/null` for all three streams (the fake ignores them).
fn null_stdio() -> Stdio {
    let null = || {
        std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .ok()
            .map(Into::into)
    };
    Stdio {
        stdin: null(),
        stdout: null(),
        stderr: null(),
        console: None,
    }
}

/// Run the suite against `runtime`. `make(name)` gives a spec with a unique id (one per
/// `name`) that runs [`PROGRAM`] in a rootfs holding busybox; it is called for three
/// containers (`main`, `created`, `forced`). Leaves no container behind, even when a check
/// fails (they are force-deleted).
pub fn conformance<R: Runtime + ?Sized>(
    runtime: &R,
    make: &dyn Fn(&str) -> ContainerSpec,
    checks: Checks,
) {
    let name = runtime.name().to_string();
    let main = make("main");
    let created = make("created");
    let forced = make("forced");
    let _cleanup = Cleanup {
        runtime,
        ids: vec![main.id.clone(), created.id.clone(), forced.id.clone()],
    };
    let id = main.id.as_str();
    let ctx = |step: &str| format!("[{name}] {step}");

    unknown_ids(runtime, &format!("{id}-ghost"), &name);

    // create → created, with its pid; a second create of the id is refused.
    let pid = runtime.create(&main, null_stdio()).or_fail(ctx("create"));
    assert!(pid > 0, "{}", ctx("create returns a pid"));
    assert_state(runtime, id, Status::Created, &ctx("after create"));
    assert_eq!(
        state(runtime, id).pid,
        pid,
        "{}",
        ctx("state pid after create")
    );
    expect_err(
        runtime.create(&main, null_stdio()),
        is_exists,
        &ctx("create twice"),
    );
    expect_err(
        runtime.pause(id),
        is_state,
        &ctx("pause a created container"),
    );
    expect_err(
        runtime.resume(id),
        is_state,
        &ctx("resume a created container"),
    );

    // start → running, same pid.
    runtime.start(id).or_fail(ctx("start"));
    assert_state(runtime, id, Status::Running, &ctx("after start"));
    assert_eq!(
        state(runtime, id).pid,
        pid,
        "{}",
        ctx("state pid after start")
    );
    expect_err(runtime.start(id), is_state, &ctx("start twice"));

    // stats: tasks and CPU time. Two tasks (the shell and a `sleep`) also mean the shell has
    // set its SIGTERM trap: a signal sent to pid 1 before that would be dropped.
    let deadline = Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let stats = runtime.stats(id).or_fail(ctx("stats"));
        if stats.cpu_ns.unwrap_or(0) > 0 && stats.pids.unwrap_or(0) >= 2 {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {stats:?}",
            ctx("stats stay empty")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        stats.memory.is_some(),
        "{}: {stats:?}",
        ctx("stats have memory")
    );

    // update: the new memory limit shows in stats.
    let limit = 64 << 20;
    let resources = Resources {
        memory: Some(limit),
        memory_swap: Some(2 * limit as i64),
        pids_limit: Some(200),
        cpu_shares: Some(512),
        ..Resources::default()
    };
    runtime.update(id, &resources).or_fail(ctx("update"));
    let stats = runtime.stats(id).or_fail(ctx("stats after update"));
    assert_eq!(
        stats.memory_limit,
        Some(limit),
        "{}",
        ctx("memory limit after update")
    );

    // pause ⇄ resume, with the freezer.
    let frozen = || ContainerCgroups::find(id).is_frozen();
    runtime.pause(id).or_fail(ctx("pause"));
    assert_state(runtime, id, Status::Paused, &ctx("after pause"));
    if checks.cgroups {
        assert!(frozen(), "{}", ctx("frozen after pause"));
    }
    expect_err(runtime.pause(id), is_state, &ctx("pause twice"));
    runtime.resume(id).or_fail(ctx("resume"));
    assert_state(runtime, id, Status::Running, &ctx("after resume"));
    if checks.cgroups {
        assert!(!frozen(), "{}", ctx("thawed after resume"));
    }
    expect_err(runtime.resume(id), is_state, &ctx("resume twice"));
    expect_err(
        runtime.delete(id, false),
        is_state,
        &ctx("delete a running container"),
    );

    // kill SIGTERM → stopped (the program exits 3; a fake reports the signal).
    runtime.kill(id, libc::SIGTERM).or_fail(ctx("kill"));
    let stopped = wait_stopped(runtime, id, &ctx("after kill"));
    if let Some(exit) = stopped.exit {
        assert!(
            matches!(exit.code(), 3 | 143),
            "{}: {exit:?}",
            ctx("exit status after SIGTERM")
        );
    }
    expect_err(
        runtime.kill(id, libc::SIGTERM),
        is_state,
        &ctx("kill a stopped container"),
    );
    expect_err(
        runtime.pause(id),
        is_state,
        &ctx("pause a stopped container"),
    );
    expect_err(
        runtime.start(id),
        is_state,
        &ctx("start a stopped container"),
    );

    // delete → gone.
    runtime.delete(id, false).or_fail(ctx("delete"));
    expect_err(runtime.state(id), is_not_found, &ctx("state after delete"));
    expect_err(
        runtime.delete(id, false),
        is_not_found,
        &ctx("delete twice"),
    );

    // A created container is deleted as it is; a running one with force.
    runtime
        .create(&created, null_stdio())
        .or_fail(ctx("create (2)"));
    runtime
        .delete(&created.id, false)
        .or_fail(ctx("delete a created container"));
    expect_err(
        runtime.state(&created.id),
        is_not_found,
        &ctx("state after delete (2)"),
    );
    runtime
        .create(&forced, null_stdio())
        .or_fail(ctx("create (3)"));
    runtime.start(&forced.id).or_fail(ctx("start (3)"));
    runtime.pause(&forced.id).or_fail(ctx("pause (3)"));
    runtime
        .delete(&forced.id, true)
        .or_fail(ctx("force delete of a paused container"));
    expect_err(
        runtime.state(&forced.id),
        is_not_found,
        &ctx("state after force delete"),
    );

    if checks.cgroups {
        for id in [&main.id, &created.id, &forced.id] {
            let left = ContainerCgroups::find(id);
            assert!(
                left.is_empty(),
                "{}: {left:?}",
                ctx("cgroups left after delete")
            );
        }
    }
}

/// Every operation on an id nobody created is [`Error::NotFound`].
fn unknown_ids<R: Runtime + ?Sized>(runtime: &R, ghost: &str, name: &str) {
    let ctx = |op: &str| format!("[{name}] {op} of an unknown id");
    expect_err(runtime.state(ghost), is_not_found, &ctx("state"));
    expect_err(runtime.start(ghost), is_not_found, &ctx("start"));
    expect_err(
        runtime.kill(ghost, libc::SIGTERM),
        is_not_found,
        &ctx("kill"),
    );
    expect_err(runtime.pause(ghost), is_not_found, &ctx("pause"));
    expect_err(runtime.resume(ghost), is_not_found, &ctx("resume"));
    expect_err(runtime.delete(ghost, true), is_not_found, &ctx("delete"));
    let memory = Resources {
        memory: Some(64 << 20),
        ..Resources::default()
    };
    expect_err(runtime.update(ghost, &memory), is_not_found, &ctx("update"));
    expect_err(runtime.stats(ghost), is_not_found, &ctx("stats"));
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::NotFound { .. })
}

fn is_state(e: &Error) -> bool {
    matches!(e, Error::InvalidState { .. })
}

fn is_exists(e: &Error) -> bool {
    matches!(e, Error::AlreadyExists { .. })
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(result: Result<T>, want: fn(&Error) -> bool, what: &str) {
    match result {
        Err(e) if want(&e) => {}
        other => panic!("{what}: unexpected {other:?}"),
    }
}

#[track_caller]
fn state<R: Runtime + ?Sized>(runtime: &R, id: &str) -> State {
    runtime
        .state(id)
        .unwrap_or_else(|e| panic!("[{}] state of {id}: {e}", runtime.name()))
}

#[track_caller]
fn assert_state<R: Runtime + ?Sized>(runtime: &R, id: &str, want: Status, what: &str) {
    let got = state(runtime, id);
    assert_eq!(got.status, want, "{what}: {got:?}");
}

fn wait_stopped<R: Runtime + ?Sized>(runtime: &R, id: &str, what: &str) -> State {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let got = state(runtime, id);
        if got.status == Status::Stopped {
            return got;
        }
        assert!(Instant::now() < deadline, "{what}: still {got:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Force-deletes the suite's containers, whatever happened.
struct Cleanup<'a, R: Runtime + ?Sized> {
    runtime: &'a R,
    ids: Vec<String>,
}

impl<R: Runtime + ?Sized> Drop for Cleanup<'_, R> {
    fn drop(&mut self) {
        for id in &self.ids {
            if self.runtime.state(id).is_ok() {
                let _ = self.runtime.resume(id);
                let _ = self.runtime.delete(id, true);
            }
        }
    }
}

/// `expect` with a message built at the call.
trait OrFail<T> {
    fn or_fail(self, what: String) -> T;
}

impl<T> OrFail<T> for Result<T> {
    #[track_caller]
    fn or_fail(self, what: String) -> T {
        self.unwrap_or_else(|e| panic!("{what}: {e:?}"))
    }
}
