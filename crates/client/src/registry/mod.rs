//! The Distribution API client: the calls `berth pull`, `push` and `login` make against a
//! registry, over plain HTTP or TLS as [`Config`] says, through its mirrors for pulls, and with
//! Docker's auth (token flow or Basic) using the [`CredentialStore`].
//!
//! Layers: `transport` sends one request with auth, retrying once after a challenge, and turns
//! failures into [`Error`]s; `pull` and `push` build the API calls on top; `auth` parses
//! challenges and caches tokens. Nothing here touches the image store.
//!
//! ```no_run
//! # async fn f() -> berth_client::Result<()> {
//! use berth_client::config::Config;
//! use berth_client::credentials::CredentialStore;
//! use berth_client::registry::Client;
//!
//! let config = Config::load()?;
//! let client = Client::new(&config, CredentialStore::from_env())?;
//! let r = berth_oci::Reference::parse_with_default("hello-world", &config.default_registry)?;
//! let manifest = client.get_manifest(&r).await?;
//! println!("{} {}", manifest.digest, manifest.media_type);
//! # Ok(()) }
//! ```

/// Evaluate `$call` (a future using `$ep`) against each pull endpoint of `$registry` in turn
/// until one succeeds; the last error (the registry's own) is returned when all fail. A macro
/// rather than a function taking an async closure, so the futures stay `Send`.
macro_rules! on_pull_endpoints {
    ($client:expr, $registry:expr, |$ep:ident| $call:expr) => {{
        let mut endpoints = $client.pull_endpoints($registry);
        let last = endpoints.pop().expect("the registry itself");
        let mut found = None;
        for $ep in endpoints {
            match $call.await {
                Ok(v) => {
                    found = Some(v);
                    break;
                }
                Err(e) => tracing::debug!(mirror = %$ep.host, error = %e, "mirror failed, next"),
            }
        }
        match found {
            Some(v) => Ok(v),
            None => {
                let $ep = last;
                $call.await
            }
        }
    }};
}

pub mod auth;
mod pull;
mod push;
mod transport;

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::Stream;

use crate::config::{Config, normalize_registry};
use crate::credentials::CredentialStore;
use crate::error::{Error, Result};
use auth::AuthCache;

/// Blobs at least this big are pushed in chunks rather than in one request.
pub const DEFAULT_CHUNK_THRESHOLD: u64 = 32 * 1024 * 1024;

/// Where Docker Hub's registry API actually lives.
const DOCKER_HUB_API: &str = "https://registry-1.docker.io";

/// Progress callback: the number of bytes done so far (absolute, not a delta).
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// A manifest as the registry sent it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The exact bytes (their digest is [`FetchedManifest::digest`]).
    pub bytes: Bytes,
    /// The media type from `Content-Type`, else from the manifest's `mediaType` field.
    pub media_type: String,
    /// The verified digest of `bytes`.
    pub digest: Digest,
}

/// A blob download in progress.
pub struct BlobStream {
    /// Where the stream starts in the blob: the offset asked for, or 0 when the registry
    /// ignored the range and sends the whole blob.
    pub offset: u64,
    /// The blob's full size, when the registry said.
    pub total: Option<u64>,
    /// The bytes from `offset` on.
    pub stream: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("offset", &self.offset)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// A registry client; cheap to clone (clones share connections and the token cache).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    chunk_threshold: u64,
}

struct Inner {
    config: Config,
    creds: CredentialStore,
    /// One HTTP client per extra CA file (`None`: system roots only).
    http: Mutex<HashMap<Option<PathBuf>, reqwest::Client>>,
    auth: AuthCache,
}

/// One base URL to talk to: a registry or one of its mirrors.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The registry name (`host[:port]`): credentials, tokens and errors are filed under it.
    pub host: String,
    /// `scheme://authority[/prefix]`, no trailing slash.
    pub base: String,
}

