//! The [`Auth`] value of a running registry: which mode it is in, who a request comes from
//! (Basic credentials, a bearer token, or nobody) and whether that caller may do what the request
//! needs. It keeps the permission snapshot ([`Policy`]) current by stat-ing the database's change
//! stamp (and the htpasswd file) on every request, so a change made by the CLI takes effect at
//! once; verified Basic credentials and bearer tokens are remembered briefly so that neither
//! argon2 nor ECDSA runs on every request, and the memory of credentials is dropped on each
//! change. The token service (`/token`) lives in [`super::issue`].
//!
//! Layout: this file holds the request and caller types, the [`Auth`] value with its snapshot
//! reload; `authorize` decides requests (challenges, grants, the admin gate), `verify` checks
//! bearer tokens (and remembers them), `login` checks passwords and robot secrets (rate limited,
//! remembered).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::audit::AuditLog;
use super::db::{AuthDb, Stamp};
use super::htpasswd::Htpasswd;
use super::limiter::Limiter;
use super::model::{Action, Actions};
use super::policy::{Policy, Who};
use super::scope::{Resource, ResourceScope};
use super::token::{SigningKey, Verifier};
use crate::config::{AuthMode, Config, parse_duration};
use crate::error::{Error, Result};

mod authorize;
mod login;
mod verify;

use verify::Verified;

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Only to be authenticated (`/v2/`).
    Login,
    /// The catalog (filtered to what the caller may pull).
    Catalog,
    /// Actions on repositories.
    Scopes(Vec<ResourceScope>),
    /// Nothing: anyone may ask (unknown paths get their 404).
    Nothing,
}

/// What the guard needs to know of a request.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo<'a> {
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `Host` header (or `:authority`), for the challenge's realm.
    pub host: Option<&'a str>,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// Scopes the challenge names besides those needed (the source of a mount).
    pub also: Vec<ResourceScope>,
}

/// What a caller may do, decided once per request.
#[derive(Debug, Clone)]
enum Grants {
    /// Everything (mode `none`).
    All,
    /// What the live policy gives `who`.
    Live(Arc<Policy>),
    /// What a token's claims give, also bounded by the live policy when the token is berth's.
    Claims(Arc<Vec<ResourceScope>>, Option<Arc<Policy>>),
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Who.
    pub who: Who,
    grants: Grants,
}

fn claims_cover(claims: &[ResourceScope], resource: &Resource, actions: Actions) -> bool {
    claims
        .iter()
        .filter(|c| &c.resource == resource)
        .fold(Actions::NONE, |a, c| a.union(c.actions))
        .covers(actions)
}

impl Principal {
    /// Anyone, allowed everything (mode `none`).
    pub fn everyone() -> Principal {
        Principal {
            who: Who::Anonymous,
            grants: Grants::All,
        }
    }

    /// Whether the caller may take `action` on `repo` (e.g. pull the source of a mount).
    pub fn may(&self, repo: &str, action: Action) -> bool {
        let want = Actions::NONE.with(action);
        match &self.grants {
            Grants::All => true,
            Grants::Live(p) => p.allowed(&self.who, repo, now_secs()).covers(want),
            Grants::Claims(c, live) => {
                claims_cover(c, &Resource::Repository(repo.into()), want)
                    && live
                        .as_ref()
                        .is_none_or(|p| p.allowed(&self.who, repo, now_secs()).covers(want))
            }
        }
    }

    /// Whether the caller may pull `repo` by who it is, whatever its token names: the live
    /// policy for berth's users and robots (a robot stays within its own scopes), the claims for
    /// an external issuer's tokens. For the automatic cross-mount, which names no source.
    pub fn may_pull_as_self(&self, repo: &str) -> bool {
        self.may_list(repo)
    }

