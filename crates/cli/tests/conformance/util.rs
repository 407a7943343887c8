//! Shared helpers for the conformance suite: a registry handle whose requests keep the whole
//! exchange (so a failed assertion prints what the server answered), content builders for blobs,
//! image manifests and indexes, and checks of the spec's error body.
//!
//! The suite runs in the mode its test target sets (`crate::mode::TOKEN`): anonymous against a
//! registry with no users (auth mode `none`), or in `token` mode, where [`Reg::start`] first
//! creates an administrator on the fresh data root and every request answers a 401 Bearer
//! challenge the way Docker's client does (a token from the challenge's realm, asked with Basic
//! credentials for exactly the challenged scopes, then the request again with it).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::common;
pub use crate::content::*;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";
/// The digest of the two bytes `{}` (the OCI empty descriptor).
pub const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Every `code` the spec allows (§Error Codes), plus the legacy Docker ones it says clients may meet.
pub const ERROR_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
    "TAG_INVALID",
    "MANIFEST_UNVERIFIED",
];

/// One finished exchange: request line, status, headers and the whole body.
pub struct Resp {
    pub method: Method,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The `Location` header (panics with the exchange when missing).
    pub fn location(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("missing Location header:\n{self}"))
    }

    /// A header that must be present.
    pub fn must_header(&self, name: &str) -> String {
        self.header(name)
            .unwrap_or_else(|| panic!("missing {name} header:\n{self}"))
    }

    /// The body parsed as JSON (panics with the exchange when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}):\n{self}"))
    }

    /// Whether the body parses as JSON.
    pub fn json_ok(&self) -> bool {
        serde_json::from_slice::<Value>(&self.body).is_ok()
    }

    /// Assert the status and hand the response back.
    #[track_caller]
    pub fn must(self, status: u16) -> Resp {
        assert_eq!(self.status, status, "unexpected status:\n{self}");
        self
    }
}

impl fmt::Display for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  {} {} -> {}", self.method, self.url, self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "    {k}: {}", String::from_utf8_lossy(v.as_bytes()))?;
        }
        match std::str::from_utf8(&self.body) {
            Ok(s) if s.len() > 1500 => {
                writeln!(f, "    body: {}... ({} bytes)", &s[..1500], s.len())
            }
            Ok(s) => writeln!(f, "    body: {s}"),
            Err(_) => writeln!(f, "    body: <{} bytes of binary>", self.body.len()),
        }
    }
}

/// The administrator [`Reg::start`] creates in token mode.
pub const ADMIN_USER: &str = "conformance-admin";

/// Token mode: the suite's credentials and the tokens it holds.
struct TokenAuth {
    user: String,
    password: String,
    /// Tokens by the challenged scopes they were asked for (space-separated, as challenged).
    tokens: Mutex<HashMap<String, String>>,
    /// The token sent with the next request (the last one that was needed).
    current: Mutex<Option<String>>,
}

/// A `WWW-Authenticate: Bearer ...` challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
    /// The `scope` parameter split at spaces (several scopes for a cross-repository mount).
    pub scopes: Vec<String>,
    pub error: Option<String>,
}

impl Challenge {
    /// Parse a Bearer challenge (RFC 6750 §3: `Bearer k="v",k2="v2"`); `None` for another
    /// scheme or without a realm.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut params = HashMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if key.is_empty() {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                value = chars.by_ref().take_while(|c| *c != ',').collect();
            }
            params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        Some(Challenge {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scopes: params
                .remove("scope")
                .map(|s| {
                    s.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            error: params.remove("error"),
        })
    }
}

/// Create user `user` with the admin role on `*` in the (new) data root `root`, as
/// `berth registry user add --admin` does, before any server runs there.
fn add_admin(root: &Path, user: &str, password: &str) {
    use berth_registry::auth::admin::{Actor, Admin};
    use berth_registry::auth::audit::AuditLog;
    use berth_registry::auth::db::AuthDb;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let db = Arc::new(AuthDb::open(root).await.expect("open auth.db"));
        let audit = Arc::new(AuditLog::new(db, None).expect("audit log"));
        Admin::new(audit)
            .user_add(&Actor::local(), user, password, true)
            .await
            .expect("add the conformance administrator");
    });
}

/// 32 random hex digits.
fn random_password() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    hex::encode(b)
}

/// A registry under test plus an HTTP client that never follows redirects.
pub struct Reg {
    pub srv: common::Registry,
    client: Client,
    /// Token mode's credentials; `None`: the registry has no users (auth mode `none`).
    auth: Option<TokenAuth>,
    /// The data root's directory in token mode (dropped after the server).
    _dir: Option<tempfile::TempDir>,
}

