//! Real registry clients against `berth registry serve`: skopeo, podman and CNCF Distribution
//! (Debian's `docker-registry`). Test images are built offline with umoci from busybox-static.
//!
//! Every test has its own temp dirs, its own berth (and its own Distribution or proxy when it
//! needs one), so they run in parallel. External commands run under `timeout` so a hung server
//! fails a test instead of hanging the suite.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Registry;
use serde_json::Value;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const V2S2_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

// ---------------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------------

/// `prog` run under `timeout`, so a stuck client cannot hang the test suite.
fn command(prog: &str) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "10", "600", prog]);
    c
}

/// Run `c`; panic with its stdout and stderr unless it succeeds.
fn exec(c: &mut Command) -> Output {
    let started = Instant::now();
    let out = c.output().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    if !out.status.success() {
        panic!(
            "command failed ({}) after {:?}: {c:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            started.elapsed(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Run `c` and return its stdout, panicking on failure; includes berth's log on failure.
fn exec_ctx(c: &mut Command, r: Option<&Registry>) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    if !out.status.success() {
        panic!(
            "command failed ({}): {c:?}\n--- stdout\n{}\n--- stderr\n{}\n--- berth log (tail)\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            r.map(|r| log_tail(&r.logs(), 60)).unwrap_or_default()
        );
    }
    String::from_utf8(out.stdout).unwrap()
}

fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `skopeo --insecure-policy ARGS…`, returning stdout; on failure shows berth's log.
fn skopeo(r: &Registry, args: &[&str]) -> String {
    exec_ctx(
        command("skopeo").arg("--insecure-policy").args(args),
        Some(r),
    )
}

/// `skopeo --insecure-policy ARGS…` when no berth is involved.
fn skopeo_plain(args: &[&str]) -> String {
    exec_ctx(command("skopeo").arg("--insecure-policy").args(args), None)
}

/// `skopeo ARGS…` without panicking (for commands expected to fail).
fn skopeo_try(args: &[&str]) -> Output {
    command("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("spawn skopeo")
}

fn umoci(args: &[&str]) {
    exec(command("umoci").args(args));
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("bad JSON ({e}): {s}"))
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Whether all peers are present (skip otherwise; in CI a missing peer panics).
fn have(tools: &[&str]) -> bool {
    tools.iter().all(|t| common::require_tool(t))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-peers-")
        .tempdir()
        .expect("tempdir")
}

// ---------------------------------------------------------------------------------------------
// Building test images with umoci
// ---------------------------------------------------------------------------------------------

/// An image tag in an OCI image layout.
struct Image {
    layout: PathBuf,
    tag: String,
    /// Digest of the image manifest.
    digest: String,
}

impl Image {
    /// `oci:LAYOUT:TAG`
    fn oci_ref(&self) -> String {
        format!("oci:{}:{}", p(&self.layout), self.tag)
    }
    fn manifest(&self) -> Value {
        json(&String::from_utf8(read_blob(&self.layout, &self.digest)).unwrap())
    }
}

fn busybox_path() -> PathBuf {
    for c in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    panic!("busybox (busybox-static) not found");
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .take(n as u64)
        .read_to_end(&mut v)
        .unwrap();
    assert_eq!(v.len(), n);
    v
}

/// Build the multi-layer test image `dir/layout:tag` (the layout is created if missing):
/// 1. busybox-static with applet symlinks, `/etc/old.txt` and `/etc/hostname`;
/// 2. a few files under `/data`;
/// 3. a whiteout deleting `/etc/old.txt`;
/// 4. `random_len` random bytes at `/opt/rnd/random.bin` (left out when 0).
fn build_image(dir: &Path, tag: &str, arch: &str, random_len: usize) -> Image {
    let layout = dir.join("layout");
    let work = dir.join(format!("src-{tag}"));
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy(busybox_path(), rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo", "true", "mkdir", "rm", "sleep"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/old.txt"),
        "deleted by the whiteout layer\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/hostname"), format!("berth-{tag}\n")).unwrap();

    let files = work.join("files");
    std::fs::create_dir_all(files.join("sub/deeper")).unwrap();
    std::fs::write(
        files.join("hello.txt"),
        format!("hello from {tag} ({arch})\n"),
    )
    .unwrap();
    std::fs::write(files.join("sub/nested.txt"), "nested\n").unwrap();
    std::fs::write(files.join("sub/deeper/empty"), "").unwrap();

    if !layout.join("index.json").exists() {
        umoci(&["init", "--layout", p(&layout)]);
    }
    let image = format!("{}:{tag}", p(&layout));
    umoci(&["new", "--image", &image]);
    umoci(&["insert", "--image", &image, p(&rootfs), "/"]);
    umoci(&["insert", "--image", &image, p(&files), "/data"]);
    umoci(&["insert", "--image", &image, "--whiteout", "/etc/old.txt"]);
    if random_len > 0 {
        let rnd = work.join("rnd");
        std::fs::create_dir_all(&rnd).unwrap();
        std::fs::write(rnd.join("random.bin"), random_bytes(random_len)).unwrap();
        umoci(&["insert", "--image", &image, p(&rnd), "/opt/rnd"]);
    }
    umoci(&[
        "config",
        "--image",
        &image,
        "--config.cmd",
        "/bin/sh",
        "--config.env",
        "PATH=/bin",
        "--architecture",
        arch,
        "--os",
        "linux",
    ]);
    umoci(&["gc", "--layout", p(&layout)]);
    std::fs::remove_dir_all(&work).unwrap();
    let digest = layout_ref_digest(&layout, tag);
    Image {
        layout,
        tag: tag.to_string(),
        digest,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading OCI layouts
// ---------------------------------------------------------------------------------------------

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').expect("digest");
    layout.join("blobs").join(alg).join(hex)
}

fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(blob_path(layout, digest))
        .unwrap_or_else(|e| panic!("blob {digest} in {}: {e}", layout.display()))
}

/// The descriptor in `index.json` tagged `tag` (`org.opencontainers.image.ref.name`).
fn layout_ref(layout: &Path, tag: &str) -> Value {
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {}: {index}", layout.display()))
        .clone()
}

fn layout_ref_digest(layout: &Path, tag: &str) -> String {
    layout_ref(layout, tag)["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every blob reachable from `digest`: itself, then (for an index) each child manifest's blobs,
/// or (for a manifest) its config and layers.
fn reachable(layout: &Path, digest: &str, out: &mut Vec<String>) {
    out.push(digest.to_string());
    let doc = json(&String::from_utf8(read_blob(layout, digest)).unwrap());
    if let Some(children) = doc["manifests"].as_array() {
        for c in children {
            reachable(layout, c["digest"].as_str().unwrap(), out);
        }
    } else {
        out.push(doc["config"]["digest"].as_str().unwrap().to_string());
        for l in doc["layers"].as_array().unwrap() {
            out.push(l["digest"].as_str().unwrap().to_string());
        }
    }
}

/// The tagged image in `a` and `b` has the same root digest, and every reachable blob is present
/// in both, byte-identical and matching its digest.
fn assert_same_layout_image(a: &Path, a_tag: &str, b: &Path, b_tag: &str) -> Vec<String> {
    let da = layout_ref_digest(a, a_tag);
    let db = layout_ref_digest(b, b_tag);
    assert_eq!(
        da,
        db,
        "root digest of {}:{a_tag} vs {}:{b_tag}",
        a.display(),
        b.display()
    );
    let mut blobs = Vec::new();
    reachable(a, &da, &mut blobs);
    for d in &blobs {
        let x = read_blob(a, d);
        let y = read_blob(b, d);
        assert_eq!(
            common::sha256(&x),
            *d,
            "blob {d} in {} is corrupt",
            a.display()
        );
        assert!(
            x == y,
            "blob {d} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
    blobs
}

// ---------------------------------------------------------------------------------------------
// Talking to berth directly
// ---------------------------------------------------------------------------------------------

/// GET a manifest: (status, content type, Docker-Content-Digest, body).
fn get_manifest(
    r: &Registry,
    repo: &str,
    reference: &str,
    accept: &str,
) -> (u16, String, String, Vec<u8>) {
    let resp = common::client()
        .get(r.u(&format!("/v2/{repo}/manifests/{reference}")))
        .header("Accept", accept)
        .send()
        .expect("GET manifest");
    let status = resp.status().as_u16();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let ct = h("content-type");
    let dcd = h("docker-content-digest");
    (status, ct, dcd, resp.bytes().unwrap().to_vec())
}

fn get_blob(r: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    let resp = common::client()
        .get(r.u(&format!("/v2/{repo}/blobs/{digest}")))
        .send()
        .expect("GET blob");
    assert_eq!(resp.status().as_u16(), 200, "GET blob {repo}@{digest}");
    resp.bytes().unwrap().to_vec()
}

fn list_tags(r: &Registry, repo: &str) -> BTreeSet<String> {
    let out = json(&skopeo(
        r,
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/{repo}", r.addr),
        ],
    ));
    out["Tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// How many requests of `method` berth logged (it logs one `request` line per request).
fn logged(r: &Registry, method: &str) -> usize {
    r.logs()
        .lines()
        .filter(|l| l.contains(&format!("method={method}")))
        .count()
}

// ---------------------------------------------------------------------------------------------
// A recording TCP proxy (to see which requests a client really sends)
// ---------------------------------------------------------------------------------------------

/// Forwards 127.0.0.1:PORT to an upstream and records the request heads (`METHOD /v2/…` and the
/// headers that arrived in the same read) seen in the client-to-server stream (matched in the raw bytes: good enough for these tests, since random
/// layer data is vanishingly unlikely to contain them).
struct Proxy {
    addr: String,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2, upstream) = (seen.clone(), stop.clone(), upstream.to_string());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let server = TcpStream::connect(&upstream).expect("proxy upstream");
                        let seen = seen2.clone();
                        std::thread::spawn(move || pipe(client, server, seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Proxy { addr, seen, stop }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, method: &str) -> usize {
        let prefix = format!("{method} ");
        self.requests()
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pipe(mut client: TcpStream, mut server: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut s2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    const METHODS: [&[u8]; 6] = [
        b"GET /v2/",
        b"HEAD /v2/",
        b"POST /v2/",
        b"PUT /v2/",
        b"PATCH /v2/",
        b"DELETE /v2/",
    ];
    let mut carry: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
        let mut hay = std::mem::take(&mut carry);
        let old = hay.len();
        hay.extend_from_slice(&buf[..n]);
        for m in METHODS {
            let mut i = 0;
            while i + m.len() <= hay.len() {
                if &hay[i..i + m.len()] == m && i + m.len() > old {
                    let end = hay[i..]
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|e| i + e)
                        .unwrap_or(hay.len())
                        .min(i + 1500);
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&hay[i..end]).into_owned());
                    i += m.len();
                } else {
                    i += 1;
                }
            }
        }
        carry = hay[hay.len().saturating_sub(16)..].to_vec();
    }
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// skopeo pushes a 4-layer OCI image (with a whiteout) to berth and pulls it back: the manifest
/// and every blob are byte-identical, and berth serves them under the right digests and type.
#[test]
fn skopeo_oci_push_and_pull_back_identical() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let dir = tempdir();
    let img = build_image(dir.path(), "v1", "amd64", 3 << 20);
    assert_eq!(img.manifest()["layers"].as_array().unwrap().len(), 4);
    let r = Registry::start();
    let dest = format!("docker://{}/peers/oci-image:v1", r.addr);
    skopeo(
        &r,
        &["copy", "--dest-tls-verify=false", &img.oci_ref(), &dest],
    );

    // What berth serves, straight over HTTP.
    let (status, ct, dcd, body) = get_manifest(&r, "peers/oci-image", "v1", ACCEPT_ALL);
    assert_eq!(status, 200);
    assert_eq!(ct, OCI_MANIFEST);
    assert_eq!(dcd, img.digest);
    assert_eq!(
        body,
        read_blob(&img.layout, &img.digest),
        "manifest bytes changed"
    );
    let mut blobs = Vec::new();
    reachable(&img.layout, &img.digest, &mut blobs);
    for d in &blobs[1..] {
        assert!(
            get_blob(&r, "peers/oci-image", d) == read_blob(&img.layout, d),
            "blob {d}"
        );
    }

    // Pull back into a fresh layout with skopeo.
    let back = dir.path().join("back");
    skopeo(
        &r,
        &[
            "copy",
            "--src-tls-verify=false",
            &dest,
            &format!("oci:{}:v1", p(&back)),
        ],
    );
    let n = assert_same_layout_image(&img.layout, "v1", &back, "v1").len();
    assert_eq!(n, 6, "manifest + config + 4 layers");

    // And by digest, into a `dir:` (which keeps the manifest bytes as served).
    let by_digest = format!("docker://{}/peers/oci-image@{}", r.addr, img.digest);
    let dird = dir.path().join("dir");
    skopeo(
        &r,
        &[
            "copy",
            "--src-tls-verify=false",
            &by_digest,
            &format!("dir:{}", p(&dird)),
        ],
    );
    let m = std::fs::read(dird.join("manifest.json")).unwrap();
    assert_eq!(common::sha256(&m), img.digest);
}

/// `--format v2s2`: skopeo converts to a Docker schema 2 manifest; berth stores and serves it
/// unchanged, under the digest skopeo reports, and the blobs come back identical.
#[test]
fn skopeo_v2s2_push_and_pull_back_identical() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let dir = tempdir();
    let img = build_image(dir.path(), "v1", "amd64", 1 << 20);
    let r = Registry::start();
    let dest = format!("docker://{}/peers/docker-image:v1", r.addr);
    skopeo(
        &r,
        &[
            "copy",
            "--format",
            "v2s2",
            "--dest-tls-verify=false",
            &img.oci_ref(),
            &dest,
        ],
    );

    let inspect = json(&skopeo(&r, &["inspect", "--tls-verify=false", &dest]));
    let digest = inspect["Digest"].as_str().unwrap().to_string();
    assert_ne!(
        digest, img.digest,
        "the manifest was converted, so its digest changes"
    );
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 4);

    let (status, ct, dcd, body) = get_manifest(&r, "peers/docker-image", "v1", ACCEPT_ALL);
    assert_eq!(status, 200);
    assert_eq!(ct, V2S2_MANIFEST);
    assert_eq!(dcd, digest, "Docker-Content-Digest vs skopeo inspect");
    assert_eq!(
        common::sha256(&body),
        digest,
        "served bytes vs skopeo inspect"
    );
    let raw = skopeo(&r, &["inspect", "--raw", "--tls-verify=false", &dest]);
    assert!(raw.as_bytes() == &body[..], "inspect --raw vs GET");
    let m = json(&raw);
    assert_eq!(m["mediaType"], V2S2_MANIFEST);

    // Pull back into `dir:` (manifest kept as served) and into an OCI layout (converted back).
    let dird = dir.path().join("dir");
    skopeo(
        &r,
        &[
            "copy",
            "--src-tls-verify=false",
            &dest,
            &format!("dir:{}", p(&dird)),
        ],
    );
    assert_eq!(
        common::sha256(&std::fs::read(dird.join("manifest.json")).unwrap()),
        digest
    );
    let oci = img.manifest();
    assert_eq!(
        m["config"]["digest"], oci["config"]["digest"],
        "config blob reused as is"
    );
    let mut wanted = vec![oci["config"]["digest"].as_str().unwrap().to_string()];
    wanted.extend(
        oci["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string()),
    );
    for d in &wanted {
        let hex = d.split_once(':').unwrap().1;
        let pulled = std::fs::read(dird.join(hex)).unwrap_or_else(|e| panic!("{d}: {e}"));
        assert!(
            pulled == read_blob(&img.layout, d),
            "blob {d} differs after v2s2 round trip"
        );
    }
    let back = dir.path().join("back");
    skopeo(
        &r,
        &[
            "copy",
            "--src-tls-verify=false",
            &dest,
            &format!("oci:{}:v1", p(&back)),
        ],
    );
    let bm = json(&String::from_utf8(read_blob(&back, &layout_ref_digest(&back, "v1"))).unwrap());
    assert_eq!(
        bm["layers"], oci["layers"],
        "OCI layers after v2s2 round trip"
    );
}

/// skopeo inspect / inspect --raw / list-tags / delete against berth.
#[test]
fn skopeo_inspect_list_tags_and_delete() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let dir = tempdir();
    let a = build_image(dir.path(), "a", "amd64", 64 << 10);
    let b = build_image(dir.path(), "b", "amd64", 64 << 10);
    assert_ne!(a.digest, b.digest);
    let r = Registry::start();
    let repo = format!("docker://{}/peers/tags", r.addr);
    for (img, tag) in [(&a, "a1"), (&a, "a2"), (&b, "b1")] {
        skopeo(
            &r,
            &[
                "copy",
                "--dest-tls-verify=false",
                &img.oci_ref(),
                &format!("{repo}:{tag}"),
            ],
        );
    }

    let inspect = json(&skopeo(
        &r,
        &["inspect", "--tls-verify=false", &format!("{repo}:a1")],
    ));
    assert_eq!(inspect["Digest"], a.digest.as_str());
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 4);
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Env"], serde_json::json!(["PATH=/bin"]));
    let tags: BTreeSet<String> = inspect["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags, set(&["a1", "a2", "b1"]));
    let raw = skopeo(
        &r,
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("{repo}:a2"),
        ],
    );
    assert!(
        raw.as_bytes() == &read_blob(&a.layout, &a.digest)[..],
        "inspect --raw bytes"
    );
    let cfg = json(&skopeo(
        &r,
        &[
            "inspect",
            "--config",
            "--raw",
            "--tls-verify=false",
            &format!("{repo}:b1"),
        ],
    ));
    assert_eq!(cfg["architecture"], "amd64");

    assert_eq!(list_tags(&r, "peers/tags"), set(&["a1", "a2", "b1"]));

    skopeo(
        &r,
        &[
            "delete",
            "--tls-verify=false",
            &format!("{repo}@{}", a.digest),
        ],
    );
    let (status, ..) = get_manifest(&r, "peers/tags", &a.digest, ACCEPT_ALL);
    assert_eq!(status, 404, "manifest still served by digest after delete");
    let (status, ..) = get_manifest(&r, "peers/tags", "a1", ACCEPT_ALL);
    assert_eq!(
        status, 404,
        "tag a1 still resolves after its manifest was deleted"
    );
    assert_eq!(list_tags(&r, "peers/tags"), set(&["b1"]));
    let out = skopeo_try(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("{repo}:a2"),
    ]);
    assert!(
        !out.status.success(),
        "skopeo inspect of a deleted tag succeeded"
    );

    // The other image is untouched and still pulls.
    let back = dir.path().join("back");
    skopeo(
        &r,
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("{repo}:b1"),
            &format!("oci:{}:b", p(&back)),
        ],
    );
    assert_same_layout_image(&b.layout, "b", &back, "b");
}

