//! The operational sections of the configuration (issue 10): garbage collection and upload
//! expiry, retention rules, quotas, immutable tags, metrics, notifications and rate limits.
//! Durations and sizes are strings (`"1h"`, `"50GiB"`) parsed where they are used, so a bad
//! value is reported with the section that holds it.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

/// `[gc]`: online garbage collection on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Run every this long (`"1h"`); `None`: only when asked (`berth registry gc`).
    pub interval: Option<String>,
    /// Nothing younger than this (since its last upload, link or mount) is removed.
    pub grace: String,
    /// Also remove untagged manifests nothing keeps.
    pub untagged: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: None,
            grace: "1h".into(),
            untagged: false,
        }
    }
}

/// `[uploads]`: upload sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsConfig {
    /// A session untouched this long is expired (swept by GC).
    pub expire: String,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            expire: "24h".into(),
        }
    }
}

/// `[[retention]]`: which tags of some repositories to untag before each GC.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionRule {
    /// Repository glob (`ci/**`).
    pub repositories: String,
    /// Keep this many most recently pushed tags.
    pub keep_last: Option<u32>,
    /// Regexes of tags always kept.
    pub keep_tags: Vec<String>,
    /// Keep tags pulled within this long.
    pub keep_pulled_within: Option<String>,
    /// Untag what was pushed longer ago than this (and is not kept by the rules above).
    pub delete_older_than: Option<String>,
}

/// `[[quota]]`: a storage limit on a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaRule {
    /// Namespace: the repositories under `<namespace>/` (and `<namespace>` itself).
    pub namespace: String,
    /// Limit on the sum of unique blob bytes across them (`"50GiB"`).
    pub bytes: String,
}

/// `[[immutable_tags]]`: tags that cannot be moved or deleted once pushed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ImmutableRule {
    /// Repository glob (`prod/**`).
    pub repositories: String,
    /// Regex of the tags it protects (`^v`).
    pub tags: String,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address instead of the registry's own.
    pub addr: Option<SocketAddr>,
}

/// `[[notifications]]`: an endpoint told about registry events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationConfig {
    /// Where events are POSTed.
    pub url: String,
    /// Which actions: `push`, `delete`, `pull` (default: push and delete).
    pub events: Option<Vec<String>>,
    /// Repository glob; default: all.
    pub repositories: Option<String>,
    /// Extra headers sent with each POST.
    pub headers: BTreeMap<String, String>,
    /// Per-attempt timeout (`"5s"`).
    pub timeout: Option<String>,
}

/// `[limits]`: request rate limits (none by default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second allowed per client address (a burst of twice that).
    pub per_address: Option<u32>,
    /// Requests per second allowed per authenticated user (a burst of twice that).
    pub per_user: Option<u32>,
}
