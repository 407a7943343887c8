//! Errors of the OCI vocabulary: each says which input was wrong and why.

/// What went wrong while reading an OCI value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A digest string was not `algorithm:hex` with a known algorithm and the right length.
    #[error("invalid digest {value:?}: {reason}")]
    InvalidDigest {
        /// The text that was given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An image reference (`[registry/]name[:tag][@digest]`) could not be parsed.
    #[error("invalid reference {value:?}: {reason}")]
    InvalidReference {
        /// The text that was given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A repository name does not match the distribution-spec grammar.
    #[error("invalid repository name {0:?}")]
    InvalidName(String),
    /// A tag does not match `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    #[error("invalid tag {0:?}")]
    InvalidTag(String),
    /// A manifest could not be understood.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    /// A manifest uses a format berth does not accept (e.g. Docker schema 1).
    #[error("unsupported manifest: {0}")]
    UnsupportedManifest(String),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
