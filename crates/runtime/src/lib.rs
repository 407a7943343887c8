//! berth's container runtime: unpacking image layers into root filesystems, and (to come)
//! creating, starting and supervising containers.
#![deny(missing_docs)]

pub mod cgroupfs;
pub mod engine;
pub mod error;
pub mod rootfs;
pub mod safepath;
pub mod spec;
pub mod unpack;
pub mod user;
