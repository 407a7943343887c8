//! [`FakeRuntime`]: the in-memory fake of the [`Runtime`] seam, for tests of the layers above
//! (CLI, API) that must not need root. It records each spec and answers with a set exit
//! status and output.

use std::io::Write;
use std::sync::Mutex;

use super::{ExitStatus, Runtime, Stdio};
use crate::error::Result;
use crate::spec::ContainerSpec;

/// A runtime that runs nothing: it validates the spec, writes `output` to the container's
/// stdout (when one is given) and returns `status`.
#[derive(Debug)]
pub struct FakeRuntime {
    status: ExitStatus,
    output: Vec<u8>,
    runs: Mutex<Vec<ContainerSpec>>,
}

impl FakeRuntime {
    /// A fake whose every container prints `output` and exits with `status`.
    pub fn new(status: ExitStatus, output: impl Into<Vec<u8>>) -> Self {
        FakeRuntime {
            status,
            output: output.into(),
            runs: Mutex::new(Vec::new()),
        }
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
}
