//! The token service behind `/token`: Docker's token protocol (`GET`, Basic credentials or
//! anonymous, `scope` repeated, `offline_token`) and its OAuth2 variant (`POST`, form-encoded
//! `password` and `refresh_token` grants). A caller gets, for each scope asked, the actions it
//! both asked for and may take (possibly none); wrong credentials get 401. Refresh tokens are
//! JWTs of berth's own kind: refused once the user is gone, its password changed or its robot
//! token revoked.

use std::net::IpAddr;

use serde::Serialize;

use super::guard::{Auth, now_secs};
use super::model::{Action, Actions, AuditEvent};
use super::policy::Who;
use super::scope::{Resource, ResourceScope};
use super::token::{AccessClaim, Claims};
use crate::error::{Error, Result};

/// How the caller proves who it is.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Nothing.
    Anonymous,
    /// A user name and a password or robot secret.
    Password {
        /// User name.
        user: String,
        /// Password or robot secret.
        password: String,
    },
    /// A refresh token from an earlier request.
    Refresh(String),
}

/// One token request.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The `service` asked for; must be this registry's when given.
    pub service: Option<String>,
    /// The `scope` values (each may hold several space-separated scopes).
    pub scopes: Vec<String>,
    /// Whether a refresh token is wanted (`offline_token=true`, `access_type=offline`).
    pub offline: bool,
    /// The credentials.
    pub credentials: Credentials,
    /// The client's address.
    pub client: Option<IpAddr>,
}

/// The answer: Docker's fields and OAuth2's.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub token: String,
    /// The same, under OAuth2's name.
    pub access_token: String,
    /// Seconds it is valid.
    pub expires_in: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// A refresh token, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The scopes granted (OAuth2), space-separated.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

fn jti() -> String {
    let mut b = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Auth {
    /// Issue a token for `req`.
    pub async fn issue(&self, req: TokenRequest) -> Result<TokenResponse> {
        let Some(signer) = &self.signer else {
            return Err(Error::Unsupported(
                "this registry trusts an external token issuer".into(),
            ));
        };
        if let Some(s) = &req.service
            && s != &self.config.service
        {
            return Err(Error::Denied(format!(
                "this token service is for {:?}, not {s:?}",
                self.config.service
            )));
        }
        let policy = self.policy().await?;
        let client = req.client.map(|c| c.to_string());
        let who = match &req.credentials {
            Credentials::Anonymous => Who::Anonymous,
            Credentials::Password { user, password } => {
                self.login(user, password, req.client).await?
            }
            Credentials::Refresh(t) => {
                let v = self
                    .verify_token(t, true)
                    .and_then(|v| self.check_live(&v, &policy).map(|_| v))
                    .map_err(|e| Error::Unauthorized {
                        message: format!("refresh token refused: {e}"),
                        challenge: format!("Basic realm=\"{}\"", self.config.service),
                    })?;
                if let Who::Robot { id, .. } = &v.who {
                    self.robot_used(id).await;
                }
                v.who.clone()
            }
        };
        let now = now_secs();
        let mut granted: Vec<ResourceScope> = Vec::new();
        for want in ResourceScope::parse_list(req.scopes.iter().map(String::as_str)) {
            let may = match &want.resource {
                Resource::Repository(r) => policy.allowed(&who, r, now),
                // Anyone may ask for the catalog: it lists only what the caller may pull.
                Resource::Catalog => Actions::NONE.with(Action::Admin),
            };
            let actions = want.actions.intersect(may);
            if actions.is_empty() {
                continue;
            }
            match granted.iter_mut().find(|g| g.resource == want.resource) {
                Some(g) => g.actions = g.actions.union(actions),
                None => granted.push(ResourceScope {
                    resource: want.resource,
                    actions,
                }),
            }
        }
        let (user, robot) = match &who {
            Who::Anonymous => (String::new(), None),
            Who::User(u) => (u.clone(), None),
            Who::Robot { user, id } => (user.clone(), Some(id.clone())),
        };
        let ttl = self.lifetimes.token.as_secs().max(1);
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: user.clone(),
            aud: self.config.service.clone(),
            exp: now + ttl as i64,
            nbf: now,
            iat: now,
            jti: jti(),
            pwv: match &who {
                Who::User(u) | Who::Robot { user: u, .. } => self.password_version_of(&policy, u),
                Who::Anonymous => None,
            },
            access: granted
                .iter()
                .map(|g| AccessClaim {
                    kind: g.kind().to_string(),
                    name: g.name().to_string(),
                    actions: g
                        .actions
                        .list()
                        .iter()
                        .map(|a| a.as_str().to_string())
                        .collect(),
                })
                .collect(),
            robot: robot.clone(),
            refresh: false,
        };
        let token = signer.sign(&claims)?;
        let refresh_token = if req.offline && who != Who::Anonymous {
            let rc = Claims {
                exp: now + self.lifetimes.refresh.as_secs() as i64,
                jti: jti(),
                access: Vec::new(),
                refresh: true,
                ..claims.clone()
            };
            Some(signer.sign(&rc)?)
        } else {
            None
        };
        let scope = granted
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        self.audit
            .record(AuditEvent {
                action: "token.issue".into(),
                success: true,
                actor: who.actor(),
                client,
                detail: Some(if scope.is_empty() {
                    "no access".into()
                } else {
                    scope.clone()
                }),
                ..Default::default()
            })
            .await;
        Ok(TokenResponse {
            access_token: token.clone(),
            token,
            expires_in: ttl,
            issued_at: berth_oci::time::rfc3339(now, None),
            refresh_token,
            scope,
        })
    }
}
