//! The registry's Prometheus metrics, one process-wide set (a process serves one registry).
//!
//! Other modules record through the functions here — the HTTP edge ([`request`],
//! [`bytes_in`], [`bytes_out`], [`upload_started`], [`auth_failure`]), garbage collection
//! ([`gc_run`]), the notifier ([`notification_queue`], [`notification_failure`], …) and the
//! storage summary ([`set_storage`]) — and `/metrics` renders them with [`render`]. Labels are
//! bounded by construction: a route *kind* (`manifest`, `blob`, …), never a repository name, a
//! normalized method, a status code, a failure kind.
//!
//! Names (OpenMetrics text; counters end in `_total`):
//! - `berth_registry_http_requests_total{method,route,status}`
//! - `berth_registry_http_request_duration_seconds{method,route}` (histogram, time to the
//!   response head)
//! - `berth_registry_http_request_bytes_total{route}`, `…_http_response_bytes_total{route}`
//! - `berth_registry_uploads_in_progress` (requests streaming blob data in right now)
//! - `berth_registry_storage_bytes`, `…_blobs`, `…_manifests`, `…_repositories` (from the
//!   metadata when `/metrics` is read, at most every 30 s)
//! - `berth_registry_gc_runs_total`, `…_gc_removed_items_total`, `…_gc_removed_bytes_total`
//! - `berth_registry_auth_failures_total{kind}`
//! - `berth_registry_notification_queue_length`, `…_notifications_sent_total`,
//!   `…_notification_failures_total`, `…_notifications_dropped_total`

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::metadata::StoreStats;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: &'static str,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    bytes_in: Family<RouteLabels, Counter>,
    bytes_out: Family<RouteLabels, Counter>,
    uploads: Gauge,
    storage_bytes: Gauge,
    blobs: Gauge,
    manifests: Gauge,
    repositories: Gauge,
    gc_runs: Counter,
    gc_items: Counter,
    gc_bytes: Counter,
    auth_failures: Family<KindLabels, Counter>,
    queue: Gauge,
    sent: Counter,
    failures: Counter,
    dropped: Counter,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::with_prefix("berth_registry");
        let m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            uploads: Gauge::default(),
            storage_bytes: Gauge::default(),
            blobs: Gauge::default(),
            manifests: Gauge::default(),
            repositories: Gauge::default(),
            gc_runs: Counter::default(),
            gc_items: Counter::default(),
            gc_bytes: Counter::default(),
            auth_failures: Family::default(),
            queue: Gauge::default(),
            sent: Counter::default(),
            failures: Counter::default(),
            dropped: Counter::default(),
        };
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route kind and status",
            m.requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response head",
            Unit::Seconds,
            m.latency.clone(),
        );
        r.register_with_unit(
            "http_request",
            "Request body bytes received",
            Unit::Bytes,
            m.bytes_in.clone(),
        );
        r.register_with_unit(
            "http_response",
            "Response body bytes sent",
            Unit::Bytes,
            m.bytes_out.clone(),
        );
        r.register(
            "uploads_in_progress",
            "Requests streaming blob data in right now",
            m.uploads.clone(),
        );
        r.register_with_unit(
            "storage",
            "Bytes of unique blobs and manifests the metadata references",
            Unit::Bytes,
            m.storage_bytes.clone(),
        );
        r.register("blobs", "Unique blobs (configs, layers)", m.blobs.clone());
        r.register("manifests", "Unique manifests", m.manifests.clone());
        r.register("repositories", "Repositories", m.repositories.clone());
        r.register("gc_runs", "Garbage collections run", m.gc_runs.clone());
        r.register(
            "gc_removed_items",
            "Blobs, manifests and uploads garbage collection removed",
            m.gc_items.clone(),
        );
        r.register_with_unit(
            "gc_removed",
            "Bytes garbage collection freed",
            Unit::Bytes,
            m.gc_bytes.clone(),
        );
        r.register(
            "auth_failures",
            "Requests refused by access control or rate limits, by kind",
            m.auth_failures.clone(),
        );
        r.register(
            "notification_queue_length",
            "Events waiting for delivery, all endpoints",
            m.queue.clone(),
        );
        r.register("notifications_sent", "Events delivered", m.sent.clone());
        r.register(
            "notification_failures",
            "Failed delivery attempts",
            m.failures.clone(),
        );
        r.register(
            "notifications_dropped",
            "Events dropped because an endpoint's queue was full",
            m.dropped.clone(),
        );
        Metrics { registry: r, ..m }
    }
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

