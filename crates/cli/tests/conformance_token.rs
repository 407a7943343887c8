//! berth's OCI conformance suite (see `conformance.rs`) in `token` mode: every registry starts
//! with an administrator (created in its data root before it starts, so the mode defaults to
//! `token`), and every request of the suite answers the registry's 401 Bearer challenge with a
//! token from its `/token` endpoint, asked with the administrator's Basic credentials — so every
//! endpoint is checked with access control on (issue 9). `mode_checks` adds checks that requests
//! without a valid token for the needed scope are refused.

mod common;

/// The suite's mode, read by `util`: `token`, with credentials.
mod mode {
    pub const TOKEN: bool = true;
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