impl Reg {
    /// Start a fresh registry (its own data root, its own port), in the suite's mode.
    pub fn start() -> Reg {
        if !crate::mode::TOKEN {
            return Reg {
                srv: common::Registry::start(),
                client: common::client(),
                auth: None,
                _dir: None,
            };
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        let password = random_password();
        add_admin(&root, ADMIN_USER, &password);
        Reg {
            srv: common::Registry::start_at(&root, "127.0.0.1:0", &[]),
            client: common::client(),
            auth: Some(TokenAuth {
                user: ADMIN_USER.to_string(),
                password,
                tokens: Mutex::new(HashMap::new()),
                current: Mutex::new(None),
            }),
            _dir: Some(dir),
        }
    }

    /// The suite's user name and password (token mode only).
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.auth
            .as_ref()
            .map(|a| (a.user.as_str(), a.password.as_str()))
    }

    /// Resolve a path or a `Location` (absolute or relative) against the registry.
    pub fn url(&self, target: &str) -> String {
        let base = reqwest::Url::parse(&self.srv.url).expect("registry url");
        base.join(target)
            .unwrap_or_else(|e| panic!("bad location {target:?}: {e}"))
            .to_string()
    }

    fn builder(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        token: Option<&str>,
    ) -> RequestBuilder {
        let mut rb = self.client.request(method.clone(), url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Send one request; a body of `None` on POST/PUT/PATCH is sent as `Content-Length: 0`.
    pub fn req(
        &self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let url = self.url(target);
        let body = match body {
            None if [Method::POST, Method::PUT, Method::PATCH].contains(&method) => {
                Some(Vec::new())
            }
            b => b,
        };
        self.send(method.clone(), url.clone(), |token| {
            let rb = self.builder(&method, &url, headers, token);
            match &body {
                Some(b) => rb.body(b.clone()),
                None => rb,
            }
        })
    }

    /// Send one request with no credentials whatever the mode (to check that auth is on).
    pub fn req_anonymous(
        &self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let url = self.url(target);
        let mut rb = self.builder(&method, &url, headers, None);
        if let Some(b) = body {
            rb = rb.body(b);
        }
        self.finish(method, url, rb)
    }

    /// Send a body with no `Content-Length` (chunked transfer encoding), as a streaming client does.
    pub fn req_stream(
        &self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        data: &[u8],
    ) -> Resp {
        let url = self.url(target);
        self.send(method.clone(), url.clone(), |token| {
            let body = reqwest::blocking::Body::new(std::io::Cursor::new(data.to_vec()));
            self.builder(&method, &url, headers, token).body(body)
        })
    }

    /// Send the request `build` makes; in token mode with the current token, and once more with
    /// a token for the challenged scopes when the registry answers 401 with a Bearer challenge.
    fn send(
        &self,
        method: Method,
        url: String,
        build: impl Fn(Option<&str>) -> RequestBuilder,
    ) -> Resp {
        let Some(auth) = &self.auth else {
            return self.finish(method, url, build(None));
        };
        let sent = auth.current.lock().unwrap().clone();
        let r = self.finish(method.clone(), url.clone(), build(sent.as_deref()));
        if r.status != 401 {
            return r;
        }
        let Some(challenge) = r
            .header("www-authenticate")
            .and_then(|h| Challenge::parse(&h))
        else {
            return r;
        };
        let token = self.token(auth, &challenge, sent.as_deref(), &r);
        *auth.current.lock().unwrap() = Some(token.clone());
        self.finish(method, url, build(Some(&token)))
    }

    /// A token for `challenge`'s scopes: the one held for them, unless it is the one that was
    /// just refused (`refused`), else a new one from the realm.
    fn token(
        &self,
        auth: &TokenAuth,
        challenge: &Challenge,
        refused: Option<&str>,
        r: &Resp,
    ) -> String {
        let key = challenge.scopes.join(" ");
        if let Some(t) = auth.tokens.lock().unwrap().get(&key)
            && Some(t.as_str()) != refused
        {
            return t.clone();
        }
        let t = self.fetch_token(challenge, Some((&auth.user, &auth.password)));
        let tr = t.json();
        let token = tr
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_else(|| {
                panic!("no token for the challenge of\n{r}from the token endpoint:\n{t}")
            })
            .to_string();
        auth.tokens.lock().unwrap().insert(key, token.clone());
        token
    }

    /// `GET <realm>?service=..&scope=..` (one `scope` per challenged scope), with Basic
    /// `credentials` when given; asserts `200`.
    #[track_caller]
    pub fn fetch_token(&self, challenge: &Challenge, credentials: Option<(&str, &str)>) -> Resp {
        self.token_request(challenge, credentials).must(200)
    }

    /// `GET <realm>?service=..&scope=..`, with Basic `credentials` when given (not asserted).
    pub fn token_request(&self, challenge: &Challenge, credentials: Option<(&str, &str)>) -> Resp {
        let mut url = reqwest::Url::parse(&self.url(&challenge.realm))
            .unwrap_or_else(|e| panic!("bad realm {:?}: {e}", challenge.realm));
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = &challenge.service {
                q.append_pair("service", s);
            }
            for s in &challenge.scopes {
                q.append_pair("scope", s);
            }
        }
        let mut rb = self.client.get(url.as_str());
        if let Some((u, p)) = credentials {
            rb = rb.basic_auth(u, Some(p));
        }
        self.finish(Method::GET, url.to_string(), rb)
    }

    fn finish(&self, method: Method, url: String, rb: RequestBuilder) -> Resp {
        let resp = rb.send().unwrap_or_else(|e| {
            let mut chain = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                chain.push_str(&format!(": {s}"));
                src = s.source();
            }
            panic!("{method} {url}: no response: {chain}")
        });
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
        Resp {
            method,
            url,
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, target: &str) -> Resp {
        self.req(Method::GET, target, &[], None)
    }

    pub fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Resp {
        self.req(Method::GET, target, headers, None)
    }

    pub fn head(&self, target: &str) -> Resp {
        self.req(Method::HEAD, target, &[], None)
    }

    pub fn delete(&self, target: &str) -> Resp {
        self.req(Method::DELETE, target, &[], None)
    }

    pub fn post(&self, target: &str) -> Resp {
        self.req(Method::POST, target, &[], None)
    }

    // ---- blobs ----

    /// `POST /v2/<repo>/blobs/uploads/` with `Content-Length: 0` (not asserted).
    pub fn post_upload(&self, repo: &str) -> Resp {
        self.post(&format!("/v2/{repo}/blobs/uploads/"))
    }

    /// Open an upload session; asserts `202` and returns the absolute upload URL.
    pub fn start_upload(&self, repo: &str) -> String {
        let r = self.post_upload(repo).must(202);
        self.url(&r.location())
    }

    /// `PATCH <location>` with one chunk and, when given, `Content-Range: <start>-<end>`.
    pub fn patch(&self, loc: &str, data: &[u8], range: Option<(usize, usize)>) -> Resp {
        let cr = range.map(|(a, b)| format!("{a}-{b}"));
        let mut h = vec![("Content-Type", "application/octet-stream")];
        if let Some(cr) = &cr {
            h.push(("Content-Range", cr.as_str()));
        }
        self.req(Method::PATCH, loc, &h, Some(data.to_vec()))
    }

    /// `PUT <location>?digest=<digest>` with an optional last chunk and `Content-Range`.
    pub fn put_upload(
        &self,
        loc: &str,
        digest: &str,
        data: &[u8],
        range: Option<(usize, usize)>,
    ) -> Resp {
        let url = with_query(&self.url(loc), "digest", digest);
        let cr = range.map(|(a, b)| format!("{a}-{b}"));
        let mut h = vec![("Content-Type", "application/octet-stream")];
        if let Some(cr) = &cr {
            h.push(("Content-Range", cr.as_str()));
        }
        self.req(Method::PUT, &url, &h, Some(data.to_vec()))
    }

    /// Push a blob with POST then PUT under its sha256 digest; returns the digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = common::sha256(data);
        self.push_blob_as(repo, data, &digest);
        digest
    }

