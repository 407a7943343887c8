//! Notifications over HTTP (issue 10): a receiver in the test (a tiny HTTP server on
//! 127.0.0.1) gets exactly the expected events in CNCF Distribution's envelope, filtered per
//! endpoint; with the receiver down during pushes the pushes go on and the events arrive once
//! it is back, also across a registry restart.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_registry::config::NotificationConfig;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// A webhook receiver answering 200 to everything, keeping what it got.
struct Receiver {
    got: Arc<Mutex<Vec<Post>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_post(stream: &mut tokio::net::TcpStream) -> Option<Post> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while raw.len() < head_end + 4 + len {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let body = serde_json::from_slice(&raw[head_end + 4..head_end + 4 + len]).ok()?;
    Some(Post {
        path,
        headers,
        body,
    })
}

impl Receiver {
    async fn start(addr: SocketAddr) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let got: Arc<Mutex<Vec<Post>>> = Arc::default();
        let kept = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let kept = kept.clone();
                tokio::spawn(async move {
                    if let Some(post) = read_post(&mut stream).await {
                        kept.lock().unwrap().push(post);
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                    }
                });
            }
        });
        Receiver { got, task }
    }

    fn posts(&self, path: &str) -> Vec<Post> {
        let got = self.got.lock().unwrap();
        got.iter().filter(|p| p.path == path).cloned().collect()
    }

    /// The events POSTed to `path`, in order.
    fn events(&self, path: &str) -> Vec<Value> {
        self.posts(path)
            .iter()
            .flat_map(|p| p.body["events"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Wait until `path` got `n` events.
    async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let ev = self.events(path);
            if ev.len() >= n || Instant::now() > deadline {
                return ev;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn endpoint(url: String) -> NotificationConfig {
    NotificationConfig {
        url,
        ..Default::default()
    }
}

/// `(action, repository, tag, digest)` of each event.
fn summary(events: &[Value]) -> Vec<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    events
        .iter()
        .map(|e| {
            let t = &e["target"];
            (
                s(&e["action"]),
                s(&t["repository"]),
                s(&t["tag"]),
                s(&t["digest"]),
            )
        })
        .collect()
}

fn row(action: &str, repo: &str, tag: &str, digest: &str) -> (String, String, String, String) {
    (action.into(), repo.into(), tag.into(), digest.into())
}

#[tokio::test]
async fn receivers_get_exactly_the_expected_events() {
    let raddr = free_addr();
    let rx = Receiver::start(raddr).await;
    let s = start_with(|c| {
        c.notifications = vec![
            endpoint(format!("http://{raddr}/all")),
            NotificationConfig {
                events: Some(vec!["pull".into()]),
                repositories: Some("team-a/**".into()),
                headers: [(
                    "Authorization".to_string(),
                    "Bearer hook-secret".to_string(),
                )]
                .into(),
                ..endpoint(format!("http://{raddr}/pulls"))
            },
        ]
    })
    .await;

    // A push by tag, with the client's request id and user agent.
    let app = Image::new("team-a/app", "v1");
    for blob in [&app.config, &app.layer] {
        assert_eq!(s.upload(None, "team-a/app", blob).await.status, 201);
    }
    let headers = [
        ("content-type", "application/vnd.oci.image.manifest.v1+json"),
        ("x-request-id", "push-req-1"),
        ("user-agent", "test-agent/1.0"),
    ];
    let r = s
        .req(
            "PUT",
            "/v2/team-a/app/manifests/v1",
            &headers,
            &app.manifest,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let x1 = s.push(None, "other/x", "v1").await;
    s.push(None, "other/x", "v2").await;
    let d_app = app.manifest_digest.to_string();
    let d_x1 = x1.manifest_digest.to_string();
    // A push by digest applying two tags (`?tag=`): one event per tag.
    let multi = Image::new("team-a/multi", "m");
    for blob in [&multi.config, &multi.layer] {
        assert_eq!(s.upload(None, "team-a/multi", blob).await.status, 201);
    }
    let d_multi = multi.manifest_digest.to_string();
    let reference = format!("{d_multi}?tag=t1&tag=t2");
    let r = s
        .put_manifest(None, "team-a/multi", &reference, &multi.manifest)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // Pulls: by tag and by digest (wanted by /pulls for team-a only), HEAD (never reported).
    assert_eq!(s.get("/v2/team-a/app/manifests/v1", None).await.status, 200);
    assert_eq!(
        s.get(&format!("/v2/team-a/app/manifests/{d_app}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.req("HEAD", "/v2/team-a/app/manifests/v1", &[], b"")
            .await
            .status,
        200
    );
    assert_eq!(s.get("/v2/other/x/manifests/v1", None).await.status, 200);
    // Deletes: a manifest by digest, a tag; a failed delete reports nothing.
    let server = &s;
    let del = |p: String| async move { server.req("DELETE", &p, &[], b"").await.status };
    assert_eq!(del(format!("/v2/other/x/manifests/{d_x1}")).await, 202);
    assert_eq!(del("/v2/other/x/manifests/v2".into()).await, 202);
    assert_eq!(del("/v2/other/x/manifests/v9".into()).await, 404);

    let all = rx.wait_for("/all", 7, Duration::from_secs(20)).await;
    let pulls = rx.wait_for("/pulls", 2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all_now = rx.events("/all");
    assert_eq!(
        summary(&all_now),
        vec![
            row("push", "team-a/app", "v1", &d_app),
            row("push", "other/x", "v1", &d_x1),
            row(
                "push",
                "other/x",
                "v2",
                &Image::new("other/x", "v2").manifest_digest.to_string()
            ),
            row("push", "team-a/multi", "t1", &d_multi),
            row("push", "team-a/multi", "t2", &d_multi),
            row("delete", "other/x", "", &d_x1),
            row("delete", "other/x", "v2", ""),
        ],
        "{all:#?}"
    );
    assert_eq!(
        summary(&rx.events("/pulls")),
        vec![
            row("pull", "team-a/app", "v1", &d_app),
            row("pull", "team-a/app", "", &d_app),
        ],
        "{pulls:#?}"
    );

    // The envelope and the fields receivers written for Distribution read.
    for p in rx.posts("/all").iter().chain(&rx.posts("/pulls")) {
        let h = |k: &str| {
            p.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            h("content-type"),
            Some("application/vnd.docker.distribution.events.v1+json")
        );
        let want_auth = (p.path == "/pulls").then_some("Bearer hook-secret");
        assert_eq!(h("authorization"), want_auth, "headers per endpoint");
    }
    let push = &all_now[0];
    let t = &push["target"];
    assert_eq!(t["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(t["size"], app.manifest.len());
    assert_eq!(t["length"], app.manifest.len());
    assert_eq!(
        t["url"],
        format!("http://{}/v2/team-a/app/manifests/{d_app}", s.addr)
    );
    let req = &push["request"];
    assert_eq!(req["id"], "push-req-1");
    assert_eq!(req["method"], "PUT");
    assert_eq!(req["useragent"], "test-agent/1.0");
    assert_eq!(req["host"], s.addr.to_string());
    assert!(req["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(
        push["actor"],
        serde_json::json!({}),
        "no access control: no actor name"
    );
    assert!(
        push["source"]["addr"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", s.addr.port()))
    );
    assert!(!push["source"]["instanceID"].as_str().unwrap().is_empty());
    assert!(push["timestamp"].as_str().unwrap().ends_with('Z'));
    let mut ids: Vec<&str> = all_now.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "unique event ids");
    let pull = &rx.events("/pulls")[0];
    assert_eq!(pull["target"]["size"], app.manifest.len());
    assert_eq!(pull["request"]["method"], "GET");
    assert_eq!(s.reg.notifier().unwrap().pending(), 0);
}

#[tokio::test]
async fn events_wait_for_a_receiver_that_is_down_also_across_a_restart() {
    let raddr = free_addr(); // nothing listens there yet
    let config = move |c: &mut berth_registry::Config| {
        c.notifications = vec![NotificationConfig {
            timeout: Some("2s".into()),
            ..endpoint(format!("http://{raddr}/hook"))
        }]
    };
    let s = start_with(config).await;
    let started = Instant::now();
    let a = s.push(None, "down/a", "v1").await;
    let b = s.push(None, "down/b", "v1").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "pushes do not wait for the receiver"
    );
    let n = s.reg.notifier().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while berth_registry::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix("berth_registry_notification_failures_total "))
        .is_none_or(|v| v.trim() == "0")
    {
        assert!(
            Instant::now() < deadline,
            "no failed delivery attempt was counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n.pending(), 2);
    drop(n);

    // Restart: the queue is on disk; one more push while the receiver is still down.
    let dir = s.stop().await;
    let s = start_in(dir, config).await;
    let c = s.push(None, "down/c", "v1").await;
    assert_eq!(s.reg.notifier().unwrap().pending(), 3);

    let rx = Receiver::start(raddr).await;
    let events = rx.wait_for("/hook", 3, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        summary(&rx.events("/hook")),
        vec![
            row("push", "down/a", "v1", &a.manifest_digest.to_string()),
            row("push", "down/b", "v1", &b.manifest_digest.to_string()),
            row("push", "down/c", "v1", &c.manifest_digest.to_string()),
        ],
        "{events:#?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.reg.notifier().unwrap().pending() > 0 {
        assert!(Instant::now() < deadline, "delivered events stay queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The events of before the restart name the instance that saw them.
    let ev = rx.events("/hook");
    assert_ne!(ev[0]["source"]["instanceID"], ev[2]["source"]["instanceID"]);
}
