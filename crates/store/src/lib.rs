//! berth's local image store. Blobs (layers, configs, manifests) are content-addressed files
//! shared by every image that uses them; image records (names, tags, which blobs an image needs)
//! live in an embedded SQLite database that several berth processes can use at once.
//!
//! Layout below the data root (version 1):
//! ```text
//! <root>/images/v1/blobs/<alg>/<hex>        verified content, never modified
//! <root>/images/v1/ingest/<alg>-<hex>        partial downloads, resumed by the next pull
//! <root>/images/v1/ingest/<alg>-<hex>.lock   one writer per blob across processes (flock)
//! <root>/images/v1/images.db                 SQLite: images, names, image→blob references
//! ```
//! Writes are atomic (temp file + fsync + rename); a blob is visible only once verified.
#![deny(missing_docs)]

pub mod blobs;
pub mod container_ops;
pub mod containers;
pub mod error;
pub mod images;

pub use blobs::Ingest;
pub use containers::{Container, State};
pub use error::{Error, Result};
pub use images::{Image, NewImage, Store};
