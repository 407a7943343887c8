//! Bearer tokens of API requests: signature and claims checked once and remembered, then
//! checked against the live database on every use (user, password version, robot token).

use std::sync::Arc;

use super::{Auth, RequestInfo, basic_credentials, bearer, now_secs};
use crate::auth::policy::{Policy, Who};
use crate::auth::scope::ResourceScope;
use crate::auth::token::LEEWAY_SECS;

/// Bearer tokens remembered as verified, at most.
const TOKEN_CACHE: usize = 10_000;

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

impl Auth {
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
        let leeway = LEEWAY_SECS as i64;
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

    pub(crate) fn check_live(
        &self,
        v: &Verified,
        policy: &Policy,
    ) -> std::result::Result<(), String> {
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

    pub(super) fn htpasswd_hash(&self, user: &str) -> Option<String> {
        let h = self.htpasswd.as_ref()?;
        h.lock()
            .unwrap_or_else(|p| p.into_inner())
            .hash(user)
            .map(str::to_string)
    }
}
