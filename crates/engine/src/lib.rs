//! berth's engine: the operations every front end shares — the `berth` CLI, the Docker Engine
//! API (`berth serve`) and the builder. Operations return typed results and report progress as
//! events; they never print. Errors say what kind of failure they are ([`Error::kind`]), so an
//! HTTP front end can pick 404/409/400/403 and a CLI one line of text.
//!
//! Being built (issue 11): today this crate owns the error vocabulary ([`error`]) and the event
//! journal ([`events`]) behind `berth events`; the container operations (run, create, start,
//! stop, kill, wait, rm, restart, pause, rename, update, exec, logs, volumes, prune, pull/push
//! orchestration, save/load/import/export, cp, commit, diff, stats, top) move here from
//! `crates/cli/src/commands` next, one at a time, each with its tests.

#![deny(missing_docs)]

pub mod containers;
pub mod engine;
pub mod error;
pub mod events;
pub mod images;
pub mod model;
pub mod prune;
pub mod system;
pub mod util;
pub mod volumes;

pub use engine::{Engine, host_platform, parse_platform};
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, EventFilter, Journal};
