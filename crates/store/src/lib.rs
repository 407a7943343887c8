//! berth's local image store. Blobs (layers, configs, manifests) are content-addressed files
//! shared by every image that uses them; image records (names, tags, which blobs an image needs)
//! live in an embedded SQLite database that several berth processes can use at once.
//!
//! Writes are atomic (temp file + fsync + rename); a blob is visible only once verified.
//!
//! Every path below the data root (this store's, the runtime's layer cache, containers, volumes,
//! the builder's files) comes from [`Layout`]; its module doc draws the tree.
#![deny(missing_docs)]

pub mod blobs;
pub mod container_ops;
pub mod containers;
pub mod error;
pub mod images;
pub mod layout;
pub mod migrate;

pub use blobs::Ingest;
pub use containers::{Container, Health, State};
pub use error::{Error, Result};
pub use images::{Image, NewImage, Store};
pub use layout::Layout;
