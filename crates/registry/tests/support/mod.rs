//! Helpers for the HTTP tests of access control: a registry served on 127.0.0.1:0 inside the
//! test's runtime, a tiny HTTP/1.1 client (one connection per request, `Connection: close`),
//! administration through [`Admin`], token requests, image pushes, and a capture of everything
//! the registry logs through `tracing`.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use berth_oci::Digest;
use berth_registry::auth::admin::{Actor, Admin};
use berth_registry::auth::model::{Role, Subject};
use berth_registry::config::AuthConfig;
use berth_registry::{Config, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A registry serving over HTTP until dropped.
pub struct Server {
    /// `127.0.0.1:PORT`.
    pub addr: SocketAddr,
    /// The registry (its auth, for the tests that look inside).
    pub reg: Arc<Registry>,
    /// The data root.
    pub root: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<berth_registry::Result<()>>>,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Start a registry on a fresh data root, `[auth]` adjusted by `f`.
pub async fn start(f: impl FnOnce(&mut AuthConfig)) -> Server {
    start_with(|c| f(&mut c.auth)).await
}

/// Start a registry on a fresh data root, its whole configuration adjusted by `f`.
pub async fn start_with(f: impl FnOnce(&mut Config)) -> Server {
    start_in(tempfile::tempdir().unwrap(), f).await
}

/// Start a registry on the data root under `dir` (a fresh one, or one that [`Server::stop`]
/// handed back, for a restart), its configuration adjusted by `f`.
pub async fn start_in(dir: tempfile::TempDir, f: impl FnOnce(&mut Config)) -> Server {
    capture_logs();
    let mut config = Config {
        root: dir.path().join("data"),
        ..Config::default()
    };
    f(&mut config);
    let reg = Arc::new(Registry::open(config).await.unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(berth_registry::server::serve(
        reg.clone(),
        listener,
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        addr,
        root: dir.path().join("data"),
        reg,
        stop: Some(stop),
        task: Some(task),
        dir: Some(dir),
    }
}

/// The actor the tests administer as.
pub fn tester() -> Actor {
    Actor {
        name: Some("local:tester".into()),
        client: None,
    }
}

impl Server {
    /// Stop serving (as on SIGTERM: the server's own tasks end) and hand back the data root.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        self.dir.take().unwrap()
    }

    /// The administrative operations on this registry's database.
    pub fn admin(&self) -> Admin {
        Admin::new(self.reg.auth().audit_log().clone())
            .with_other_users(self.reg.auth().other_users())
    }

    /// Add a user with `role` on `scope` (no grant when `role` is `None`).
    pub async fn user(&self, name: &str, password: &str, grant: Option<(Role, &str)>) {
        let a = self.admin();
        a.user_add(&tester(), name, password, false).await.unwrap();
        if let Some((role, scope)) = grant {
            a.grant(&tester(), Subject::User(name.into()), role, scope)
                .await
                .unwrap();
        }
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// One request.
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        request(self.addr, method, path, headers, body).await
    }

    /// A GET.
    pub async fn get(&self, path: &str, auth: Option<&str>) -> Resp {
        let h: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        self.req("GET", path, &h, b"").await
    }

    /// `GET /token` with Basic credentials (or none) for `scopes`.
    pub async fn token_resp(
        &self,
        creds: Option<(&str, &str)>,
        scopes: &[&str],
        extra: &str,
    ) -> Resp {
        let mut q = String::from("service=berth-registry");
        for s in scopes {
            write!(q, "&scope={}", encode(s)).unwrap();
        }
        q.push_str(extra);
        let auth = creds.map(|(u, p)| basic(u, p));
        self.get(&format!("/token?{q}"), auth.as_deref()).await
    }

    /// A bearer token for `scopes` (panics unless `/token` answers 200).
    pub async fn token(&self, creds: Option<(&str, &str)>, scopes: &[&str]) -> String {
        let r = self.token_resp(creds, scopes, "").await;
        assert_eq!(
            r.status,
            200,
            "token for {creds:?} {scopes:?}: {}",
            r.text()
        );
        r.json()["token"].as_str().unwrap().to_string()
    }

    /// Push a small image (config, one layer, manifest tagged `tag`) with `auth`.
    pub async fn push(&self, auth: Option<&str>, repo: &str, tag: &str) -> Image {
        let img = Image::new(repo, tag);
        for blob in [&img.config, &img.layer] {
            let r = self.upload(auth, repo, blob).await;
            assert_eq!(r.status, 201, "blob upload to {repo}: {}", r.text());
        }
        let r = self.put_manifest(auth, repo, tag, &img.manifest).await;
        assert_eq!(r.status, 201, "manifest push to {repo}: {}", r.text());
        img
    }

    /// A monolithic blob upload (`POST ?digest=`).
    pub async fn upload(&self, auth: Option<&str>, repo: &str, blob: &[u8]) -> Resp {
        let d = Digest::sha256(blob);
        let mut h = vec![("content-type", "application/octet-stream")];
        if let Some(a) = auth {
            h.push(("authorization", a));
        }
        self.req(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &h,
            blob,
        )
        .await
    }

    /// `PUT /v2/<repo>/manifests/<reference>`.
    pub async fn put_manifest(
        &self,
        auth: Option<&str>,
        repo: &str,
        reference: &str,
        body: &[u8],
    ) -> Resp {
        let mut h = vec![("content-type", "application/vnd.oci.image.manifest.v1+json")];
        if let Some(a) = auth {
            h.push(("authorization", a));
        }
        self.req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &h,
            body,
        )
        .await
    }
}

/// An image as pushed.
pub struct Image {
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub layer_digest: Digest,
}

impl Image {
    /// A tiny image whose layer is unique to `repo` and `tag`.
    pub fn new(repo: &str, tag: &str) -> Image {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .to_vec();
        let layer = format!("layer of {repo}:{tag}").into_bytes();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": Digest::sha256(&config).to_string(),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": Digest::sha256(&layer).to_string(),
                "size": layer.len(),
            }],
        })
        .to_string()
        .into_bytes();
        Image {
            manifest_digest: Digest::sha256(&manifest),
            layer_digest: Digest::sha256(&layer),
            config,
            layer,
            manifest,
        }
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// A header's value (the first, by case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// The first OCI error code of the body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The `WWW-Authenticate` header (panics when absent).
    pub fn challenge(&self) -> &str {
        self.header("www-authenticate").unwrap_or_else(|| {
            panic!(
                "no challenge: {} {:?} {}",
                self.status,
                self.headers,
                self.text()
            )
        })
    }
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Percent-encode a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