impl Client {
    /// A client for the registries `config` describes, logging in with `creds`.
    pub fn new(config: &Config, creds: CredentialStore) -> Result<Client> {
        let client = Client {
            inner: Arc::new(Inner {
                config: config.clone(),
                creds,
                http: Mutex::new(HashMap::new()),
                auth: AuthCache::default(),
            }),
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
        };
        client.http("")?;
        Ok(client)
    }

    /// Push blobs of at least `bytes` in chunks of that size (PATCH with `Content-Range`),
    /// smaller ones in one request. Mostly for tests; the default is
    /// [`DEFAULT_CHUNK_THRESHOLD`].
    pub fn with_chunk_threshold(mut self, bytes: u64) -> Client {
        self.chunk_threshold = bytes.max(1);
        self
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The endpoint of `registry` itself.
    pub(crate) fn endpoint(&self, registry: &str) -> Endpoint {
        let host = normalize_registry(registry);
        let base = if host == crate::config::DOCKER_HUB {
            DOCKER_HUB_API.to_string()
        } else if self.inner.config.is_insecure(&host) {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        };
        Endpoint { host, base }
    }

    /// Where pulls from `registry` go, in order: its mirrors, then the registry itself.
    pub(crate) fn pull_endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = (self.inner.config.mirrors(registry).iter())
            .map(|m| {
                let m = m.trim().trim_end_matches('/');
                if m.starts_with("http://") || m.starts_with("https://") {
                    Endpoint {
                        host: normalize_registry(m),
                        base: m.to_string(),
                    }
                } else {
                    self.endpoint(m)
                }
            })
            .collect();
        out.push(self.endpoint(registry));
        out
    }

    /// The HTTP client for `registry`, trusting its extra CA file if it has one.
    pub(crate) fn http(&self, registry: &str) -> Result<reqwest::Client> {
        let ca = if registry.is_empty() {
            None
        } else {
            self.inner.config.ca_file(registry)
        };
        let mut clients = self.inner.http.lock().expect("http clients");
        if let Some(c) = clients.get(&ca) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::limited(10));
        if let Some(path) = &ca {
            let pem = std::fs::read(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let bad = |reason: String| Error::Certificate {
                path: path.clone(),
                reason,
            };
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate found".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| Error::Transport {
            registry: registry.to_string(),
            what: "setting up HTTP".into(),
            reason: e.to_string(),
        })?;
        clients.insert(ca, client.clone());
        Ok(client)
    }
}

/// `repository:<repo>:<actions>`, the token scope for a repository.
pub(crate) fn repo_scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(toml: &str) -> Client {
        let config = Config::from_toml(toml).unwrap();
        Client::new(
            &config,
            CredentialStore::at("/nonexistent/config.json".into()),
        )
        .unwrap()
    }

    #[test]
    fn endpoints_follow_the_config() {
        let c = client(
            r#"
insecure_registries = ["plain.example:5000"]
[registries."docker.io"]
mirrors = ["mirror.example", "http://127.0.0.1:5001/"]
"#,
        );
        assert_eq!(c.endpoint("docker.io").base, "https://registry-1.docker.io");
        assert_eq!(c.endpoint("index.docker.io").host, "docker.io");
        assert_eq!(c.endpoint("127.0.0.1:5000").base, "http://127.0.0.1:5000");
        assert_eq!(c.endpoint("localhost:5000").base, "http://localhost:5000");
        assert_eq!(
            c.endpoint("plain.example:5000").base,
            "http://plain.example:5000"
        );
        assert_eq!(c.endpoint("ghcr.io").base, "https://ghcr.io");
        let eps: Vec<_> = c
            .pull_endpoints("docker.io")
            .into_iter()
            .map(|e| e.base)
            .collect();
        assert_eq!(
            eps,
            [
                "https://mirror.example",
                "http://127.0.0.1:5001",
                "https://registry-1.docker.io"
            ]
        );
        assert_eq!(c.pull_endpoints("ghcr.io").len(), 1);
    }

    #[test]
    fn a_missing_ca_file_is_reported() {
        let c = client("[registries.\"secure.example\"]\nca_file = \"/nonexistent/ca.pem\"\n");
        let e = c.http("secure.example").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
