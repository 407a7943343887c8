//! The vocabulary every other berth crate speaks: content digests (sha256 and sha512, with a
//! streaming hasher), repository names and tags as the OCI distribution-spec defines them, the media
//! types of OCI and Docker images, and a lenient view of manifests that finds what a manifest
//! references (blobs, child manifests, its subject).
//!
//! This crate does no I/O. It builds on `oci-spec` for the image types it re-exports.
#![deny(missing_docs)]

pub mod digest;
pub mod error;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod reference;
pub mod time;

pub use digest::{Algorithm, Digest, Hasher};
pub use error::{Error, Result};
pub use manifest::{Descriptor, ManifestKind, ParsedManifest};
pub use name::{validate_repository, validate_tag};
/// The `oci-spec` crate, re-exported so that users build images with the same version.
pub use oci_spec;
pub use reference::Reference;
