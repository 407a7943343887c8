//! What the HTTP edge records of every request: its id (the client's `X-Request-Id` when it is
//! sane, else a new one), echoed in the response and carried by the `request` tracing span in
//! which the whole request runs, so every log line of it names the id; the request log line;
//! and its metrics (count, latency, body bytes both ways, uploads in progress).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tracing::Instrument;

use super::{ClientAddr, Route, parse_route};
use crate::metrics;

/// The request's id (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Whether a client-chosen id is safe to log and echo: short, and only characters that need no
/// quoting anywhere.
pub fn sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'=' | b'/')
        })
}

/// The kind of route a path names: a bounded label for metrics.
pub fn route_kind(path: &str) -> &'static str {
    match path {
        "/healthz" | "/readyz" => return "health",
        "/metrics" => return "metrics",
        "/token" => return "token",
        _ => {}
    }
    if path.starts_with("/berth/api/") || path == "/berth/api" {
        return "admin";
    }
    match parse_route(path) {
        Route::Base => "base",
        Route::Catalog => "catalog",
        Route::Tags(_) => "tags",
        Route::Manifest(..) => "manifest",
        Route::Blob(..) => "blob",
        Route::UploadStart(_) | Route::Upload(..) => "upload",
        Route::Referrers(..) => "referrers",
        Route::Unknown => "unknown",
    }
}

#[derive(Clone, Copy)]
enum Direction {
    In,
    Out,
}

/// Bytes are added to the counters at least this often (and when the body ends).
const FLUSH_BYTES: u64 = 1 << 20;

/// A body that counts the bytes going through it.
struct Counted {
    inner: Body,
    route: &'static str,
    direction: Direction,
    unflushed: u64,
}

impl Counted {
    fn wrap(inner: Body, route: &'static str, direction: Direction) -> Body {
        Body::new(Counted {
            inner,
            route,
            direction,
            unflushed: 0,
        })
    }

    fn flush(&mut self) {
        if self.unflushed > 0 {
            match self.direction {
                Direction::In => metrics::bytes_in(self.route, self.unflushed),
                Direction::Out => metrics::bytes_out(self.route, self.unflushed),
            }
            self.unflushed = 0;
        }
    }
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.unflushed += data.len() as u64;
                    if this.unflushed >= FLUSH_BYTES {
                        this.flush();
                    }
                }
            }
            Poll::Ready(_) => this.flush(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Run `req` through `next` inside its span, then log and count it.
pub async fn around(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id: Arc<str> = match req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if sane_request_id(id) => id.into(),
        _ => uuid::Uuid::new_v4().simple().to_string().into(),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = route_kind(&path);
    let client = req.extensions().get::<ClientAddr>().map(|c| c.0);
    req.extensions_mut().insert(RequestId(id.clone()));
    let _upload = (route == "upload"
        && matches!(method, Method::POST | Method::PATCH | Method::PUT))
    .then(metrics::upload_started);
    let req = req.map(|b| Counted::wrap(b, route, Direction::In));
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp = next.run(req).instrument(span).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    metrics::request(method.as_str(), route, status, elapsed);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    match client {
        Some(client) => tracing::info!(
            request_id = %id, %method, %path, status, %client,
            us = elapsed.as_micros() as u64, "request"
        ),
        None => tracing::info!(
            request_id = %id, %method, %path, status,
            us = elapsed.as_micros() as u64, "request"
        ),
    }
    resp.map(|b| Counted::wrap(b, route, Direction::Out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(sane_request_id("abc-123_X.y:z"));
        assert!(sane_request_id(&"a".repeat(128)));
        for bad in ["", "a b", "a\"b", "a\nb", "é", &"a".repeat(129)] {
            assert!(!sane_request_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn route_kinds_are_bounded() {
        let cases = [
            ("/v2/", "base"),
            ("/v2/_catalog", "catalog"),
            ("/v2/a/b/tags/list", "tags"),
            ("/v2/a/manifests/latest", "manifest"),
            ("/v2/a/blobs/sha256:ab", "blob"),
            ("/v2/a/blobs/uploads/", "upload"),
            ("/v2/a/blobs/uploads/123", "upload"),
            ("/v2/a/referrers/sha256:ab", "referrers"),
            ("/token", "token"),
            ("/berth/api/v1/users", "admin"),
            ("/metrics", "metrics"),
            ("/healthz", "health"),
            ("/nope", "unknown"),
        ];
        for (path, want) in cases {
            assert_eq!(route_kind(path), want, "{path}");
        }
    }
}
