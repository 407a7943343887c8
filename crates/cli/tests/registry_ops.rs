//! `berth registry serve` operations end to end (issue 10): `[metrics] addr` as a separate
//! listener (metrics, health, readiness without credentials; none of it on the main address),
//! request ids in the log, and a notification queued while the receiver is down surviving a
//! kill -9 of the server, delivered by the restarted one.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::auth::free_port;
use common::{Registry, client, sha256};

/// A webhook receiver on `port`: keeps each POST body, answers 200.
fn receiver(port: u16) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let kept = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut raw = Vec::new();
            let mut buf = [0u8; 8192];
            let body = loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buf[..n]);
                let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if raw.len() >= end + 4 + len {
                    break serde_json::from_slice(&raw[end + 4..end + 4 + len]).ok();
                }
            };
            if let Some(b) = body {
                kept.lock().unwrap().push(b);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        }
    });
    got
}

fn push(r: &Registry, repo: &str, tag: &str, request_id: &str) -> String {
    let c = client();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = format!("layer of {repo}:{tag}").into_bytes();
    for blob in [config.to_vec(), layer.clone()] {
        let d = sha256(&blob);
        let resp = c
            .post(r.u(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
            .body(blob)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(&layer), "size": layer.len()}],
    })
    .to_string();
    let resp = c
        .put(r.u(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .header("x-request-id", request_id)
        .body(manifest.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-request-id"], request_id);
    sha256(manifest.as_bytes())
}

#[test]
fn metrics_address_request_ids_and_events_across_a_crash() {
    let (metrics_port, hook_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("berth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[metrics]\naddr = \"127.0.0.1:{metrics_port}\"\n\
             [[notifications]]\nurl = \"http://127.0.0.1:{hook_port}/hook\"\ntimeout = \"1s\"\n"
        ),
    )
    .unwrap();
    let root = dir.path().join("data");
    let args = ["--config", cfg.to_str().unwrap()];
    let mut r = Registry::start_at(&root, "127.0.0.1:0", &args);
    let c = client();
    let ops = |path: &str| format!("http://127.0.0.1:{metrics_port}{path}");

    let digest = push(&r, "ci/app", "v1", "cli-req-1");
    let m = c.get(ops("/metrics")).send().unwrap();
    assert_eq!(m.status(), 200);
    let text = m.text().unwrap();
    assert!(
        text.contains(
            r#"berth_registry_http_requests_total{method="PUT",route="manifest",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("berth_registry_notification_queue_length"));
    for path in ["/healthz", "/readyz"] {
        assert_eq!(c.get(ops(path)).send().unwrap().status(), 200, "{path}");
        assert_eq!(c.get(r.u(path)).send().unwrap().status(), 200, "{path}");
    }
    assert_eq!(c.get(r.u("/metrics")).send().unwrap().status(), 404);
    let log = r.logs();
    assert!(
        log.lines()
            .any(|l| l.contains("request_id=cli-req-1") && l.contains("status=201")),
        "{log}"
    );

    // The receiver is down: the event waits in the queue, through a kill -9.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !r.logs().contains("cannot deliver notifications") {
        assert!(
            Instant::now() < deadline,
            "no delivery attempt: {}",
            r.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    r.kill();
    let got = receiver(hook_port);
    let r = Registry::start_at(&root, "127.0.0.1:0", &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no event after the restart: {}",
            r.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let got = got.lock().unwrap();
    let events: Vec<&serde_json::Value> = got
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = events[0];
    assert_eq!(e["action"], "push");
    assert_eq!(e["target"]["repository"], "ci/app");
    assert_eq!(e["target"]["tag"], "v1");
    assert_eq!(e["target"]["digest"], digest.as_str());
    assert_eq!(e["request"]["id"], "cli-req-1");
}
