//! The registry's error type. Each variant maps to one OCI distribution-spec error code and HTTP
//! status in [`Error::code`] and [`Error::status`]; the wire JSON is written only by the
//! `IntoResponse` impl in `http::response`, never by `Display`.

use berth_oci::Digest;

/// Everything that can go wrong in the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The blob is not known in this repository.
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    /// An upload request was malformed or could not be applied.
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// The upload session does not exist (or belongs to another repository).
    #[error("blob upload unknown to registry: {0}")]
    BlobUploadUnknown(String),
    /// A digest was malformed, missing, or did not match the content.
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    /// A manifest references a blob or manifest this repository does not hold.
    #[error("manifest references unknown content: {0}")]
    ManifestBlobUnknown(Digest),
    /// A manifest could not be accepted.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// No such manifest (by tag or digest) in this repository.
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    /// The repository name does not follow the grammar.
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    /// The repository does not exist.
    #[error("repository name not known to registry: {0}")]
    NameUnknown(String),
    /// A length or size did not match what was sent.
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    /// The manifest or request body is larger than the registry accepts.
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// A chunk arrived out of order, or a requested range cannot be served.
    #[error("requested range not satisfiable: {0}")]
    RangeNotSatisfiable(String),
    /// A pagination parameter (`n`) is not a number.
    #[error("invalid number of results requested: {0}")]
    PaginationInvalid(String),
    /// The operation is switched off or not implemented.
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    /// The request needs (other) credentials: 401 with `challenge` as `WWW-Authenticate`.
    #[error("authentication required: {message}")]
    Unauthorized {
        /// Why (never contains a secret).
        message: String,
        /// The `WWW-Authenticate` value.
        challenge: String,
    },
    /// The caller is known but may not do this.
    #[error("requested access to the resource is denied: {0}")]
    Denied(String),
    /// A blob still referenced by a manifest of the repository cannot be deleted.
    #[error("blob {digest} is used by manifest {manifest} of {repo}: delete the manifest first")]
    BlobInUse {
        /// The blob.
        digest: Digest,
        /// A manifest using it.
        manifest: Digest,
        /// The repository.
        repo: String,
    },
    /// A push would take a namespace past its storage quota.
    #[error(
        "quota exceeded: namespace {namespace} may hold {} and holds {}; this push adds {} \
         (limit {limit} bytes, usage {usage} bytes, adding {size} bytes)",
        human_bytes(*.limit), human_bytes(*.usage), human_bytes(*.size)
    )]
    QuotaExceeded {
        /// The namespace whose quota it is.
        namespace: String,
        /// Its quota, in bytes.
        limit: u64,
        /// What it holds now, in bytes.
        usage: u64,
        /// What the push would add, in bytes.
        size: u64,
    },
    /// A tag protected by an `[[immutable_tags]]` rule cannot be moved or deleted.
    #[error("tag {tag} is immutable ({rule}): it points at {digest} and cannot be {verb}")]
    TagImmutable {
        /// `repository:tag`.
        tag: String,
        /// The manifest it points at.
        digest: Digest,
        /// What was refused: `moved`, `deleted`, or `deleted with its manifest`.
        verb: &'static str,
        /// The rule protecting it (`rule: repositories "prod/**", tags "^v"`).
        rule: String,
    },
    /// Too many failed logins from this user or address.
    #[error("too many failed login attempts: retry in {retry_after} s")]
    TooManyRequests {
        /// Seconds until a new attempt is considered.
        retry_after: u64,
    },
    /// The client or user sent more requests than `[limits]` allows.
    #[error("rate limit exceeded: retry in {retry_after} s")]
    RateLimited {
        /// Seconds until a request is accepted again.
        retry_after: u64,
    },
    /// An administrative change names something that already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// An administrative change names something that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// An administrative request is malformed (bad JSON, a name or password that is not
    /// acceptable); the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// A file-system operation failed.
    #[error("storage i/o on {path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("metadata database: {0}")]
    Database(#[from] sqlx::Error),
    /// The configuration could not be used.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The distribution-spec error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BlobUnknown(_) => "BLOB_UNKNOWN",
            Error::BlobUploadInvalid(_) | Error::RangeNotSatisfiable(_) => "BLOB_UPLOAD_INVALID",
            Error::BlobUploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            Error::DigestInvalid(_) => "DIGEST_INVALID",
            Error::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            Error::ManifestInvalid(_) => "MANIFEST_INVALID",
            Error::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            Error::NameInvalid(_) => "NAME_INVALID",
            Error::NameUnknown(_) => "NAME_UNKNOWN",
            Error::SizeInvalid(_) | Error::TooLarge(_) => "SIZE_INVALID",
            Error::Unsupported(_) => "UNSUPPORTED",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::Denied(_)
            | Error::BlobInUse { .. }
            | Error::QuotaExceeded { .. }
            | Error::TagImmutable { .. } => "DENIED",
            Error::TooManyRequests { .. } | Error::RateLimited { .. } => "TOOMANYREQUESTS",
            Error::Conflict(_) => "CONFLICT",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Invalid(_) => "INVALID",
            Error::PaginationInvalid(_) => "PAGINATION_NUMBER_INVALID",
            Error::Io { .. } | Error::Database(_) | Error::Config(_) => "UNKNOWN",
        }
    }

    /// The HTTP status the spec names for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::BlobUnknown(_)
            | Error::BlobUploadUnknown(_)
            | Error::ManifestUnknown(_)
            | Error::NameUnknown(_)
            | Error::NotFound(_) => 404,
            Error::Unauthorized { .. } => 401,
            Error::Denied(_) | Error::QuotaExceeded { .. } | Error::TagImmutable { .. } => 403,
            Error::BlobInUse { .. } | Error::Conflict(_) => 409,
            Error::TooManyRequests { .. } | Error::RateLimited { .. } => 429,
            Error::RangeNotSatisfiable(_) => 416,
            Error::TooLarge(_) => 413,
            Error::Unsupported(_) => 405,
            Error::Invalid(_) => 400,
            Error::Io { .. } | Error::Database(_) | Error::Config(_) => 500,
            _ => 400,
        }
    }

    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// `1.5 GiB`, `200.0 KiB`, `12 B`: a size for people (the exact bytes are given alongside).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Result with the registry's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
