//! One authenticated request: send it with whatever auth is known for the registry and scope,
//! and on a 401 follow the challenge (fetch a token or use Basic) and send it once more. Also
//! the translation of transport failures and error statuses into [`Error`]s.

use reqwest::header::AUTHORIZATION;
use reqwest::{RequestBuilder, Response, StatusCode};

use super::auth::{self, Scheme, TokenResponse};
use super::{Client, Endpoint};
use crate::credentials::Credential;
use crate::error::{Error, Result};

/// Largest error or token body read.
const MAX_SMALL_BODY: usize = 1024 * 1024;

/// Whose credentials a request uses.
#[derive(Clone, Copy)]
pub(crate) enum Creds<'a> {
    /// The credential store's login for the endpoint; tokens are cached.
    Store,
    /// These, and nothing is cached (`berth login` checking a new login).
    Given(&'a Credential),
}

/// Builds a fresh request each time it is called, so it can be sent again after a challenge.
pub(crate) type Build<'a> = &'a (dyn Fn(&reqwest::Client) -> RequestBuilder + Send + Sync);

impl Client {
    /// Send a request to `ep` with auth for `scopes`; `what` names the request in errors.
    /// Returns any response but a 401 (which becomes [`Error::Unauthorized`]).
    pub(crate) async fn send(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        creds: Creds<'_>,
        what: &str,
        build: Build<'_>,
    ) -> Result<Response> {
        let http = self.http(&ep.host)?;
        let key = scopes.join(" ");
        let cached = matches!(creds, Creds::Store);
        let mut authz = match (cached, self.inner.auth.scheme(&ep.host)) {
            (true, Some(scheme)) => {
                self.authorization(ep, &http, &scheme, scopes, &key, creds)
                    .await?
            }
            _ => None,
        };
        let mut retried = false;
        loop {
            let mut req = build(&http);
            if let Some(a) = &authz {
                req = req.header(AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(|e| transport_error(ep, what, e))?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let challenges = auth::parse_challenges(resp.headers());
            let chosen = Scheme::choose(&challenges);
            if retried || chosen.is_none() {
                let used_creds = self.credential(ep, creds).await?.is_some();
                let reason = if used_creds {
                    "the registry refused the credentials"
                } else {
                    "authentication required"
                };
                return Err(unauthorized(ep, reason));
            }
            let (scheme, asked) = chosen.expect("checked");
            if cached {
                self.inner.auth.set_scheme(&ep.host, scheme.clone());
                self.inner.auth.drop_token(&ep.host, &key);
            }
            let mut scopes = scopes.to_vec();
            if let Some(s) = asked.filter(|s| !s.is_empty() && !scopes.contains(s)) {
                scopes.push(s);
            }
            authz = self
                .authorization(ep, &http, &scheme, &scopes, &key, creds)
                .await?;
            retried = true;
        }
    }

    /// The login `creds` stands for at `ep`.
    async fn credential(&self, ep: &Endpoint, creds: Creds<'_>) -> Result<Option<Credential>> {
        match creds {
            Creds::Given(c) => Ok(Some(c.clone())),
            Creds::Store => {
                let store = self.inner.creds.clone();
                let host = ep.host.clone();
                tokio::task::spawn_blocking(move || store.get(&host))
                    .await
                    .expect("credential lookup panicked")
            }
        }
    }

    /// The `Authorization` value for `scheme`: Basic from the login, or a bearer token (cached
    /// under `key` when `creds` is the store).
    async fn authorization(
        &self,
        ep: &Endpoint,
        http: &reqwest::Client,
        scheme: &Scheme,
        scopes: &[String],
        key: &str,
        creds: Creds<'_>,
    ) -> Result<Option<String>> {
        let cached = matches!(creds, Creds::Store);
        match scheme {
            Scheme::Basic => match self.credential(ep, creds).await? {
                Some(c) => Ok(Some(auth::basic_header(&c))),
                None => Err(unauthorized(ep, "authentication required")),
            },
            Scheme::Bearer { realm, service } => {
                if cached && let Some(t) = self.inner.auth.token(&ep.host, key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let cred = self.credential(ep, creds).await?;
                let (token, life) =
                    fetch_token(ep, http, realm, service.as_deref(), scopes, cred.as_ref()).await?;
                if cached {
                    self.inner.auth.set_token(&ep.host, key, &token, life);
                }
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
}

/// Ask the token server at `realm` for a token covering `scopes`: GET with Basic auth (or
/// anonymously), or the OAuth2 refresh-token POST for an identity token.
async fn fetch_token(
    ep: &Endpoint,
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    cred: Option<&Credential>,
) -> Result<(String, std::time::Duration)> {
    let what = format!("token request to {realm}");
    let req = match cred {
        Some(c) if c.is_identity_token() => {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", c.secret.as_str()),
                ("client_id", "berth"),
            ];
            if let Some(s) = service {
                form.push(("service", s));
            }
            let joined = scopes.join(" ");
            if !scopes.is_empty() {
                form.push(("scope", &joined));
            }
            http.post(realm).form(&form).send().await
        }
        _ => {
            let mut query: Vec<(&str, &str)> = Vec::new();
            if let Some(s) = service {
                query.push(("service", s));
            }
            query.extend(scopes.iter().map(|s| ("scope", s.as_str())));
            let mut req = http.get(realm).query(&query);
            if let Some(c) = cred {
                req = req.basic_auth(&c.username, Some(&c.secret));
            }
            req.send().await
        }
    };
    let resp = req.map_err(|e| transport_error(ep, &what, e))?;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let reason = match cred {
            Some(c) => format!("the token server refused the login of {:?}", c.username),
            None => "authentication required".to_string(),
        };
        return Err(unauthorized(ep, &reason));
    }
    if !status.is_success() {
        return Err(status_error(ep, &what, resp).await);
    }
    let body = small_body(ep, &what, resp).await?;
    let bad = |reason: String| Error::Protocol {
        registry: ep.host.clone(),
        what: what.clone(),
        reason,
    };
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| bad(format!("token response: {e}")))?;
    parsed
        .into_token()
        .ok_or_else(|| bad("the token response holds no token".into()))
}

fn unauthorized(ep: &Endpoint, reason: &str) -> Error {
    Error::Unauthorized {
        registry: ep.host.clone(),
        reason: reason.to_string(),
    }
}

/// A failed send: unreachable registries get a short reason, the rest the error chain.
pub(crate) fn transport_error(ep: &Endpoint, what: &str, e: reqwest::Error) -> Error {
    let mut chain = e.to_string();
    let mut innermost = chain.clone();
    let mut refused = false;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            refused = true;
        }
        innermost = s.to_string();
        chain = format!("{chain}: {innermost}");
        source = s.source();
    }
    if e.is_connect() {
        // The innermost cause ("failed to lookup address", "invalid peer certificate: ...")
        // says it all; the outer layers only repeat the URL.
        let reason = if refused {
            "connection refused".to_string()
        } else if ep.base.starts_with("https://") && innermost.contains("InvalidContentType") {
            format!("{innermost} (it may speak plain HTTP: list it in insecure_registries)")
        } else {
            innermost
        };
        Error::Unreachable {
            registry: ep.host.clone(),
            reason,
        }
    } else {
        Error::Transport {
            registry: ep.host.clone(),
            what: what.to_string(),
            reason: chain,
        }
    }
}

/// Read a small body (error documents, tokens, tag lists) with a size cap.
pub(crate) async fn small_body(ep: &Endpoint, what: &str, resp: Response) -> Result<bytes::Bytes> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_SMALL_BODY as u64)
    {
        return Err(Error::Protocol {
            registry: ep.host.clone(),
            what: what.to_string(),
            reason: format!("response larger than {MAX_SMALL_BODY} bytes"),
        });
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| transport_error(ep, what, e))?;
    if body.len() > MAX_SMALL_BODY {
        return Err(Error::Protocol {
            registry: ep.host.clone(),
            what: what.to_string(),
            reason: format!("response larger than {MAX_SMALL_BODY} bytes"),
        });
    }
    Ok(body)
}

