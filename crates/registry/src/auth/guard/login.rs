//! Basic credentials: a password or robot secret checked in constant time for unknown users,
//! failures backing off per user and per address, successes remembered briefly, every check
//! audited; and the record of a robot token's use.

use std::net::IpAddr;
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use super::{Auth, now_secs};
use crate::auth::model::AuditEvent;
use crate::auth::password;
use crate::auth::policy::{Policy, Who};
use crate::error::{Error, Result};

/// Basic credentials remembered as verified, at most.
const CRED_CACHE: usize = 10_000;

impl Auth {
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
                creds.insert(
                    key,
                    (who.clone(), Instant::now() + self.lifetimes.credentials),
                );
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
}
