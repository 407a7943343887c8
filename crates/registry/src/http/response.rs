//! How errors and common responses look on the wire.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// The spec's error body: `{"errors":[{"code","message","detail"}]}`.
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "errors": [{ "code": code, "message": message, "detail": {} }] })
        .to_string()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, code = self.code(), "request refused");
        }
        let body = error_body(self.code(), &self.to_string());
        let mut b = Response::builder().status(status);
        match &self {
            Error::Unauthorized { challenge, .. } => b = b.header("www-authenticate", challenge),
            Error::TooManyRequests { retry_after } | Error::RateLimited { retry_after } => {
                b = b.header("retry-after", *retry_after)
            }
            _ => {}
        }
        b.header("content-type", "application/json")
            .header("content-length", body.len())
            .body(Body::from(body))
            .expect("error response")
    }
}

/// 404 for a path that is no API endpoint.
pub fn not_found() -> Response {
    let body = error_body("NOT_FOUND", "no such API endpoint");
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(Body::from(body))
        .expect("static response")
}

/// Drop the body of a HEAD response, keeping its headers (Content-Length included).
pub fn strip_body(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    if !parts.headers.contains_key("content-length")
        && let Some(n) = hyper::body::Body::size_hint(&body).exact()
    {
        parts.headers.insert("content-length", HeaderValue::from(n));
    }
    Response::from_parts(parts, Body::empty())
}
