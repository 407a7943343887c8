//! Servers for the client tests, all on 127.0.0.1 with ports of their own: berth's registry
//! in-process, an auth proxy in front of it (Docker token server or Basic auth, plus fault
//! injection), and CNCF Distribution (`docker-registry`) as a child process.
#![allow(dead_code)]

pub mod image;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use berth_client::config::Config;
use berth_client::credentials::{Credential, CredentialStore};
use berth_client::registry::Client;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// berth's own registry, served in-process until dropped.
pub struct Berth {
    /// `127.0.0.1:PORT`
    pub addr: String,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Berth {
    pub async fn start() -> Berth {
        let dir = tempfile::tempdir().unwrap();
        let config = berth_registry::Config {
            root: dir.path().to_path_buf(),
            ..Default::default()
        };
        let reg = berth_registry::Registry::open(config).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(berth_registry::server::serve(
            Arc::new(reg),
            listener,
            None,
            async move {
                let _ = rx.await;
            },
        ));
        Berth {
            addr,
            _dir: dir,
            _stop: tx,
        }
    }
}

/// A client with default config (loopback is plain HTTP) and its own credential file.
pub fn client(dir: &Path) -> (Client, CredentialStore) {
    client_with(dir, "")
}

/// A client with `toml` as its config file.
pub fn client_with(dir: &Path, toml: &str) -> (Client, CredentialStore) {
    let store = CredentialStore::at(dir.join("docker/config.json"));
    let config = Config::from_toml(toml).unwrap();
    (Client::new(&config, store.clone()).unwrap(), store)
}

pub fn cred(user: &str, secret: &str) -> Credential {
    Credential {
        username: user.into(),
        secret: secret.into(),
    }
}

/// A port nothing listens on.
pub fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the proxy demands.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Nothing.
    None,
    /// `Authorization: Basic` with the proxy's user and password.
    Basic,
    /// A bearer token from the proxy's own `/token` endpoint (Docker's token spec).
    Bearer,
}

/// How the proxy behaves.
#[derive(Clone)]
pub struct Options {
    pub auth: Auth,
    pub user: String,
    pub password: String,
    /// Add `?n=` to tag lists that do not ask for a page size.
    pub page_size: Option<u32>,
    /// Answer the n-th PATCH (1-based) with a 416 without forwarding it, as if it was lost.
    pub lose_patch: Option<usize>,
    /// Redirect blob GETs to this base URL (a "storage" server).
    pub redirect_blobs_to: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auth: Auth::None,
            user: "alice".into(),
            password: "wonderland".into(),
            page_size: None,
            lose_patch: None,
            redirect_blobs_to: None,
        }
    }
}

/// What the proxy saw.
#[derive(Default)]
pub struct Seen {
    pub token_requests: AtomicUsize,
    /// Users whose Basic credentials reached the token endpoint.
    pub token_users: Mutex<Vec<String>>,
    /// `scope` parameters of token requests.
    pub token_scopes: Mutex<Vec<String>>,
    /// Requests (other than to /token) that carried an Authorization header.
    pub with_authorization: AtomicUsize,
    /// Requests (other than to /token) in all.
    pub requests: AtomicUsize,
    pub patches: AtomicUsize,
}

struct ProxyState {
    opts: Options,
    backend: String,
    addr: String,
    http: reqwest::Client,
    issued: Mutex<HashSet<String>>,
    seen: Arc<Seen>,
}

/// A reverse proxy in front of a registry that adds auth and faults.
pub struct Proxy {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub seen: Arc<Seen>,
    _stop: oneshot::Sender<()>,
}

