//! One endpoint's delivery worker: POST the oldest queued events (up to [`BATCH`] in one
//! envelope), remove them once the endpoint answers 2xx, otherwise wait and retry the same
//! batch, the wait doubling from [`BACKOFF_MIN`] to [`BACKOFF_MAX`]. Events therefore reach an
//! endpoint in the order they were queued.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::queue::{Queue, Queued};
use super::{EVENTS_MEDIA_TYPE, Endpoint};

/// Events per POST.
pub const BATCH: u32 = 32;
/// The first wait after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often an idle worker looks at the queue even without being woken.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// The envelope around already-encoded events.
pub fn envelope(events: &[Queued]) -> String {
    let mut out = String::from("{\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.body);
    }
    out.push_str("]}");
    out
}

/// The wait after `failures` failed attempts in a row.
pub fn backoff(failures: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

fn client(ep: &Endpoint) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &ep.headers {
        // Checked when the configuration was read.
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) {
            headers.insert(k, v);
        }
    }
    reqwest::Client::builder()
        .timeout(ep.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .user_agent(concat!("berth-registry/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

async fn post(client: &reqwest::Client, ep: &Endpoint, body: String) -> Result<(), String> {
    let resp = client
        .post(&ep.url)
        .header("content-type", EVENTS_MEDIA_TYPE)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // Without the URL: its query could hold a secret.
            e.without_url().to_string()
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

/// Deliver `ep`'s events from `queue` for as long as the task runs.
pub async fn run(ep: Endpoint, queue: Arc<Queue>, wake: Arc<Notify>) {
    let client = client(&ep);
    let mut failures = 0u32;
    loop {
        let batch = match queue.peek(&ep.url, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the event queue");
                tokio::time::sleep(BACKOFF_MAX).await;
                continue;
            }
        };
        if batch.is_empty() {
            let _ = tokio::time::timeout(IDLE_POLL, wake.notified()).await;
            continue;
        }
        match post(&client, &ep, envelope(&batch)).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(after = failures, "notification endpoint reachable again");
                }
                failures = 0;
                let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
                crate::metrics::notifications_sent(ids.len() as u64);
                if let Err(e) = queue.remove(&ep.url, &ids).await {
                    // They will be sent again: at-least-once.
                    tracing::error!(error = %e, "cannot remove delivered events from the queue");
                    tokio::time::sleep(BACKOFF_MAX).await;
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                crate::metrics::notification_failure();
                let wait = backoff(failures);
                // Every failure at first, then only now and then: an endpoint down for a day
                // must not flood the log.
                if failures <= 3 || failures.is_power_of_two() {
                    tracing::warn!(
                        error = %e, failures, pending = queue.pending(&ep.url),
                        retry_in_ms = wait.as_millis() as u64, "cannot deliver notifications"
                    );
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), BACKOFF_MIN);
        assert_eq!(backoff(2), BACKOFF_MIN * 2);
        assert_eq!(backoff(3), BACKOFF_MIN * 4);
        assert_eq!(backoff(30), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn envelope_wraps_events() {
        let q = |id, body: &str| Queued {
            id,
            body: body.into(),
        };
        assert_eq!(envelope(&[]), "{\"events\":[]}");
        let e = envelope(&[q(1, "{\"a\":1}"), q(2, "{\"b\":2}")]);
        let v: serde_json::Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["events"][1]["b"], 2);
    }
}
