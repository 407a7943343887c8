//! The engine's errors: one enum whose variants say what kind of failure happened, so that every
//! front end maps them the same way (the Engine API to an HTTP status, the CLI to one line).

use std::path::PathBuf;

/// What kind of failure an error is: what an HTTP API needs to choose its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing named does not exist (404).
    NotFound,
    /// The request conflicts with the current state: a name in use, a running container (409).
    Conflict,
    /// The request itself is wrong: a bad flag value, a malformed filter (400).
    InvalidArgument,
    /// The caller may not do this (403).
    Forbidden,
    /// Anything else: I/O, a runtime failure (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status the Docker Engine API answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::Internal => 500,
        }
    }
}

/// An engine error. Messages are one line, in Docker's words where Docker has them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `No such container: <name>` and the like.
    #[error("No such {what}: {name}")]
    NotFound {
        /// `container`, `image`, `volume`, `network`, `exec instance`.
        what: &'static str,
        /// The name or ID asked for.
        name: String,
    },
    /// The state forbids it now (a name in use, a container running, an image in use).
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// Not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, already worded for people.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::Io { .. } | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<berth_store::Error> for Error {
    fn from(e: berth_store::Error) -> Error {
        match e {
            berth_store::Error::ContainerUnknown(name) => Error::NotFound {
                what: "container",
                name,
            },
            berth_store::Error::ImageUnknown(name) => Error::NotFound {
                what: "image",
                name,
            },
            e @ berth_store::Error::NameInUse(_) => Error::Conflict(e.to_string()),
            e @ berth_store::Error::Ambiguous(_) => Error::InvalidArgument(e.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<berth_runtime::error::Error> for Error {
    fn from(e: berth_runtime::error::Error) -> Error {
        use berth_runtime::error::Error as E;
        match e {
            E::NotFound { id } => Error::NotFound {
                what: "container",
                name: id,
            },
            e @ (E::InvalidState { .. } | E::AlreadyExists { .. }) => {
                Error::Conflict(e.to_string())
            }
            e @ (E::InvalidSpec { .. } | E::SeccompProfile { .. }) => {
                Error::InvalidArgument(e.to_string())
            }
            e @ E::NotRunning { .. } => Error::Conflict(e.to_string()),
            e => Error::Internal(e.to_string()),
        }
    }
}

impl From<berth_runtime::rootfs::RootfsError> for Error {
    fn from(e: berth_runtime::rootfs::RootfsError) -> Error {
        Error::Internal(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Internal(e.to_string())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Error {
        Error::Internal(format!("a background task failed: {e}"))
    }
}

/// Word a lower-level failure for people: `context: cause`.
pub trait Context<T> {
    /// The error as [`Error::Internal`] with `what` before it.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Internal(format!("{}: {e}", what())))
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_engine_api_statuses() {
        let e = Error::NotFound {
            what: "container",
            name: "web".into(),
        };
        assert_eq!(e.to_string(), "No such container: web");
        assert_eq!(e.kind().http_status(), 404);
        assert_eq!(Error::Conflict("x".into()).kind().http_status(), 409);
        assert_eq!(Error::InvalidArgument("x".into()).kind().http_status(), 400);
        assert_eq!(Error::Forbidden("x".into()).kind().http_status(), 403);
        let io = Error::io("/x", std::io::Error::other("boom"));
        assert_eq!(io.kind(), ErrorKind::Internal);
        assert_eq!(io.to_string(), "/x: boom");
    }
}
