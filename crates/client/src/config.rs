//! berth's client configuration: where local state lives, which registry a short name means, and
//! per-registry transport settings (plain HTTP, mirrors, extra CA certificates).
//!
//! Sources, lowest to highest priority: built-in defaults; the first file found of
//! `$BERTH_CONFIG`, `$XDG_CONFIG_HOME/berth/config.toml` (else `~/.config/berth/config.toml`) and
//! `/etc/berth/config.toml`; then the environment overrides `BERTH_ROOT`,
//! `BERTH_DEFAULT_REGISTRY` and `BERTH_INSECURE_REGISTRIES` (comma-separated, added to the file's
//! list). The file format:
//!
//! ```toml
//! root = "/var/lib/berth"
//! default_registry = "docker.io"
//! insecure_registries = ["myreg.local:5000", "10.0.0.0/8"]
//! ca_file = "/etc/berth/ca.pem"             # optional, trusted for every registry
//! [registries."docker.io"]
//! mirrors = ["mirror.local:5000"]
//! [registries."myreg.local:5000"]
//! insecure = true
//! ca_file = "/etc/berth/myreg-ca.pem"
//! ```
//!
//! Registry names are compared after [`normalize_registry`], so `index.docker.io`,
//! `https://index.docker.io/v1/` and `docker.io` are one registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

mod hosts;
use hosts::{HostPattern, is_loopback_host, split_host_port};

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// The system-wide configuration file, the last one looked for.
const SYSTEM_CONFIG: &str = "/etc/berth/config.toml";

/// berth's client configuration (see the module docs for its sources).
#[derive(Debug, Clone)]
pub struct Config {
    /// Local state directory (image store, containers, ...).
    pub root: PathBuf,
    /// Registry used for references without a registry part (normalised, e.g. `docker.io`).
    pub default_registry: String,
    insecure: Vec<HostPattern>,
    ca_file: Option<PathBuf>,
    registries: BTreeMap<String, RegistrySettings>,
}

#[derive(Debug, Clone, Default)]
struct RegistrySettings {
    mirrors: Vec<String>,
    insecure: Option<bool>,
    ca_file: Option<PathBuf>,
}

/// The file as written; every field optional so a file only overrides what it names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    root: Option<PathBuf>,
    default_registry: Option<String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    registries: BTreeMap<String, FileRegistry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegistry {
    #[serde(default)]
    mirrors: Vec<String>,
    insecure: Option<bool>,
    ca_file: Option<PathBuf>,
}

impl Config {
    /// Load the configuration from the defaults, the first config file found and the
    /// environment (see the module docs).
    pub fn load() -> Result<Config> {
        let env = |k: &str| std::env::var(k).ok();
        load_from(&env, running_as_root(), Path::new(SYSTEM_CONFIG))
    }

    /// Parse a config file's text on top of the fixed defaults (root `/var/lib/berth`, registry
    /// `docker.io`); the environment is not consulted.
    pub fn from_toml(text: &str) -> Result<Config> {
        let mut c = Config::with_defaults(PathBuf::from("/var/lib/berth"));
        c.apply_toml(text, None)?;
        Ok(c)
    }

