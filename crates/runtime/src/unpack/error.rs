//! Errors of layer unpacking. Local to `unpack` so the module stands alone; every variant that
//! concerns one tar entry carries that entry's path as written in the archive.

use std::io;
use std::path::PathBuf;

/// What went wrong while unpacking a layer.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The layer stream could not be read, decompressed or parsed as tar.
    #[error("reading layer: {0}")]
    Read(#[source] io::Error),
    /// The layer is compressed with a format berth does not decompress.
    #[error("layer is {0}-compressed; only gzip and uncompressed layers are supported")]
    UnsupportedCompression(&'static str),
    /// A header field (mode, owner, time, device numbers) could not be parsed.
    #[error("{path}: invalid tar header: {source}")]
    Header {
        /// The entry's path in the archive.
        path: PathBuf,
        /// What the tar reader reported.
        #[source]
        source: io::Error,
    },
    /// The entry's path, or its hard-link target, climbs above the destination with `..`.
    #[error("{path}: path escapes the destination")]
    Escape {
        /// The entry's path in the archive.
        path: PathBuf,
    },
    /// The entry's path cannot be used (for example a file named like the destination itself).
    #[error("{path}: invalid entry path")]
    InvalidPath {
        /// The entry's path in the archive.
        path: PathBuf,
    },
    /// A whiteout names nothing, `.` or `..`.
    #[error("{path}: invalid whiteout")]
    InvalidWhiteout {
        /// The entry's path in the archive.
        path: PathBuf,
    },
    /// Resolving the entry's parent directories met more than 40 symbolic links.
    #[error("{path}: too many levels of symbolic links")]
    SymlinkLoop {
        /// The entry's path in the archive.
        path: PathBuf,
    },
    /// One of the entry's parent components exists and is neither a directory nor a symlink.
    #[error("{path}: a parent component is not a directory")]
    NotADirectory {
        /// The entry's path in the archive.
        path: PathBuf,
    },
    /// A hard link's target is missing, is a directory, or is the destination itself.
    #[error("{path}: hard link target {target}: {reason}")]
    LinkTarget {
        /// The entry's path in the archive.
        path: PathBuf,
        /// The link target as written in the archive.
        target: PathBuf,
        /// Why the target cannot be linked.
        reason: &'static str,
    },
    /// The entry has a type berth does not unpack.
    #[error("{path}: unsupported tar entry type {kind:?}")]
    UnsupportedType {
        /// The entry's path in the archive.
        path: PathBuf,
        /// The raw type flag.
        kind: char,
    },
    /// An overlay whiteout (device node or opaque xattr) could not be created.
    #[error("{path}: overlay whiteouts need CAP_MKNOD/CAP_SYS_ADMIN: {source}")]
    OverlayPrivilege {
        /// The entry's path in the archive.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// The entry would replace a directory with a non-directory or the reverse, which
    /// [`super::UnpackOptions::keep_kinds`] forbids.
    #[error("{path}: cannot replace a directory with a non-directory or the reverse")]
    KindConflict {
        /// The entry's path in the archive.
        path: PathBuf,
    },
    /// A filesystem operation for the entry failed.
    #[error("{path}: {source}")]
    Io {
        /// The entry's path in the archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl UnpackError {
    /// Wrap an I/O error with the entry path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> UnpackError {
        UnpackError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`UnpackError`].
pub type Result<T> = std::result::Result<T, UnpackError>;
