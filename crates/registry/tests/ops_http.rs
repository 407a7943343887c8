//! Observability and rate limits over HTTP (issue 10): `/metrics` (its content after some
//! requests, who may read it), `/healthz` and `/readyz` (failing when storage cannot be
//! written), request ids (echoed, in the logs), and `[limits]` (429 TOOMANYREQUESTS with
//! Retry-After) — each against a registry served on 127.0.0.1:0 inside the test's runtime.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use berth_registry::config::AuthMode;
use support::*;

/// A metrics text as `series → value` (`name{labels}` exactly as written).
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

async fn scrape(s: &Server, auth: Option<&str>) -> HashMap<String, f64> {
    let r = s.get("/metrics", auth).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        r.headers
    );
    assert!(r.text().trim_end().ends_with("# EOF"));
    parse_metrics(&r.text())
}

// One test reads the storage gauges: they are process-wide, so no other test here scrapes.
#[tokio::test]
async fn metrics_count_requests_bytes_and_storage() {
    let s = start_with(|_| {}).await;
    let before = berth_registry::metrics::render();
    let before = parse_metrics(&before);
    let img = s.push(None, "m/app", "v1").await;
    let r = s.get("/v2/m/app/manifests/v1", None).await;
    assert_eq!(r.status, 200);
    let r = s
        .get(&format!("/v2/m/app/blobs/{}", img.layer_digest), None)
        .await;
    assert_eq!(r.status, 200);
    let r = s.get("/v2/m/app/manifests/nope", None).await;
    assert_eq!(r.status, 404);

    let m = scrape(&s, None).await;
    let req = |method: &str, route: &str, status: u16| {
        format!(
            r#"berth_registry_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#
        )
    };
    for (series, at_least) in [
        (req("PUT", "manifest", 201), 1.0),
        (req("POST", "upload", 201), 2.0),
        (req("GET", "manifest", 200), 1.0),
        (req("GET", "manifest", 404), 1.0),
        (req("GET", "blob", 200), 1.0),
    ] {
        assert!(
            get(&m, &series) - get(&before, &series) >= at_least,
            "{series}: {} → {}",
            get(&before, &series),
            get(&m, &series)
        );
    }
    assert!(
        m.keys().all(|k| !k.contains("m/app")),
        "no repository names in labels"
    );
    let count =
        r#"berth_registry_http_request_duration_seconds_count{method="PUT",route="manifest"}"#;
    assert!(get(&m, count) - get(&before, count) >= 1.0);
    let pushed = (img.config.len() + img.layer.len()) as f64;
    let bytes_in = r#"berth_registry_http_request_bytes_total{route="upload"}"#;
    assert!(get(&m, bytes_in) - get(&before, bytes_in) >= pushed);
    let bytes_out = r#"berth_registry_http_response_bytes_total{route="blob"}"#;
    assert!(get(&m, bytes_out) - get(&before, bytes_out) >= img.layer.len() as f64);
    // Storage, from this registry's metadata: one repository, two blobs, one manifest.
    assert_eq!(get(&m, "berth_registry_repositories"), 1.0);
    assert_eq!(get(&m, "berth_registry_blobs"), 2.0);
    assert_eq!(get(&m, "berth_registry_manifests"), 1.0);
    assert_eq!(
        get(&m, "berth_registry_storage_bytes"),
        pushed + img.manifest.len() as f64
    );
    for name in [
        "berth_registry_uploads_in_progress",
        "berth_registry_gc_runs_total",
        "berth_registry_gc_removed_bytes_total",
        "berth_registry_notification_queue_length",
        "berth_registry_notification_failures_total",
    ] {
        assert!(m.contains_key(name), "{name} missing");
    }
    // Other modules' counters show up.
    berth_registry::metrics::gc_run(2, 1234);
    let after = parse_metrics(&berth_registry::metrics::render());
    assert_eq!(
        get(&after, "berth_registry_gc_removed_bytes_total")
            - get(&m, "berth_registry_gc_removed_bytes_total"),
        1234.0
    );

    // With access control, only administrators read /metrics on the main address.
    s.admin()
        .user_add(&tester(), "root", "root-password-1", true)
        .await
        .unwrap();
    s.user("bob", "bob-password-1", None).await;
    let r = s.get("/metrics", None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = s
        .get("/metrics", Some(&basic("bob", "bob-password-1")))
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.code(), "DENIED");
    scrape(&s, Some(&basic("root", "root-password-1"))).await;
    let m = parse_metrics(&berth_registry::metrics::render());
    assert!(get(&m, r#"berth_registry_auth_failures_total{kind="denied"}"#) >= 1.0);
}

#[tokio::test]
async fn metrics_address_set_hides_metrics_on_the_main_address() {
    let s = start_with(|c| c.metrics.addr = Some("127.0.0.1:1".parse().unwrap())).await;
    assert_eq!(s.get("/metrics", None).await.status, 404);
    // The separate listener serves them, without access control.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(berth_registry::server::serve_ops(
        s.reg.clone(),
        l,
        std::future::pending(),
    ));
    let r = request(addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(r.status, 200);
    let r = request(addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(addr, "GET", "/v2/", &[], b"").await;
    assert_eq!(r.status, 404, "only the operational endpoints");
}

#[tokio::test]
async fn health_and_readiness() {
    let s = start(|_| {}).await;
    // Access control on: the probes still need no credentials.
    s.user("carol", "carol-password-1", None).await;
    let r = s.get("/healthz", None).await;
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = s.get("/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["checks"]["database"], "ok");
    assert_eq!(r.json()["checks"]["storage"], "ok");

    // Storage that cannot take a write: the upload directory replaced by a file (as root,
    // permissions would not stop the probe).
    let uploads = s.root.join("v1").join("uploads");
    let aside = s.root.join("v1").join("uploads.aside");
    std::fs::rename(&uploads, &aside).unwrap();
    std::fs::write(&uploads, b"not a directory").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.get("/readyz", None).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let j = r.json();
    assert_eq!(j["status"], "unavailable");
    assert_eq!(j["checks"]["database"], "ok");
    assert_ne!(j["checks"]["storage"], "ok");
    assert_eq!(
        s.get("/healthz", None).await.status,
        200,
        "alive all the same"
    );

    std::fs::remove_file(&uploads).unwrap();
    std::fs::rename(&aside, &uploads).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.get("/readyz", None).await.status, 200);
}

#[tokio::test]
async fn request_ids_are_echoed_and_logged() {
    let s = start(|_| {}).await;
    let r = s
        .req("GET", "/v2/", &[("x-request-id", "test-req-4242")], b"")
        .await;
    assert_eq!(r.header("x-request-id"), Some("test-req-4242"));
    let logs = logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("span request:") && l.contains("request_id=test-req-4242")),
        "the request's span carries its id"
    );
    assert!(
        logs.lines().any(|l| l.contains(" request_id=test-req-4242")
            && l.contains("status=200")
            && l.contains("path=/v2/")),
        "the request line names it"
    );
    // Generated when absent or not sane.
    let long = "x".repeat(300);
    for headers in [
        vec![],
        vec![("x-request-id", "bad id with spaces")],
        vec![("x-request-id", long.as_str())],
    ] {
        let r = s.req("GET", "/v2/", &headers, b"").await;
        let id = r.header("x-request-id").expect("an id");
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    // Errors carry it too.
    let r = s.get("/v2/a/manifests/nope", None).await;
    assert_eq!(r.status, 404);
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let s = start_with(|c| c.limits.per_address = Some(2)).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..12 {
        let r = s.get("/v2/", None).await;
        statuses.push(r.status);
        if r.status == 429 {
            limited = Some(r);
        }
    }
    let r = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert!(
        statuses[..4].iter().all(|&s| s == 200),
        "a burst of twice the rate: {statuses:?}"
    );
    assert_eq!(r.code(), "TOOMANYREQUESTS");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(
        s.get("/healthz", None).await.status,
        200,
        "probes are not limited"
    );
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        s.get("/v2/", None).await.status,
        200,
        "allowed again after Retry-After"
    );
    let m = parse_metrics(&berth_registry::metrics::render());
    assert!(
        get(
            &m,
            r#"berth_registry_auth_failures_total{kind="rate_limited"}"#
        ) >= 1.0
    );

    // Per user: each user has a bucket of their own; anonymous requests are not counted.
    let s = start_with(|c| {
        c.auth.mode = Some(AuthMode::Basic);
        c.limits.per_user = Some(1);
    })
    .await;
    s.user("dave", "dave-password-1", None).await;
    s.user("erin", "erin-password-1", None).await;
    let dave = basic("dave", "dave-password-1");
    let erin = basic("erin", "erin-password-1");
    let mut dave_statuses = Vec::new();
    for _ in 0..4 {
        dave_statuses.push(s.get("/v2/", Some(&dave)).await.status);
    }
    assert_eq!(dave_statuses[..2], [200, 200], "{dave_statuses:?}");
    assert!(dave_statuses[2..].contains(&429), "{dave_statuses:?}");
    assert_eq!(s.get("/v2/", Some(&erin)).await.status, 200);
    assert_eq!(
        s.get("/v2/", None).await.status,
        401,
        "anonymous: the usual challenge"
    );
}