    /// Whether `registry` (`host[:port]`) is spoken to over plain HTTP: a registry's own
    /// `insecure` setting wins; otherwise loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`,
    /// any port) and the `insecure_registries` entries are insecure. An entry without a port
    /// matches every port of that host; a CIDR entry matches IP-address hosts inside it.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let reg = normalize_registry(registry);
        if let Some(b) = self.registries.get(&reg).and_then(|s| s.insecure) {
            return b;
        }
        let (host, port) = split_host_port(&reg);
        is_loopback_host(host) || self.insecure.iter().any(|p| p.matches(host, port))
    }

    /// Mirrors to try, in order, before `registry` itself: `host[:port]` or URLs, as configured.
    pub fn mirrors(&self, registry: &str) -> Vec<String> {
        self.registries
            .get(&normalize_registry(registry))
            .map(|s| s.mirrors.clone())
            .unwrap_or_default()
    }

    /// Extra PEM CA bundle to trust for `registry`: its own `ca_file`, else the global one.
    pub fn ca_file(&self, registry: &str) -> Option<PathBuf> {
        self.registries
            .get(&normalize_registry(registry))
            .and_then(|s| s.ca_file.clone())
            .or_else(|| self.ca_file.clone())
    }

    fn with_defaults(root: PathBuf) -> Config {
        Config {
            root,
            default_registry: DOCKER_HUB.to_string(),
            insecure: Vec::new(),
            ca_file: None,
            registries: BTreeMap::new(),
        }
    }

    /// Layer a config file's text over `self`; `path` names the file in errors.
    fn apply_toml(&mut self, text: &str, path: Option<&Path>) -> Result<()> {
        let err = |reason: String| Error::Config {
            path: path.map(Path::to_path_buf),
            reason,
        };
        let file: FileConfig = toml::from_str(text).map_err(|e| err(toml_reason(text, &e)))?;
        if let Some(root) = file.root {
            if root.as_os_str().is_empty() {
                return Err(err("`root` must not be empty".into()));
            }
            self.root = root;
        }
        if let Some(r) = file.default_registry {
            self.default_registry =
                checked_registry(&r).map_err(|e| err(format!("`default_registry`: {e}")))?;
        }
        for entry in &file.insecure_registries {
            let p = HostPattern::parse(entry)
                .map_err(|e| err(format!("`insecure_registries`: {e}")))?;
            self.insecure.push(p);
        }
        if file.ca_file.is_some() {
            self.ca_file = file.ca_file;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, r) in file.registries {
            let key = checked_registry(&name)
                .map_err(|e| err(format!("`registries.\"{name}\"`: {e}")))?;
            if let Some(m) = r.mirrors.iter().find(|m| m.trim().is_empty()) {
                return Err(err(format!(
                    "`registries.\"{name}\".mirrors`: empty mirror {m:?}"
                )));
            }
            let settings = RegistrySettings {
                mirrors: r
                    .mirrors
                    .iter()
                    .map(|m| m.trim().trim_end_matches('/').to_string())
                    .collect(),
                insecure: r.insecure,
                ca_file: r.ca_file,
            };
            // Two spellings of one registry (`docker.io` and `index.docker.io`) are ambiguous.
            if !seen.insert(key.clone()) {
                return Err(err(format!(
                    "`registries.\"{name}\"`: registry {key} is configured twice"
                )));
            }
            self.registries.insert(key, settings);
        }
        Ok(())
    }
}

/// `load()` over explicit inputs, so tests need not touch the process environment.
fn load_from(
    env: &dyn Fn(&str) -> Option<String>,
    is_root: bool,
    system_file: &Path,
) -> Result<Config> {
    // Empty variables count as unset, as the XDG spec asks.
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let home = var("HOME").map(PathBuf::from);

    let mut config = Config::with_defaults(PathBuf::new());
    let default_root = if is_root {
        Some(PathBuf::from("/var/lib/berth"))
    } else {
        var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".local/share")))
            .map(|d| d.join("berth"))
    };

    if let Some(explicit) = var("BERTH_CONFIG") {
        // A file named explicitly must exist; silently ignoring a typo would be worse.
        let path = PathBuf::from(explicit);
        read_layer(&mut config, &path)?.ok_or_else(|| Error::Config {
            path: Some(path.clone()),
            reason: "no such file (named by BERTH_CONFIG)".into(),
        })?;
    } else {
        let user = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".config")))
            .map(|d| d.join("berth/config.toml"));
        let mut found = false;
        if let Some(user) = user {
            found = read_layer(&mut config, &user)?.is_some();
        }
        if !found {
            read_layer(&mut config, system_file)?;
        }
    }

    if let Some(root) = var("BERTH_ROOT") {
        config.root = PathBuf::from(root);
    }
    if let Some(r) = var("BERTH_DEFAULT_REGISTRY") {
        config.default_registry = checked_registry(&r).map_err(|e| Error::Config {
            path: None,
            reason: format!("BERTH_DEFAULT_REGISTRY: {e}"),
        })?;
    }
    if let Some(list) = var("BERTH_INSECURE_REGISTRIES") {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            config
                .insecure
                .push(HostPattern::parse(entry).map_err(|e| Error::Config {
                    path: None,
                    reason: format!("BERTH_INSECURE_REGISTRIES: {e}"),
                })?);
        }
    }
    if config.root.as_os_str().is_empty() {
        config.root = default_root.ok_or_else(|| Error::Config {
            path: None,
            reason: "cannot choose a data directory: set BERTH_ROOT, XDG_DATA_HOME or HOME".into(),
        })?;
    }
    Ok(config)
}

/// Apply `path` if it exists; `Ok(None)` when it does not.
fn read_layer(config: &mut Config, path: &Path) -> Result<Option<()>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            tracing::debug!(path = %path.display(), "reading client config");
            config.apply_toml(&text, Some(path)).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// A TOML error as `line N: message (at `source line`)`, naming the offending key's line.
fn toml_reason(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            format!("line {line_no}: {message} (at `{line}`)")
        }
        None => message.to_string(),
    }
}

