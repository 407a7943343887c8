//! berth's registry client: where an image reference points (registry, mirrors, plain HTTP or
//! TLS), who we are there (credentials shared with Docker's `~/.docker/config.json`), and the
//! Distribution API calls a pull or push needs, with the Docker token auth flow.
#![deny(missing_docs)]

pub mod config;
pub mod credentials;
pub mod error;
pub mod registry;

pub use error::{Error, Result};
