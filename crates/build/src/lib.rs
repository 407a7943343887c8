//! berth's Dockerfile builder: `berth build -t NAME DIR`.
//!
//! - [`dockerfile`]: the Dockerfile language — parser directives, line continuations, heredocs,
//!   variable substitution and every instruction — parsed into a typed AST whose errors name the
//!   file, line and column.
//! - [`ignore`]: `.dockerignore` patterns with Docker's exact semantics.
//! - [`context`]: the build context (a directory filtered by `.dockerignore`).
//! - [`layer`]: reproducible layer tarballs (sorted, normalised entries; whiteouts for deletions).
//! - [`builder`]: runs a Dockerfile's stages into an image in the local store, with a cache.
//!
//! Layering: this crate calls `berth-oci`, `berth-store` and `berth-runtime`; nothing calls it
//! but the CLI.
#![deny(missing_docs)]

pub mod builder;
pub mod context;
pub mod dockerfile;
pub mod error;
pub mod ignore;
pub mod layer;