/// A method as a bounded label.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Count an answered request and how long it took to its response head.
pub fn request(method: &str, route: &'static str, status: u16, elapsed: Duration) {
    let m = metrics();
    let method = method_label(method);
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    m.latency
        .get_or_create(&LatencyLabels { method, route })
        .observe(elapsed.as_secs_f64());
}

/// Count request body bytes received on `route`.
pub fn bytes_in(route: &'static str, n: u64) {
    metrics()
        .bytes_in
        .get_or_create(&RouteLabels { route })
        .inc_by(n);
}

/// Count response body bytes sent on `route`.
pub fn bytes_out(route: &'static str, n: u64) {
    metrics()
        .bytes_out
        .get_or_create(&RouteLabels { route })
        .inc_by(n);
}

/// Counts one upload in progress until dropped.
#[derive(Debug)]
pub struct UploadInProgress(());

impl Drop for UploadInProgress {
    fn drop(&mut self) {
        metrics().uploads.dec();
    }
}

/// An upload request started streaming data in.
pub fn upload_started() -> UploadInProgress {
    metrics().uploads.inc();
    UploadInProgress(())
}

/// A request was refused by access control or a rate limit: `challenge` (no credentials),
/// `unauthorized` (bad credentials), `denied`, `locked_out` (failed-login backoff) or
/// `rate_limited`.
pub fn auth_failure(kind: &'static str) {
    metrics()
        .auth_failures
        .get_or_create(&KindLabels { kind })
        .inc();
}

/// A garbage collection finished, having removed `items` (blobs, manifests, uploads) worth
/// `bytes`.
pub fn gc_run(items: u64, bytes: u64) {
    let m = metrics();
    m.gc_runs.inc();
    m.gc_items.inc_by(items);
    m.gc_bytes.inc_by(bytes);
}

/// Events waiting for delivery now, over all endpoints.
pub fn notification_queue(len: u64) {
    metrics().queue.set(len.min(i64::MAX as u64) as i64);
}

/// `n` events were delivered.
pub fn notifications_sent(n: u64) {
    metrics().sent.inc_by(n);
}

/// A delivery attempt failed.
pub fn notification_failure() {
    metrics().failures.inc();
}

/// `n` events were dropped (queue full).
pub fn notifications_dropped(n: u64) {
    metrics().dropped.inc_by(n);
}

/// Set the storage gauges.
pub fn set_storage(s: &StoreStats) {
    let m = metrics();
    let g = |v: u64| v.min(i64::MAX as u64) as i64;
    m.storage_bytes
        .set(g(s.blob_bytes.saturating_add(s.manifest_bytes)));
    m.blobs.set(g(s.blobs));
    m.manifests.set(g(s.manifests));
    m.repositories.set(g(s.repositories));
}

/// Every metric, in the OpenMetrics text format (which Prometheus reads).
pub fn render() -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &metrics().registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    #[test]
    fn counters_render_with_bounded_labels() {
        let before = render();
        request("GET", "manifest", 200, Duration::from_millis(3));
        request("BREW", "manifest", 200, Duration::from_millis(3));
        gc_run(3, 300);
        auth_failure("denied");
        let _u = upload_started();
        let text = render();
        let series =
            r#"berth_registry_http_requests_total{method="GET",route="manifest",status="200"}"#;
        assert_eq!(value(&text, series), value(&before, series) + 1.0, "{text}");
        assert!(text.contains(r#"method="other""#), "{text}");
        assert!(value(&text, "berth_registry_gc_removed_bytes_total") >= 300.0);
        assert!(value(&text, "berth_registry_uploads_in_progress") >= 1.0);
        assert!(text.contains("berth_registry_http_request_duration_seconds_bucket"));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