    /// Whether the catalog shows `repo` to the caller: the repositories it may pull, by the live
    /// policy (a catalog token names no repository), or by its claims for an external issuer.
    pub fn may_list(&self, repo: &str) -> bool {
        match &self.grants {
            Grants::All => true,
            Grants::Live(p) | Grants::Claims(_, Some(p)) => p
                .allowed(&self.who, repo, now_secs())
                .contains(Action::Pull),
            Grants::Claims(c, None) => claims_cover(
                c,
                &Resource::Repository(repo.into()),
                Actions::NONE.with(Action::Pull),
            ),
        }
    }

    /// The actor's name for the audit log.
    pub fn actor(&self) -> Option<String> {
        self.who.actor()
    }
}

struct Snapshot {
    stamp: Stamp,
    policy: Arc<Policy>,
    mode: AuthMode,
}

/// Parsed `[auth]` durations.
pub(crate) struct Lifetimes {
    pub(crate) token: Duration,
    pub(crate) refresh: Duration,
    pub(crate) credentials: Duration,
}

/// Access control of a running registry.
pub struct Auth {
    pub(crate) config: crate::config::AuthConfig,
    tls: bool,
    pub(crate) db: Arc<AuthDb>,
    pub(crate) audit: Arc<AuditLog>,
    snapshot: RwLock<Arc<Snapshot>>,
    reload: tokio::sync::Mutex<()>,
    htpasswd: Option<Mutex<Htpasswd>>,
    pub(crate) signer: Option<SigningKey>,
    verifier: Option<Verifier>,
    limiter: Limiter,
    pub(crate) lifetimes: Lifetimes,
    salt: [u8; 16],
    creds: Mutex<HashMap<[u8; 32], (Who, Instant)>>,
    tokens: RwLock<HashMap<String, Arc<Verified>>>,
    robot_uses: Mutex<HashMap<String, i64>>,
}

/// Unix seconds now.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn duration(what: &str, s: &str) -> Result<Duration> {
    parse_duration(s).map_err(|e| Error::Config(format!("[auth] {what}: {e}")))
}

/// The user and password of a `Basic` authorization value.
pub fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