impl Proxy {
    pub async fn start(backend: &str, opts: Options) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Seen::default());
        let state = Arc::new(ProxyState {
            opts,
            backend: format!("http://{backend}"),
            addr: addr.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            issued: Mutex::new(HashSet::new()),
            seen: seen.clone(),
        });
        let app = Router::new().fallback(handle).with_state(state);
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Proxy {
            addr,
            seen,
            _stop: tx,
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn query_params(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// The repository a `/v2/<name>/...` path is about.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|k| rest.rfind(k))
        .min()
        .map(|i| rest[..i].to_string())
}

async fn handle(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if path == "/token" {
        return token(&st, &req, &query);
    }
    st.seen.requests.fetch_add(1, Ordering::SeqCst);
    let authz = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if authz.is_some() {
        st.seen.with_authorization.fetch_add(1, Ordering::SeqCst);
    }
    let basic = format!(
        "Basic {}",
        BASE64.encode(format!("{}:{}", st.opts.user, st.opts.password))
    );
    let allowed = match st.opts.auth {
        Auth::None => true,
        Auth::Basic => authz.as_deref() == Some(basic.as_str()),
        Auth::Bearer => authz
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| st.issued.lock().unwrap().contains(t)),
    };
    if !allowed {
        let challenge = match st.opts.auth {
            Auth::Basic => r#"Basic realm="test""#.to_string(),
            _ => {
                let action = if req.method() == "GET" || req.method() == "HEAD" {
                    "pull"
                } else {
                    "pull,push"
                };
                let scope = repository_of(&path)
                    .map(|r| format!(r#",scope="repository:{r}:{action}""#))
                    .unwrap_or_default();
                format!(
                    r#"Bearer realm="http://{}/token",service="test"{scope}"#,
                    st.addr
                )
            }
        };
        let mut resp = error_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        resp.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_str(&challenge).unwrap(),
        );
        return resp;
    }
    if req.method() == "PATCH" {
        let n = st.seen.patches.fetch_add(1, Ordering::SeqCst) + 1;
        if st.opts.lose_patch == Some(n) {
            return error_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                "lost chunk",
            );
        }
    }
    if let Some(storage) = &st.opts.redirect_blobs_to
        && req.method() == "GET"
        && path.contains("/blobs/sha256:")
    {
        return Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", format!("{storage}{path}"))
            .body(Body::empty())
            .unwrap();
    }
    let mut query = query;
    if let Some(n) = st.opts.page_size
        && path.ends_with("/tags/list")
        && query.is_empty()
    {
        query = format!("n={n}");
    }
    forward(&st, req, &path, &query).await
}

async fn forward(st: &ProxyState, req: Request, path: &str, query: &str) -> Response {
    let url = if query.is_empty() {
        format!("{}{path}", st.backend)
    } else {
        format!("{}{path}?{query}", st.backend)
    };
    let mut out = st.http.request(req.method().clone(), url);
    for (k, v) in req.headers() {
        if !matches!(
            k.as_str(),
            "host" | "authorization" | "transfer-encoding" | "connection"
        ) {
            out = out.header(k, v);
        }
    }
    let body = reqwest::Body::wrap_stream(req.into_body().into_data_stream());
    let resp = match out.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return error_response(StatusCode::BAD_GATEWAY, "UNKNOWN", &e.to_string());
        }
    };
    let mut builder = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if !matches!(k.as_str(), "transfer-encoding" | "connection") {
            builder = builder.header(k, v);
        }
    }
    builder
        .body(Body::from_stream(resp.bytes_stream()))
        .unwrap()
}

/// Docker's token endpoint: Basic credentials in, `{"token","expires_in"}` out.
fn token(st: &ProxyState, req: &Request, query: &str) -> Response {
    st.seen.token_requests.fetch_add(1, Ordering::SeqCst);
    for (k, v) in query_params(query) {
        if k == "scope" {
            st.seen.token_scopes.lock().unwrap().push(v);
        }
    }
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| BASE64.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((user, pass)) = given.as_deref().and_then(|g| g.split_once(':')) else {
        return error_response(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "login required");
    };
    st.seen.token_users.lock().unwrap().push(user.to_string());
    if user != st.opts.user || pass != st.opts.password {
        return error_response(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "bad login");
    }
    let mut issued = st.issued.lock().unwrap();
    let t = format!("tok-{}", issued.len() + 1);
    issued.insert(t.clone());
    let body = serde_json::json!({"token": t, "expires_in": 300}).to_string();
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// A running CNCF Distribution (Debian's `docker-registry`) on a free loopback port, with
/// htpasswd auth when given an htpasswd line.
pub struct Distribution {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// `None` when `docker-registry` is not installed.
    pub async fn start(htpasswd: Option<&str>) -> Option<Distribution> {
        if Command::new("docker-registry")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("docker-registry not installed; skipping");
            return None;
        }
        let mut last = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let addr = format!("127.0.0.1:{}", dead_port());
            let mut config = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            );
            if let Some(line) = htpasswd {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{line}\n")).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                    file.display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = dir.path().join("registry.log");
            let logfile = std::fs::File::create(&log).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config_path)
                .stdout(logfile.try_clone().unwrap())
                .stderr(logfile)
                .spawn()
                .expect("spawn docker-registry");
            let http = reqwest::Client::new();
            for _ in 0..150 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let up = http
                    .get(format!("http://{addr}/v2/"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200 || r.status() == 401);
                if up {
                    return Some(Distribution {
                        child,
                        addr,
                        _dir: dir,
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("docker-registry did not start; last log:\n{last}");
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
