//! Blob uploads: `POST` (start, monolithic `?digest=`, cross-repository `?mount=&from=`),
//! `PATCH` chunks, `GET` progress, `PUT ?digest=` to finish, `DELETE` to cancel.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_oci::Digest;

use super::{body_stream, header, query};
use crate::auth::Principal;
use crate::auth::model::Action;
use crate::error::{Error, Result};
use crate::service::{Registry, check_name, parse_digest};

fn created(repo: &str, digest: &Digest) -> Response {
    Response::builder()
        .status(StatusCode::CREATED)
        .header("location", format!("/v2/{repo}/blobs/{digest}"))
        .header("docker-content-digest", digest.to_string())
        .header("content-length", 0)
        .body(Body::empty())
        .expect("response")
}

fn progress(status: StatusCode, repo: &str, id: &str, size: u64) -> Response {
    Response::builder()
        .status(status)
        .header("location", format!("/v2/{repo}/blobs/uploads/{id}"))
        .header("range", format!("0-{}", size.saturating_sub(1)))
        .header("docker-upload-uuid", id)
        .header("content-length", 0)
        .body(Body::empty())
        .expect("response")
}

/// `Content-Range: <start>-<end>` (a `bytes ` or `bytes=` prefix is tolerated): the start offset
/// and the inclusive end.
pub fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v
        .strip_prefix("bytes=")
        .or_else(|| v.strip_prefix("bytes "))
        .unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// The chunk offset a request declares, checked against its Content-Length.
fn chunk_offset(req: &Request) -> Result<Option<u64>> {
    let Some(v) = header(req, "content-range") else {
        return Ok(None);
    };
    let (start, end) = parse_content_range(v)
        .ok_or_else(|| Error::RangeNotSatisfiable(format!("malformed Content-Range {v:?}")))?;
    if let Some(len) = header(req, "content-length").and_then(|l| l.parse::<u64>().ok())
        && len != end - start + 1
    {
        return Err(Error::RangeNotSatisfiable(format!(
            "Content-Range {v:?} does not match Content-Length {len}"
        )));
    }
    Ok(Some(start))
}

pub async fn start(
    reg: &Registry,
    principal: &Principal,
    repo: &str,
    req: Request,
) -> Result<Response> {
    check_name(repo)?;
    if let Some(mount) = query(&req, "mount") {
        let digest = parse_digest(&mount)?;
        // Mount only from a repository the caller may pull; otherwise a plain upload, which
        // says nothing about whether the blob exists there.
        match query(&req, "from") {
            Some(from) => {
                if principal.may(&from, Action::Pull)
                    && reg.mount_blob(repo, &digest, &from).await?.is_some()
                {
                    return Ok(created(repo, &digest));
                }
            }
            // No `from`: mount from wherever the caller may pull it (the spec's MAY).
            None => {
                if reg
                    .mount_any(repo, &digest, |r| principal.may_pull_as_self(r))
                    .await?
                    .is_some()
                {
                    return Ok(created(repo, &digest));
                }
            }
        }
        let id = reg.start_upload(repo).await?;
        return Ok(progress(StatusCode::ACCEPTED, repo, &id, 0));
    }
    if let Some(d) = query(&req, "digest") {
        let digest = parse_digest(&d)?;
        reg.put_blob(repo, &digest, body_stream(req)).await?;
        return Ok(created(repo, &digest));
    }
    let id = reg.start_upload(repo).await?;
    Ok(progress(StatusCode::ACCEPTED, repo, &id, 0))
}

pub async fn status(reg: &Registry, repo: &str, id: &str) -> Result<Response> {
    let size = reg.upload_size(repo, id).await?;
    Ok(progress(StatusCode::NO_CONTENT, repo, id, size))
}

/// A 416 that still tells the client where the upload stands.
async fn out_of_order(reg: &Registry, repo: &str, id: &str, e: Error) -> Result<Response> {
    let size = reg.upload_size(repo, id).await?;
    let body = super::error_body(e.code(), &e.to_string());
    Ok(Response::builder()
        .status(StatusCode::RANGE_NOT_SATISFIABLE)
        .header("location", format!("/v2/{repo}/blobs/uploads/{id}"))
        .header("range", format!("0-{}", size.saturating_sub(1)))
        .header("docker-upload-uuid", id)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(Body::from(body))
        .expect("response"))
}

pub async fn patch(reg: &Registry, repo: &str, id: &str, req: Request) -> Result<Response> {
    let offset = match chunk_offset(&req) {
        Ok(o) => o,
        Err(e) => {
            reg.upload_size(repo, id).await?;
            return out_of_order(reg, repo, id, e).await;
        }
    };
    match reg.upload_chunk(repo, id, offset, body_stream(req)).await {
        Ok(size) => Ok(progress(StatusCode::ACCEPTED, repo, id, size)),
        Err(e @ Error::RangeNotSatisfiable(_)) => out_of_order(reg, repo, id, e).await,
        Err(e) => Err(e),
    }
}

pub async fn finish(reg: &Registry, repo: &str, id: &str, req: Request) -> Result<Response> {
    check_name(repo)?;
    let Some(d) = query(&req, "digest") else {
        reg.upload_size(repo, id).await?;
        return Err(Error::DigestInvalid(
            "the digest query parameter is required".into(),
        ));
    };
    let digest = parse_digest(&d)?;
    let offset = match chunk_offset(&req) {
        Ok(o) => o,
        Err(e) => {
            reg.upload_size(repo, id).await?;
            return out_of_order(reg, repo, id, e).await;
        }
    };
    match reg
        .finish_upload(repo, id, &digest, Some((offset, body_stream(req))))
        .await
    {
        Ok(_) => Ok(created(repo, &digest)),
        Err(e @ Error::RangeNotSatisfiable(_)) => out_of_order(reg, repo, id, e).await,
        Err(e) => Err(e),
    }
}

pub async fn cancel(reg: &Registry, repo: &str, id: &str) -> Result<Response> {
    reg.cancel_upload(repo, id).await?;
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("content-length", 0)
        .body(Body::empty())
        .expect("response"))
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(parse_content_range("bytes=5-5"), Some((5, 5)));
        assert_eq!(parse_content_range("9-3"), None);
        assert_eq!(parse_content_range("x"), None);
    }
}
