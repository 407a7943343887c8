//! [`FakeRuntime`]: the in-memory fake of the [`Runtime`] seam, for tests of the layers above
//! (CLI, API) that must not need root. It records each spec and answers with a set exit
//! status and output. Its lifecycle operations keep an in-memory map id → state with the
//! real engines' state machine and errors (the conformance suite checks it like them), but
//! no processes: pids are made-up numbers, `kill` stops a container as killed by the signal
//! (exit code 128 + signal), `stats` gives fixed nonzero figures and the updated memory
//! limit.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use super::lifecycle::{Resources, State, Stats, Status, invalid_state};
use super::{ExitStatus, Runtime, Stdio};
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// A fake container: its state and the resources last set.
#[derive(Debug, Clone)]
struct FakeContainer {
    state: State,
    memory_limit: Option<u64>,
}

/// A runtime that runs nothing: it validates the spec, writes `output` to the container's
/// stdout (when one is given) and returns `status`.
#[derive(Debug)]
pub struct FakeRuntime {
    status: ExitStatus,
    output: Vec<u8>,
    runs: Mutex<Vec<ContainerSpec>>,
    containers: Mutex<HashMap<String, FakeContainer>>,
    next_pid: std::sync::atomic::AtomicU32,
}

impl FakeRuntime {
    /// A fake whose every container prints `output` and exits with `status`.
    pub fn new(status: ExitStatus, output: impl Into<Vec<u8>>) -> Self {
        FakeRuntime {
            status,
            output: output.into(),
            runs: Mutex::new(Vec::new()),
            containers: Mutex::new(HashMap::new()),
            next_pid: std::sync::atomic::AtomicU32::new(1000),
        }
    }

    /// Run `f` on container `id`'s entry; unknown ids are [`Error::NotFound`].
    fn with<T>(&self, id: &str, f: impl FnOnce(&mut FakeContainer) -> Result<T>) -> Result<T> {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let container = map
            .get_mut(id)
            .ok_or_else(|| Error::NotFound { id: id.to_string() })?;
        f(container)
    }

    /// Move container `id` from `from` to `to` (`op` names the operation in errors).
    fn transition(&self, id: &str, from: &[Status], to: Status, op: &str) -> Result<()> {
        self.with(id, |c| {
            if !from.contains(&c.state.status) {
                return Err(invalid_state(id, c.state.status, op));
            }
            c.state.status = to;
            Ok(())
        })
    }

    /// The specs run so far, oldest first.
    pub fn runs(&self) -> Vec<ContainerSpec> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Runtime for FakeRuntime {
    fn name(&self) -> &str {
        "fake"
    }

    fn run(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<ExitStatus> {
        spec.validate()?;
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(spec.clone());
        if let Some(fd) = stdio.stdout {
            // Like a real container: output that cannot be written is the container's problem.
            let _ = std::fs::File::from(fd).write_all(&self.output);
        }
        Ok(self.status)
    }

    fn create(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<u32> {
        spec.validate()?;
        drop(stdio);
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(&spec.id) {
            return Err(Error::AlreadyExists {
                id: spec.id.clone(),
            });
        }
        let pid = self
            .next_pid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state = State {
            status: Status::Created,
            pid,
            exit: None,
        };
        let memory_limit = spec.memory;
        map.insert(
            spec.id.clone(),
            FakeContainer {
                state,
                memory_limit,
            },
        );
        Ok(pid)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.transition(id, &[Status::Created], Status::Running, "start")
    }

    fn state(&self, id: &str) -> Result<State> {
        self.with(id, |c| Ok(c.state))
    }

    fn kill(&self, id: &str, signal: i32) -> Result<()> {
        self.with(id, |c| match c.state.status {
            Status::Stopped | Status::Creating => Err(invalid_state(id, c.state.status, "kill")),
            // Signal 0 only checks; a paused process dies once thawed, as in the kernel.
            _ if signal == 0 => Ok(()),
            Status::Paused if signal != libc::SIGKILL => Ok(()),
            _ => {
                c.state.status = Status::Stopped;
                c.state.exit = Some(ExitStatus::Signaled(signal));
                Ok(())
            }
        })
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.transition(id, &[Status::Running], Status::Paused, "pause")
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.transition(id, &[Status::Paused], Status::Running, "resume")
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let status = map
            .get(id)
            .ok_or_else(|| Error::NotFound { id: id.to_string() })?
            .state
            .status;
        match status {
            Status::Stopped | Status::Created => {}
            Status::Running | Status::Paused if force => {}
            _ => return Err(invalid_state(id, status, "delete")),
        }
        map.remove(id);
        Ok(())
    }

    fn update(&self, id: &str, resources: &Resources) -> Result<()> {
        resources.as_spec(id).validate()?;
        self.with(id, |c| {
            if matches!(c.state.status, Status::Stopped | Status::Creating) {
                return Err(invalid_state(id, c.state.status, "update"));
            }
            if let Some(memory) = resources.memory {
                c.memory_limit = Some(memory);
            }
            Ok(())
        })
    }

    fn stats(&self, id: &str) -> Result<Stats> {
        self.with(id, |c| {
            let running = matches!(c.state.status, Status::Running | Status::Paused);
            Ok(Stats {
                cpu_ns: Some(if running { 1_000_000 } else { 0 }),
                memory: Some(if running { 1 << 20 } else { 0 }),
                memory_limit: c.memory_limit,
                // A shell and its child, like the conformance suite's program.
                pids: Some(if running { 2 } else { 0 }),
                block_read: 0,
                block_write: 0,
            })
        })
    }
}
