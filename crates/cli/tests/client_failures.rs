//! The client's failure paths end to end: a registry that sends corrupt or truncated layers, a
//! registry that is down, a disk that fills up, unknown tags and repositories. Each must end in
//! one readable `berth: error:` line and leave the local store consistent: no image recorded
//! for a failed pull, and every file under `images/v1/blobs` holding exactly the content its
//! name promises.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Env, Registry, berth_bin, client, sha256};

impl Env {
    /// Run a command that must fail; returns its stderr after checking it is one
    /// `berth: error:` line.
    fn fails(&self, args: &[&str]) -> String {
        one_line_error(args, &self.run(args))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Check `out` is a failure reported as a single `berth: error:` line; return that line.
fn one_line(args: &[&str], out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "berth {args:?} should fail; stdout: {}",
        text(&out.stdout)
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "berth {args:?}: one error line expected, got:\n{err}"
    );
    assert!(err.starts_with("berth: error: "), "berth {args:?}: {err}");
    eprintln!("berth {args:?}: {}", err.trim());
    err.trim().to_string()
}

/// [`one_line`], and the line says each cause once.
fn one_line_error(args: &[&str], out: &Output) -> String {
    let err = one_line(args, out);
    assert_eq!(
        repeated_cause(&err),
        None,
        "berth {args:?}: a cause said twice: {err}"
    );
    err
}

/// The innermost cause of an error line (its last `: `-separated part) when the line says it
/// more than once, e.g. `...: No space left on device (os error 28): No space left on device
/// (os error 28)`.
fn repeated_cause(err: &str) -> Option<String> {
    let last = err.rsplit(": ").next()?.trim();
    (err.matches(last).count() > 1).then(|| last.to_string())
}

/// Image rows of `berth images` (the header dropped).
fn image_rows(env: &Env, root: &Path) -> Vec<String> {
    env.ok_at(root, &["images"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Every blob file under `root` holds the content its name promises; returns their digests.
fn verified_blobs(root: &Path) -> Vec<String> {
    let dir = root.join("images/v1/blobs/sha256");
    let mut seen = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return seen;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            sha256(&bytes),
            format!("sha256:{name}"),
            "{} holds content that does not match its name",
            entry.path().display()
        );
        seen.push(format!("sha256:{name}"));
    }
    seen.sort();
    seen
}

/// A loopback port nothing listens on (bound, noted, closed).
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// A tiny misbehaving registry.

/// A real image taken from berth's `--samples` registry: the amd64 `hello-world` manifest, its
/// config and its one layer.
#[derive(Clone)]
struct Image {
    manifest: Vec<u8>,
    manifest_digest: String,
    config: Vec<u8>,
    config_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
}

impl Image {
    fn from_samples(r: &Registry) -> Image {
        let c = client();
        let get = |path: &str, accept: &str| -> Vec<u8> {
            let resp = c.get(r.u(path)).header("accept", accept).send().unwrap();
            assert_eq!(resp.status(), 200, "GET {path}");
            resp.bytes().unwrap().to_vec()
        };
        let index: serde_json::Value = serde_json::from_slice(&get(
            "/v2/library/hello-world/manifests/latest",
            "application/vnd.oci.image.index.v1+json",
        ))
        .unwrap();
        let amd = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == "amd64")
            .expect("an amd64 entry")["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let manifest = get(
            &format!("/v2/library/hello-world/manifests/{amd}"),
            "application/vnd.oci.image.manifest.v1+json",
        );
        let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let config_digest = m["config"]["digest"].as_str().unwrap().to_string();
        let layer_digest = m["layers"][0]["digest"].as_str().unwrap().to_string();
        let config = get(
            &format!("/v2/library/hello-world/blobs/{config_digest}"),
            "*/*",
        );
        let layer = get(
            &format!("/v2/library/hello-world/blobs/{layer_digest}"),
            "*/*",
        );
        assert_eq!(sha256(&layer), layer_digest);
        assert!(layer.len() >= 2, "a layer to cut in half");
        Image {
            manifest,
            manifest_digest: amd,
            config,
            config_digest,
            layer,
            layer_digest,
        }
    }
}

/// How the fake registry serves the layer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Correctly, with `Range: bytes=N-` support.
    Healthy,
    /// The right length, but one byte flipped.
    Corrupt,
    /// The full `Content-Length` announced, half the bytes sent, then the connection closed.
    Cut,
}

/// One request the fake registry saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    range: Option<String>,
}

