//! [`ProcessSpec`]: what an exec'd process runs and as whom, and its checks.

use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, SeccompProfile, capability_number};

/// A process to start in a running container: [`ContainerSpec`]'s process fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// The program and its arguments; a program without `/` is looked up in `PATH`.
    pub args: Vec<String>,
    /// The environment, `KEY=value` strings; [`DEFAULT_PATH`] is used when it has no `PATH`.
    pub env: Vec<String>,
    /// The working directory inside the container (absolute; it must exist).
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The capabilities the process keeps, by name; all others are dropped.
    pub capabilities: Vec<String>,
    /// Set `no_new_privs`.
    pub no_new_privileges: bool,
    /// Apply the default seccomp profile (or `seccomp_profile`).
    pub seccomp: bool,
    /// The container's custom seccomp profile, used instead of the default one.
    pub seccomp_profile: Option<SeccompProfile>,
}

impl ProcessSpec {
    /// The process `spec` describes, running `args` instead of the container's program.
    pub fn from_container(spec: &ContainerSpec, args: Vec<String>) -> Self {
        ProcessSpec {
            args,
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            uid: spec.uid,
            gid: spec.gid,
            groups: spec.groups.clone(),
            capabilities: spec.capabilities.clone(),
            no_new_privileges: spec.no_new_privileges,
            seccomp: spec.seccomp,
            seccomp_profile: spec.seccomp_profile.clone(),
        }
    }

    /// Check it as [`ContainerSpec::validate`] checks the same fields.
    pub fn validate(&self, id: &str) -> Result<()> {
        let bad = |reason: String| Err(Error::invalid(id, reason));
        if self.args.first().is_none_or(|a| a.is_empty()) {
            return bad("no program to run".into());
        }
        if !self.cwd.starts_with('/') {
            return bad(format!("working directory {:?} is not absolute", self.cwd));
        }
        if let Some(e) = self.env.iter().find(|e| !e.contains('=')) {
            return bad(format!("environment entry {e:?} has no '='"));
        }
        if self
            .args
            .iter()
            .chain(&self.env)
            .chain([&self.cwd])
            .any(|s| s.contains('\0'))
        {
            return bad("a string contains a NUL byte".into());
        }
        if let Some(c) = self
            .capabilities
            .iter()
            .find(|c| capability_number(c).is_none())
        {
            return bad(format!("unknown capability {c:?}"));
        }
        Ok(())
    }

    /// The `PATH` the program is looked up in.
    pub fn path_env(&self) -> &str {
        crate::spec::path_env(&self.env)
    }

    /// The environment, with `PATH` added when it has none.
    pub fn full_env(&self) -> Vec<String> {
        crate::spec::full_env(&self.env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DEFAULT_PATH;

    fn process() -> ProcessSpec {
        let spec = ContainerSpec::new("x1", "/tmp", vec!["sh".into()]);
        ProcessSpec::from_container(&spec, vec!["ps".into(), "-o".into(), "pid".into()])
    }

    #[test]
    fn process_validation() {
        let mut p = process();
        assert!(p.validate("x1").is_ok());
        p.cwd = "rel".into();
        assert!(p.validate("x1").is_err());
        let mut p = process();
        p.args.clear();
        assert!(p.validate("x1").is_err());
        assert_eq!(process().path_env(), DEFAULT_PATH);
    }
}
