//! Serving the API: a TCP listener, optional TLS (rustls), HTTP/1.1 and HTTP/2, and a graceful
//! shutdown that stops accepting, then lets requests in flight finish (up to a grace period).
//! While it serves, the notification workers deliver queued events. [`serve_ops`] serves the
//! operational endpoints alone on a separate listener (`[metrics] addr`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::error::{Error, Result};
use crate::http;
use crate::service::Registry;

/// Memory shared out as HTTP/1 read buffers among the open connections.
const READ_BUDGET: usize = 2 * 1024 * 1024;
/// Bounds of one connection's read buffer.
const READ_BUF_MIN: usize = 64 * 1024;
const READ_BUF_MAX: usize = 512 * 1024;

/// The read buffer a new connection gets when `open` connections (itself included) are open.
/// A lone upload gets large reads (few syscalls and hand-offs per byte); under many concurrent
/// uploads each gets a small one, because a body chunk a handler holds pins one buffer.
pub fn read_buffer_for(open: usize) -> usize {
    (READ_BUDGET / open.max(1)).clamp(READ_BUF_MIN, READ_BUF_MAX)
}

/// How long requests in flight may take to finish after shutdown begins.
pub const GRACE: Duration = Duration::from_secs(30);

/// Counts a connection as open until dropped.
struct OpenConnection {
    counter: Arc<AtomicUsize>,
    open: usize,
}

impl OpenConnection {
    fn new(counter: &Arc<AtomicUsize>) -> OpenConnection {
        let open = counter.fetch_add(1, Ordering::Relaxed) + 1;
        OpenConnection {
            counter: counter.clone(),
            open,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Build a TLS acceptor from PEM files.
pub fn tls_acceptor(tls: &TlsConfig) -> Result<TlsAcceptor> {
    let cfg_err = |m: String| Error::Config(m);
    let certs = {
        let pem = std::fs::read(&tls.cert).map_err(|e| Error::io(&tls.cert, e))?;
        rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| cfg_err(format!("{}: {e}", tls.cert.display())))?
    };
    if certs.is_empty() {
        return Err(cfg_err(format!(
            "{}: no certificate found",
            tls.cert.display()
        )));
    }
    let key = {
        let pem = std::fs::read(&tls.key).map_err(|e| Error::io(&tls.key, e))?;
        rustls_pemfile::private_key(&mut pem.as_slice())
            .map_err(|e| cfg_err(format!("{}: {e}", tls.key.display())))?
            .ok_or_else(|| cfg_err(format!("{}: no private key found", tls.key.display())))?
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cfg_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| cfg_err(format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serve `registry` on `listener` until `shutdown` completes.
pub async fn serve(
    registry: Arc<Registry>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // Events queued before a restart are delivered as soon as the registry serves again.
    let workers = registry.notifier().and_then(|n| {
        if let Ok(addr) = listener.local_addr() {
            n.set_listen_addr(addr);
        }
        n.start()
    });
    let app = http::router(registry);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    let open = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(http::ClientAddr(peer));
                req
            },
        ));
        let mut builder = builder.clone();
        let count = OpenConnection::new(&open);
        builder.http1().max_buf_size(read_buffer_for(count.open));
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _count = count;
            let result = match tls {
                None => {
                    watcher
                        .watch(
                            builder
                                .serve_connection(TokioIo::new(stream), svc)
                                .into_owned(),
                        )
                        .await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(s), svc).into_owned())
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "tls handshake failed");
                        return;
                    }
                },
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for requests in flight");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(GRACE) => tracing::warn!("grace period over; closing remaining connections"),
    }
    drop(workers);
    Ok(())
}

/// Serve `/metrics`, `/healthz` and `/readyz` of `registry` on `listener` (plain HTTP, no access
/// control) until `shutdown` completes.
pub async fn serve_ops(
    registry: Arc<Registry>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let app = http::ops_router(registry);
    let builder = Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let svc = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        tokio::spawn(async move {
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_shrink_as_connections_grow() {
        assert_eq!(read_buffer_for(0), READ_BUF_MAX);
        assert_eq!(read_buffer_for(1), READ_BUF_MAX);
        assert_eq!(read_buffer_for(8), 256 * 1024);
        assert_eq!(read_buffer_for(64), READ_BUF_MIN);
        assert_eq!(read_buffer_for(10_000), READ_BUF_MIN);
    }
}
