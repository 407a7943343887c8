//! `berth registry serve`: run the OCI registry on embedded defaults (filesystem blobs, SQLite
//! metadata) or as configured by a TOML file; flags override the file. Without access control
//! (`none`) it serves loopback only, unless told explicitly.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use berth_registry::auth::admin::{Actor, Admin};
use berth_registry::config::{AuthMode, Config, LogFormat, TlsConfig};
use berth_registry::{Registry, server};
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AuthArg {
    None,
    Basic,
    Token,
}

#[derive(Args)]
pub(super) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Data directory [default: ./berth-data].
    #[arg(long)]
    root: Option<PathBuf>,
    /// TOML configuration file; flags given here override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Put the sample image library/hello-world:latest in if it is absent.
    #[arg(long)]
    samples: bool,
    /// Refuse DELETE of blobs and manifests.
    #[arg(long)]
    no_delete: bool,
    /// Accept manifests and indexes referencing content the repository does not hold.
    #[arg(long)]
    sparse_manifests: bool,
    /// PEM certificate chain for TLS (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (needs --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Access control [default: token once the registry has a user, else none (loopback only)].
    #[arg(long, value_enum)]
    auth: Option<AuthArg>,
    /// An Apache htpasswd file (bcrypt, `htpasswd -B`) whose users may log in too.
    #[arg(long)]
    htpasswd: Option<PathBuf>,
    /// The URL clients reach the registry at (the token realm is URL/token) [default: from Host].
    #[arg(long)]
    external_url: Option<String>,
    /// Also write audit records as JSON lines to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
}

impl ServeArgs {
    fn config(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(a) = self.addr {
            c.addr = a;
        }
        if let Some(r) = &self.root {
            c.root = r.clone();
        }
        if self.no_delete {
            c.delete_enabled = false;
        }
        if self.sparse_manifests {
            c.sparse_manifests = true;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.tls = Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        if let Some(m) = self.auth {
            c.auth.mode = Some(match m {
                AuthArg::None => AuthMode::None,
                AuthArg::Basic => AuthMode::Basic,
                AuthArg::Token => AuthMode::Token,
            });
        }
        if let Some(h) = &self.htpasswd {
            c.auth.htpasswd = Some(h.clone());
        }
        if let Some(u) = &self.external_url {
            c.auth.external_url = Some(u.trim_end_matches('/').to_string());
        }
        if let Some(a) = &self.audit_log {
            c.auth.audit_log = Some(a.clone());
        }
        match self.log_format {
            Some(LogFormatArg::Json) => c.log_format = LogFormat::Json,
            Some(LogFormatArg::Text) => c.log_format = LogFormat::Text,
            None => {}
        }
        Ok(c)
    }
}

pub(super) fn serve(args: ServeArgs) -> Result<()> {
    let config = args.config()?;
    crate::commands::init_logging(config.log_format, "info");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking work is short (hash and write one chunk, map one window): a small pool is
        // enough on any core count, and caps memory (each thread is a stack and a malloc arena).
        .max_blocking_threads(16)
        .thread_name("berth-registry")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        std::fs::create_dir_all(&config.root)
            .with_context(|| format!("cannot create data root {}", config.root.display()))?;
        let tls = config.tls.as_ref().map(server::tls_acceptor).transpose()?;
        let registry = Registry::open(config.clone())
            .await
            .with_context(|| format!("cannot open the registry at {}", config.root.display()))?;
        registry.set_config_file(args.config.clone());
        check_exposure(&config, registry.auth().mode())?;
        if args.samples
            && registry
                .add_samples()
                .await
                .context("cannot add the sample images")?
        {
            tracing::info!("added sample image library/hello-world:latest");
            // The sample is there for the offline first run: anyone may pull it (an admin can
            // turn that off; it is not turned on again).
            let admin = Admin::new(registry.auth().audit_log().clone());
            admin
                .set_public(&Actor::local(), "library/*", true)
                .await
                .context("cannot make library/* public")?;
        }
        tracing::info!(mode = registry.auth().mode().as_str(), "access control");
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let local = listener.local_addr()?;
        let registry = Arc::new(registry);
        reload_on_sighup(registry.clone())?;
        registry
            .schedule_gc()
            .context("cannot schedule garbage collection")?;
        if let Some(addr) = config.metrics.addr {
            // Metrics, health and readiness on their own (private) address.
            let ops = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} ([metrics] addr)"))?;
            tracing::info!(addr = %ops.local_addr()?, "metrics listening");
            tokio::spawn(server::serve_ops(
                registry.clone(),
                ops,
                std::future::pending(),
            ));
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(addr = %local, root = %config.root.display(), "registry ready");
        let mut out = std::io::stdout();
        writeln!(out, "berth registry listening on {scheme}://{local}")?;
        out.flush()?;
        server::serve(registry.clone(), listener, tls, shutdown_signal()).await?;
        if let Err(e) = registry.flush_pulls().await {
            tracing::warn!(error = %e, "cannot record the last pull times");
        }
        Ok(())
    })
}

/// Without access control, serve loopback only — unless `none` was asked for explicitly (flag
/// or config), and then say loudly what that means.
fn check_exposure(config: &Config, mode: AuthMode) -> Result<()> {
    if mode != AuthMode::None || config.addr.ip().is_loopback() {
        return Ok(());
    }
    if config.auth.mode != Some(AuthMode::None) {
        anyhow::bail!(
            "refusing to serve {} without access control: add a user first \
             (berth registry user add NAME --admin), or pass --auth none to let anyone who can \
             reach it push, overwrite and delete images",
            config.addr
        );
    }
    tracing::warn!(
        addr = %config.addr,
        "access control is off (--auth none): anyone who can reach this address can push, overwrite and delete images"
    );
    Ok(())
}

/// On SIGHUP, re-read the configuration file's retention, quota and immutable-tag rules (a
/// file that does not parse leaves the rules in force). The handler is installed before the
/// server says it is listening, so a SIGHUP never finds the default action (exit).
fn reload_on_sighup(registry: Arc<Registry>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the configuration");
            if let Err(e) = registry.reload_config() {
                tracing::error!(error = %e, "configuration not reloaded; the rules in force stay");
            }
        }
    });
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
