//! Errors of the registry client: each names the registry, repository or file it concerns, so a
//! message alone tells the user what failed and where.

use std::path::PathBuf;

use berth_oci::Digest;

/// What went wrong while configuring the client or talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client configuration (file or environment) could not be read or made sense of.
    #[error("invalid configuration{}: {reason}", path_suffix(.path))]
    Config {
        /// The file that was read, if the problem came from one.
        path: Option<PathBuf>,
        /// Why it was refused.
        reason: String,
    },
    /// The credential store (Docker's `config.json`) could not be read or written.
    #[error("credentials: {reason}")]
    Credentials {
        /// What was wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `docker-credential-*` helper failed.
    #[error("credential helper {helper}: {reason}")]
    CredentialHelper {
        /// The helper's name (`docker-credential-<helper>`).
        helper: String,
        /// What went wrong.
        reason: String,
    },
    /// An image reference, digest, repository name or tag was malformed.
    #[error(transparent)]
    Oci(#[from] berth_oci::Error),
    /// The registry refused our credentials, or wants some and we have none.
    #[error("{registry}: unauthorized: {reason} (try `berth login {registry}`)")]
    Unauthorized {
        /// The registry that refused.
        registry: String,
        /// What the registry or the token server said.
        reason: String,
    },
    /// The registry could not be reached at all (DNS, connection, TLS).
    #[error("cannot reach registry {registry}: {reason}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// Why, in a few words (e.g. "connection refused").
        reason: String,
    },
    /// The registry answered a request with an error status.
    #[error("{}", registry_message(.what, *.status, .code, .message))]
    Registry {
        /// The registry.
        registry: String,
        /// What was asked for, e.g. `127.0.0.1:5000/foo:bar` or a blob digest.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The OCI error code (`MANIFEST_UNKNOWN`, ...), or `HTTP <status>` without one.
        code: String,
        /// The registry's own message, if it gave one.
        message: Option<String>,
    },
    /// The connection broke or the registry sent something that is not HTTP we understand.
    #[error("{registry}: {what}: {reason}")]
    Transport {
        /// The registry.
        registry: String,
        /// What was being done.
        what: String,
        /// The transport's complaint.
        reason: String,
    },
    /// The registry answered with a body or headers that break the protocol.
    #[error("{registry}: bad response to {what}: {reason}")]
    Protocol {
        /// The registry.
        registry: String,
        /// What was being done.
        what: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// Content did not hash to the digest it was fetched or pushed by.
    #[error("{registry}/{repository}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The digest that was asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A TLS CA file could not be used.
    #[error("{}: invalid CA certificate: {reason}", .path.display())]
    Certificate {
        /// The PEM file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" in {}", p.display()),
        None => String::new(),
    }
}

/// `manifest unknown: 127.0.0.1:5000/foo:bar not found (MANIFEST_UNKNOWN)`.
fn registry_message(what: &str, status: u16, code: &str, message: &Option<String>) -> String {
    let head = match message {
        Some(m) if !m.is_empty() => m.clone(),
        _ => format!("HTTP {status}"),
    };
    let tail = if status == 404 { " not found" } else { "" };
    format!("{head}: {what}{tail} ({code})")
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
