//! Notification hooks at the HTTP edge, where the request, the actor and the URL are known:
//! [`prepare`] notes what a manifest request would report (before the handler consumes the
//! request), [`Pending::emit`] publishes it once the response says it succeeded. Pushes
//! (`PUT`, 201) and deletes (`DELETE`, 202) are reported; pulls (`GET`, 200) only when an
//! endpoint asks for them. Nothing is prepared when no endpoint wants the event.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};

use super::observe::RequestId;
use super::{ClientAddr, Route, percent_decode};
use crate::auth::Principal;
use crate::notify::{Action, Actor, RequestRecord, Target};
use crate::service::Registry;

/// An event waiting for its request's outcome.
pub struct Pending {
    action: Action,
    repo: String,
    reference: String,
    request: RequestRecord,
    actor: Actor,
    base: String,
    /// For pushes: the media type and size the client sent.
    media_type: String,
    size: Option<u64>,
    /// For pushes by digest: `?tag=` parameters.
    tags: Vec<String>,
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The event a request on `route` would cause, if any endpoint wants it.
pub fn prepare(
    reg: &Registry,
    method: &Method,
    route: &Route,
    req: &Request,
    principal: &Principal,
) -> Option<Pending> {
    let notifier = reg.notifier()?;
    let Route::Manifest(repo, reference) = route else {
        return None;
    };
    let action = match *method {
        Method::PUT => Action::Push,
        Method::DELETE => Action::Delete,
        Method::GET => Action::Pull,
        _ => return None,
    };
    if !notifier.wants(action, repo) {
        return None;
    }
    let h = req.headers();
    let host = {
        let host = header(h, "host");
        if host.is_empty() {
            req.uri()
                .authority()
                .map(|a| a.to_string())
                .unwrap_or_default()
        } else {
            host
        }
    };
    let base = match &reg.config().auth.external_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let scheme = if reg.config().tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}")
        }
    };
    let request = RequestRecord {
        id: req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.to_string())
            .unwrap_or_default(),
        addr: req
            .extensions()
            .get::<ClientAddr>()
            .map(|c| c.0.to_string())
            .unwrap_or_default(),
        host,
        method: method.to_string(),
        useragent: header(h, "user-agent"),
    };
    let content_type = header(h, "content-type");
    Some(Pending {
        action,
        repo: repo.clone(),
        reference: reference.clone(),
        request,
        actor: Actor {
            name: principal.actor(),
        },
        base,
        media_type: content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        size: header(h, "content-length").parse().ok(),
        tags: query_all(req, "tag"),
    })
}

/// Every value of query parameter `key`.
fn query_all(req: &Request, key: &str) -> Vec<String> {
    let Some(q) = req.uri().query() else {
        return Vec::new();
    };
    q.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k) == key).then(|| percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}

impl Pending {
    /// Publish the event if `status` is the request's success (`headers`: the response's).
    pub async fn emit(self, reg: &Registry, status: StatusCode, h: &HeaderMap) {
        let Some(notifier) = reg.notifier() else {
            return;
        };
        let ok = match self.action {
            Action::Push => status == StatusCode::CREATED,
            Action::Delete => status == StatusCode::ACCEPTED,
            Action::Pull => status == StatusCode::OK,
        };
        if !ok {
            return;
        }
        let mut digest = header(h, "docker-content-digest");
        if digest.is_empty() && is_digest(&self.reference) {
            digest = self.reference.clone();
        }
        let url = |d: &str| {
            if d.is_empty() {
                String::new()
            } else {
                format!("{}/v2/{}/manifests/{d}", self.base, self.repo)
            }
        };
        let (media_type, size) = match self.action {
            Action::Push => (self.media_type.clone(), self.size),
            Action::Pull => (
                header(h, "content-type"),
                header(h, "content-length").parse().ok(),
            ),
            Action::Delete => (String::new(), None),
        };
        let tags: Vec<String> = if !is_digest(&self.reference) {
            vec![self.reference.clone()]
        } else if self.action == Action::Push {
            // `?tag=` pushes: one event per tag applied (the response's OCI-Tag headers).
            let applied: Vec<String> = h
                .get_all("oci-tag")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            if applied.is_empty() {
                self.tags.clone()
            } else {
                applied
            }
        } else {
            Vec::new()
        };
        let target = |tag: &str| Target {
            media_type: media_type.clone(),
            size,
            digest: digest.clone(),
            length: size,
            repository: self.repo.clone(),
            url: url(&digest),
            tag: tag.to_string(),
        };
        let targets: Vec<Target> = if tags.is_empty() {
            vec![target("")]
        } else {
            tags.iter().map(|t| target(t)).collect()
        };
        for t in targets {
            let ev = notifier.event(self.action, t, self.request.clone(), self.actor.clone());
            notifier.publish(ev).await;
        }
    }
}
