//! Errors of the local store.

use std::path::PathBuf;

use berth_oci::Digest;

/// What went wrong in the local store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Content did not match the digest it was stored under.
    #[error("content of {expected} does not match: it hashes to {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// A blob the operation needs is not in the store.
    #[error("blob {0} is not in the local store")]
    BlobMissing(Digest),
    /// No image matches the name or id.
    #[error("no such image: {0}")]
    ImageUnknown(String),
    /// No container matches the name or id.
    #[error("No such container: {0}")]
    ContainerUnknown(String),
    /// The container name is taken.
    #[error("the container name {0:?} is already in use")]
    NameInUse(String),
    /// A short id matches several images.
    #[error("image id prefix {0} is ambiguous")]
    Ambiguous(String),
    /// A stored record could not be read back.
    #[error("corrupt store record: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("image database: {0}")]
    Database(#[from] sqlx::Error),
}

impl Error {
    /// Wrap an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the store's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