/// Serves `library/hello-world:latest` (and by digest) over hand-written HTTP/1.1, one request
/// per connection (`Connection: close`).
struct FakeRegistry {
    addr: String,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl FakeRegistry {
    fn start(image: Image, mode: Mode) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mode = Arc::new(Mutex::new(mode));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s, st) = (mode.clone(), seen.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (image, m, s) = (image.clone(), m.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &image, &m, &s);
                });
            }
        });
        FakeRegistry {
            addr,
            mode,
            seen,
            stop,
            accept: Some(accept),
        }
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests for the blob `digest`.
    fn blob_requests(&self, digest: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/blobs/{digest}")))
            .collect()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Read one request: method, path and `Range` header (any body is read and dropped).
fn read_request(conn: &TcpStream) -> std::io::Result<Seen> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (mut range, mut body_len) = (None, 0usize);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "range" => range = Some(v.trim().to_string()),
                "content-length" => body_len = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    reader.read_exact(&mut vec![0u8; body_len])?;
    Ok(Seen {
        method: method.to_string(),
        path: path.to_string(),
        range,
    })
}

/// What to answer: status, content type, extra headers, body (`Content-Length` is the body's
/// length unless `announce` says otherwise).
struct Reply {
    status: &'static str,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    announce: Option<usize>,
}

fn reply(status: &'static str, content_type: &'static str, body: Vec<u8>) -> Reply {
    Reply {
        status,
        content_type,
        headers: Vec::new(),
        body,
        announce: None,
    }
}

fn not_found(code: &str, message: &str) -> Reply {
    let doc = serde_json::json!({"errors": [{"code": code, "message": message}]});
    reply(
        "404 Not Found",
        "application/json",
        serde_json::to_vec(&doc).unwrap(),
    )
}

/// The answer to `req` in `mode`.
fn answer(req: &Seen, image: &Image, mode: Mode) -> Reply {
    const OCTETS: &str = "application/octet-stream";
    if req.path == "/v2/" || req.path == "/v2" {
        return reply("200 OK", "application/json", b"{}".to_vec());
    }
    let Some(rest) = req.path.strip_prefix("/v2/library/hello-world/") else {
        return not_found("NAME_UNKNOWN", "repository name not known to registry");
    };
    if let Some(reference) = rest.strip_prefix("manifests/") {
        if reference != "latest" && reference != image.manifest_digest {
            return not_found("MANIFEST_UNKNOWN", "manifest unknown");
        }
        let mut r = reply(
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            image.manifest.clone(),
        );
        r.headers
            .push(("Docker-Content-Digest", image.manifest_digest.clone()));
        return r;
    }
    let (bytes, is_layer) = match rest.strip_prefix("blobs/") {
        Some(d) if d == image.config_digest => (image.config.clone(), false),
        Some(d) if d == image.layer_digest => (image.layer.clone(), true),
        _ => return not_found("BLOB_UNKNOWN", "blob unknown to registry"),
    };
    let total = bytes.len();
    match (is_layer, mode) {
        (true, Mode::Corrupt) => {
            let mut bad = bytes;
            bad[total / 2] ^= 0xff;
            reply("200 OK", OCTETS, bad)
        }
        (true, Mode::Cut) => {
            let mut r = reply("200 OK", OCTETS, bytes[..total / 2].to_vec());
            r.announce = Some(total);
            r
        }
        _ => {
            let start = req
                .range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n < total);
            match start {
                Some(n) => {
                    let mut r = reply("206 Partial Content", OCTETS, bytes[n..].to_vec());
                    let range = format!("bytes {n}-{}/{total}", total - 1);
                    r.headers.push(("Content-Range", range));
                    r
                }
                None => reply("200 OK", OCTETS, bytes),
            }
        }
    }
}