/// Whether this process runs with effective uid 0, read from `/proc/self/status` (no libc).
fn running_as_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Uid:"))
    {
        // Fields: real, effective, saved, filesystem.
        return line.split_whitespace().nth(2) == Some("0");
    }
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Docker's name for a registry, as used everywhere in berth: scheme and path dropped,
/// lowercased, and Docker Hub's aliases (`index.docker.io`, `registry-1.docker.io`,
/// `https://index.docker.io/v1/`) folded into `docker.io`.
pub fn normalize_registry(name: &str) -> String {
    let s = name.trim();
    let lower = s.to_ascii_lowercase();
    let s = if lower.starts_with("https://") {
        &s[8..]
    } else if lower.starts_with("http://") {
        &s[7..]
    } else {
        s
    };
    let host = s.split('/').next().unwrap_or("").to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

/// [`normalize_registry`], refusing names that cannot be a registry.
fn checked_registry(name: &str) -> std::result::Result<String, String> {
    let n = normalize_registry(name);
    if n.is_empty() || n.contains(char::is_whitespace) {
        return Err(format!("invalid registry name {name:?}"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn words(s: &str) -> std::str::SplitWhitespace<'_> {
        s.split_whitespace()
    }

    const FULL: &str = r#"
root = "/srv/berth"
default_registry = "registry.example.com"
insecure_registries = ["myreg.local:5000", "10.0.0.0/8", "plain.example"]
ca_file = "/etc/berth/ca.pem"
[registries."docker.io"]
mirrors = ["mirror.local:5000", "https://mirror2.example/"]
[registries."myreg.local:5000"]
insecure = true
ca_file = "/etc/berth/myreg-ca.pem"
[registries."localhost:5000"]
insecure = false
"#;

    #[test]
    fn parses_every_key() {
        let c = Config::from_toml(FULL).unwrap();
        assert_eq!(c.root, PathBuf::from("/srv/berth"));
        assert_eq!(c.default_registry, "registry.example.com");
        let mirrors = c.mirrors("docker.io");
        assert_eq!(mirrors, ["mirror.local:5000", "https://mirror2.example"]);
        assert_eq!(c.mirrors("index.docker.io"), mirrors);
        assert!(c.mirrors("quay.io").is_empty());
        let ca = |r: &str| c.ca_file(r).unwrap().display().to_string();
        assert_eq!(ca("myreg.local:5000"), "/etc/berth/myreg-ca.pem");
        assert_eq!(ca("quay.io"), "/etc/berth/ca.pem");
        // An entry without a port covers every port; a registry's own `insecure` setting beats
        // the list and the loopback default.
        for yes in words("myreg.local:5000 plain.example plain.example:8080 localhost:5001") {
            assert!(c.is_insecure(yes), "{yes}");
        }
        for no in words("myreg.local:5001 localhost:5000") {
            assert!(!c.is_insecure(no), "{no}");
        }

        let d = Config::from_toml("").unwrap();
        assert_eq!(d.root, PathBuf::from("/var/lib/berth"));
        assert_eq!(d.default_registry, "docker.io");
        assert!(!d.is_insecure("docker.io") && d.ca_file("docker.io").is_none());
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let err = |t: &str| Config::from_toml(t).unwrap_err().to_string();
        let e = err("root = \"/x\"\n[registries.\"a.io\"]\nmirror = [\"m\"]\n");
        assert!(e.contains("mirror") && e.contains("line 3"), "{e}");
        let e = err("insecure_registries = [\"10.0.0.0/40\"]");
        assert!(
            e.contains("insecure_registries") && e.contains("10.0.0.0/40"),
            "{e}"
        );
        let e = err("[registries.\"docker.io\"]\n[registries.\"index.docker.io\"]\n");
        assert!(e.contains("configured twice"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.toml", "colour = 1\n");
        let env = env_of(&[("BERTH_CONFIG", p.to_str().unwrap()), ("HOME", "/h")]);
        match load_from(&env, false, Path::new("/nonexistent")).unwrap_err() {
            Error::Config { path, reason } => {
                assert_eq!(path, Some(p));
                assert!(reason.contains("colour"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // A file named by BERTH_CONFIG must exist.
        let env = env_of(&[("BERTH_CONFIG", "/nonexistent/berth.toml")]);
        assert!(load_from(&env, false, Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn precedence_defaults_file_env() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let none = Path::new("/nonexistent/config.toml");
        let root = |pairs: &[(&str, &str)], is_root| {
            load_from(&env_of(pairs), is_root, none).map(|c| c.root)
        };

        // Defaults: the data dir under XDG_DATA_HOME, else HOME; /var/lib/berth for root.
        let home_root = root(&[("HOME", "/home/u")], false).unwrap();
        assert_eq!(home_root, PathBuf::from("/home/u/.local/share/berth"));
        let xdg_root = root(&[("HOME", "/home/u"), ("XDG_DATA_HOME", "/data")], false);
        assert_eq!(xdg_root.unwrap(), PathBuf::from("/data/berth"));
        assert_eq!(
            root(&[("HOME", "/root")], true).unwrap(),
            PathBuf::from("/var/lib/berth")
        );
        assert!(root(&[], false).is_err());

        // Files: BERTH_CONFIG beats XDG_CONFIG_HOME beats ~/.config beats the system file.
        let sys = write(d, "etc/config.toml", "default_registry = \"sys.io\"");
        write(
            d,
            "home/.config/berth/config.toml",
            "default_registry = \"home.io\"",
        );
        write(d, "xdg/berth/config.toml", "default_registry = \"xdg.io\"");
        let explicit = write(d, "explicit.toml", "default_registry = \"explicit.io\"");
        let (home, xdg) = (d.join("home"), d.join("xdg"));
        let (home, xdg) = (home.to_str().unwrap(), xdg.to_str().unwrap());
        let reg = |pairs: &[(&str, &str)]| load_from(&env_of(pairs), false, &sys).unwrap();
        assert_eq!(reg(&[("BERTH_ROOT", "/r")]).default_registry, "sys.io");
        assert_eq!(reg(&[("HOME", home)]).default_registry, "home.io");
        let with_xdg = [("HOME", home), ("XDG_CONFIG_HOME", xdg)];
        assert_eq!(reg(&with_xdg).default_registry, "xdg.io");
        let all = [
            with_xdg[0],
            with_xdg[1],
            ("BERTH_CONFIG", explicit.to_str().unwrap()),
        ];
        assert_eq!(reg(&all).default_registry, "explicit.io");

        // Environment overrides beat the file; insecure entries add to the file's.
        write(d, "home/.config/berth/config.toml", FULL);
        let c = reg(&[
            ("HOME", home),
            ("BERTH_ROOT", "/env/root"),
            ("BERTH_DEFAULT_REGISTRY", "https://index.docker.io/v1/"),
            ("BERTH_INSECURE_REGISTRIES", " a.io:1 , ,192.168.0.0/16"),
        ]);
        assert_eq!(c.root, PathBuf::from("/env/root"));
        assert_eq!(c.default_registry, "docker.io");
        for yes in words("a.io:1 192.168.3.4:5000 myreg.local:5000") {
            assert!(c.is_insecure(yes), "{yes}");
        }
        // Empty variables count as unset.
        assert_eq!(
            reg(&[("HOME", home), ("BERTH_ROOT", "")]).root,
            PathBuf::from("/srv/berth")
        );
    }

    #[test]
    fn insecure_rules() {
        // Loopback by default, any port.
        let c = Config::from_toml("").unwrap();
        for yes in words("127.5.6.7:5000 127.0.0.1 localhost:1234 localhost [::1]:5000 [::1]") {
            assert!(c.is_insecure(yes), "{yes}");
        }
        for no in words("128.0.0.1 10.1.2.3:5000 docker.io [::2]:5000 localhost.example") {
            assert!(!c.is_insecure(no), "{no}");
        }
        // CIDRs match IP-address hosts; host entries match names (any port when none given).
        let list = r#"["10.0.0.0/8", "fd00::/8", "172.16.0.1", "http://reg.lan:5000/"]"#;
        let c = Config::from_toml(&format!("insecure_registries = {list}")).unwrap();
        for yes in words("10.255.0.1:5000 10.0.0.1 [fd12::1]:443 172.16.0.1:9000 REG.lan:5000") {
            assert!(c.is_insecure(yes), "{yes}");
        }
        for no in words("11.0.0.1:5000 [fe80::1]:443 172.16.0.2 reg.lan reg.lan:5001") {
            assert!(!c.is_insecure(no), "{no}");
        }
        let all = Config::from_toml(r#"insecure_registries = ["0.0.0.0/0"]"#).unwrap();
        assert!(all.is_insecure("8.8.8.8") && !all.is_insecure("example.com"));
    }

    #[test]
    fn registry_names_normalise_like_docker() {
        for hub in
            words("docker.io index.docker.io https://index.docker.io/v1/ registry-1.docker.io")
        {
            assert_eq!(normalize_registry(hub), "docker.io");
        }
        assert_eq!(
            normalize_registry("HTTP://Reg.Example:5000/v2/"),
            "reg.example:5000"
        );
    }
}
