//! Event notifications (`[[notifications]]`): what happened to which manifest, POSTed to
//! webhooks in CNCF Distribution's envelope (`application/vnd.docker.distribution.events.v1+json`,
//! `{"events":[…]}`), so receivers written for Distribution work unchanged.
//!
//! - [`Notifier::publish`] filters an event per endpoint (actions, repository glob) and appends
//!   it to that endpoint's persistent queue ([`queue`], `<root>/v1/events.db`). The append is a
//!   short local write made before the request is answered — so an event of an acknowledged push
//!   survives a crash — but a push never waits on it for long: past [`ENQUEUE_WAIT`] the write
//!   finishes in the background, and a failed write is logged and counted, never returned.
//! - [`Notifier::start`] runs one delivery worker per endpoint ([`deliver`]): oldest events
//!   first, in batches, retried with exponential backoff until the endpoint answers 2xx; only
//!   then are they removed. Delivery is therefore at-least-once: an event can arrive twice
//!   (after a crash between the POST and the removal), never zero times while it is queued.
//!
//! Layers: called by the HTTP edge (which knows the request, the actor and the URL); calls
//! only its own queue and the network.

mod deliver;
mod event;
pub mod queue;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::config::{Config, NotificationConfig, parse_duration};
use crate::error::{Error, Result};
pub use event::{Action, Actor, Event, RequestRecord, Source, Target};
use queue::Queue;

/// The envelope's media type.
pub const EVENTS_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// How long a request waits for its event to be queued before going on without waiting.
pub const ENQUEUE_WAIT: Duration = Duration::from_secs(2);

/// A configured endpoint, checked.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Where events are POSTed (also the queue's key).
    pub url: String,
    /// The actions it gets.
    pub actions: Vec<Action>,
    /// Repository glob; `None`: all.
    pub repositories: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

impl Endpoint {
    /// Check one `[[notifications]]` entry.
    pub fn from_config(c: &NotificationConfig) -> Result<Endpoint> {
        let bad = |m: String| Error::Config(format!("[[notifications]] {}: {m}", c.url));
        let url = reqwest::Url::parse(&c.url).map_err(|e| bad(format!("invalid url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the url must be http:// or https://".into()));
        }
        let actions = match &c.events {
            None => vec![Action::Push, Action::Delete],
            Some(list) => list
                .iter()
                .map(|s| {
                    Action::parse(s).ok_or_else(|| {
                        bad(format!("unknown event {s:?}: use push, delete or pull"))
                    })
                })
                .collect::<Result<_>>()?,
        };
        if let Some(glob) = &c.repositories {
            crate::auth::scope::check_pattern(glob).map_err(bad)?;
        }
        for (k, v) in &c.headers {
            let ok = reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(v).is_ok();
            if !ok {
                return Err(bad(format!("invalid header {k:?}")));
            }
        }
        let timeout = match &c.timeout {
            Some(t) => parse_duration(t).map_err(bad)?,
            None => Duration::from_secs(5),
        };
        Ok(Endpoint {
            url: c.url.clone(),
            actions,
            repositories: c.repositories.clone(),
            headers: c
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout,
        })
    }

    /// Whether this endpoint gets `action` on `repo`.
    pub fn wants(&self, action: Action, repo: &str) -> bool {
        self.actions.contains(&action)
            && self
                .repositories
                .as_deref()
                .is_none_or(|g| crate::auth::scope::matches(g, repo))
    }
}