impl Auth {
    /// Open access control for a registry configured by `config`: the database under its root,
    /// the htpasswd file, the signing key (generated at first start) or the external issuer.
    pub async fn open(config: &Config) -> Result<Auth> {
        let ac = &config.auth;
        let db = Arc::new(AuthDb::open(&config.root).await?);
        let audit = Arc::new(AuditLog::new(db.clone(), ac.audit_log.as_deref())?);
        let htpasswd = match &ac.htpasswd {
            Some(p) => Some(Mutex::new(Htpasswd::open(p)?)),
            None => None,
        };
        let (signer, verifier) = match &ac.external {
            Some(ext) => {
                let mut v = Verifier::new(&ext.issuer, &ac.service);
                if let Some(p) = &ext.public_key {
                    let pem = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                    v.trust_pem(&pem)?;
                }
                if let Some(p) = &ext.jwks {
                    let json = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                    v.trust_jwks(&json)?;
                }
                if ext.public_key.is_none() && ext.jwks.is_none() {
                    return Err(Error::Config(
                        "[auth.external] needs public_key or jwks".into(),
                    ));
                }
                (None, v)
            }
            None => {
                let signer = match &ac.key {
                    Some(k) => SigningKey::from_files(k, ac.cert.as_deref())?,
                    None => SigningKey::load_or_generate(&Self::key_dir(&config.root))?,
                };
                let mut v = Verifier::new(&ac.issuer, &ac.service);
                v.trust_signer(&signer);
                (Some(signer), v)
            }
        };
        let limiter = Limiter::new(
            ac.lockout_threshold,
            duration("lockout_base", &ac.lockout_base)?,
            duration("lockout_max", &ac.lockout_max)?,
        );
        let lifetimes = Lifetimes {
            token: duration("token_ttl", &ac.token_ttl)?,
            refresh: duration("refresh_ttl", &ac.refresh_ttl)?,
            credentials: duration("credential_cache", &ac.credential_cache)?,
        };
        let mut salt = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| Error::Config("no system randomness".into()))?;
        let auth = Auth {
            config: ac.clone(),
            tls: config.tls.is_some(),
            db,
            audit,
            snapshot: RwLock::new(Arc::new(Snapshot {
                stamp: Stamp::default(),
                policy: Arc::new(Policy::default()),
                mode: AuthMode::None,
            })),
            reload: tokio::sync::Mutex::new(()),
            htpasswd,
            signer,
            verifier: Some(verifier),
            limiter,
            lifetimes,
            salt,
            creds: Mutex::new(HashMap::new()),
            tokens: RwLock::new(HashMap::new()),
            robot_uses: Mutex::new(HashMap::new()),
        };
        auth.reload_now().await?;
        Ok(auth)
    }

    /// Where berth keeps its token-signing key and certificate under a data root.
    pub fn key_dir(root: &Path) -> std::path::PathBuf {
        root.join("v1").join("auth")
    }

    /// The audit log.
    pub fn audit_log(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    /// Users outside berth's table that grants may name: the htpasswd file's, or anyone's
    /// when an external issuer names them.
    pub fn other_users(&self) -> super::admin::OtherUsers {
        if self.config.external.is_some() {
            return super::admin::OtherUsers::Any;
        }
        match &self.htpasswd {
            Some(h) => {
                let mut h = h.lock().unwrap_or_else(|p| p.into_inner());
                h.refresh();
                super::admin::OtherUsers::Listed(h.users())
            }
            None => super::admin::OtherUsers::None,
        }
    }

    /// The access-control database.
    pub fn db(&self) -> &Arc<AuthDb> {
        &self.db
    }

    /// The mode in force now.
    pub fn mode(&self) -> AuthMode {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).mode
    }

    /// The mode in force, after picking up any change to the database (the first user added
    /// while the server runs turns `none` into `token` for whatever request comes first).
    pub async fn live_mode(&self) -> Result<AuthMode> {
        Ok(self.current().await?.mode)
    }

    /// The service name (challenges' `service`, tokens' `aud`).
    pub fn service(&self) -> &str {
        &self.config.service
    }

    /// Whether berth issues tokens itself (token mode without an external issuer).
    pub fn issues_tokens(&self) -> bool {
        self.signer.is_some()
    }

    async fn reload_now(&self) -> Result<Arc<Snapshot>> {
        let _one = self.reload.lock().await;
        let stamp = self.db.stamp();
        let htpasswd_changed = self
            .htpasswd
            .as_ref()
            .is_some_and(|h| h.lock().unwrap_or_else(|p| p.into_inner()).refresh());
        {
            let cur = self
                .snapshot
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if cur.stamp == stamp && !htpasswd_changed && stamp != Stamp::default() {
                return Ok(cur);
            }
        }
        let policy = Policy::new(self.db.load().await?);
        let mode = self.config.mode.unwrap_or(
            if policy.has_users() || self.htpasswd.is_some() || self.config.external.is_some() {
                AuthMode::Token
            } else {
                AuthMode::None
            },
        );
        let snap = Arc::new(Snapshot {
            stamp,
            policy: Arc::new(policy),
            mode,
        });
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = snap.clone();
        // A changed password, user or robot must not keep working from memory.
        self.creds.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        tracing::debug!(mode = mode.as_str(), "access control loaded");
        Ok(snap)
    }

    /// The current snapshot, reloaded first if the database or the htpasswd file changed.
    async fn current(&self) -> Result<Arc<Snapshot>> {
        let cur = self
            .snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let htpasswd_changed = self.htpasswd.as_ref().is_some_and(|h| {
            // Only a stat; the file is read again only when it changed.
            h.lock().unwrap_or_else(|p| p.into_inner()).refresh()
        });
        if htpasswd_changed {
            self.creds.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        if self.db.stamp() == cur.stamp && !htpasswd_changed {
            return Ok(cur);
        }
        self.reload_now().await
    }

    /// The live policy.
    pub async fn policy(&self) -> Result<Arc<Policy>> {
        Ok(self.current().await?.policy.clone())
    }
}

#[cfg(test)]
mod tests;
