//! `berth registry gc` and `berth registry scrub` end to end (docs/gc.md): the CLI collecting
//! garbage in its own process while the server takes pushes (both on one data root), the
//! scheduled collection inside the server surviving a kill -9 in the middle, the outputs
//! (human, JSON, dry run), and scrub's report, exit code and repair.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Registry, berth, client, sha256};
use serde_json::{Value, json};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const BASES: [&[u8]; 2] = [b"base layer alpha (shared)", b"base layer beta (shared)"];

fn desc(media_type: &str, data: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(data), "size": data.len()})
}

fn manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes()
}

/// Push an image as a client does (HEAD each blob, upload only the missing ones); the first
/// failure as text. `Err("down")` when the server is unreachable.
fn push(
    c: &reqwest::blocking::Client,
    url: &str,
    repo: &str,
    tag: &str,
    blobs: &[Vec<u8>],
) -> Result<(), String> {
    let down = |_| "down".to_string();
    for b in blobs {
        let d = sha256(b);
        let head = c
            .head(format!("{url}/v2/{repo}/blobs/{d}"))
            .send()
            .map_err(down)?;
        if head.status() == 200 {
            continue;
        }
        let r = c
            .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={d}"))
            .body(b.clone())
            .send()
            .map_err(down)?;
        if r.status() != 201 {
            return Err(format!(
                "upload {repo} {d}: {} {}",
                r.status(),
                r.text().unwrap_or_default()
            ));
        }
    }
    let layers: Vec<&[u8]> = blobs[1..].iter().map(|b| b.as_slice()).collect();
    let r = c
        .put(format!("{url}/v2/{repo}/manifests/{tag}"))
        .header("content-type", MANIFEST)
        .body(manifest(&blobs[0], &layers))
        .send()
        .map_err(down)?;
    if r.status() != 201 {
        return Err(format!(
            "PUT {repo}:{tag}: {} {}",
            r.status(),
            r.text().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Push in a loop until `stop`: tags move each time, and every third push brings back an
/// image from earlier (whose blobs GC may be removing). Returns the pushes made; a refused
/// push is an error, while the server being away (killed, restarting) only means waiting.
fn writer(url: String, w: usize, stop: Arc<AtomicBool>) -> Result<usize, String> {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let repo = format!("gc/w{w}");
    let image = |i: usize| -> Vec<Vec<u8>> {
        vec![
            format!("{{\"w\":{w},\"i\":{i}}}").into_bytes(),
            BASES[i % 2].to_vec(),
            format!("layer {w}/{i} {}", "y".repeat(i % 50)).into_bytes(),
        ]
    };
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let which = if i % 3 == 0 {
            1 + (i * 7919) % (i - 1)
        } else {
            i
        };
        match push(&c, &url, &repo, &format!("t{}", i % 3), &image(which)) {
            Ok(()) => {}
            Err(e) if e == "down" => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e),
        }
    }
    Ok(i)
}

/// Every tag resolves to a manifest whose blobs are served and hash to their digests.
fn check(r: &Registry) -> usize {
    let c = client();
    let catalog: Value = c.get(r.u("/v2/_catalog")).send().unwrap().json().unwrap();
    let mut n = 0;
    for repo in catalog["repositories"].as_array().unwrap() {
        let repo = repo.as_str().unwrap();
        let tags: Value = c
            .get(r.u(&format!("/v2/{repo}/tags/list")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        for tag in tags["tags"].as_array().into_iter().flatten() {
            let tag = tag.as_str().unwrap();
            let resp = c
                .get(r.u(&format!("/v2/{repo}/manifests/{tag}")))
                .header("accept", MANIFEST)
                .send()
                .unwrap();
            assert_eq!(resp.status(), 200, "{repo}:{tag} resolves");
            let digest = resp.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string();
            let body = resp.bytes().unwrap();
            assert_eq!(sha256(&body), digest);
            let m: Value = serde_json::from_slice(&body).unwrap();
            let mut refs = vec![m["config"].clone()];
            refs.extend(m["layers"].as_array().unwrap().iter().cloned());
            for d in refs {
                let d = d["digest"].as_str().unwrap();
                let blob = c.get(r.u(&format!("/v2/{repo}/blobs/{d}"))).send().unwrap();
                assert_eq!(blob.status(), 200, "{repo}:{tag} needs {d}");
                assert_eq!(sha256(&blob.bytes().unwrap()), d);
            }
            n += 1;
        }
    }
    n
}

/// `berth registry ARGS --root ROOT`: (exit code, stdout, stderr).
fn registry_cmd(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = berth()
        .arg("registry")
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_writers(
    url: &str,
    n: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Result<usize, String>>> {
    (0..n)
        .map(|w| {
            let (url, stop) = (url.to_string(), stop.clone());
            std::thread::spawn(move || writer(url, w, stop))
        })
        .collect()
}

fn join(writers: Vec<std::thread::JoinHandle<Result<usize, String>>>) -> usize {
    writers
        .into_iter()
        .map(|w| {
            w.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("a push failed during GC: {e}"))
        })
        .sum()
}

#[test]
fn cli_gc_beside_a_running_server_breaks_no_push() {
    // Server and CLI share the configuration: the grace also sets how old a blob link a HEAD
    // refreshes (docs/gc.md).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("registry.toml");
    std::fs::write(&config, "[gc]\ngrace = \"2s\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let r = Registry::start_args(&["--config", cfg]);
    let stop = Arc::new(AtomicBool::new(false));
    let writers = run_writers(&r.url, 3, &stop);
    let removed = AtomicUsize::new(0);
    let started = Instant::now();
    let mut runs = 0;
    while started.elapsed() < Duration::from_millis(4500) {
        let (code, out, err) =
            registry_cmd(&r.root, &["gc", "--config", cfg, "--untagged", "--json"]);
        assert_eq!(code, 0, "gc failed: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        removed.fetch_add(
            report["summary"]["blobs"].as_u64().unwrap() as usize,
            Ordering::Relaxed,
        );
        runs += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let pushes = join(writers);
    eprintln!(
        "{pushes} pushes, {runs} gc runs, {} blobs removed",
        removed.load(Ordering::Relaxed)
    );
    assert!(
        removed.load(Ordering::Relaxed) > 0,
        "the collections removed something"
    );
    assert!(check(&r) >= 3 * 3);
    let (code, out, err) = registry_cmd(&r.root, &["scrub"]);
    assert_eq!(code, 0, "scrub: {out}{err}");
}

/// Put `n` blob files no database row holds (what a crash between write and link leaves),
/// written an hour ago; their paths.
fn plant_orphans(root: &Path, n: usize, round: usize) -> Vec<std::path::PathBuf> {
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    (0..n)
        .map(|i| {
            let data = format!("orphan {round}/{i}");
            let d = sha256(data.as_bytes());
            let p = root.join("v1/blobs/sha256").join(&d[7..9]).join(&d[7..]);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(hour_ago)
                .unwrap();
            p
        })
        .collect()
}

#[test]
fn kill_9_during_scheduled_gc_leaves_a_consistent_registry() {
    const ORPHANS: usize = 4000;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let config = dir.path().join("registry.toml");
    std::fs::write(
        &config,
        "[gc]\ninterval = \"100ms\"\ngrace = \"1s\"\nuntagged = true\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    // One address across restarts, so the writers find the server again.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut r = Registry::start_at(&root, &addr, &["--config", cfg]);
    // Load first, so the collections have pushes around them and garbage of their own.
    let stop = Arc::new(AtomicBool::new(false));
    let writers = run_writers(&r.url, 3, &stop);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        r.logs().contains("garbage collection done"),
        "the schedule runs"
    );
    // Then kill -9 until one kill lands inside a collection: some orphans swept, not all.
    // The first collection starts 100 ms after the server does; aim a little later each time.
    let mut delay = 105u64;
    let mut landed = false;
    for round in 0..12 {
        r.kill();
        let planted = plant_orphans(&root, ORPHANS, round);
        r = Registry::start_at(&root, &addr, &["--config", cfg]);
        std::thread::sleep(Duration::from_millis(delay));
        r.kill();
        let left = planted.iter().filter(|p| p.exists()).count();
        r = Registry::start_at(&root, &addr, &["--config", cfg]);
        check(&r);
        if left > 0 && left < ORPHANS {
            eprintln!("round {round}: killed {delay} ms in, {left} of {ORPHANS} orphans left");
            landed = true;
            break;
        }
        delay = if left == ORPHANS {
            delay + 15
        } else {
            delay.saturating_sub(10)
        };
    }
    stop.store(true, Ordering::Relaxed);
    join(writers);
    assert!(landed, "no kill -9 landed inside a collection");
    assert!(check(&r) > 0, "tags survived");
    let (code, out, err) = registry_cmd(&root, &["gc", "--grace", "0s"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed"), "{out}");
    check(&r);
    let (code, out, err) = registry_cmd(&root, &["scrub"]);
    assert_eq!(code, 0, "scrub after kill -9: {out}{err}");
}

#[test]
fn gc_reports_what_it_would_remove_then_removes_it() {
    let r = Registry::start();
    let c = client();
    let image = |n: &str| {
        vec![
            format!("{{\"n\":\"{n}\"}}").into_bytes(),
            BASES[0].to_vec(),
            format!("own layer {n}").into_bytes(),
        ]
    };
    push(&c, &r.url, "out/app", "one", &image("one")).unwrap();
    push(&c, &r.url, "out/app", "two", &image("two")).unwrap();
    let one = manifest(&image("one")[0], &[BASES[0], b"own layer one"]);
    let resp = c
        .delete(r.u(&format!("/v2/out/app/manifests/{}", sha256(&one))))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    // Times are kept in seconds: let the deletion fall behind a zero grace period.
    std::thread::sleep(Duration::from_millis(1100));
    let blob_file = |d: &str| r.root.join("v1/blobs/sha256").join(&d[7..9]).join(&d[7..]);
    let own = sha256(b"own layer one");

    let (code, out, err) = registry_cmd(&r.root, &["gc", "--dry-run", "--grace", "0s", "--json"]);
    assert_eq!(code, 0, "{err}");
    let dry: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        dry["summary"]["blobs"], 3,
        "own layer, config and manifest bytes: {dry}"
    );
    assert_eq!(dry["summary"]["links"], 2);
    assert!(blob_file(&own).exists(), "a dry run removes nothing");

    let (code, out, _) = registry_cmd(&r.root, &["gc", "--dry-run", "--grace", "0s"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("blob      {own}")), "{out}");
    assert!(
        out.contains("would remove 0 manifests, 2 blob links, 3 blobs"),
        "{out}"
    );

    let (code, out, _) = registry_cmd(&r.root, &["gc", "--grace", "0s"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("removed 0 manifests, 2 blob links, 3 blobs"),
        "{out}"
    );
    assert!(out.contains("freed"), "{out}");
    assert!(!blob_file(&own).exists());
    assert!(
        blob_file(&sha256(BASES[0])).exists(),
        "the shared layer stays"
    );
    assert_eq!(check(&r), 1);

    let (_, out, _) = registry_cmd(&r.root, &["gc", "--grace", "0s", "-q"]);
    assert!(
        out.starts_with("removed 0 manifests, 0 blob links, 0 blobs"),
        "{out}"
    );
    let (code, _, err) = registry_cmd(&r.root.join("nothing-here"), &["gc"]);
    assert_ne!(code, 0);
    assert!(err.contains("no registry data"), "{err}");
}

#[test]
fn scrub_reports_corruption_with_exit_code_1_and_repairs() {
    let r = Registry::start();
    let c = client();
    let blobs = vec![
        b"{\"scrub\":true}".to_vec(),
        b"layer to flip".to_vec(),
        b"layer to lose".to_vec(),
    ];
    push(&c, &r.url, "scrub/me", "v1", &blobs).unwrap();
    let (code, out, _) = registry_cmd(&r.root, &["scrub"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("checked 4 blobs") && out.contains("all good"),
        "{out}"
    );

    let path = |d: &str| r.root.join("v1/blobs/sha256").join(&d[7..9]).join(&d[7..]);
    let (flip, lose) = (sha256(b"layer to flip"), sha256(b"layer to lose"));
    let mut data = std::fs::read(path(&flip)).unwrap();
    data[0] ^= 1;
    std::fs::write(path(&flip), data).unwrap();
    std::fs::remove_file(path(&lose)).unwrap();

    let (code, out, err) = registry_cmd(&r.root, &["scrub"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("corrupt  {flip}  content is sha256:")),
        "{out}"
    );
    assert!(
        out.contains(&format!("missing  {lose}  not stored")),
        "{out}"
    );
    assert!(out.contains("needed by scrub/me@sha256:"), "{out}");
    assert!(err.contains("1 corrupt and 1 missing"), "{err}");

    let (code, out, _) = registry_cmd(&r.root, &["scrub", "--repair", "--json"]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2);
    let corrupt = problems.iter().find(|p| p["kind"] == "corrupt").unwrap();
    assert!(Path::new(corrupt["quarantined"].as_str().unwrap()).exists());
    assert_eq!(corrupt["unlinked"], 1);
    // The server now says the blobs are unknown, so a client pushes them again.
    let head = c
        .head(r.u(&format!("/v2/scrub/me/blobs/{flip}")))
        .send()
        .unwrap();
    assert_eq!(head.status(), 404);
    push(&c, &r.url, "scrub/me", "v1", &blobs).unwrap();
    let (code, out, _) = registry_cmd(&r.root, &["scrub"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(check(&r), 1);
}
