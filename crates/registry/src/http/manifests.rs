//! `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`; a `PUT` may carry `tag`
//! parameters (`?tag=A&tag=B`, distribution-spec's tags on push), each answered by an
//! `OCI-Tag` response header.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use futures_util::StreamExt;

use super::access::{audit_write, request_info};
use super::header;
use crate::auth::Principal;
use crate::auth::guard::RequestInfo;

/// How much of an oversized manifest body is read and dropped before answering 413.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
use crate::error::{Error, Result};
use crate::service::{ManifestRef, Registry, check_name};

/// Every `tag` query parameter, decoded, in order.
fn tag_params(req: &Request) -> Vec<String> {
    let Some(q) = req.uri().query() else {
        return Vec::new();
    };
    q.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (super::percent_decode(k) == "tag").then(|| super::percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

fn accept_list(req: &Request) -> Vec<String> {
    req.headers()
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

pub async fn get(reg: &Registry, repo: &str, reference: &str, req: Request) -> Result<Response> {
    check_name(repo)?;
    let reference = ManifestRef::parse(reference).map_err(|e| match e {
        Error::ManifestInvalid(m) => Error::ManifestUnknown(m),
        other => other,
    })?;
    let with_body = req.method() != Method::HEAD;
    let m = reg
        .get_manifest(repo, &reference, &accept_list(&req), with_body)
        .await?;
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", &m.media_type)
        .header("docker-content-digest", m.digest.to_string())
        .header("etag", format!("\"{}\"", m.digest))
        .header("content-length", m.size);
    Ok(resp
        .body(m.body.map(Body::from).unwrap_or_default())
        .expect("response"))
}

pub async fn put(
    reg: &Registry,
    principal: &Principal,
    repo: &str,
    reference: &str,
    req: Request,
) -> Result<Response> {
    check_name(repo)?;
    let reference = ManifestRef::parse(reference)?;
    let info = request_info(&req);
    let client = info.client;
    let limit = reg.config().max_manifest_size;
    let too_large = || Error::TooLarge(format!("manifests are limited to {limit} bytes"));
    let content_type = header(&req, "content-type").unwrap_or("").to_string();
    let extra_tags = tag_params(&req);
    let mut body = req.into_body().into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Error::ManifestInvalid(format!("body could not be read: {e}")))?;
        if buf.len() + chunk.len() > limit {
            // Read (and drop) the rest, up to a bound, so the client is still listening when the
            // 413 arrives instead of failing on a broken pipe.
            let mut drained = 0usize;
            while let Some(Ok(c)) = body.next().await {
                drained += c.len();
                if drained > DRAIN_LIMIT {
                    break;
                }
            }
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    let body = bytes::Bytes::from(buf);
    let out = reg
        .put_manifest_tagged(repo, &reference, &extra_tags, &content_type, body)
        .await?;
    let info = crate::auth::guard::RequestInfo {
        client,
        ..Default::default()
    };
    let target = match &reference {
        ManifestRef::Tag(t) => t.clone(),
        ManifestRef::Digest(d) => d.to_string(),
    };
    audit_write(
        reg,
        principal,
        &info,
        "manifest.push",
        repo,
        &target,
        Some(out.digest.to_string()),
    )
    .await;
    let mut resp = Response::builder()
        .status(StatusCode::CREATED)
        .header("location", format!("/v2/{repo}/manifests/{}", out.digest))
        .header("docker-content-digest", out.digest.to_string())
        .header("content-length", 0);
    if let Some(subject) = out.subject {
        resp = resp.header("oci-subject", subject.to_string());
    }
    if !extra_tags.is_empty() {
        for tag in &out.tags {
            resp = resp.header("oci-tag", tag.as_str());
        }
    }
    Ok(resp.body(Body::empty()).expect("response"))
}

pub async fn delete(
    reg: &Registry,
    principal: &Principal,
    repo: &str,
    reference: &str,
    info: &RequestInfo<'_>,
) -> Result<Response> {
    check_name(repo)?;
    let reference = ManifestRef::parse(reference)?;
    reg.delete_manifest(repo, &reference).await?;
    let (action, target) = match &reference {
        ManifestRef::Tag(t) => ("tag.delete", t.clone()),
        ManifestRef::Digest(d) => ("manifest.delete", d.to_string()),
    };
    audit_write(reg, principal, info, action, repo, &target, None).await;
    Ok(Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("content-length", 0)
        .body(Body::empty())
        .expect("response"))
}
