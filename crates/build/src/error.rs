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
