//! Docker's `Config`: what a container runs, independent of the host — the image's defaults
//! merged with what the user asked at create time (as `docker inspect` shows `Config`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Docker's empty-object set values (`{"80/tcp": {}}`).
pub type Set = BTreeMap<String, Empty>;

/// `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// A container's configuration, field for field Docker's (`container.Config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// The container's hostname (default: the first 12 hex digits of its id).
    pub hostname: String,
    /// Its NIS domain name (`--domainname`).
    pub domainname: String,
    /// `user[:group]` its processes run as (names from the image's passwd/group).
    pub user: String,
    /// Attach the caller's stdin (`-a stdin`, `-i` in the foreground).
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Ports the container exposes (`--expose`, the image's `EXPOSE`): `"80/tcp"`.
    #[serde(deserialize_with = "super::nullable")]
    pub exposed_ports: Set,
    /// Give it a terminal (`-t`).
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub open_stdin: bool,
    /// Close stdin after the first attach detaches.
    pub stdin_once: bool,
    /// `KEY=value`, the image's first, then `--env-file`, then `-e`.
    #[serde(deserialize_with = "super::nullable")]
    pub env: Vec<String>,
    /// The command (after the entrypoint).
    #[serde(deserialize_with = "super::nullable")]
    pub cmd: Vec<String>,
    /// The health check (`--health-*` or the image's `HEALTHCHECK`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// The image as the user named it.
    pub image: String,
    /// The image's volumes (anonymous volumes are made for those no mount covers).
    #[serde(deserialize_with = "super::nullable")]
    pub volumes: Set,
    /// The working directory (empty: `/`).
    pub working_dir: String,
    /// The entrypoint (empty: none).
    #[serde(deserialize_with = "super::nullable")]
    pub entrypoint: Vec<String>,
    /// Labels, the image's then `--label`/`--label-file`.
    #[serde(deserialize_with = "super::nullable")]
    pub labels: BTreeMap<String, String>,
    /// The signal `stop` sends (empty: SIGTERM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

impl ContainerConfig {
    /// The program and its arguments: the entrypoint, then the command.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }
}

/// Docker's `HealthConfig`; durations in nanoseconds, 0 meaning "the default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `["NONE"]` disables the image's check; `["CMD", args...]` runs args;
    /// `["CMD-SHELL", command]` runs it with `/bin/sh -c`.
    #[serde(deserialize_with = "super::nullable")]
    pub test: Vec<String>,
    /// Time between checks (default 30 s).
    pub interval: i64,
    /// Time a check may take (default 30 s).
    pub timeout: i64,
    /// Consecutive failures before unhealthy (default 3).
    pub retries: i64,
    /// Time after start during which failures don't count (default 0).
    pub start_period: i64,
    /// Time between checks during the start period (default 5 s).
    pub start_interval: i64,
}

impl HealthConfig {
    /// Whether this disables health checking (`--no-healthcheck`, `HEALTHCHECK NONE`).
    pub fn disabled(&self) -> bool {
        self.test.first().map(String::as_str) == Some("NONE")
    }
}
