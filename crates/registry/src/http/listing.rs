//! `GET /v2/<name>/tags/list`, `GET /v2/_catalog` (both with `n`/`last` and `Link`), and
//! `GET /v2/<name>/referrers/<digest>` (with the `artifactType` filter).

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_oci::media_type as mt;

use super::query;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::metadata::Page;
use crate::service::{Registry, check_name, parse_digest};

/// Most results one page returns, whatever `n` asks.
const MAX_PAGE: u32 = 1000;

fn pagination(req: &Request) -> Result<(Option<u32>, Option<String>)> {
    let n = match query(req, "n") {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) => Some(
            s.parse::<u32>()
                .map_err(|_| Error::PaginationInvalid(s))?
                .min(MAX_PAGE),
        ),
    };
    Ok((n, query(req, "last").filter(|l| !l.is_empty())))
}

fn json_page(path: &str, body: serde_json::Value, page: &Page, n: Option<u32>) -> Response {
    let text = body.to_string();
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("content-length", text.len());
    if let (true, Some(n), Some(last)) = (page.more, n, page.items.last()) {
        resp = resp.header("link", format!("<{path}?n={n}&last={last}>; rel=\"next\""));
    }
    resp.body(Body::from(text)).expect("response")
}

pub async fn tags(reg: &Registry, repo: &str, req: Request) -> Result<Response> {
    check_name(repo)?;
    let (n, last) = pagination(&req)?;
    let page = reg.tags(repo, n, last.as_deref()).await?;
    let body = serde_json::json!({ "name": repo, "tags": page.items });
    Ok(json_page(&format!("/v2/{repo}/tags/list"), body, &page, n))
}

pub async fn catalog(reg: &Registry, principal: &Principal, req: Request) -> Result<Response> {
    let (n, last) = pagination(&req)?;
    let n = Some(n.unwrap_or(MAX_PAGE));
    let page = reg
        .catalog(n, last.as_deref(), |r| principal.may_list(r))
        .await?;
    let body = serde_json::json!({ "repositories": page.items });
    Ok(json_page("/v2/_catalog", body, &page, n))
}

pub async fn referrers(reg: &Registry, repo: &str, digest: &str, req: Request) -> Result<Response> {
    check_name(repo)?;
    let digest = parse_digest(digest)?;
    let filter = query(&req, "artifactType").filter(|a| !a.is_empty());
    let manifests = reg.referrers(repo, &digest, filter.as_deref()).await?;
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_INDEX,
        "manifests": manifests,
    })
    .to_string();
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", mt::OCI_INDEX)
        .header("content-length", body.len());
    if filter.is_some() {
        resp = resp.header("oci-filters-applied", "artifactType");
    }
    Ok(resp.body(Body::from(body)).expect("response"))
}
