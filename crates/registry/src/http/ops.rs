//! The operational endpoints: `/healthz` (the process answers), `/readyz` (the database and the
//! blob store take writes; 503 otherwise), both without access control for load balancers, and
//! `/metrics` (Prometheus).
//!
//! Where `/metrics` is served: with `[metrics] addr` set, only on that separate listener
//! ([`router`], plain HTTP, no access control — bind it to a private address, as one does
//! Distribution's debug address); the registry's own address then answers 404. Without it, on
//! the registry's address, to administrators only (Basic or bearer credentials of a user with
//! `admin` on `*`), or to anyone when the registry runs without access control (it then serves
//! loopback unless told otherwise, and anyone who reaches it may push anyway). Metrics never
//! name repositories, but request rates and storage size are still nobody else's business.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::access::request_info;
use super::response;
use crate::config::AuthMode;
use crate::error::Error;
use crate::metrics;
use crate::service::Registry;

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let body = value.to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(Body::from(body))
        .expect("response")
}

/// `GET /healthz`.
pub fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`.
pub async fn readyz(reg: &Registry) -> Response {
    let r = reg.readiness().await;
    let part = |p: &Result<(), String>| match p {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let (status, word) = if r.ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    json(
        status,
        serde_json::json!({
            "status": word,
            "checks": { "database": part(&r.database), "storage": part(&r.storage) },
        }),
    )
}

/// The metrics text.
async fn render(reg: &Registry) -> Response {
    reg.refresh_storage_metrics().await;
    let body = metrics::render();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", metrics::CONTENT_TYPE)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(Body::from(body))
        .expect("response")
}

/// `GET /metrics` on the registry's own address.
pub async fn metrics_on_main(reg: &Registry, req: Request) -> Response {
    if reg.config().metrics.addr.is_some() {
        return response::not_found();
    }
    let mode = match reg.auth().live_mode().await {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    if mode != AuthMode::None {
        let info = request_info(&req);
        if let Err(e) = reg.auth().admin(&info).await {
            super::count_refusal(&e, info.authorization.is_some());
            let e = match e {
                Error::Unauthorized { challenge, .. } => Error::Unauthorized {
                    message: "/metrics needs an administrator's credentials".into(),
                    challenge,
                },
                Error::Denied(_) => Error::Denied(
                    "/metrics needs the admin role on '*' (or serve it on [metrics] addr)".into(),
                ),
                other => other,
            };
            return e.into_response();
        }
    }
    render(reg).await
}

/// The router of the separate metrics listener: `/metrics`, `/healthz`, `/readyz`.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new().fallback(ops_only).with_state(registry)
}

async fn ops_only(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    match req.uri().path() {
        "/metrics" => render(&reg).await,
        "/healthz" => healthz(),
        "/readyz" => readyz(&reg).await,
        _ => response::not_found(),
    }
}
