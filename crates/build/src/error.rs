//! The builder's errors.

use std::path::PathBuf;

/// A build error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Dockerfile that does not parse: file, line, column and what was expected.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The Dockerfile's name as the user gave it.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// An invalid `.dockerignore` pattern.
    #[error(".dockerignore line {line}: {message}")]
    Ignore {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A path that should be a directory (the context root) is not one.
    #[error("{}: not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A file name that is not UTF-8: Dockerfile paths and patterns are text.
    #[error("{}: file name is not valid UTF-8", path.display())]
    NonUtf8Path {
        /// The path, lossily shown.
        path: PathBuf,
    },
    /// A file whose size changed while it was being read.
    #[error("{}: file changed while being read", path.display())]
    Changed {
        /// The path.
        path: PathBuf,
    },
    /// A COPY/ADD source that climbs out of the build context.
    #[error("forbidden path outside the build context: {path}")]
    OutsideContext {
        /// The source as written.
        path: String,
    },
    /// A COPY/ADD source that matches nothing (missing, excluded or a dangling symlink). The
    /// caller prefixes the instruction (`COPY failed: `), as Docker does.
    #[error(
        "file not found in build context or excluded by .dockerignore: stat {path}: file does not exist"
    )]
    NotFound {
        /// The cleaned source path.
        path: String,
    },
    /// A COPY/ADD source pattern that is not valid `filepath.Match` syntax.
    #[error("{pattern}: syntax error in pattern")]
    BadGlob {
        /// The source as written.
        pattern: String,
    },
    /// A context tarball entry that would land outside the context or through a symlink.
    #[error("context tarball entry {path}: {reason}")]
    UnsafeContextEntry {
        /// The entry's name in the archive.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A layer destination path that is empty, absolute after cleaning, or climbs with `..`.
    #[error("invalid layer path {path}: {reason}")]
    LayerPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The image store failed (or holds something unreadable).
    #[error("image store: {message}")]
    Store {
        /// What failed.
        message: String,
    },
    /// A build step failed: the Dockerfile position and what went wrong.
    #[error("{file}:{line}: {instruction}: {message}")]
    Step {
        /// The Dockerfile's name.
        file: String,
        /// 1-based line of the instruction.
        line: usize,
        /// The instruction as written (shortened).
        instruction: String,
        /// What failed.
        message: String,
    },
    /// A build option that cannot work (unknown `--target`, bad `--build-arg`…).
    #[error("{message}")]
    Options {
        /// What is wrong.
        message: String,
    },
    /// A file-system error on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The builder's result.
pub type Result<T> = std::result::Result<T, Error>;
