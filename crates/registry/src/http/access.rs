//! Access control at the HTTP edge: what each route needs (Distribution's rules: reads need
//! `pull`; uploads and manifest pushes `pull,push`; deletes `delete`; a mount also names the
//! source's `pull`, for the challenge only — without it the mount falls back to an upload), the
//! client's address, the admin API's gate, and the audit records of writes.

use std::net::{IpAddr, SocketAddr};

use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::{Route, query};
use crate::auth::guard::{Need, RequestInfo};
use crate::auth::model::{Action, Actions, AuditEvent};
use crate::auth::scope::ResourceScope;
use crate::auth::{Principal, admin};
use crate::error::Result;
use crate::service::Registry;

/// The peer address of the connection a request came on (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The client's IP address, when the server recorded it.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ClientAddr>().map(|c| c.0.ip())
}

/// What the guard needs to know of `req`.
pub fn request_info(req: &Request) -> RequestInfo<'_> {
    RequestInfo {
        authorization: req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        host: req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str())),
        client: client_ip(req),
        also: Vec::new(),
    }
}

fn repo_scope(repo: &str, actions: &[Action]) -> Need {
    Need::Scopes(vec![ResourceScope::repository(
        repo,
        actions.iter().copied().collect::<Actions>(),
    )])
}

/// What a request on `route` with `method` needs.
pub fn need(method: &Method, route: &Route) -> Need {
    use Action::*;
    match (method, route) {
        (&Method::GET | &Method::HEAD, Route::Base) => Need::Login,
        (&Method::GET, Route::Catalog) => Need::Catalog,
        (&Method::GET, Route::Tags(r) | Route::Referrers(r, _))
        | (&Method::GET | &Method::HEAD, Route::Manifest(r, _) | Route::Blob(r, _)) => {
            repo_scope(r, &[Pull])
        }
        (&Method::PUT, Route::Manifest(r, _))
        | (&Method::POST, Route::UploadStart(r))
        | (&Method::GET | &Method::PATCH | &Method::PUT | &Method::DELETE, Route::Upload(r, _)) => {
            repo_scope(r, &[Pull, Push])
        }
        (&Method::DELETE, Route::Manifest(r, _) | Route::Blob(r, _)) => repo_scope(r, &[Delete]),
        _ => Need::Nothing,
    }
}

/// Decide a `/v2/` request. (Not an `async fn`: the future must not hold `&Request`, whose
/// body is not `Sync`, only what it read from the headers.)
pub fn authorize<'a>(
    reg: &'a Registry,
    method: &'a Method,
    route: &'a Route,
    req: &'a Request,
) -> impl Future<Output = Result<Principal>> + Send + 'a {
    let need = need(method, route);
    let mut info = request_info(req);
    if let (&Method::POST, Route::UploadStart(_)) = (method, route)
        && query(req, "mount").is_some()
        && let Some(from) = query(req, "from")
        && berth_oci::validate_repository(&from).is_ok()
    {
        info.also.push(ResourceScope::repository(
            &from,
            Actions::NONE.with(Action::Pull),
        ));
    }
    decide(reg, method, route, need, info)
}

async fn decide(
    reg: &Registry,
    method: &Method,
    route: &Route,
    need: Need,
    info: RequestInfo<'_>,
) -> Result<Principal> {
    let result = reg.auth().authorize(&info, &need).await;
    if let Err(e) = &result
        && matches!(*method, Method::PUT | Method::DELETE)
        && let (Need::Scopes(scopes), Route::Manifest(repo, r) | Route::Blob(repo, r)) =
            (&need, route)
        && info.authorization.is_some()
        && matches!(e.code(), "DENIED" | "UNAUTHORIZED")
    {
        let action = match (method, route) {
            (&Method::PUT, _) => "manifest.push",
            (_, Route::Blob(..)) => "blob.delete",
            _ if r.starts_with("sha") && r.contains(':') => "manifest.delete",
            _ => "tag.delete",
        };
        let _ = scopes;
        reg.auth()
            .audit_log()
            .record(AuditEvent {
                action: action.into(),
                success: false,
                actor: reg.auth().claimed_actor(&info),
                client: info.client.map(|c| c.to_string()),
                repo: Some(repo.clone()),
                target: Some(r.clone()),
                detail: Some(e.to_string()),
                ..Default::default()
            })
            .await;
    }
    result
}

/// Record a write that was done.
pub async fn audit_write(
    reg: &Registry,
    principal: &Principal,
    req: &RequestInfo<'_>,
    action: &str,
    repo: &str,
    target: &str,
    detail: Option<String>,
) {
    reg.auth()
        .audit_log()
        .record(AuditEvent {
            action: action.into(),
            success: true,
            actor: principal.actor(),
            client: req.client.map(|c| c.to_string()),
            repo: Some(repo.to_string()),
            target: Some(target.to_string()),
            detail,
            ..Default::default()
        })
        .await;
}

/// The admin API: the caller must be an administrator.
pub async fn admin(reg: &Registry, path: &str, req: Request) -> Response {
    let info = request_info(&req);
    let who = match reg.auth().admin(&info).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    let actor = admin::Actor {
        name: who.actor(),
        client: info.client.map(|c| c.to_string()),
    };
    let method = req.method().clone();
    if path.trim_end_matches('/') == "/config/reload" {
        return super::admin::config_reload(reg, &actor, &method).await;
    }
    let ops = admin::Admin::new(reg.auth().audit_log().clone())
        .with_other_users(reg.auth().other_users());
    super::admin::dispatch(&ops, actor, &method, path, req).await
}