/// Add an OCI image index over `images` (one platform each) to the layout as `tag`.
fn add_index(layout: &Path, tag: &str, images: &[(&Image, &str)]) -> (String, Vec<u8>) {
    let manifests: Vec<Value> = images
        .iter()
        .map(|(img, arch)| {
            let d = layout_ref(layout, &img.tag);
            serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": d["digest"],
                "size": d["size"],
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
        "annotations": {"org.opencontainers.image.title": "berth peers multi-arch"},
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let digest = common::sha256(&bytes);
    std::fs::write(blob_path(layout, &digest), &bytes).unwrap();
    let top_path = layout.join("index.json");
    let mut top = json(&std::fs::read_to_string(&top_path).unwrap());
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": OCI_INDEX,
            "digest": digest,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
    std::fs::write(&top_path, serde_json::to_vec(&top).unwrap()).unwrap();
    (digest, bytes)
}

/// A two-platform OCI index pushed with `skopeo copy --all`: berth serves the index as pushed,
/// and skopeo copies back either one platform (`--override-arch`) or all of it.
#[test]
fn skopeo_multi_arch_index() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let dir = tempdir();
    let amd = build_image(dir.path(), "amd", "amd64", 32 << 10);
    let arm = build_image(dir.path(), "arm", "arm64", 32 << 10);
    let (index_digest, index_bytes) =
        add_index(&amd.layout, "multi", &[(&amd, "amd64"), (&arm, "arm64")]);
    let r = Registry::start();
    let dest = format!("docker://{}/peers/multi:v1", r.addr);
    let src = format!("oci:{}:multi", p(&amd.layout));
    skopeo(
        &r,
        &[
            "copy",
            "--all",
            "--format",
            "oci",
            "--dest-tls-verify=false",
            &src,
            &dest,
        ],
    );

    let (status, ct, dcd, body) = get_manifest(&r, "peers/multi", "v1", ACCEPT_ALL);
    assert_eq!(status, 200);
    assert_eq!(ct, OCI_INDEX);
    assert_eq!(dcd, index_digest);
    assert!(body == index_bytes, "index bytes changed");
    for img in [&amd, &arm] {
        let (status, ct, dcd, body) = get_manifest(&r, "peers/multi", &img.digest, ACCEPT_ALL);
        assert_eq!(
            (status, ct.as_str(), dcd.as_str()),
            (200, OCI_MANIFEST, img.digest.as_str())
        );
        assert!(body == read_blob(&img.layout, &img.digest));
    }
    let raw = skopeo(&r, &["inspect", "--raw", "--tls-verify=false", &dest]);
    assert!(
        raw.as_bytes() == &index_bytes[..],
        "inspect --raw of the index"
    );
    let inspect_arm = json(&skopeo(
        &r,
        &[
            "--override-arch",
            "arm64",
            "inspect",
            "--tls-verify=false",
            &dest,
        ],
    ));
    // skopeo reports the digest of what the tag names (the index) and the chosen platform's config.
    assert_eq!(inspect_arm["Digest"], index_digest.as_str());
    assert_eq!(inspect_arm["Architecture"], "arm64");

    // One platform back.
    let one = dir.path().join("one");
    skopeo(
        &r,
        &[
            "--override-arch",
            "arm64",
            "copy",
            "--src-tls-verify=false",
            &dest,
            &format!("oci:{}:arm", p(&one)),
        ],
    );
    assert_same_layout_image(&amd.layout, "arm", &one, "arm");

    // The whole index back.
    let all = dir.path().join("all");
    skopeo(
        &r,
        &[
            "copy",
            "--all",
            "--src-tls-verify=false",
            &dest,
            &format!("oci:{}:multi", p(&all)),
        ],
    );
    let blobs = assert_same_layout_image(&amd.layout, "multi", &all, "multi");
    assert_eq!(blobs.len(), 1 + 2 * 6);
}

/// A ≥ 64 MiB layer pushed by skopeo through a recording proxy: the client's PATCH upload is
/// accepted and the image pulls back identical.
#[test]
fn skopeo_large_layer_chunked_upload() {
    if !have(&["skopeo", "umoci"]) {
        return;
    }
    let dir = tempdir();
    let img = build_image(dir.path(), "big", "amd64", 80 << 20);
    let big = img.manifest()["layers"][3]["size"].as_u64().unwrap();
    assert!(big >= 64 << 20, "random layer is {big} bytes");
    let r = Registry::start();
    let proxy = Proxy::start(&r.addr);
    let dest = format!("docker://{}/peers/large:v1", proxy.addr);
    skopeo(
        &r,
        &["copy", "--dest-tls-verify=false", &img.oci_ref(), &dest],
    );

    let patches = proxy.count("PATCH");
    eprintln!(
        "large push: proxy saw {} POST, {} PATCH, {} PUT; berth logged {} PATCH; requests:\n{}",
        proxy.count("POST"),
        patches,
        proxy.count("PUT"),
        logged(&r, "PATCH"),
        proxy.requests().join("\n")
    );
    assert!(proxy.count("POST") >= 5, "one upload session per blob");
    assert!(
        patches >= 5 || logged(&r, "PATCH") >= 5,
        "skopeo uploads every blob with PATCH (streamed); saw {patches} PATCH"
    );

    let back = dir.path().join("back");
    let src = format!("docker://{}/peers/large:v1", r.addr);
    skopeo(
        &r,
        &[
            "copy",
            "--src-tls-verify=false",
            &src,
            &format!("oci:{}:v1", p(&back)),
        ],
    );
    assert_same_layout_image(&img.layout, "big", &back, "v1");
}

fn podman(root: &Path, conf: &Path) -> Command {
    let mut c = command("podman");
    c.env("CONTAINERS_CONF", conf)
        .arg("--root")
        .arg(root.join("root"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--events-backend",
            "none",
            "--cgroup-manager",
            "cgroupfs",
        ]);
    c
}

/// `gzip -dc FILE | sha256sum` as `sha256:<hex>`.
fn gunzip_digest(path: &Path) -> String {
    let out = exec(
        Command::new("sh")
            .arg("-c")
            .arg("gzip -dc < \"$0\" | sha256sum")
            .arg(path),
    );
    format!(
        "sha256:{}",
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
    )
}

/// podman (private root, vfs storage) pushes through a recording proxy; the manifest digest
/// podman reports is the one berth serves, and the image pulls back with the same config and
/// uncompressed layers as the original. podman recompresses layers, so compressed digests differ
/// from the source layout.
#[test]
fn podman_push_and_pull_back() {
    if !have(&["skopeo", "umoci", "podman"]) {
        return;
    }
    let dir = tempdir();
    let img = build_image(dir.path(), "pod", "amd64", 8 << 20);
    let conf = dir.path().join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=20000:20000\"]\n\
         [engine]\nruntime = \"runc\"\n",
    )
    .unwrap();
    let store = dir.path().join("podman");
    let storage = format!(
        "containers-storage:[vfs@{}+{}]localhost/peers/podimg:v1",
        p(&store.join("root")),
        p(&store.join("run"))
    );
    let r = Registry::start();
    skopeo(&r, &["copy", &img.oci_ref(), &storage]);

    let proxy = Proxy::start(&r.addr);
    let digestfile = dir.path().join("digest");
    let dest = format!("docker://{}/peers/podman:v1", proxy.addr);
    exec_ctx(
        podman(&store, &conf)
            .args(["push", "--tls-verify=false", "--digestfile"])
            .arg(&digestfile)
            .args(["localhost/peers/podimg:v1", &dest]),
        Some(&r),
    );
    let pushed = std::fs::read_to_string(&digestfile)
        .unwrap()
        .trim()
        .to_string();
    eprintln!(
        "podman push: proxy saw {} POST, {} PATCH, {} PUT; requests:\n{}",
        proxy.count("POST"),
        proxy.count("PATCH"),
        proxy.count("PUT"),
        proxy.requests().join("\n")
    );
    assert!(
        proxy.count("PATCH") + logged(&r, "PATCH") > 0,
        "podman used PATCH uploads"
    );

    let (status, _ct, dcd, body) = get_manifest(&r, "peers/podman", "v1", ACCEPT_ALL);
    assert_eq!(status, 200);
    assert_eq!(
        dcd, pushed,
        "digest podman reported vs Docker-Content-Digest"
    );
    assert_eq!(common::sha256(&body), pushed);
    let m = json(&String::from_utf8(body).unwrap());
    assert_eq!(m["layers"].as_array().unwrap().len(), 4);
    let orig = img.manifest();
    assert_eq!(
        m["config"]["digest"], orig["config"]["digest"],
        "podman keeps the config blob"
    );

    // Pull back with skopeo into `dir:`; the uncompressed layers are the config's diff_ids.
    let dird = dir.path().join("dir");
    skopeo(
        &r,
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/peers/podman:v1", r.addr),
            &format!("dir:{}", p(&dird)),
        ],
    );
    assert_eq!(
        common::sha256(&std::fs::read(dird.join("manifest.json")).unwrap()),
        pushed
    );
    let cfg_digest = orig["config"]["digest"].as_str().unwrap();
    let cfg = json(&String::from_utf8(read_blob(&img.layout, cfg_digest)).unwrap());
    let diff_ids = cfg["rootfs"]["diff_ids"].as_array().unwrap();
    for (l, diff_id) in m["layers"].as_array().unwrap().iter().zip(diff_ids) {
        let d = l["digest"].as_str().unwrap();
        let f = dird.join(d.split_once(':').unwrap().1);
        assert_eq!(common::sha256(&std::fs::read(&f).unwrap()), d);
        assert_eq!(
            gunzip_digest(&f),
            diff_id.as_str().unwrap(),
            "layer {d} content changed"
        );
    }

    // And with podman itself into a second private store (it checks diff_ids on commit).
    let store2 = dir.path().join("podman2");
    exec_ctx(
        podman(&store2, &conf).args([
            "pull",
            "--tls-verify=false",
            &format!("docker://{}/peers/podman:v1", r.addr),
        ]),
        Some(&r),
    );
    let id = exec_ctx(
        podman(&store2, &conf).args([
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Digest}}",
            &format!("{}/peers/podman:v1", r.addr),
        ]),
        Some(&r),
    );
    let mut it = id.split_whitespace();
    assert_eq!(format!("sha256:{}", it.next().unwrap()), cfg_digest);
    assert_eq!(it.next().unwrap(), pushed);
}

