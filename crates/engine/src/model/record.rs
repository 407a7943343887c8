//! The container record: what the store keeps in a container's `config` column.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ContainerConfig, HostConfig, nullable};

/// The record format this build writes. Records without a version are the first release's
/// hand-written JSON and are read through `legacy`.
pub const RECORD_VERSION: u32 = 2;

/// Everything berth keeps about a container besides its lifecycle state (which the store's
/// columns hold).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Record {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// Docker's `Config`, the image's defaults merged in.
    pub config: ContainerConfig,
    /// Docker's `HostConfig`.
    pub host_config: HostConfig,
    /// The mounts as `create` resolved them (volumes made, host paths checked), in order:
    /// what `inspect` shows as `Mounts`.
    #[serde(deserialize_with = "nullable")]
    pub mount_points: Vec<MountPoint>,
    /// The image's unpacked layer directories, lowest first.
    #[serde(deserialize_with = "nullable")]
    pub layers: Vec<PathBuf>,
}

/// One resolved mount, as Docker's inspect shows it (`Mounts`), plus tmpfs options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: super::MountType,
    /// The volume's name (volumes only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The host path mounted (empty for tmpfs).
    pub source: String,
    /// The path in the container.
    pub destination: String,
    /// `local` for volumes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// Docker's mode string (`ro`, `z`...), as given.
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// `rprivate` for binds.
    pub propagation: String,
    /// tmpfs mount options (`size=64m,mode=1777`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tmpfs_options: String,
    /// Don't fill a new volume with the image's content (`volume-nocopy`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
}

impl Record {
    /// Read a stored record: this format, or the first release's (converted).
    pub fn parse(text: &str) -> Result<Record, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("container record: {e}"))?;
        if value.get("Version").is_none() {
            return Ok(super::legacy::convert(&value));
        }
        let record: Record =
            serde_json::from_value(value).map_err(|e| format!("container record: {e}"))?;
        if record.version > RECORD_VERSION {
            return Err(format!(
                "container record version {} is newer than this berth's {RECORD_VERSION}",
                record.version
            ));
        }
        Ok(record)
    }

    /// The record as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record serializes")
    }

    /// The external OCI runtime the record names (`None`: berth's own engine).
    pub fn runtime_path(&self) -> Option<PathBuf> {
        let rt = self.host_config.runtime.as_str();
        (!rt.is_empty() && rt != "berth").then(|| PathBuf::from(rt))
    }

    /// The volumes the container mounts, by name.
    pub fn volumes(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .mount_points
            .iter()
            .filter(|m| m.kind == super::MountType::Volume && !m.name.is_empty())
            .map(|m| m.name.clone())
            .collect();
        names.dedup();
        names
    }
}
