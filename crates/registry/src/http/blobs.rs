//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`, with single byte ranges (206/416).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::access::audit_write;
use super::header;
use crate::auth::Principal;
use crate::auth::guard::RequestInfo;
use crate::error::Result;
use crate::service::{Registry, check_name, parse_digest};

/// A parsed `Range: bytes=...` header against a blob of `size` bytes: `Ok(None)` for the whole
/// blob, `Ok(Some((start, end_exclusive)))` for a satisfiable range, `Err(())` otherwise.
/// Multiple ranges are not supported and yield the whole blob.
pub fn parse_range(value: &str, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let suffix: u64 = b.parse().map_err(|_| ())?;
        if suffix == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(suffix), size)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .saturating_add(1)
                .min(size)
        };
        if start >= size || end <= start {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

pub async fn get(reg: &Registry, repo: &str, digest: &str, req: Request) -> Result<Response> {
    check_name(repo)?;
    let digest = parse_digest(digest)?;
    // A HEAD is how a pusher decides to skip an upload: it refreshes an old link (docs/gc.md).
    let size = if req.method() == Method::HEAD {
        reg.head_blob(repo, &digest).await?
    } else {
        reg.blob_size(repo, &digest).await?
    };
    let base = || {
        Response::builder()
            .header("docker-content-digest", digest.to_string())
            .header("content-type", "application/octet-stream")
            .header("accept-ranges", "bytes")
            .header("etag", format!("\"{digest}\""))
            .header("cache-control", "max-age=31536000")
    };
    let range = match header(&req, "range") {
        None => None,
        Some(v) => match parse_range(v, size) {
            Ok(r) => r,
            Err(()) => {
                return Ok(base()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header("content-range", format!("bytes */{size}"))
                    .header("content-length", 0)
                    .body(Body::empty())
                    .expect("response"));
            }
        },
    };
    let (start, end, status) = match range {
        Some((s, e)) => (s, e, StatusCode::PARTIAL_CONTENT),
        None => (0, size, StatusCode::OK),
    };
    let mut resp = base().status(status).header("content-length", end - start);
    if range.is_some() {
        resp = resp.header("content-range", format!("bytes {start}-{}/{size}", end - 1));
    }
    let body = if req.method() == Method::HEAD || start == end {
        Body::empty()
    } else {
        Body::from_stream(reg.read_blob(&digest, start, end).await?)
    };
    Ok(resp.body(body).expect("response"))
}

pub async fn delete(
    reg: &Registry,
    principal: &Principal,
    repo: &str,
    digest: &str,
    info: &RequestInfo<'_>,
) -> Result<Response> {
    check_name(repo)?;
    let digest = parse_digest(digest)?;
    reg.delete_blob(repo, &digest).await?;
    let target = digest.to_string();
    audit_write(reg, principal, info, "blob.delete", repo, &target, None).await;
    Ok(Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("docker-content-digest", digest.to_string())
        .header("content-length", 0)
        .body(Body::empty())
        .expect("response"))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 100))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=9-3", 100), Err(()));
        assert_eq!(parse_range("bytes=x-3", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }
}
