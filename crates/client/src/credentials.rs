//! Registry logins, shared with Docker through its `config.json` (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`).
//!
//! The file holds `{"auths": {KEY: {"auth": base64("user:password")}}, "credsStore": NAME,
//! "credHelpers": {REGISTRY: NAME}}` among other keys, which are kept untouched on write. KEY is
//! `https://index.docker.io/v1/` for Docker Hub and `host[:port]` for the rest; URL-form keys
//! (`https://host/`, `http://host:port`) written by older tools are accepted when reading. When
//! a credential helper is configured (`credHelpers[registry]`, else `credsStore`), secrets go
//! through `docker-credential-NAME get|store|erase` instead, per Docker's credential-helper
//! protocol. Writes are atomic (temporary file, fsync, rename) and leave the file mode 0600.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::{Map, Value, json};

use crate::config::{DOCKER_HUB, normalize_registry};
use crate::error::{Error, Result};

/// Docker Hub's key in `auths` and the server URL its credential helpers see.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The username that marks [`Credential::secret`] as an identity (refresh) token.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// What a credential helper prints when it holds nothing for a server.
const NOT_FOUND: &str = "credentials not found in native keychain";

/// A login for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name, or [`IDENTITY_TOKEN_USER`] when `secret` is an identity token.
    pub username: String,
    /// Password, or identity token.
    pub secret: String,
}

impl Credential {
    /// Whether `secret` is an identity token rather than a password.
    pub fn is_identity_token(&self) -> bool {
        self.username == IDENTITY_TOKEN_USER
    }
}

// Hand-written so secrets never reach logs.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The key Docker files `registry`'s login under: `https://index.docker.io/v1/` for Docker Hub,
/// else the normalised `host[:port]`.
pub fn auth_key(registry: &str) -> String {
    let r = normalize_registry(registry);
    if r == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        r
    }
}

/// Docker's credential store: its `config.json` plus any credential helpers it names.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
    helper_dir: Option<PathBuf>,
}

