//! `berth registry ...`: serve the registry, and administer its access control (users, teams,
//! grants, public scopes, robot tokens, the audit log) straight in its data root — the server,
//! running or not, sees each change at once.

mod admin;
mod ops;
mod policy;
mod serve;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use berth_registry::Registry;
use berth_registry::config::Config;
use clap::{Args, Subcommand};

/// `berth registry ...`
#[derive(Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve the registry API (OCI Distribution v1.1 / Docker Registry HTTP API v2).
    Serve(serve::ServeArgs),
    /// Manage the registry's users.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage teams (named groups of users, granted roles as `@team`).
    #[command(subcommand)]
    Team(admin::TeamCommand),
    /// Grant a role on a repository scope to a user or @team.
    Grant(admin::GrantArgs),
    /// Remove grants of a user or @team on a scope.
    Revoke(admin::RevokeArgs),
    /// List every grant.
    Grants(admin::GrantsArgs),
    /// Let anyone (no login) pull from a scope, or stop that; without arguments, list.
    Public(admin::PublicArgs),
    /// Robot tokens for CI/CD: secrets that log in as a user, limited to scopes.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Show the audit log.
    Audit(admin::AuditArgs),
    /// The token-signing key's certificate and key set, for registries that trust berth.
    #[command(subcommand)]
    Auth(admin::AuthCommand),
    /// Untag what the [[retention]] rules do not keep (--dry-run: only show it).
    Retention(policy::RetentionArgs),
    /// Storage used per repository and namespace (unique and shared bytes), against quotas.
    Du(policy::DuArgs),
    /// A repository's tags with their push and pull times.
    Tags(policy::TagsArgs),
    /// Remove what nothing uses (unreferenced blobs and, with --untagged, manifests; expired
    /// uploads), safely while the server runs.
    Gc(ops::GcArgs),
    /// Re-hash every blob; report (and with --repair quarantine and unlink) bad ones.
    Scrub(ops::ScrubArgs),
}

/// Where the registry keeps its data: `--root` and `--config`, as `serve` takes them.
#[derive(Args, Clone, Default)]
pub struct Location {
    /// Data directory [default: ./berth-data].
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// TOML configuration file; flags given here override it.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// The htpasswd file the server reads, so that grants may name its users.
    #[arg(long, global = true)]
    htpasswd: Option<PathBuf>,
}

impl Location {
    /// The configuration these flags name.
    fn load(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(r) = &self.root {
            c.root = r.clone();
        }
        if let Some(h) = &self.htpasswd {
            c.auth.htpasswd = Some(h.clone());
        }
        Ok(c)
    }
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The registry of the data root `at` names (which must hold one).
pub(super) async fn open_registry(at: &Location) -> Result<Registry> {
    let config = at.load()?;
    if !config.root.join("v1").join("metadata.db").exists() {
        bail!(
            "no registry data in {}: pass the --root (or --config) the server uses",
            config.root.display()
        );
    }
    Registry::open(config.clone())
        .await
        .with_context(|| format!("cannot open the registry at {}", config.root.display()))
}

/// Run `berth registry ...`.
pub fn run(args: RegistryArgs) -> Result<()> {
    match args.command {
        RegistryCommand::Serve(a) => serve::serve(a),
        RegistryCommand::User(c) => admin::user(c),
        RegistryCommand::Team(c) => admin::team(c),
        RegistryCommand::Grant(a) => admin::grant(a),
        RegistryCommand::Revoke(a) => admin::revoke(a),
        RegistryCommand::Grants(a) => admin::grants(a),
        RegistryCommand::Public(a) => admin::public(a),
        RegistryCommand::Token(c) => admin::token(c),
        RegistryCommand::Audit(a) => admin::audit(a),
        RegistryCommand::Auth(c) => admin::auth(c),
        RegistryCommand::Retention(a) => policy::retention(a),
        RegistryCommand::Du(a) => policy::du(a),
        RegistryCommand::Tags(a) => policy::tags(a),
        RegistryCommand::Gc(a) => ops::gc(a),
        RegistryCommand::Scrub(a) => ops::scrub(a),
    }
}