fn serve(
    mut conn: TcpStream,
    image: &Image,
    mode: &Mutex<Mode>,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let req = read_request(&conn)?;
    seen.lock().unwrap().push(req.clone());
    let r = answer(&req, image, *mode.lock().unwrap());
    let mut head = format!(
        "HTTP/1.1 {}\r\nConnection: close\r\nDocker-Distribution-API-Version: registry/2.0\r\n\
         Content-Type: {}\r\nContent-Length: {}\r\n",
        r.status,
        r.content_type,
        r.announce.unwrap_or(r.body.len())
    );
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    if req.method != "HEAD" {
        conn.write_all(&r.body)?;
    }
    conn.flush()?;
    if r.announce.is_some() {
        // Cut short: let the client take in what was sent, then close mid-body.
        std::thread::sleep(Duration::from_millis(300));
        let _ = conn.shutdown(std::net::Shutdown::Both);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

#[test]
fn fake_registry_serves_a_pullable_image() {
    // The harness itself: a healthy fake registry is a registry berth can pull from, so the
    // failures below are the faults injected and nothing else.
    let samples = Registry::start_args(&["--samples"]);
    let image = Image::from_samples(&samples);
    let fake = FakeRegistry::start(image.clone(), Mode::Healthy);
    let env = Env::new(&fake.addr);
    env.ok(&["pull", "-q", "hello-world"]);
    assert_eq!(image_rows(&env, &env.root()).len(), 1);
    let blobs = verified_blobs(&env.root());
    for d in [
        &image.manifest_digest,
        &image.config_digest,
        &image.layer_digest,
    ] {
        assert!(blobs.contains(d), "{d} stored: {blobs:?}");
    }
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused() {
    let samples = Registry::start_args(&["--samples"]);
    let image = Image::from_samples(&samples);
    let fake = FakeRegistry::start(image.clone(), Mode::Corrupt);
    let env = Env::new(&fake.addr);
    assert!(image_rows(&env, &env.root()).is_empty());

    let err = env.fails(&["pull", "hello-world"]);
    assert!(
        err.contains(&image.layer_digest),
        "the error names the layer's digest: {err}"
    );
    assert!(
        image_rows(&env, &env.root()).is_empty(),
        "no image recorded"
    );
    let blobs = verified_blobs(&env.root());
    assert!(
        !blobs.contains(&image.layer_digest),
        "the corrupt layer is not published: {blobs:?}"
    );
    let partial = env
        .root()
        .join("images/v1/ingest")
        .join(image.layer_digest.replace(':', "-"));
    assert!(
        !partial.exists(),
        "the corrupt download is not kept for resuming"
    );
    // Nothing half-written that a later pull would trust: the healthy registry completes it.
    fake.set_mode(Mode::Healthy);
    env.ok(&["pull", "-q", "hello-world"]);
    assert!(verified_blobs(&env.root()).contains(&image.layer_digest));
    assert_eq!(image_rows(&env, &env.root()).len(), 1);
}

#[test]
fn a_download_that_breaks_off_resumes_where_it_stopped() {
    let samples = Registry::start_args(&["--samples"]);
    let image = Image::from_samples(&samples);
    let fake = FakeRegistry::start(image.clone(), Mode::Cut);
    let env = Env::new(&fake.addr);

    let err = env.fails(&["pull", "hello-world"]);
    assert!(
        err.contains("broke off"),
        "says the download broke off: {err}"
    );
    assert!(err.contains(&image.layer_digest), "names the layer: {err}");
    assert!(
        image_rows(&env, &env.root()).is_empty(),
        "no image recorded"
    );
    assert!(!verified_blobs(&env.root()).contains(&image.layer_digest));
    let first = fake.blob_requests(&image.layer_digest);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].range, None, "the first download starts at zero");

    fake.set_mode(Mode::Healthy);
    let out = env.ok(&["pull", "hello-world"]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let all = fake.blob_requests(&image.layer_digest);
    assert_eq!(all.len(), 2, "one more layer request: {all:?}");
    let half = image.layer.len() / 2;
    assert_eq!(
        all[1].range.as_deref(),
        Some(format!("bytes={half}-").as_str()),
        "the second download asks only for the missing part"
    );
    let stored = std::fs::read(
        env.root()
            .join("images/v1/blobs/sha256")
            .join(image.layer_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(stored, image.layer, "the resumed layer is whole");
    verified_blobs(&env.root());
    assert_eq!(image_rows(&env, &env.root()).len(), 1);
}

#[test]
fn a_registry_that_is_down_is_named() {
    let addr = format!("127.0.0.1:{}", dead_port());
    let env = Env::new(&addr);
    let err = env.fails(&["pull", "hello-world"]);
    assert!(err.contains(&addr), "names the address: {err}");
    assert!(err.contains("connection refused"), "{err}");
    let err = env.fails(&["pull", &format!("{addr}/some/image:1")]);
    assert!(err.contains(&addr), "{err}");
    assert!(image_rows(&env, &env.root()).is_empty());
    assert!(verified_blobs(&env.root()).is_empty());
}

#[test]
fn unknown_tags_and_repositories_name_the_reference() {
    let samples = Registry::start_args(&["--samples"]);
    let mut registries = vec![(samples.addr.clone(), None)];
    let dist = common::require_tool("docker-registry").then(common::Distribution::start);
    if let Some(d) = &dist {
        registries.push((d.addr.clone(), Some(d)));
    }
    for (addr, _) in &registries {
        let env = Env::new(addr);
        let err = env.fails(&["pull", "hello-world:no-such-tag"]);
        assert!(err.contains("hello-world:no-such-tag"), "{addr}: {err}");
        let err = env.fails(&["pull", "no/such-repository"]);
        assert!(err.contains("no/such-repository"), "{addr}: {err}");
        let err = env.fails(&["pull", &format!("{addr}/nothing-here:v9")]);
        assert!(err.contains("nothing-here:v9"), "{addr}: {err}");
        let err = env.fails(&[
            "pull",
            "hello-world@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ]);
        assert!(
            err.contains("hello-world@sha256:0000000000000000"),
            "{addr}: {err}"
        );
        assert!(image_rows(&env, &env.root()).is_empty());
        assert!(verified_blobs(&env.root()).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Disk full.

/// Deterministic, incompressible-looking bytes.
fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Upload `bytes` as a blob of `repo` (POST, then a monolithic PUT).
fn upload(r: &Registry, repo: &str, bytes: &[u8]) -> String {
    let c = client();
    let digest = sha256(bytes);
    let resp = c
        .post(r.u(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let url = if loc.starts_with('/') { r.u(&loc) } else { loc };
    let sep = if url.contains('?') { '&' } else { '?' };
    let resp = c
        .put(format!("{url}{sep}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "PUT blob");
    digest
}

/// Push a one-layer image of `layer_len` random bytes as `repo:tag`; returns the layer digest.
fn push_big_image(r: &Registry, repo: &str, tag: &str, layer_len: usize) -> String {
    let layer = data(layer_len, 7);
    let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let ld = upload(r, repo, &layer);
    let cd = upload(r, repo, config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}],
    });
    let resp = client()
        .put(r.u(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "PUT manifest");
    ld
}

/// Whether this process may make a private mount namespace and mount a tmpfs in it.
fn can_mount_tmpfs(dir: &Path) -> bool {
    let ok = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k tmpfs \"$1\"",
            "sh",
        ])
        .arg(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: cannot unshare -m and mount a tmpfs here (needs root)");
    }
    ok
}

/// Run `berth ARGS` with BERTH_ROOT on a fresh tmpfs of `size` in a private mount namespace; a
/// copy of what it left is put in `saved` (the tmpfs goes with the namespace).
fn run_on_tmpfs(env: &Env, size: &str, saved: &Path, args: &[&str]) -> Output {
    let mnt = env.dir.path().join(format!("tmpfs-{size}"));
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(saved).unwrap();
    let script = r#"mount -t tmpfs -o "size=$1" tmpfs "$2" || exit 99
mnt=$2; saved=$3; shift 3
"$@"; rc=$?
cp -a "$mnt/." "$saved/" || exit 98
exit $rc"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", script, "sh", size])
        .arg(&mnt)
        .arg(saved)
        .arg(berth_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("BERTH_INSECURE_REGISTRIES");
    for (k, v) in env.vars(&mnt) {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        !matches!(out.status.code(), Some(98 | 99)),
        "mount or copy failed: {}",
        text(&out.stderr)
    );
    out
}

#[test]
fn a_full_disk_is_one_line_and_records_nothing() {
    let probe = tempfile::tempdir().unwrap();
    if !can_mount_tmpfs(probe.path()) {
        return;
    }
    let r = Registry::start();
    let layer = push_big_image(&r, "big/image", "v1", 1 << 20);
    let env = Env::new(&r.addr);

    // 256 KiB hold the empty store (SQLite and its WAL) but not a 1 MiB layer.
    let saved = env.dir.path().join("saved");
    let args = ["pull", "-q", "big/image:v1"];
    let out = run_on_tmpfs(&env, "256k", &saved, &args);
    let err = one_line(&args, &out);
    assert!(
        err.to_lowercase().contains("no space"),
        "says the disk is full: {err}"
    );

    // What was left, opened with a normal root: no image, no bad blob; the pull completes.
    assert!(image_rows(&env, &saved).is_empty(), "nothing recorded");
    assert!(!verified_blobs(&saved).contains(&layer));
    env.ok_at(&saved, &args);
    assert!(verified_blobs(&saved).contains(&layer));
    assert_eq!(image_rows(&env, &saved).len(), 1);

    // 64 KiB do not even hold the empty store: still one line, and a failure.
    let saved = env.dir.path().join("saved-64k");
    let out = run_on_tmpfs(&env, "64k", &saved, &args);
    let err64 = one_line(&args, &out);
    let lower = err64.to_lowercase();
    assert!(
        lower.contains("no space") || lower.contains("full"),
        "says the disk is full: {err64}"
    );
    assert!(image_rows(&env, &saved).is_empty());

    // Checked last, so the store checks above run whatever the wording.
    for e in [&err, &err64] {
        assert_eq!(repeated_cause(e), None, "a cause said twice: {e}");
    }
}
