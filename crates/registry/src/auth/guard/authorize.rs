//! Deciding a request: the challenge a 401 carries, what a principal may do in each mode
//! (`none`, `basic`, `token`, berth's tokens also bounded by the live policy), and the admin gate.

use std::sync::Arc;

use super::{
    Auth, Grants, Need, Principal, RequestInfo, basic_credentials, bearer, claims_cover, now_secs,
};
use crate::auth::model::Actions;
use crate::auth::policy::Who;
use crate::auth::scope::Resource;
use crate::config::AuthMode;
use crate::error::{Error, Result};

impl Auth {
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
                let v = self
                    .verify_access_token(token, policy)
                    .map_err(|e| self.challenge(snap.mode, req, need, Some("invalid_token"), &e))?;
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
                                Resource::Repository(r) => {
                                    policy.allowed(&v.who, r, now).covers(s.actions)
                                }
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
            Err(Error::Denied(
                "the admin API needs the admin role on '*'".into(),
            ))
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
