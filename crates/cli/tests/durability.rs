//! Durability of the registry: upload sessions survive restarts (clean and kill -9), and a crash
//! at any moment never leaves a tag pointing at a missing manifest, a manifest whose blobs are
//! missing, or a blob whose bytes do not match its digest.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Registry, client, sha256};

fn start_upload(c: &reqwest::blocking::Client, r: &Registry, repo: &str) -> String {
    let resp = c
        .post(r.u(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    resp.headers()["location"].to_str().unwrap().to_string()
}

fn patch(
    c: &reqwest::blocking::Client,
    r: &Registry,
    loc: &str,
    start: usize,
    data: &[u8],
) -> reqwest::blocking::Response {
    c.patch(r.u(loc))
        .header("content-type", "application/octet-stream")
        .header(
            "content-range",
            format!("{}-{}", start, start + data.len() - 1),
        )
        .body(data.to_vec())
        .send()
        .unwrap()
}

fn resume_after(kill: bool) {
    let mut r = Registry::start();
    let dir = r.take_dir().unwrap();
    let c = client();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let loc = start_upload(&c, &r, "resume/me");
    assert_eq!(patch(&c, &r, &loc, 0, &data[..100_000]).status(), 202);
    if kill {
        r.kill();
    } else {
        assert!(r.stop().unwrap().success(), "SIGTERM exits cleanly");
    }
    let r2 = Registry::start_at(&r.root, "127.0.0.1:0", &[]);
    let status = c.get(r2.u(&loc)).send().unwrap();
    assert_eq!(
        status.status(),
        204,
        "the session is still known after a restart"
    );
    assert_eq!(status.headers()["range"], "0-99999");
    let resp = patch(&c, &r2, &loc, 100_000, &data[100_000..200_000]);
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["range"], "0-199999");
    let digest = sha256(&data);
    let resp = c
        .put(format!("{}?digest={digest}", r2.u(&loc)))
        .header("content-range", "200000-299999")
        .body(data[200_000..].to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap_or_default());
    let got = c
        .get(r2.u(&format!("/v2/resume/me/blobs/{digest}")))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(got.as_ref(), &data[..]);
    drop(dir);
}

#[test]
fn upload_resumes_after_clean_restart() {
    resume_after(false);
}

#[test]
fn upload_resumes_after_kill_9() {
    resume_after(true);
}

/// Pushes blobs and manifests in a loop until told to stop; errors (the server dying) end it.
fn pusher(url: String, worker: usize, stop: Arc<AtomicBool>) {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let layer: Vec<u8> = (0..(64 * 1024 + i * 997))
            .map(|j| ((j * 31 + i + worker) % 256) as u8)
            .collect();
        let config = format!("{{\"worker\":{worker},\"i\":{i}}}").into_bytes();
        let repo = format!("crash/w{worker}");
        let mut ok = true;
        for blob in [&layer, &config] {
            let d = sha256(blob);
            let r = c
                .post(format!("{url}/v2/{repo}/blobs/uploads/?digest={d}"))
                .body(blob.clone())
                .send();
            ok &= r.map(|r| r.status() == 201).unwrap_or(false);
        }
        if !ok {
            return;
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}],
        })
        .to_string();
        let r = c
            .put(format!("{url}/v2/{repo}/manifests/t{}", i % 5))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest)
            .send();
        if r.is_err() {
            return;
        }
    }
}

fn check_consistent(r: &Registry) {
    let c = client();
    let catalog: serde_json::Value = c
        .get(r.u("/v2/_catalog?n=1000"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for repo in catalog["repositories"].as_array().unwrap() {
        let repo = repo.as_str().unwrap();
        let tags: serde_json::Value = c
            .get(r.u(&format!("/v2/{repo}/tags/list")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        for tag in tags["tags"].as_array().unwrap() {
            let resp = c
                .get(r.u(&format!("/v2/{repo}/manifests/{}", tag.as_str().unwrap())))
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .unwrap();
            assert_eq!(
                resp.status(),
                200,
                "tag {repo}:{tag} points at a missing manifest"
            );
            let digest = resp.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string();
            let body = resp.bytes().unwrap();
            assert_eq!(sha256(&body), digest, "manifest bytes match their digest");
            let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let mut refs = vec![m["config"].clone()];
            refs.extend(m["layers"].as_array().unwrap().iter().cloned());
            for d in refs {
                let d = d["digest"].as_str().unwrap();
                let blob = c.get(r.u(&format!("/v2/{repo}/blobs/{d}"))).send().unwrap();
                assert_eq!(
                    blob.status(),
                    200,
                    "{repo}:{tag} references missing blob {d}"
                );
                assert_eq!(
                    sha256(&blob.bytes().unwrap()),
                    d,
                    "blob bytes match their digest"
                );
            }
        }
    }
    // Every file in the content store matches its name.
    let blobs = r.root.join("v1/blobs/sha256");
    for shard in std::fs::read_dir(&blobs).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let f = f.unwrap();
            let data = std::fs::read(f.path()).unwrap();
            assert_eq!(
                sha256(&data),
                format!("sha256:{}", f.file_name().to_string_lossy())
            );
        }
    }
}

#[test]
fn kill_9_under_load_leaves_consistent_state() {
    let mut r = Registry::start();
    let dir = r.take_dir().unwrap();
    let root = r.root.clone();
    for round in 0..4 {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (url, stop) = (r.url.clone(), stop.clone());
                std::thread::spawn(move || pusher(url, w, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + round * 170));
        r.kill();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        r = Registry::start_at(&root, "127.0.0.1:0", &[]);
        check_consistent(&r);
    }
    let c = client();
    let catalog: serde_json::Value = c.get(r.u("/v2/_catalog")).send().unwrap().json().unwrap();
    assert!(
        !catalog["repositories"].as_array().unwrap().is_empty(),
        "the load test pushed something"
    );
    drop(dir);
}
