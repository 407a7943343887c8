//! Registry configuration: defaults, a TOML file, and command-line overrides on top.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// TLS certificate chain and private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Everything `berth registry serve` can be told.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listen address.
    pub addr: SocketAddr,
    /// Data root: blobs, uploads and the metadata database live below it.
    pub root: PathBuf,
    /// Whether DELETE of blobs and manifests is allowed.
    pub delete_enabled: bool,
    /// TLS, when set; plain HTTP otherwise.
    pub tls: Option<TlsConfig>,
    /// Log format.
    pub log_format: LogFormat,
    /// Largest manifest accepted, in bytes.
    pub max_manifest_size: usize,
    /// Accept manifests and indexes that reference blobs or manifests the repository does not
    /// hold (sparse copies, e.g. one platform of a multi-platform index). Off: such pushes get
    /// MANIFEST_BLOB_UNKNOWN.
    pub sparse_manifests: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:5000".parse().unwrap(),
            root: PathBuf::from("./berth-data"),
            delete_enabled: true,
            tls: None,
            log_format: LogFormat::Text,
            max_manifest_size: 4 * 1024 * 1024,
            sparse_manifests: false,
        }
    }
}

impl Config {
    /// Read a TOML config file; missing keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parse TOML text.
    pub fn from_toml(text: &str) -> std::result::Result<Config, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_defaults_and_rejects_unknown_keys() {
        let c = Config::from_toml(
            "addr = \"0.0.0.0:6000\"\ndelete_enabled = false\nlog_format = \"json\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.addr.port(), 6000);
        assert!(!c.delete_enabled);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.tls.unwrap().key, PathBuf::from("k.pem"));
        assert_eq!(c.root, PathBuf::from("./berth-data"));
        assert!(
            Config::from_toml("adress = \"x\"")
                .unwrap_err()
                .contains("adress")
        );
    }
}
