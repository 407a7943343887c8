//! The [`Auth`] value of a running registry: which mode it is in, who a request comes from
//! (Basic credentials, a bearer token, or nobody) and whether that caller may do what the request
//! needs. It keeps the permission snapshot ([`Policy`]) current by stat-ing the database's change
//! stamp (and the htpasswd file) on every request, so a change made by the CLI takes effect at
//! once; verified Basic credentials and bearer tokens are remembered briefly so that neither
//! argon2 nor ECDSA runs on every request, and the memory of credentials is dropped on each
//! change. The token service (`/token`) lives in [`super::issue`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::audit::AuditLog;
use super::db::{AuthDb, Stamp};
use super::htpasswd::Htpasswd;
use super::limiter::Limiter;
use super::model::{Action, Actions, AuditEvent};
use super::password;
use super::policy::{Policy, Who};
use super::scope::{Resource, ResourceScope};
use super::token::{SigningKey, Verifier};
use crate::config::{AuthMode, Config, parse_duration};
use crate::error::{Error, Result};

/// Bearer tokens remembered as verified, at most.
const TOKEN_CACHE: usize = 10_000;
/// Basic credentials remembered as verified, at most.
const CRED_CACHE: usize = 10_000;

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

    /// Whether the catalog shows `repo` to the caller: the repositories it may pull, by the live
    /// policy (a catalog token names no repository), or by its claims for an external issuer.
    pub fn may_list(&self, repo: &str) -> bool {
        match &self.grants {
            Grants::All => true,
            Grants::Live(p) | Grants::Claims(_, Some(p)) => {
                p.allowed(&self.who, repo, now_secs()).contains(Action::Pull)
            }
            Grants::Claims(c, None) => {
                claims_cover(c, &Resource::Repository(repo.into()), Actions::NONE.with(Action::Pull))
            }
        }
    }

    /// The actor's name for the audit log.
    pub fn actor(&self) -> Option<String> {
        self.who.actor()
    }
}

/// A bearer token that verified, as remembered.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) who: Who,
    pub(crate) access: Arc<Vec<ResourceScope>>,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) pwv: Option<String>,
}