impl CredentialStore {
    /// The store Docker uses: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn from_env() -> CredentialStore {
        let dir = match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".docker"),
        };
        CredentialStore::at(dir.join("config.json"))
    }

    /// The store in the Docker `config.json` at `path` (which need not exist yet).
    pub fn at(path: PathBuf) -> CredentialStore {
        CredentialStore {
            path,
            helper_dir: None,
        }
    }

    /// Run credential helpers from `dir` instead of searching `PATH` (for tests and sandboxes).
    pub fn with_helper_dir(mut self, dir: PathBuf) -> CredentialStore {
        self.helper_dir = Some(dir);
        self
    }

    /// The `config.json` this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper configured for `registry` (`credHelpers` first, then
    /// `credsStore`), or `None` when secrets live in the file itself.
    pub fn helper_for(&self, registry: &str) -> Result<Option<String>> {
        Ok(helper_in(&self.read()?, registry))
    }

    /// The login for `registry`, or `None` when there is none (also when the file is missing
    /// or the helper reports "credentials not found").
    pub fn get(&self, registry: &str) -> Result<Option<Credential>> {
        let doc = self.read()?;
        if let Some(helper) = helper_in(&doc, registry) {
            return self.helper_get(&helper, registry);
        }
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let key = auth_key(registry);
        // The exact key first, then any spelling that normalises to the same registry.
        let entry = auths.get(&key).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| auth_key(k) == key)
                .map(|(_, v)| v)
        });
        match entry {
            Some(e) => decode_entry(e, &key, &self.path),
            None => Ok(None),
        }
    }

    /// Save the login for `registry`: through its credential helper when one is configured
    /// (leaving an empty `auths` entry, as Docker does), else in the file. Creates the file
    /// (directory mode 0700, file 0600) when it is missing.
    pub fn store(&self, registry: &str, cred: &Credential) -> Result<()> {
        let mut doc = self.read()?;
        let key = auth_key(registry);
        let entry = match helper_in(&doc, registry) {
            Some(helper) => {
                let input =
                    json!({"ServerURL": key, "Username": cred.username, "Secret": cred.secret});
                self.run_helper(&helper, "store", &input.to_string())?;
                json!({})
            }
            None if cred.is_identity_token() => json!({"identitytoken": cred.secret}),
            None => json!({"auth": STANDARD.encode(format!("{}:{}", cred.username, cred.secret))}),
        };
        let auths = auths_mut(&mut doc, &self.path)?;
        // Other spellings of this registry would shadow or contradict the new entry.
        auths.retain(|k, _| k == &key || auth_key(k) != key);
        auths.insert(key, entry);
        self.write(&doc)
    }

    /// Forget the login for `registry` (every spelling of it in the file, and in its helper).
    /// Returns whether there was one.
    pub fn erase(&self, registry: &str) -> Result<bool> {
        let mut doc = self.read()?;
        let key = auth_key(registry);
        let mut found = false;
        if let Some(helper) = helper_in(&doc, registry) {
            match self.run_helper(&helper, "erase", &key) {
                Ok(_) => found = true,
                Err(Error::CredentialHelper { reason, .. }) if reason.contains(NOT_FOUND) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(auths) = doc.get_mut("auths").and_then(Value::as_object_mut) {
            let before = auths.len();
            auths.retain(|k, _| auth_key(k) != key);
            if auths.len() != before {
                found = true;
                self.write(&doc)?;
            }
        }
        Ok(found)
    }

    /// The parsed file; an empty object when it is missing or blank.
    fn read(&self) -> Result<Value> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(json!({})),
            Err(e) => return Err(io_err(&self.path, e)),
        };
        if text.trim().is_empty() {
            return Ok(json!({}));
        }
        let doc: Value = serde_json::from_str(&text).map_err(|e| Error::Credentials {
            reason: format!("{}: invalid JSON: {e}", self.path.display()),
        })?;
        if !doc.is_object() {
            return Err(Error::Credentials {
                reason: format!("{}: not a JSON object", self.path.display()),
            });
        }
        Ok(doc)
    }

    /// Replace the file atomically: a 0600 temporary file in the same directory, fsync,
    /// rename over the target (following a symlink, as Docker does), fsync the directory.
    fn write(&self, doc: &Value) -> Result<()> {
        let target = match std::fs::canonicalize(&self.path) {
            Ok(real) => real,
            Err(_) => self.path.clone(),
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io_err(&dir, e))?;
        // Docker indents with tabs; matching it keeps diffs of hand-edited files small.
        let mut body = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut body, fmt);
        serde::Serialize::serialize(doc, &mut ser).map_err(|e| Error::Credentials {
            reason: format!("{}: cannot encode: {e}", self.path.display()),
        })?;
        body.push(b'\n');

        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config.json");
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            tmp_suffix()
        ));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(&target, e));
        }
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        tracing::debug!(path = %target.display(), "wrote docker config");
        Ok(())
    }

    fn helper_get(&self, helper: &str, registry: &str) -> Result<Option<Credential>> {
        let out = match self.run_helper(helper, "get", &auth_key(registry)) {
            Ok(out) => out,
            Err(Error::CredentialHelper { reason, .. }) if reason.contains(NOT_FOUND) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let bad = |reason: String| Error::CredentialHelper {
            helper: helper.to_string(),
            reason,
        };
        let v: Value =
            serde_json::from_str(&out).map_err(|e| bad(format!("invalid output: {e}")))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (username, secret) = (field("Username"), field("Secret"));
        if secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credential { username, secret }))
    }

    /// Run `docker-credential-NAME VERB` with `input` on stdin; its stdout on success.
    fn run_helper(&self, helper: &str, verb: &str, input: &str) -> Result<String> {
        let fail = |reason: String| Error::CredentialHelper {
            helper: helper.to_string(),
            reason,
        };
        if helper.is_empty() || helper.contains('/') {
            return Err(fail("invalid helper name".into()));
        }
        let program = format!("docker-credential-{helper}");
        let program = match &self.helper_dir {
            Some(d) => d.join(&program),
            None => PathBuf::from(program),
        };
        tracing::debug!(program = %program.display(), verb, "running credential helper");
        let mut child = Command::new(&program)
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", program.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper may exit without reading; its status tells what happened.
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("{verb}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() {
            // Helpers report errors on stdout; stderr is a fallback for broken ones.
            let msg = if stdout.is_empty() {
                String::from_utf8_lossy(&out.stderr).trim().to_string()
            } else {
                stdout
            };
            return Err(fail(format!("{verb} failed ({}): {msg}", out.status)));
        }
        Ok(stdout)
    }
}

