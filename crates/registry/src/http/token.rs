//! `GET /token` (Docker's token protocol: Basic credentials or none, repeated `scope`,
//! `offline_token`) and `POST /token` (OAuth2, form-encoded: `grant_type=password` or
//! `refresh_token`), served while the registry issues its own tokens.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::access::request_info;
use super::percent_decode;
use crate::auth::guard::basic_credentials;
use crate::auth::issue::{Credentials, TokenRequest};
use crate::config::AuthMode;
use crate::error::{Error, Result};
use crate::service::Registry;

/// Largest form body accepted.
const FORM_LIMIT: usize = 64 * 1024;

/// Every `key=value` pair of a query string or form body, decoded.
fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn first(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn all(pairs: &[(String, String)], key: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Serve a token request.
pub async fn handle(reg: &Registry, req: Request) -> Response {
    let auth = reg.auth();
    // The live mode, not the last one seen: `/token` may be the first request after the first
    // user was added.
    match auth.live_mode().await {
        Ok(AuthMode::Token) if auth.issues_tokens() => {}
        Ok(_) => return super::response::not_found(),
        Err(e) => return e.into_response(),
    }
    let result = match *req.method() {
        Method::GET => get(reg, req).await,
        Method::POST => post(reg, req).await,
        ref m => Err(Error::Unsupported(format!(
            "method {m} is not allowed here"
        ))),
    };
    match result {
        Ok(body) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .header("cache-control", "no-store")
            .header("content-length", body.len())
            .body(Body::from(body))
            .expect("response"),
        Err(e) => e.into_response(),
    }
}

async fn get(reg: &Registry, req: Request) -> Result<String> {
    let q = pairs(req.uri().query().unwrap_or(""));
    let info = request_info(&req);
    let credentials = match info.authorization.and_then(basic_credentials) {
        Some((user, password)) => Credentials::Password { user, password },
        None if info.authorization.is_some() => {
            return Err(Error::Unauthorized {
                message: "only Basic credentials are accepted here".into(),
                challenge: format!("Basic realm=\"{}\"", reg.auth().service()),
            });
        }
        None => Credentials::Anonymous,
    };
    // `account` names the user the client logs in as: it must be the one of the credentials.
    if let (Some(account), Credentials::Password { user, .. }) =
        (first(&q, "account"), &credentials)
        && !account.is_empty()
        && account != *user
    {
        return Err(Error::Unauthorized {
            message: "the account does not match the credentials".into(),
            challenge: format!("Basic realm=\"{}\"", reg.auth().service()),
        });
    }
    let request = TokenRequest {
        service: first(&q, "service"),
        scopes: all(&q, "scope"),
        offline: first(&q, "offline_token").is_some_and(|v| v == "true"),
        credentials,
        client: info.client,
    };
    let resp = reg.auth().issue(request).await?;
    Ok(serde_json::to_string(&resp).expect("token response"))
}

async fn post(reg: &Registry, req: Request) -> Result<String> {
    let client = request_info(&req).client;
    let body = axum::body::to_bytes(req.into_body(), FORM_LIMIT)
        .await
        .map_err(|_| {
            Error::TooLarge(format!("token requests are limited to {FORM_LIMIT} bytes"))
        })?;
    let form = pairs(&String::from_utf8_lossy(&body));
    let credentials = match first(&form, "grant_type").as_deref() {
        Some("password") => Credentials::Password {
            user: first(&form, "username").unwrap_or_default(),
            password: first(&form, "password").unwrap_or_default(),
        },
        Some("refresh_token") => {
            Credentials::Refresh(first(&form, "refresh_token").unwrap_or_default())
        }
        other => {
            return Err(Error::Unsupported(format!(
                "grant_type {:?} is not supported (password or refresh_token)",
                other.unwrap_or("")
            )));
        }
    };
    let request = TokenRequest {
        service: first(&form, "service"),
        scopes: all(&form, "scope"),
        offline: first(&form, "access_type").is_some_and(|v| v == "offline"),
        credentials,
        client,
    };
    let resp = reg.auth().issue(request).await?;
    Ok(serde_json::to_string(&resp).expect("token response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs() {
        let p = pairs("service=reg&scope=repository%3Aa%3Apull&scope=registry:catalog:*&x");
        assert_eq!(first(&p, "service").as_deref(), Some("reg"));
        assert_eq!(
            all(&p, "scope"),
            vec!["repository:a:pull", "registry:catalog:*"]
        );
        assert_eq!(first(&p, "x").as_deref(), Some(""));
        let f = pairs("scope=repository:a:pull+repository:b:push");
        assert_eq!(
            first(&f, "scope").as_deref(),
            Some("repository:a:pull repository:b:push")
        );
    }
}