    /// Push a blob with POST then PUT under `digest`; asserts `201`.
    pub fn push_blob_as(&self, repo: &str, data: &[u8], digest: &str) {
        let loc = self.start_upload(repo);
        self.put_upload(&loc, digest, data, None).must(201);
    }

    // ---- manifests ----

    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Resp {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.req(
            Method::PUT,
            &path,
            &[("Content-Type", media_type)],
            Some(body.to_vec()),
        )
    }

    /// Push a manifest and assert `201`; returns its sha256 digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        self.put_manifest(repo, reference, media_type, body)
            .must(201);
        common::sha256(body)
    }

    /// `GET` a manifest accepting every manifest type.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Resp {
        self.get_with(
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", ACCEPT_ALL)],
        )
    }

    pub fn head_manifest(&self, repo: &str, reference: &str) -> Resp {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.req(Method::HEAD, &path, &[("Accept", ACCEPT_ALL)], None)
    }

    /// Push the blobs of `img` and its manifest under `reference`; asserts `201`.
    pub fn push_image(&self, repo: &str, reference: &str, img: &Image) {
        self.push_image_blobs(repo, img);
        self.push_manifest(
            repo,
            reference,
            &img.manifest.media_type,
            &img.manifest.body,
        );
    }

    pub fn push_image_blobs(&self, repo: &str, img: &Image) {
        for b in std::iter::once(&img.config).chain(&img.layers) {
            self.push_blob_as(repo, &b.data, &b.digest);
        }
    }

    /// `GET /v2/<repo>/referrers/<digest>` with an optional `artifactType` filter.
    pub fn referrers(&self, repo: &str, digest: &str, artifact_type: Option<&str>) -> Resp {
        let mut path = format!("/v2/{repo}/referrers/{digest}");
        if let Some(t) = artifact_type {
            path = with_query(&path, "artifactType", t);
        }
        self.get(&path)
    }
}