/// The spec's short description of each error code, used instead of registries' wordier
/// messages so errors read the same whatever the registry.
fn code_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "BLOB_UNKNOWN" => "blob unknown",
        "BLOB_UPLOAD_INVALID" => "blob upload invalid",
        "BLOB_UPLOAD_UNKNOWN" => "blob upload unknown",
        "DIGEST_INVALID" => "digest invalid",
        "MANIFEST_BLOB_UNKNOWN" => "manifest references unknown blobs",
        "MANIFEST_INVALID" => "manifest invalid",
        "MANIFEST_UNKNOWN" => "manifest unknown",
        "NAME_INVALID" => "invalid repository name",
        "NAME_UNKNOWN" => "repository name not known to registry",
        "SIZE_INVALID" => "size invalid",
        "UNAUTHORIZED" => "authentication required",
        "DENIED" => "requested access to the resource is denied",
        "UNSUPPORTED" => "the operation is unsupported",
        "TOOMANYREQUESTS" => "too many requests",
        _ => return None,
    })
}

#[derive(serde::Deserialize)]
struct ErrorDoc {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// An error status, with the OCI error document's first code and message when there is one.
pub(crate) async fn status_error(ep: &Endpoint, what: &str, resp: Response) -> Error {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    let entry = serde_json::from_slice::<ErrorDoc>(&body[..body.len().min(MAX_SMALL_BODY)])
        .ok()
        .and_then(|d| d.errors.into_iter().next());
    let (code, message) = match entry {
        Some(e) if !e.code.is_empty() => {
            let message = code_message(&e.code)
                .map(str::to_string)
                .or(Some(e.message).filter(|m| !m.is_empty()));
            (e.code, message)
        }
        // HEAD answers carry no body: say what the status means.
        _ if status == 403 => (
            "DENIED".to_string(),
            Some("requested access to the resource is denied".to_string()),
        ),
        _ if status == 429 => (
            "TOOMANYREQUESTS".to_string(),
            Some("too many requests: retry later".to_string()),
        ),
        _ => (format!("HTTP {status}"), None),
    };
    Error::Registry {
        registry: ep.host.clone(),
        what: what.to_string(),
        status,
        code,
        message,
    }
}
