//! The JSON admin API under `/berth/api/v1/` (the caller has already been checked to be an
//! administrator): users, teams, grants, public scopes, robot tokens and the audit log, each a
//! thin translation to [`Admin`]; and `config/reload`, which re-reads the configuration's
//! retention, quota and immutable-tag rules. Errors are the registry's usual
//! `{"errors":[...]}` bodies; a malformed body is 400 `INVALID` (without echoing its values:
//! they may hold a password).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{percent_decode, query, response};
use crate::auth::admin::{Actor, Admin, RobotView, parse_since};
use crate::auth::audit::now_ms;
use crate::auth::model::{AuditEvent, AuditFilter, Role, ScopedActions, Subject};
use crate::error::{Error, Result};
use crate::service::Registry;

/// `POST /berth/api/v1/config/reload`: re-read the configuration file and put its retention,
/// quota and immutable-tag rules in force (as SIGHUP does); audited as `config.reload`. A file
/// that does not parse leaves the rules unchanged and answers 400 `INVALID` saying why.
pub async fn config_reload(reg: &Registry, actor: &Actor, method: &Method) -> Response {
    if *method != Method::POST {
        return not_allowed(method, "POST").unwrap_or_else(IntoResponse::into_response);
    }
    let result = reg.reload_config().map_err(|e| match e {
        Error::Config(m) => Error::Invalid(m),
        other => other,
    });
    reg.auth()
        .audit_log()
        .record(AuditEvent {
            action: "config.reload".into(),
            success: result.is_ok(),
            actor: actor.name.clone(),
            client: actor.client.clone(),
            detail: result.as_ref().err().map(|e| e.to_string()),
            ..Default::default()
        })
        .await;
    result
        .and_then(|counts| ok(&serde_json::json!({ "reloaded": true, "rules": counts })))
        .unwrap_or_else(IntoResponse::into_response)
}

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// Serve one admin API request; `path` is what follows `/berth/api/v1`.
pub async fn dispatch(
    admin: &Admin,
    actor: Actor,
    method: &Method,
    path: &str,
    req: Request,
) -> Response {
    route(admin, &actor, method, path, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    subject: String,
    role: Option<String>,
    scope: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicBody {
    scope: String,
    public: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    user: String,
    name: String,
    scopes: Vec<String>,
    expires: Option<String>,
}

#[derive(Serialize)]
struct CreatedToken {
    #[serde(flatten)]
    view: RobotView,
    token: String,
}

async fn route(
    admin: &Admin,
    actor: &Actor,
    method: &Method,
    path: &str,
    req: Request,
) -> Result<Response> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.clone();
    match segs.as_slice() {
        ["users"] => match m {
            Method::GET => ok(&admin.users().await?),
            Method::POST => {
                let b: NewUser = body(req).await?;
                admin.user_add(actor, &b.name, &b.password, b.admin).await?;
                let user = admin.users().await?.into_iter().find(|u| u.name == b.name);
                json(StatusCode::CREATED, &user)
            }
            _ => not_allowed(&m, "GET, POST"),
        },
        ["users", name] => match m {
            Method::DELETE => {
                admin.user_rm(actor, name).await?;
                no_content()
            }
            _ => not_allowed(&m, "DELETE"),
        },
        ["users", name, "password"] => match m {
            Method::PUT => {
                let b: NewPassword = body(req).await?;
                admin.user_passwd(actor, name, &b.password).await?;
                no_content()
            }
            _ => not_allowed(&m, "PUT"),
        },
        ["teams"] => match m {
            Method::GET => ok(&admin.teams().await?),
            Method::POST => {
                let b: NewTeam = body(req).await?;
                admin.team_add(actor, &b.name).await?;
                let team = admin.teams().await?.into_iter().find(|t| t.name == b.name);
                json(StatusCode::CREATED, &team)
            }
            _ => not_allowed(&m, "GET, POST"),
        },
        ["teams", name] => match m {
            Method::DELETE => {
                admin.team_rm(actor, name).await?;
                no_content()
            }
            _ => not_allowed(&m, "DELETE"),
        },
        ["teams", team, "members", user] => match m {
            Method::PUT => {
                admin.member_add(actor, team, user).await?;
                no_content()
            }
            Method::DELETE => {
                admin.member_rm(actor, team, user).await?;
                no_content()
            }
            _ => not_allowed(&m, "PUT, DELETE"),
        },
        ["grants"] => match m {
            Method::GET => ok(&admin.grants().await?),
            Method::POST => {
                let b: GrantBody = body(req).await?;
                let subject = subject(&b.subject)?;
                let Some(role) = b.role.as_deref() else {
                    return Err(Error::Invalid("missing field `role`".into()));
                };
                let role = parse_role(role)?;
                admin.grant(actor, subject.clone(), role, &b.scope).await?;
                let view = serde_json::json!({
                    "subject": subject.to_string(), "role": role, "scope": b.scope,
                });
                json(StatusCode::CREATED, &view)
            }
            Method::DELETE => {
                let b: GrantBody = body(req).await?;
                let subject = subject(&b.subject)?;
                let role = b.role.as_deref().map(parse_role).transpose()?;
                let n = admin.revoke(actor, subject, role, &b.scope).await?;
                ok(&serde_json::json!({ "revoked": n }))
            }
            _ => not_allowed(&m, "GET, POST, DELETE"),
        },
        ["public"] => match m {
            Method::GET => ok(&admin.public_scopes().await?),
            Method::PUT => {
                let b: PublicBody = body(req).await?;
                let changed = admin.set_public(actor, &b.scope, b.public).await?;
                ok(&serde_json::json!({
                    "scope": b.scope, "public": b.public, "changed": changed,
                }))
            }
            _ => not_allowed(&m, "GET, PUT"),
        },
        ["tokens"] => match m {
            Method::GET => {
                let user = query(&req, "user").filter(|u| !u.is_empty());
                ok(&admin.token_ls(user.as_deref()).await?)
            }
            Method::POST => create_token(admin, actor, req).await,
            _ => not_allowed(&m, "GET, POST"),
        },
        ["tokens", id] => match m {
            Method::DELETE => {
                let user = query(&req, "user").filter(|u| !u.is_empty());
                admin.token_revoke(actor, user.as_deref(), id).await?;
                no_content()
            }
            _ => not_allowed(&m, "DELETE"),
        },
        ["audit"] => match m {
            Method::GET => ok(&admin.audit(&audit_filter(&req)?).await?),
            _ => not_allowed(&m, "GET"),
        },
        _ => Ok(response::not_found()),
    }
}

async fn create_token(admin: &Admin, actor: &Actor, req: Request) -> Result<Response> {
    let b: NewToken = body(req).await?;
    let scopes = b
        .scopes
        .iter()
        .map(|s| s.parse::<ScopedActions>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::Invalid)?;
    let expires = b
        .expires
        .as_deref()
        .filter(|e| !e.is_empty() && *e != "never")
        .map(crate::config::parse_duration)
        .transpose()
        .map_err(Error::Invalid)?;
    let (view, token) = admin
        .token_create(actor, &b.user, &b.name, scopes, expires)
        .await?;
    let mut resp = json(StatusCode::CREATED, &CreatedToken { view, token })?;
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn audit_filter(req: &Request) -> Result<AuditFilter> {
    let param = |k: &str| query(req, k).filter(|v| !v.is_empty());
    let since_ms = param("since")
        .map(|s| parse_since(&s, now_ms()))
        .transpose()?;
    let limit = param("limit")
        .map(|l| {
            l.parse::<u32>()
                .map_err(|_| Error::Invalid(format!("invalid limit {l:?}: expected a number")))
        })
        .transpose()?;
    Ok(AuditFilter {
        since_ms,
        actor: param("user"),
        repo: param("repo"),
        limit,
    })
}

fn subject(s: &str) -> Result<Subject> {
    s.parse().map_err(Error::Invalid)
}

fn parse_role(s: &str) -> Result<Role> {
    s.parse().map_err(Error::Invalid)
}

/// The JSON body. serde's messages may quote the values sent (a password among them), so
/// only those naming fields are passed on.
async fn body<T: DeserializeOwned>(req: Request) -> Result<T> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            Error::Invalid(format!(
                "the request body must be JSON of at most {MAX_BODY} bytes"
            ))
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("missing field") || msg.starts_with("unknown field") {
            Error::Invalid(format!("invalid JSON body: {msg}"))
        } else {
            Error::Invalid(format!(
                "invalid JSON body at line {} column {}: expected an object with the documented fields",
                e.line(),
                e.column()
            ))
        }
    })
}

fn json<T: Serialize + ?Sized>(status: StatusCode, v: &T) -> Result<Response> {
    let body = serde_json::to_vec(v).map_err(|e| Error::io("<json>", std::io::Error::other(e)))?;
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(Body::from(body))
        .expect("json response"))
}

fn ok<T: Serialize + ?Sized>(v: &T) -> Result<Response> {
    json(StatusCode::OK, v)
}

fn no_content() -> Result<Response> {
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .expect("empty response"))
}

fn not_allowed(method: &Method, allow: &'static str) -> Result<Response> {
    let mut resp = Error::Unsupported(format!(
        "method {method} is not allowed here (allowed: {allow})"
    ))
    .into_response();
    resp.headers_mut()
        .insert("allow", HeaderValue::from_static(allow));
    Ok(resp)
}