/// Images move between CNCF Distribution and berth with skopeo, in both directions, for both
/// manifest formats, with manifest bytes and digests preserved.
#[test]
fn distribution_interop() {
    if !have(&["skopeo", "umoci", "docker-registry"]) {
        return;
    }
    let dir = tempdir();
    let img = build_image(dir.path(), "interop", "amd64", 2 << 20);
    let dist = common::Distribution::start();
    let r = Registry::start();
    let d = |repo_tag: &str| format!("docker://{}/{repo_tag}", dist.addr);
    let b = |repo_tag: &str| format!("docker://{}/{repo_tag}", r.addr);
    let tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];

    skopeo_plain(&[
        "copy",
        "--dest-tls-verify=false",
        &img.oci_ref(),
        &d("src/img:oci"),
    ]);
    skopeo_plain(&[
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &img.oci_ref(),
        &d("src/img:v2s2"),
    ]);

    for tag in ["oci", "v2s2"] {
        let from_dist = skopeo_plain(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &d(&format!("src/img:{tag}")),
        ]);
        let digest = common::sha256(from_dist.as_bytes());
        if tag == "oci" {
            assert_eq!(digest, img.digest);
        }
        // Distribution → berth.
        skopeo(
            &r,
            &[
                "copy",
                tls[0],
                tls[1],
                &d(&format!("src/img:{tag}")),
                &b(&format!("copied/img:{tag}")),
            ],
        );
        let at_berth = skopeo(
            &r,
            &[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &b(&format!("copied/img:{tag}")),
            ],
        );
        assert!(
            at_berth == from_dist,
            "{tag}: manifest changed from Distribution to berth"
        );
        let (status, _, dcd, _) = get_manifest(&r, "copied/img", tag, ACCEPT_ALL);
        assert_eq!((status, dcd.as_str()), (200, digest.as_str()), "{tag}");
        let m = json(&at_berth);
        for l in m["layers"].as_array().unwrap() {
            let ld = l["digest"].as_str().unwrap();
            assert!(
                get_blob(&r, "copied/img", ld) == read_blob(&img.layout, ld),
                "{tag}: layer {ld}"
            );
        }
        // berth → Distribution, by digest, into another repository.
        skopeo(
            &r,
            &[
                "copy",
                tls[0],
                tls[1],
                &b(&format!("copied/img@{digest}")),
                &d(&format!("back/img:{tag}")),
            ],
        );
        let back = skopeo_plain(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &d(&format!("back/img:{tag}")),
        ]);
        assert!(
            back == from_dist,
            "{tag}: manifest changed from berth back to Distribution"
        );
        let inspect = json(&skopeo_plain(&[
            "inspect",
            "--tls-verify=false",
            &d(&format!("back/img:{tag}")),
        ]));
        assert_eq!(inspect["Digest"], digest.as_str());
    }
    let _ = &dist.log;
}
