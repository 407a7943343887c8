//! Registry configuration: defaults, a TOML file, and command-line overrides on top.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

mod ops;

pub use ops::{
    GcConfig, ImmutableRule, LimitsConfig, MetricsConfig, NotificationConfig, QuotaRule,
    RetentionRule, UploadsConfig,
};

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
    /// Access control.
    pub auth: AuthConfig,
    /// Online garbage collection.
    pub gc: GcConfig,
    /// Upload sessions.
    pub uploads: UploadsConfig,
    /// Retention rules, applied before each GC.
    pub retention: Vec<RetentionRule>,
    /// Storage quotas per namespace.
    pub quota: Vec<QuotaRule>,
    /// Tags that cannot be moved or deleted.
    pub immutable_tags: Vec<ImmutableRule>,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Event notifications.
    pub notifications: Vec<NotificationConfig>,
    /// Request rate limits.
    pub limits: LimitsConfig,
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
            auth: AuthConfig::default(),
            gc: GcConfig::default(),
            uploads: UploadsConfig::default(),
            retention: Vec::new(),
            quota: Vec::new(),
            immutable_tags: Vec::new(),
            metrics: MetricsConfig::default(),
            notifications: Vec::new(),
            limits: LimitsConfig::default(),
        }
    }
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone may do anything (local, trusted use).
    None,
    /// HTTP Basic credentials on every request.
    Basic,
    /// Docker's registry token authentication (bearer JWTs from `/token`).
    Token,
}

impl AuthMode {
    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Basic => "basic",
            AuthMode::Token => "token",
        }
    }
}

/// Tokens from another issuer that the registry trusts instead of issuing its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuer {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Its token endpoint, named as the challenge's realm.
    pub realm: String,
    /// PEM public key(s) or certificate(s) its tokens are signed with.
    pub public_key: Option<PathBuf>,
    /// A JWKS file with its keys.
    pub jwks: Option<PathBuf>,
}

/// `[auth]`: access control.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `none`, `basic` or `token`; unset: `token` when the registry has users or an htpasswd
    /// file, else `none`.
    pub mode: Option<AuthMode>,
    /// The service name: the `service` of challenges and the `aud` of tokens.
    pub service: String,
    /// The `iss` of berth's tokens.
    pub issuer: String,
    /// The registry's external URL (`https://registry.example.com`); the token realm is
    /// `<url>/token`. Unset: taken from each request's `Host` (and TLS).
    pub external_url: Option<String>,
    /// Token lifetime, e.g. `5m`.
    pub token_ttl: String,
    /// Refresh-token lifetime, e.g. `30d`.
    pub refresh_ttl: String,
    /// An Apache htpasswd file (bcrypt) whose users may log in too.
    pub htpasswd: Option<PathBuf>,
    /// The token-signing key (PEM, P-256); default: generated under the data root.
    pub key: Option<PathBuf>,
    /// Its certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Failed logins allowed (per user and per address) before backing off.
    pub lockout_threshold: u32,
    /// The first backoff; it doubles with each further failure.
    pub lockout_base: String,
    /// The longest backoff.
    pub lockout_max: String,
    /// How long verified Basic credentials are remembered in memory.
    pub credential_cache: String,
    /// Also write audit records as JSON lines to this file (`-`: standard output).
    pub audit_log: Option<PathBuf>,
    /// Trust this issuer's tokens instead of issuing berth's own.
    pub external: Option<ExternalIssuer>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: None,
            service: "berth-registry".into(),
            issuer: "berth-registry".into(),
            external_url: None,
            token_ttl: "5m".into(),
            refresh_ttl: "30d".into(),
            htpasswd: None,
            key: None,
            cert: None,
            lockout_threshold: 5,
            lockout_base: "1s".into(),
            lockout_max: "5m".into(),
            credential_cache: "1m".into(),
            audit_log: None,
            external: None,
        }
    }
}

/// Parse a duration: a number with a unit `ms`, `s`, `m`, `h` or `d` (`90s`, `5m`, `30d`).
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("invalid duration {s:?}: add a unit (ms, s, m, h or d)"))?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 90s, 5m, 30d"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "invalid duration {s:?}: unit must be ms, s, m, h or d"
            ));
        }
    };
    Ok(std::time::Duration::from_millis(n.saturating_mul(ms)))
}

/// Parse a size: bytes, or a number with `KB`/`MB`/`GB`/`TB` (powers of 1000) or
/// `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), e.g. `50GiB`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected e.g. 500MB or 50GiB"))?;
    let mul: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "MB" => 1000u64.pow(2),
        "GB" => 1000u64.pow(3),
        "TB" => 1000u64.pow(4),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size {s:?}: unit must be B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("size {s:?} is too large"))
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
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 30 * 86400);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn sizes_and_ops_sections() {
        assert_eq!(parse_size("50GiB"), Ok(50 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999TiB").is_err());
        let c = Config::from_toml(
            "[gc]\ninterval = \"1h\"\n[[retention]]\nrepositories = \"ci/**\"\nkeep_last = 10\n\
             [[quota]]\nnamespace = \"team-a\"\nbytes = \"50GiB\"\n\
             [[notifications]]\nurl = \"http://127.0.0.1:9000/hook\"\nheaders = { Authorization = \"Bearer x\" }\n",
        )
        .unwrap();
        assert_eq!(c.gc.interval.as_deref(), Some("1h"));
        assert_eq!(c.gc.grace, "1h");
        assert_eq!(c.retention[0].keep_last, Some(10));
        assert_eq!(c.quota[0].namespace, "team-a");
        assert_eq!(c.notifications[0].headers["Authorization"], "Bearer x");
        assert!(Config::from_toml("[gc]\nevery = \"1h\"\n").is_err());
    }

    #[test]
    fn auth_section() {
        let c =
            Config::from_toml("[auth]\nmode = \"basic\"\nhtpasswd = \"/etc/htpasswd\"\n").unwrap();
        assert_eq!(c.auth.mode, Some(AuthMode::Basic));
        assert_eq!(c.auth.service, "berth-registry");
        assert!(Config::from_toml("[auth]\nmode = \"open\"\n").is_err());
    }

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