/// The claims of a JWT (not verified).
pub fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// One HTTP/1.1 request on a new connection; the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        write!(head, "{k}: {v}\r\n").unwrap();
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        write!(head, "content-length: {}\r\n", body.len()).unwrap();
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head_only: bool) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---- log capture ----

static LOGS: OnceLock<Arc<Mutex<String>>> = OnceLock::new();

/// Everything logged through `tracing` so far, by every test of this binary.
pub fn logs() -> String {
    capture_logs().lock().unwrap().clone()
}

/// Install (once) a global subscriber that keeps every event, at every level, with its fields.
pub fn capture_logs() -> &'static Arc<Mutex<String>> {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(String::new()));
        let sub = Capture {
            buf: buf.clone(),
            next: std::sync::atomic::AtomicU64::new(1),
        };
        tracing::subscriber::set_global_default(sub).expect("no other subscriber");
        buf
    })
}

struct Capture {
    buf: Arc<Mutex<String>>,
    next: std::sync::atomic::AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        // Span fields are logged too: a secret in one would be as bad as in an event.
        let mut line = format!("span {}:", span.metadata().name());
        span.record(&mut Fields(&mut line));
        line.push('\n');
        self.buf.lock().unwrap().push_str(&line);
        tracing::span::Id::from_u64(self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = String::from("span record:");
        values.record(&mut Fields(&mut line));
        line.push('\n');
        self.buf.lock().unwrap().push_str(&line);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        let mut line = format!("{} {}:", m.level(), m.target());
        event.record(&mut Fields(&mut line));
        line.push('\n');
        self.buf.lock().unwrap().push_str(&line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