/// Append `key=value` (query-escaped like Go's `url.QueryEscape`) to a URL.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", enc(value))
}

/// Query-escape: unreserved characters stay, everything else is `%XX`.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `code`s of a spec error body, after checking its shape:
/// `{"errors":[{"code": <UPPER_CASE>, "message": <string>?, "detail": <any>?}, ...]}`.
#[track_caller]
pub fn error_codes(r: &Resp) -> Vec<String> {
    let v = r.json();
    let errors = v
        .get("errors")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("error body lacks an \"errors\" array:\n{r}"));
    assert!(!errors.is_empty(), "\"errors\" is empty:\n{r}");
    let mut codes = Vec::new();
    for e in errors {
        let code = e
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("error without a string code:\n{r}"));
        assert!(
            !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
            "code {code:?} is not uppercase letters and underscores:\n{r}"
        );
        assert!(
            ERROR_CODES.contains(&code),
            "code {code:?} is not one the spec defines:\n{r}"
        );
        if let Some(m) = e.get("message") {
            assert!(m.is_string(), "message is not a string:\n{r}");
        }
        codes.push(code.to_string());
    }
    codes
}

/// Assert one of `statuses` and an error body carrying `code`.
#[track_caller]
pub fn assert_error(r: &Resp, statuses: &[u16], code: &str) {
    assert!(
        statuses.contains(&r.status),
        "expected status {statuses:?} with {code}:\n{r}"
    );
    let codes = error_codes(r);
    assert!(
        codes.iter().any(|c| c == code),
        "expected error code {code}, got {codes:?}:\n{r}"
    );
}

/// The `tags` of a tag-list body, after checking `{"name": <name>, "tags": [..]}`.
#[track_caller]
pub fn tag_list(r: &Resp, name: &str) -> Vec<String> {
    let v = r.json();
    assert_eq!(
        v.get("name").and_then(Value::as_str),
        Some(name),
        "tag list name:\n{r}"
    );
    strings(&v, "tags", r)
}

/// The string array `v[key]` (panics with the exchange otherwise).
#[track_caller]
pub fn strings(v: &Value, key: &str, r: &Resp) -> Vec<String> {
    let arr = v
        .get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{key:?} is not an array:\n{r}"));
    arr.iter()
        .map(|t| {
            t.as_str()
                .unwrap_or_else(|| panic!("non-string in {key:?}:\n{r}"))
                .to_string()
        })
        .collect()
}

/// The target of an RFC 5988 `Link: <url>; rel="next"` header, if there is one.
#[track_caller]
pub fn link_next(r: &Resp) -> Option<String> {
    let v = r.header("link")?;
    let (target, params) = v
        .split_once(';')
        .unwrap_or_else(|| panic!("malformed Link header:\n{r}"));
    let target = target.trim();
    assert!(
        target.starts_with('<') && target.ends_with('>'),
        "Link target not in <>:\n{r}"
    );
    let rel = params.split(';').any(|p| {
        let p = p.trim().replace(' ', "");
        p == "rel=\"next\"" || p == "rel=next"
    });
    assert!(rel, "Link header without rel=\"next\":\n{r}");
    Some(target[1..target.len() - 1].to_string())
}

/// The `manifests` of a referrers response, after checking status, Content-Type and index shape.
#[track_caller]
pub fn referrer_list(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "referrers status:\n{r}");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some(OCI_INDEX),
        "referrers Content-Type:\n{r}"
    );
    let v = r.json();
    assert_eq!(
        v.get("schemaVersion"),
        Some(&json!(2)),
        "referrers schemaVersion:\n{r}"
    );
    assert_eq!(
        v.get("mediaType").and_then(Value::as_str),
        Some(OCI_INDEX),
        "referrers mediaType:\n{r}"
    );
    v.get("manifests")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no manifests array:\n{r}"))
        .clone()
}

/// The descriptor for `digest` in a referrers list.
#[track_caller]
pub fn find_desc<'a>(list: &'a [Value], digest: &str, r: &Resp) -> &'a Value {
    list.iter()
        .find(|d| d.get("digest").and_then(Value::as_str) == Some(digest))
        .unwrap_or_else(|| panic!("{digest} missing from the referrers list:\n{r}"))
}
