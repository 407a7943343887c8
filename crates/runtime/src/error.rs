//! Errors of the container engines: a bad [`ContainerSpec`](crate::spec::ContainerSpec), a
//! failed step while setting a container up, or an external OCI runtime that failed. Layer
//! unpacking has its own error type in [`crate::unpack`].

use std::path::PathBuf;

/// What went wrong while running a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be run as it is (empty args, relative rootfs, NUL byte, bad id…).
    #[error("container {id}: invalid spec: {reason}")]
    InvalidSpec {
        /// The container id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A seccomp profile (`--security-opt seccomp=FILE`) cannot be used: not JSON, or an
    /// unsupported action, operator or field in one of its entries.
    #[error("seccomp profile {profile}: {reason}")]
    SeccompProfile {
        /// The profile's path.
        profile: String,
        /// What is wrong, naming the entry (`syscalls[3] (mkdir)`).
        reason: String,
    },
    /// A file operation on the host side failed (bundle, state or output files).
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Creating the container's process (clone3 with new namespaces) failed.
    #[error("container {id}: cannot create the container process: {source}")]
    Clone {
        /// The container id.
        id: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// One step of the container's set-up (a mount, pivot_root, a capability drop…) failed
    /// inside the new namespaces, before the program was started.
    #[error("container {id}: {step}: {source}")]
    Setup {
        /// The container id.
        id: String,
        /// The step that failed, e.g. `mount proc on /proc`.
        step: String,
        /// The errno it failed with.
        #[source]
        source: std::io::Error,
    },
    /// The container's program could not be executed (not found, not executable).
    #[error("container {id}: cannot execute {program:?}: {source}")]
    Exec {
        /// The container id.
        id: String,
        /// The program as given in the spec's args.
        program: String,
        /// The errno `execve` failed with.
        #[source]
        source: std::io::Error,
    },
    /// Creating, joining or writing the container's cgroups failed.
    #[error("container {id}: cgroup {path}: {source}")]
    Cgroup {
        /// The container id.
        id: String,
        /// The cgroup file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the container's process failed.
    #[error("container {id}: waiting for the container failed: {source}")]
    Wait {
        /// The container id.
        id: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The OCI runtime spec could not be built or written.
    #[error("container {id}: OCI runtime spec: {source}")]
    OciSpec {
        /// The container id.
        id: String,
        /// The underlying error.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// The external OCI runtime (runc, crun) could not be started.
    #[error("container {id}: cannot start {runtime}: {source}")]
    RuntimeSpawn {
        /// The container id.
        id: String,
        /// The runtime binary.
        runtime: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The external OCI runtime failed by itself, before or instead of running the container.
    #[error("container {id}: {runtime} failed: {message}")]
    RuntimeFailed {
        /// The container id.
        id: String,
        /// The runtime binary.
        runtime: PathBuf,
        /// The runtime's own error message (from its log).
        message: String,
    },
    /// The container is not running (exec): its first process is gone.
    #[error("container {id} is not running")]
    NotRunning {
        /// The container id.
        id: String,
    },
    /// The container has no cgroup of this controller (`pause` without a freezer, or a
    /// container started before berth gave every container one).
    #[error("container {id} has no {controller} cgroup")]
    NoCgroup {
        /// The container id.
        id: String,
        /// The controller (`freezer`, `memory`…).
        controller: String,
    },
    /// No container has this id (a lifecycle operation on an unknown or deleted container).
    #[error("container {id} does not exist")]
    NotFound {
        /// The container id.
        id: String,
    },
    /// The container exists but is not in a state that allows the operation (start of a
    /// running container, pause of a paused one, kill of a stopped one, delete of a running
    /// one without force…).
    #[error("container {id} is {status}: cannot {op} it")]
    InvalidState {
        /// The container id.
        id: String,
        /// Its state, as OCI names it (`created`, `running`, `paused`, `stopped`).
        status: String,
        /// The operation refused (`start`, `pause`…).
        op: String,
    },
    /// A container with this id already exists (create).
    #[error("container {id} already exists")]
    AlreadyExists {
        /// The container id.
        id: String,
    },
    /// The engine cannot do this (exec with an engine that lacks it).
    #[error("container {id}: {what} is not supported by the {runtime} runtime")]
    Unsupported {
        /// The container id.
        id: String,
        /// The engine's name.
        runtime: String,
        /// What was asked.
        what: String,
    },
}

impl Error {
    /// Wrap an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::InvalidSpec`] for container `id`.
    pub fn invalid(id: &str, reason: impl Into<String>) -> Error {
        Error::InvalidSpec {
            id: id.to_string(),
            reason: reason.into(),
        }
    }
}

/// Result with the runtime's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
