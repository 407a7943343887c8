//! The `/v2/` HTTP API of the OCI distribution-spec. Paths are parsed here, in one tested
//! function ([`parse_route`]), because repository names have any number of `/` components;
//! handlers live in one file per resource and only translate between HTTP and [`Registry`].
//! Around them: request ids, logs and metrics ([`observe`]), the operational endpoints
//! (`/healthz`, `/readyz`, `/metrics`), rate limits and notification hooks (`events`).

mod access;
mod admin;
mod blobs;
mod events;
mod listing;
mod manifests;
pub mod observe;
mod ops;
mod response;
mod token;
mod uploads;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::service::Registry;

pub use access::ClientAddr;
pub use observe::RequestId;
pub use ops::router as ops_router;
pub use response::error_body;

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(String),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(String, String),
    /// `/v2/<name>/blobs/<digest>`
    Blob(String, String),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(String),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(String, String),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(String, String),
    /// Anything else.
    Unknown,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Split a request path into a [`Route`]. The repository name is everything between `/v2/` and
/// the last endpoint keyword, so names may themselves contain `blobs` or `manifests`.
pub fn parse_route(path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/v2") else {
        return Route::Unknown;
    };
    if rest.is_empty() || rest == "/" {
        return Route::Base;
    }
    let rest = percent_decode(&rest[1..]);
    if rest == "_catalog" {
        return Route::Catalog;
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    let name = |k: usize| segs[..n - k].join("/");
    if n >= 3 && segs[n - 2] == "tags" && segs[n - 1] == "list" {
        return Route::Tags(name(2));
    }
    if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
        return if segs[n - 1].is_empty() {
            Route::UploadStart(name(3))
        } else {
            Route::Upload(name(3), segs[n - 1].to_string())
        };
    }
    if n >= 3 && segs[n - 2] == "blobs" && segs[n - 1] == "uploads" {
        return Route::UploadStart(name(2));
    }
    if n >= 3 && !segs[n - 1].is_empty() {
        let last = segs[n - 1].to_string();
        match segs[n - 2] {
            "manifests" => return Route::Manifest(name(2), last),
            "blobs" => return Route::Blob(name(2), last),
            "referrers" => return Route::Referrers(name(2), last),
            _ => {}
        }
    }
    Route::Unknown
}

impl Route {
    /// The repository the route names, if any.
    pub fn repository(&self) -> Option<&str> {
        match self {
            Route::Tags(r)
            | Route::Manifest(r, _)
            | Route::Blob(r, _)
            | Route::UploadStart(r)
            | Route::Upload(r, _)
            | Route::Referrers(r, _) => Some(r),
            Route::Base | Route::Catalog | Route::Unknown => None,
        }
    }
}

/// The registry's HTTP application.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(registry)
        .layer(middleware::from_fn(common))
}