/// The notifier: endpoints, their queue, and what identifies this instance.
pub struct Notifier {
    endpoints: Vec<Endpoint>,
    queue: Arc<Queue>,
    wake: HashMap<String, Arc<Notify>>,
    instance_id: String,
    source_addr: OnceLock<String>,
    started: Arc<AtomicBool>,
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl Notifier {
    /// The notifier for `config`, opening its queue under the data root; `None` when no
    /// endpoint is configured.
    pub async fn open(config: &Config) -> Result<Option<Notifier>> {
        if config.notifications.is_empty() {
            return Ok(None);
        }
        let endpoints = config
            .notifications
            .iter()
            .map(Endpoint::from_config)
            .collect::<Result<Vec<_>>>()?;
        let dir = config.root.join("v1");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let queue = Queue::open(&dir.join("events.db")).await?;
        let keys: Vec<String> = endpoints.iter().map(|e| e.url.clone()).collect();
        if let Some(dup) = keys
            .iter()
            .enumerate()
            .find_map(|(i, k)| keys[..i].contains(k).then_some(k))
        {
            // The URL keys the endpoint's queue: two entries would share (and double) it.
            return Err(Error::Config(format!(
                "[[notifications]] {dup}: listed twice; give one entry all its events"
            )));
        }
        let wake = keys
            .iter()
            .map(|k| (k.clone(), Arc::new(Notify::new())))
            .collect();
        Ok(Some(Notifier {
            endpoints,
            queue: Arc::new(queue),
            wake,
            instance_id: uuid::Uuid::new_v4().to_string(),
            source_addr: OnceLock::new(),
            started: Default::default(),
        }))
    }

    /// Whether any endpoint gets `action` on `repo` (so callers skip building unwanted events).
    pub fn wants(&self, action: Action, repo: &str) -> bool {
        self.endpoints.iter().any(|e| e.wants(action, repo))
    }

    /// Events waiting for delivery, all endpoints.
    pub fn pending(&self) -> u64 {
        self.queue.len()
    }

    /// This instance's `source`.
    pub fn source(&self) -> Source {
        Source {
            addr: self
                .source_addr
                .get()
                .cloned()
                .unwrap_or_else(|| format!("{}:0", hostname())),
            instance_id: self.instance_id.clone(),
        }
    }

    /// A new event (id, time and source filled in).
    pub fn event(
        &self,
        action: Action,
        target: Target,
        request: RequestRecord,
        actor: Actor,
    ) -> Event {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Event {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: berth_oci::time::rfc3339(now.as_secs() as i64, Some(now.subsec_nanos())),
            action,
            target,
            request,
            actor,
            source: self.source(),
        }
    }

    /// Queue `event` for every endpoint that wants it. Never fails and never waits long: see
    /// the module documentation.
    pub async fn publish(&self, event: Event) {
        let keys: Vec<String> = self
            .endpoints
            .iter()
            .filter(|e| e.wants(event.action, &event.target.repository))
            .map(|e| e.url.clone())
            .collect();
        if keys.is_empty() {
            return;
        }
        let body = match serde_json::to_string(&event) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an event");
                return;
            }
        };
        let queue = self.queue.clone();
        let wake: Vec<Arc<Notify>> = keys
            .iter()
            .filter_map(|k| self.wake.get(k).cloned())
            .collect();
        let id = event.id.clone();
        let write = tokio::spawn(async move {
            match queue.push(&keys, &body).await {
                Ok(()) => wake.iter().for_each(|w| w.notify_one()),
                Err(e) => {
                    crate::metrics::notification_failure();
                    tracing::error!(error = %e, event = %id, "cannot queue an event; it is lost");
                }
            }
        });
        if tokio::time::timeout(ENQUEUE_WAIT, write).await.is_err() {
            tracing::warn!(event = %event.id, "queueing an event is slow; finishing it in the background");
        }
    }

    /// Name this instance in events by the address it listens on.
    pub fn set_listen_addr(&self, addr: SocketAddr) {
        let _ = self
            .source_addr
            .set(format!("{}:{}", hostname(), addr.port()));
    }

    /// Start the delivery workers (`None` while others run), first dropping the events queued
    /// for endpoints no longer configured (only a serving registry does this, not every
    /// command that opens the data root). The workers stop when the returned handle is
    /// dropped; events in flight then are delivered again later.
    pub fn start(&self) -> Option<Workers> {
        if self.started.swap(true, Ordering::SeqCst) {
            return None;
        }
        let queue = self.queue.clone();
        let keys: Vec<String> = self.wake.keys().cloned().collect();
        let mut tasks = vec![tokio::spawn(async move {
            match queue.retain_endpoints(&keys).await {
                Ok(0) => {}
                Ok(dropped) => {
                    tracing::warn!(
                        dropped,
                        "dropped queued events of endpoints no longer configured"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "cannot drop the events of old endpoints"),
            }
            crate::metrics::notification_queue(queue.len());
        })];
        tasks.extend(self.endpoints.iter().map(|e| {
            let wake = self.wake[&e.url].clone();
            tokio::spawn(deliver::run(e.clone(), self.queue.clone(), wake))
        }));
        Some(Workers {
            tasks,
            started: self.started.clone(),
        })
    }
}

/// The running delivery workers; dropping this stops them (and lets
/// [`Notifier::start`] start new ones).
pub struct Workers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    started: Arc<AtomicBool>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.started.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(toml: &str) -> Result<Endpoint> {
        let c = Config::from_toml(&format!("[[notifications]]\n{toml}")).unwrap();
        Endpoint::from_config(&c.notifications[0])
    }

    #[test]
    fn endpoints_filter_by_action_and_repository() {
        let e = endpoint("url = \"http://127.0.0.1:9/hook\"").unwrap();
        assert!(e.wants(Action::Push, "a/b") && e.wants(Action::Delete, "x"));
        assert!(!e.wants(Action::Pull, "a/b"), "pull only when asked for");
        let e = endpoint(
            "url = \"https://h/hook\"\nevents = [\"pull\"]\nrepositories = \"team-a/**\"\ntimeout = \"250ms\"",
        )
        .unwrap();
        assert!(e.wants(Action::Pull, "team-a/x/y"));
        assert!(!e.wants(Action::Pull, "team-b/x") && !e.wants(Action::Push, "team-a/x"));
        assert_eq!(e.timeout, Duration::from_millis(250));
        for bad in [
            "url = \"ftp://h/x\"",
            "url = \"not a url\"",
            "url = \"http://h/\"\nevents = [\"pusj\"]",
            "url = \"http://h/\"\ntimeout = \"5\"",
            "url = \"http://h/\"\nheaders = { \"a b\" = \"x\" }",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_endpoint_listed_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::from_toml(
            "[[notifications]]\nurl = \"http://h/a\"\n[[notifications]]\nurl = \"http://h/a\"\n",
        )
        .unwrap();
        c.root = dir.path().to_path_buf();
        let e = Notifier::open(&c).await.err().expect("refused");
        assert!(e.to_string().contains("listed twice"), "{e}");
        c.notifications.pop();
        assert!(Notifier::open(&c).await.unwrap().is_some());
        c.notifications.clear();
        assert!(Notifier::open(&c).await.unwrap().is_none());
    }
}