/// The helper configured for `registry` in the parsed file.
fn helper_in(doc: &Value, registry: &str) -> Option<String> {
    let key = auth_key(registry);
    let named = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(helpers) = doc.get("credHelpers").and_then(Value::as_object) {
        let hit = helpers.get(&key).or_else(|| {
            helpers
                .iter()
                .find(|(k, _)| auth_key(k) == key)
                .map(|(_, v)| v)
        });
        if let Some(h) = hit.and_then(named) {
            return Some(h);
        }
    }
    doc.get("credsStore").and_then(named)
}

/// `auths` as a mutable map, created when absent.
fn auths_mut<'a>(doc: &'a mut Value, path: &Path) -> Result<&'a mut Map<String, Value>> {
    let obj = doc.as_object_mut().expect("read() returns an object");
    obj.entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| Error::Credentials {
            reason: format!("{}: `auths` is not an object", path.display()),
        })
}

/// One `auths` entry: an identity token, `auth` (base64 `user:password`), or separate
/// `username`/`password` fields; an empty entry (left by helpers) is no login.
fn decode_entry(entry: &Value, key: &str, path: &Path) -> Result<Option<Credential>> {
    let field = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    let bad = |what: &str| Error::Credentials {
        reason: format!("{}: invalid `auth` for {key}: {what}", path.display()),
    };
    if !field("identitytoken").is_empty() {
        return Ok(Some(Credential {
            username: IDENTITY_TOKEN_USER.to_string(),
            secret: field("identitytoken").to_string(),
        }));
    }
    let auth = field("auth").trim();
    if !auth.is_empty() {
        let raw = STANDARD
            .decode(auth)
            .or_else(|_| STANDARD_NO_PAD.decode(auth.trim_end_matches('=')))
            .map_err(|_| bad("not base64"))?;
        let text = String::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
        let (user, pass) = text.split_once(':').ok_or_else(|| bad("no `:`"))?;
        return Ok(Some(Credential {
            username: user.to_string(),
            secret: pass.to_string(),
        }));
    }
    if !field("password").is_empty() {
        return Ok(Some(Credential {
            username: field("username").to_string(),
            secret: field("password").to_string(),
        }));
    }
    Ok(None)
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Distinguishes temporary files of concurrent writers within one process.
fn tmp_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(entry: Value) -> Result<Option<Credential>> {
        decode_entry(&entry, "k", Path::new("config.json"))
    }

    #[test]
    fn entry_forms() {
        let pw = |u: &str, s: &str| {
            Some(Credential {
                username: u.into(),
                secret: s.into(),
            })
        };
        // "alice:pa:ss" — the password may itself hold a colon.
        let auth = STANDARD.encode("alice:pa:ss");
        assert_eq!(decode(json!({"auth": auth})).unwrap(), pw("alice", "pa:ss"));
        let unpadded = STANDARD_NO_PAD.encode("bob:x");
        assert_eq!(decode(json!({"auth": unpadded})).unwrap(), pw("bob", "x"));
        assert_eq!(
            decode(json!({"username": "u", "password": "p"})).unwrap(),
            pw("u", "p")
        );
        let token = decode(json!({"auth": "", "identitytoken": "tok"}))
            .unwrap()
            .unwrap();
        assert!(token.is_identity_token());
        assert_eq!(token.secret, "tok");
        assert_eq!(decode(json!({})).unwrap(), None);
        assert!(decode(json!({"auth": "!!"})).is_err());
        assert!(decode(json!({"auth": STANDARD.encode("nocolon")})).is_err());
    }

    #[test]
    fn keys_and_helpers() {
        assert_eq!(auth_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(auth_key("index.docker.io"), DOCKER_HUB_KEY);
        assert_eq!(auth_key("https://Reg.io:5000/"), "reg.io:5000");
        let doc = json!({"credsStore": "desktop", "credHelpers": {"https://gcr.io": "gcloud", "docker.io": ""}});
        assert_eq!(helper_in(&doc, "gcr.io").as_deref(), Some("gcloud"));
        assert_eq!(helper_in(&doc, "quay.io").as_deref(), Some("desktop"));
        // An empty helper name falls through to credsStore.
        assert_eq!(helper_in(&doc, "docker.io").as_deref(), Some("desktop"));
        assert_eq!(helper_in(&json!({}), "quay.io"), None);
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Credential {
            username: "u".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
