//! berth's own conformance suite for the OCI Distribution Specification v1.1, run against the
//! real `berth registry serve` binary. One test per MUST/SHOULD a registry can be checked for;
//! each test names the spec point it checks and quotes the sentence above it. Every test starts
//! its own registry, so the tests are independent and run in parallel.
//!
//! Modules: `base` (end-1, errors, names, digests, warnings), `pull` (end-2, end-3), `push`
//! (end-4a, end-4b, end-6), `chunked` (end-5, end-13, cancel), `mount` (end-11), `manifests`
//! and `manifest_data` (end-7), `tag_param` (end-7b: `?tag=` and `OCI-Tag`), `tags` (end-8a/b), `catalog` (`/v2/_catalog`), `referrers`
//! (end-12a/b, subject), `delete` (end-9, end-10) and `sha512` (the sha512 algorithm across the
//! API); `util` and `content` hold the shared request and content helpers; `mode_checks` checks
//! that the suite's auth mode is in force.
//!
//! This target runs the suite anonymously against registries with no users (auth mode `none`);
//! `conformance_token.rs` runs the same modules in `token` mode with credentials.

mod common;

/// The suite's mode, read by `util`: anonymous, no users (auth mode `none`).
mod mode {
    pub const TOKEN: bool = false;
}

#[path = "conformance/base.rs"]
mod base;
#[path = "conformance/catalog.rs"]
mod catalog;
#[path = "conformance/chunked.rs"]
mod chunked;
#[path = "conformance/content.rs"]
mod content;
#[path = "conformance/delete.rs"]
mod delete;
#[path = "conformance/manifest_data.rs"]
mod manifest_data;
#[path = "conformance/manifests.rs"]
mod manifests;
#[path = "conformance/mode_checks.rs"]
mod mode_checks;
#[path = "conformance/mount.rs"]
mod mount;
#[path = "conformance/pull.rs"]
mod pull;
#[path = "conformance/push.rs"]
mod push;
#[path = "conformance/referrers.rs"]
mod referrers;
#[path = "conformance/sha512.rs"]
mod sha512;
#[path = "conformance/tag_param.rs"]
mod tag_param;
#[path = "conformance/tags.rs"]
mod tags;
#[path = "conformance/util.rs"]
mod util;