/// A short digest of a stored password hash: the password's version in berth's tokens.
pub(crate) fn password_version(hash: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(hash.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
        let htpasswd_changed = self.htpasswd.as_ref().is_some_and(|h| {
            h.lock().unwrap_or_else(|p| p.into_inner()).refresh()
        });
        {
            let cur = self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone();
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
        self.tokens.write().unwrap_or_else(|p| p.into_inner()).clear();
        tracing::debug!(mode = mode.as_str(), "access control loaded");
        Ok(snap)
    }

    /// The current snapshot, reloaded first if the database or the htpasswd file changed.
    async fn current(&self) -> Result<Arc<Snapshot>> {
        let cur = self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone();
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

    fn realm(&self, host: Option<&str>) -> String {
        if let Some(ext) = &self.config.external {
            return ext.realm.clone();
        }
        match &self.config.external_url {
            Some(u) => format!("{}/token", u.trim_end_matches('/')),
            None => {
                let scheme = if self.tls { "https" } else { "http" };
                format!("{scheme}://{}/token", host.unwrap_or("localhost"))
            }
        }
    }

    /// The 401 a request gets: a challenge naming exactly the scopes it needed.
    pub fn challenge(
        &self,
        mode: AuthMode,
        req: &RequestInfo<'_>,
        need: &Need,
        error: Option<&str>,
        message: &str,
    ) -> Error {
        let challenge = match mode {
            AuthMode::Basic => format!("Basic realm=\"{}\"", self.config.service),
            _ => {
                let mut c = format!(
                    "Bearer realm=\"{}\",service=\"{}\"",
                    self.realm(req.host),
                    self.config.service
                );
                let mut scopes: Vec<String> = match need {
                    Need::Scopes(s) => s.iter().map(|s| s.to_string()).collect(),
                    Need::Catalog => vec!["registry:catalog:*".into()],
                    _ => Vec::new(),
                };
                scopes.extend(req.also.iter().map(|s| s.to_string()));
                if !scopes.is_empty() {
                    c.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
                }
                if let Some(e) = error {
                    c.push_str(&format!(",error=\"{e}\""));
                }
                c
            }
        };
        Error::Unauthorized {
            message: message.to_string(),
            challenge,
        }
    }

    /// Decide a request: its principal, or the error to answer (401 with a challenge, 403, 429).
    pub async fn authorize(&self, req: &RequestInfo<'_>, need: &Need) -> Result<Principal> {
        let snap = self.current().await?;
        let policy = &snap.policy;
        match snap.mode {
            AuthMode::None => Ok(Principal::everyone()),
            AuthMode::Basic => {
                let who = match req.authorization.and_then(basic_credentials) {
                    Some((u, p)) => self
                        .login(&u, &p, req.client)
                        .await
                        .map_err(|e| self.basic_error(e, req, need))?,
                    None => Who::Anonymous,
                };
                let now = now_secs();
                let ok = match need {
                    Need::Nothing | Need::Catalog => true,
                    Need::Login => who != Who::Anonymous,
                    Need::Scopes(scopes) => scopes.iter().all(|s| match &s.resource {
                        Resource::Repository(r) => policy.allowed(&who, r, now).covers(s.actions),
                        Resource::Catalog => true,
                    }),
                };
                if ok {
                    return Ok(Principal {
                        who,
                        grants: Grants::Live(policy.clone()),
                    });
                }
                if who == Who::Anonymous {
                    Err(self.challenge(snap.mode, req, need, None, "credentials are needed"))
                } else {
                    Err(Error::Denied(denied_text(need)))
                }
            }
            AuthMode::Token => {
                if *need == Need::Nothing {
                    return Ok(Principal {
                        who: Who::Anonymous,
                        grants: Grants::Claims(Arc::new(Vec::new()), None),
                    });
                }
                let Some(token) = req.authorization.and_then(bearer) else {
                    return Err(self.challenge(
                        snap.mode,
                        req,
                        need,
                        None,
                        "a bearer token from the realm is needed",
                    ));
                };
                let v = self.verify_access_token(token, policy).map_err(|e| {
                    self.challenge(snap.mode, req, need, Some("invalid_token"), &e)
                })?;
                let ours = self.signer.is_some();
                let principal = Principal {
                    who: v.who.clone(),
                    grants: Grants::Claims(v.access.clone(), ours.then(|| policy.clone())),
                };
                let now = now_secs();
                // What the live policy allows: a grant revoked, a scope no longer public, takes
                // effect on berth's tokens already issued, not only when they expire.
                let allowed_now = match need {
                    Need::Scopes(scopes) => scopes.iter().all(|s| match &s.resource {
                        Resource::Repository(r) => policy.allowed(&v.who, r, now).covers(s.actions),
                        Resource::Catalog => true,
                    }),
                    _ => true,
                };
                let ok = match need {
                    Need::Nothing | Need::Login => true,
                    Need::Catalog => claims_cover(&v.access, &Resource::Catalog, Actions::NONE),
                    Need::Scopes(scopes) => {
                        scopes
                            .iter()
                            .all(|s| claims_cover(&v.access, &s.resource, s.actions))
                            && (!ours || allowed_now)
                    }
                };
                // A mount names its source too: a token lacking pull there, for a caller the
                // live policy lets pull it, is sent back for a token naming both (as Distribution
                // does); a caller who may not pull the source gets a plain upload instead.
                let mount_scope_missing = ours
                    && req.also.iter().any(|s| {
                        !claims_cover(&v.access, &s.resource, s.actions)
                            && match &s.resource {
                                Resource::Repository(r) => policy.allowed(&v.who, r, now).covers(s.actions),
                                Resource::Catalog => false,
                            }
                    });
                if ok && !mount_scope_missing {
                    return Ok(principal);
                }
                // A known caller whose grants do not allow it either is denied outright; an
                // anonymous one, or one whose token merely lacks the scope, is told what to get.
                let allowed_anyway = allowed_now;
                if v.who == Who::Anonymous || allowed_anyway || !ours {
                    Err(self.challenge(
                        snap.mode,
                        req,
                        need,
                        Some("insufficient_scope"),
                        "the token does not grant this access",
                    ))
                } else {
                    Err(Error::Denied(denied_text(need)))
                }
            }
        }
    }

    fn basic_error(&self, e: Error, req: &RequestInfo<'_>, need: &Need) -> Error {
        match e {
            Error::Unauthorized { message, .. } => {
                self.challenge(AuthMode::Basic, req, need, None, &message)
            }
            other => other,
        }
    }

    /// Verify a bearer token for an API request: signature and claims (remembered once
    /// verified), then — for berth's own tokens — that its user still exists, that its password
    /// did not change since, and that its robot token is still live.
    pub(crate) fn verify_access_token(
        &self,
        token: &str,
        policy: &Policy,
    ) -> std::result::Result<Arc<Verified>, String> {
        let v = self.verify_token(token, false)?;
        if self.signer.is_some() {
            self.check_live(&v, policy)?;
        }
        Ok(v)
    }

    /// Verify a token's signature and claims; `refresh` says which kind is expected.
    pub(crate) fn verify_token(
        &self,
        token: &str,
        refresh: bool,
    ) -> std::result::Result<Arc<Verified>, String> {
        let now = now_secs();
        let leeway = super::token::LEEWAY_SECS as i64;
        if !refresh
            && let Some(v) = self
                .tokens
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(token)
        {
            if v.exp + leeway < now {
                return Err("token expired".into());
            }
            return Ok(v.clone());
        }
        let verifier = self.verifier.as_ref().ok_or("no token verifier")?;
        let claims = verifier.verify(token).map_err(|e| e.to_string())?;
        if claims.refresh != refresh {
            return Err(if refresh {
                "not a refresh token".into()
            } else {
                "a refresh token is not an access token".into()
            });
        }
        let who = match (&claims.robot, claims.sub.as_str()) {
            (_, "") => Who::Anonymous,
            (Some(id), user) => Who::Robot {
                user: user.to_string(),
                id: id.clone(),
            },
            (None, user) => Who::User(user.to_string()),
        };
        let access: Vec<ResourceScope> = claims
            .access
            .iter()
            .filter_map(|a| {
                ResourceScope::parse(&format!("{}:{}:{}", a.kind, a.name, a.actions.join(",")))
            })
            .collect();
        let v = Arc::new(Verified {
            who,
            access: Arc::new(access),
            exp: claims.exp,
            iat: claims.iat,
            pwv: claims.pwv.clone(),
        });
        if !refresh {
            let mut cache = self.tokens.write().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= TOKEN_CACHE {
                cache.clear();
            }
            cache.insert(token.to_string(), v.clone());
        }
        Ok(v)
    }

    pub(crate) fn check_live(&self, v: &Verified, policy: &Policy) -> std::result::Result<(), String> {
        let now = now_secs();
        match &v.who {
            Who::Anonymous => Ok(()),
            Who::Robot { user, id } => match policy.live_robot(id, now) {
                Some(r) if &r.user == user => Ok(()),
                _ => Err("robot token revoked or expired".into()),
            },
            Who::User(u) => {
                // berth's tokens name the password version they were issued under (of the
                // user table or of the htpasswd file); one without it goes by its time.
                let Some(current) = self.password_version_of(policy, u) else {
                    return Err("user no longer exists".into());
                };
                let fresh = match (&v.pwv, policy.user(u)) {
                    (Some(p), _) => *p == current,
                    (None, Some(user)) => v.iat > user.password_changed_at,
                    (None, None) => true,
                };
                if !fresh {
                    return Err("password changed since the token was issued".into());
                }
                Ok(())
            }
        }
    }

    /// Who a refused request says it is, for its audit record: the subject of a valid bearer
    /// token, or the user name of Basic credentials (as claimed: the password may be wrong).
    pub fn claimed_actor(&self, req: &RequestInfo<'_>) -> Option<String> {
        let a = req.authorization?;
        if let Some((user, _)) = basic_credentials(a) {
            return Some(user);
        }
        self.verify_token(bearer(a)?, false).ok()?.who.actor()
    }

    /// The version of `user`'s password: of berth's table, else of the htpasswd file.
    pub(crate) fn password_version_of(&self, policy: &Policy, user: &str) -> Option<String> {
        match policy.user(user) {
            Some(u) => Some(password_version(&u.password_hash)),
            None => self.htpasswd_hash(user).map(|h| password_version(&h)),
        }
    }

    fn htpasswd_hash(&self, user: &str) -> Option<String> {
        let h = self.htpasswd.as_ref()?;
        h.lock()
            .unwrap_or_else(|p| p.into_inner())
            .hash(user)
            .map(str::to_string)
    }

    fn cred_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Check a user name and password (or robot secret): the same answer, in the same time,
    /// for an unknown user and a wrong password; failures back off per user and per address.
    /// Every check that reaches the password store is audited (`login`).
    pub async fn login(&self, user: &str, password: &str, client: Option<IpAddr>) -> Result<Who> {
        // The live policy first: reloading it is what drops remembered credentials after a
        // change, so the memory below is never older than the database.
        let policy = self.policy().await?;
        let key = self.cred_key(user, password);
        if let Some((who, until)) = self
            .creds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
            && until > Instant::now()
            // A robot token expires with time, not with a change to the database.
            && match &who {
                Who::Robot { id, .. } => policy.live_robot(id, now_secs()).is_some(),
                _ => true,
            }
        {
            return Ok(who);
        }
        let mut keys = vec![format!("u:{user}")];
        if let Some(ip) = client {
            keys.push(format!("a:{ip}"));
        }
        if let Err(retry_after) = self.limiter.check(&keys) {
            self.audit
                .record(AuditEvent {
                    action: "login".into(),
                    success: false,
                    actor: Some(user.to_string()),
                    client: client.map(|c| c.to_string()),
                    detail: Some("rate limited".into()),
                    ..Default::default()
                })
                .await;
            return Err(Error::TooManyRequests { retry_after });
        }
        let who = self.check_password(&policy, user, password).await;
        let ok = who.is_some();
        self.audit
            .record(AuditEvent {
                action: "login".into(),
                success: ok,
                actor: who.as_ref().and_then(Who::actor).or(Some(user.to_string())),
                client: client.map(|c| c.to_string()),
                detail: (!ok).then(|| "invalid username or password".to_string()),
                ..Default::default()
            })
            .await;
        match who {
            Some(who) => {
                self.limiter.success(&keys);
                if let Who::Robot { id, .. } = &who {
                    self.robot_used(id).await;
                }
                let mut creds = self.creds.lock().unwrap_or_else(|p| p.into_inner());
                if creds.len() >= CRED_CACHE {
                    creds.clear();
                }
                creds.insert(key, (who.clone(), Instant::now() + self.lifetimes.credentials));
                Ok(who)
            }
            None => {
                self.limiter.failure(&keys);
                Err(Error::Unauthorized {
                    message: "invalid username or password".into(),
                    challenge: format!("Basic realm=\"{}\"", self.config.service),
                })
            }
        }
    }

    async fn check_password(&self, policy: &Policy, user: &str, password: &str) -> Option<Who> {
        if let Some(id) = password::robot_id(password) {
            let hash = password::secret_hash(password);
            return match policy.live_robot(id, now_secs()) {
                Some(r) if r.user == user && password::hashes_equal(&hash, &r.secret_hash) => {
                    Some(Who::Robot {
                        user: user.to_string(),
                        id: id.to_string(),
                    })
                }
                _ => None,
            };
        }
        let hash = policy
            .user(user)
            .map(|u| u.password_hash.clone())
            .or_else(|| self.htpasswd_hash(user));
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || match hash {
            Some(h) => password::verify_password(&h, &pw),
            None => password::dummy_verify(&pw),
        })
        .await
        .unwrap_or(false);
        ok.then(|| Who::User(user.to_string()))
    }

    /// Note a robot token's use (written at most once a minute per token).
    pub(crate) async fn robot_used(&self, id: &str) {
        let now = now_secs();
        let due = {
            let mut uses = self.robot_uses.lock().unwrap_or_else(|p| p.into_inner());
            let last = uses.get(id).copied().unwrap_or(0);
            if now - last >= 60 {
                uses.insert(id.to_string(), now);
                true
            } else {
                false
            }
        };
        if due && let Err(e) = self.db.touch_robot(id, now).await {
            tracing::warn!(error = %e, "cannot record the robot token's use");
        }
    }

    /// Whether `who` administers the registry (always, in mode `none`).
    pub async fn is_admin(&self, who: &Who) -> Result<bool> {
        let snap = self.current().await?;
        Ok(snap.mode == AuthMode::None || snap.policy.is_admin(who))
    }

    /// Authenticate an admin-API caller: Basic credentials, or berth's bearer token in token
    /// mode; must be an administrator. Without access control (mode `none`) the admin API is
    /// closed: anyone could otherwise make themselves the first administrator.
    pub async fn admin(&self, req: &RequestInfo<'_>) -> Result<Who> {
        let snap = self.current().await?;
        if snap.mode == AuthMode::None {
            return Err(Error::Denied(
                "the admin API needs access control: add the first administrator with \
                 `berth registry user add NAME --admin`"
                    .into(),
            ));
        }
        let who = if let Some((u, p)) = req.authorization.and_then(basic_credentials) {
            self.login(&u, &p, req.client).await?
        } else if let Some(t) = req.authorization.and_then(bearer)
            && self.signer.is_some()
        {
            self.verify_access_token(t, &snap.policy)
                .map_err(|e| Error::Unauthorized {
                    message: e,
                    challenge: format!("Basic realm=\"{}\"", self.config.service),
                })?
                .who
                .clone()
        } else {
            return Err(Error::Unauthorized {
                message: "the admin API needs credentials".into(),
                challenge: format!("Basic realm=\"{}\"", self.config.service),
            });
        };
        if snap.policy.is_admin(&who) {
            Ok(who)
        } else {
            Err(Error::Denied("the admin API needs the admin role on '*'".into()))
        }
    }
}

fn denied_text(need: &Need) -> String {
    match need {
        Need::Scopes(s) => s
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        _ => "access denied".into(),
    }
}

#[cfg(test)]
mod tests;