async fn common(req: Request, next: Next) -> Response {
    let mut resp = observe::around(req, next).await;
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

/// Count a refusal by access control or a rate limit (`had_credentials`: the request carried
/// an `Authorization` header, so a 401 is a failed login rather than the usual challenge).
fn count_refusal(e: &Error, had_credentials: bool) {
    let kind = match e {
        Error::Unauthorized { .. } if had_credentials => "unauthorized",
        Error::Unauthorized { .. } => "challenge",
        Error::Denied(_) => "denied",
        Error::TooManyRequests { .. } => "locked_out",
        Error::RateLimited { .. } => "rate_limited",
        _ => return,
    };
    crate::metrics::auth_failure(kind);
}

/// Count the refusal a whole response stands for (from handlers that answer themselves).
fn count_refused_response(resp: &Response, had_credentials: bool) {
    let kind = match resp.status() {
        StatusCode::UNAUTHORIZED if had_credentials => "unauthorized",
        StatusCode::UNAUTHORIZED => "challenge",
        StatusCode::FORBIDDEN => "denied",
        StatusCode::TOO_MANY_REQUESTS => "locked_out",
        _ => return,
    };
    crate::metrics::auth_failure(kind);
}

async fn dispatch(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let path = req.uri().path();
    match path {
        "/healthz" => return ops::healthz(),
        "/readyz" => return ops::readyz(&reg).await,
        "/metrics" => return ops::metrics_on_main(&reg, req).await,
        _ => {}
    }
    if let Some(ip) = access::client_ip(&req)
        && let Err(e) = reg.limits().check_address(ip)
    {
        count_refusal(&e, false);
        return e.into_response();
    }
    let had_credentials = req.headers().contains_key("authorization");
    if path == "/token" {
        let resp = token::handle(&reg, req).await;
        count_refused_response(&resp, had_credentials);
        return resp;
    }
    if let Some(rest) = path.strip_prefix("/berth/api/v1") {
        let rest = rest.to_string();
        let resp = access::admin(&reg, &rest, req).await;
        count_refused_response(&resp, had_credentials);
        return resp;
    }
    let route = parse_route(path);
    let method = req.method().clone();
    // A malformed name is NAME_INVALID for everyone: no token could ever name it in a scope.
    if let Some(repo) = route.repository()
        && let Err(e) = crate::service::check_name(repo)
    {
        let resp = e.into_response();
        return if method == Method::HEAD {
            response::strip_body(resp)
        } else {
            resp
        };
    }
    let principal = match access::authorize(&reg, &method, &route, &req)
        .await
        .and_then(|p| match p.who.user() {
            // Robot tokens share their user's budget.
            Some(user) => reg.limits().check_user(user).map(|()| p),
            None => Ok(p),
        }) {
        Ok(p) => p,
        Err(e) => {
            count_refusal(&e, had_credentials);
            let resp = e.into_response();
            return if method == Method::HEAD {
                response::strip_body(resp)
            } else {
                resp
            };
        }
    };
    let event = events::prepare(&reg, &method, &route, &req, &principal);
    let result = match (&method, route) {
        (&Method::GET | &Method::HEAD, Route::Base) => Ok(base()),
        (&Method::GET, Route::Catalog) => listing::catalog(&reg, &principal, req).await,
        (&Method::GET, Route::Tags(repo)) => listing::tags(&reg, &repo, req).await,
        (&Method::GET, Route::Referrers(repo, d)) => listing::referrers(&reg, &repo, &d, req).await,
        (&Method::GET | &Method::HEAD, Route::Manifest(repo, r)) => {
            manifests::get(&reg, &repo, &r, req).await
        }
        (&Method::PUT, Route::Manifest(repo, r)) => {
            manifests::put(&reg, &principal, &repo, &r, req).await
        }
        (&Method::DELETE, Route::Manifest(repo, r)) => {
            let info = access::request_info(&req);
            manifests::delete(&reg, &principal, &repo, &r, &info).await
        }
        (&Method::GET | &Method::HEAD, Route::Blob(repo, d)) => {
            blobs::get(&reg, &repo, &d, req).await
        }
        (&Method::DELETE, Route::Blob(repo, d)) => {
            let info = access::request_info(&req);
            blobs::delete(&reg, &principal, &repo, &d, &info).await
        }
        (&Method::POST, Route::UploadStart(repo)) => {
            uploads::start(&reg, &principal, &repo, req).await
        }
        (&Method::GET, Route::Upload(repo, id)) => uploads::status(&reg, &repo, &id).await,
        (&Method::PATCH, Route::Upload(repo, id)) => uploads::patch(&reg, &repo, &id, req).await,
        (&Method::PUT, Route::Upload(repo, id)) => uploads::finish(&reg, &repo, &id, req).await,
        (&Method::DELETE, Route::Upload(repo, id)) => uploads::cancel(&reg, &repo, &id).await,
        (_, Route::Unknown) => Ok(response::not_found()),
        (m, _) => Err(Error::Unsupported(format!(
            "method {m} is not allowed here"
        ))),
    };
    let resp = result.unwrap_or_else(|e| e.into_response());
    if let Some(event) = event {
        event.emit(&reg, resp.status(), resp.headers()).await;
    }
    if method == Method::HEAD {
        response::strip_body(resp)
    } else {
        resp
    }
}

fn base() -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("content-length", "2")
        .body(Body::from("{}"))
        .expect("static response")
}

/// The request body as a byte stream for the blob store.
fn body_stream(req: Request) -> crate::storage::ByteStream {
    use futures_util::TryStreamExt;
    Box::pin(
        req.into_body()
            .into_data_stream()
            .map_err(std::io::Error::other),
    )
}

/// A query parameter, decoded.
fn query(req: &Request, key: &str) -> Option<String> {
    let q = req.uri().query()?;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k) == key).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// A header value as text.
fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_nested_names() {
        use Route::*;
        let cases = [
            ("/v2/", Base),
            ("/v2", Base),
            ("/v2/_catalog", Catalog),
            ("/v2/a/b/tags/list", Tags("a/b".into())),
            (
                "/v2/a/manifests/latest",
                Manifest("a".into(), "latest".into()),
            ),
            (
                "/v2/x/blobs/y/manifests/sha256:ab",
                Manifest("x/blobs/y".into(), "sha256:ab".into()),
            ),
            (
                "/v2/a/b/blobs/sha256:ab",
                Blob("a/b".into(), "sha256:ab".into()),
            ),
            (
                "/v2/a/blobs/sha256%3Aab",
                Blob("a".into(), "sha256:ab".into()),
            ),
            ("/v2/a/blobs/uploads/", UploadStart("a".into())),
            ("/v2/a/blobs/uploads", UploadStart("a".into())),
            (
                "/v2/a/b/blobs/uploads/123-abc",
                Upload("a/b".into(), "123-abc".into()),
            ),
            (
                "/v2/a/referrers/sha256:ab",
                Referrers("a".into(), "sha256:ab".into()),
            ),
            ("/v2/a", Unknown),
            ("/v2/manifests/x", Unknown),
            ("/v3/a/manifests/x", Unknown),
            ("/v2/a/manifests/", Unknown),
        ];
        for (path, want) in cases {
            assert_eq!(parse_route(path), want, "{path}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Ab%2f"), "a:b/");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
