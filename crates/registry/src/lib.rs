//! berth's OCI Distribution v1.1 registry.
//!
//! Layers, each calling only the ones below it:
//! - [`server`]: listening sockets, TLS, graceful shutdown;
//! - [`http`]: the `/v2/` API — parses paths and headers, maps results and [`Error`]s to the wire;
//! - [`service`]: the registry's rules (uploads, manifests and what they reference, tags,
//!   referrers), over the two seams:
//! - [`storage`] (`BlobStore`: content-addressed bytes and upload sessions) and
//!   [`metadata`] (`MetadataStore`: repositories, tags, manifests, links, upload sessions).
//!
//! [`samples`] builds the offline `hello-world` image that `--samples` puts in. Beside them:
//! [`metrics`] (Prometheus), [`limits`] (request rate limits) and [`notify`] (event webhooks,
//! with their persistent queue), which the HTTP edge and the server drive.
#![deny(missing_docs)]

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod limits;
pub mod metadata;
pub mod metrics;
pub mod notify;
pub mod samples;
pub mod server;
pub mod service;
pub mod storage;

pub use config::Config;
pub use error::{Error, Result};
pub use service::Registry;
