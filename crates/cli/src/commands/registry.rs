//! `berth registry serve`: run the OCI registry on embedded defaults (filesystem blobs, SQLite
//! metadata) or as configured by a TOML file; flags override the file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use berth_registry::config::{Config, LogFormat, TlsConfig};
use berth_registry::{Registry, server};
use clap::{Args, Subcommand, ValueEnum};

/// `berth registry ...`
#[derive(Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve the registry API (OCI Distribution v1.1 / Docker Registry HTTP API v2).
    Serve(ServeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Args)]
struct ServeArgs {
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
        match self.log_format {
            Some(LogFormatArg::Json) => c.log_format = LogFormat::Json,
            Some(LogFormatArg::Text) => c.log_format = LogFormat::Text,
            None => {}
        }
        Ok(c)
    }
}

/// Run `berth registry ...`.
pub fn run(args: RegistryArgs) -> Result<()> {
    match args.command {
        RegistryCommand::Serve(a) => serve(a),
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let config = args.config()?;
    super::init_logging(config.log_format, "info");
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
        if args.samples
            && registry
                .add_samples()
                .await
                .context("cannot add the sample images")?
        {
            tracing::info!("added sample image library/hello-world:latest");
        }
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(addr = %local, root = %config.root.display(), "registry ready");
        let mut out = std::io::stdout();
        writeln!(out, "berth registry listening on {scheme}://{local}")?;
        out.flush()?;
        server::serve(Arc::new(registry), listener, tls, shutdown_signal()).await?;
        Ok(())
    })
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
