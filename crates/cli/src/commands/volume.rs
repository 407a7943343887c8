//! `berth volume COMMAND`: Docker's volume commands (`create`, `ls`, `inspect`, `rm`,
//! `prune`): the engine's volume operations (`Engine::volume_*`, `Engine::prune_volumes`),
//! formatted as Docker prints them.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use berth_engine::prune::{PruneFilters, Pruned};
use berth_engine::volumes::VolumeFilters;
use clap::Subcommand;
use serde_json::json;

use super::context::{Context, human_size, print_table};
use super::prune::confirm;

/// `berth volume`
#[derive(clap::Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    command: VolumeCommand,
}

#[derive(Subcommand)]
enum VolumeCommand {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on volumes.
    Inspect(InspectArgs),
    /// Remove volumes (not while a container uses them).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused anonymous volumes (all unused ones with `-a`).
    Prune(PruneArgs),
}

/// `berth volume create`
#[derive(clap::Args)]
struct CreateArgs {
    /// Set metadata on the volume (KEY=VALUE or KEY).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// The volume's name (default: a random one).
    name: Option<String>,
}

/// `berth volume ls`
#[derive(clap::Args)]
struct LsArgs {
    /// Only show volume names.
    #[arg(short, long)]
    quiet: bool,
    /// Output format: `json` (one object per line) or `table`.
    #[arg(long)]
    format: Option<String>,
    /// Filter: `dangling=true|false`, `name=TEXT`, `label=KEY` or `label=KEY=VALUE`.
    #[arg(short, long = "filter")]
    filters: Vec<String>,
}

/// `berth volume inspect`
#[derive(clap::Args)]
struct InspectArgs {
    /// The volumes.
    #[arg(required = true)]
    names: Vec<String>,
}

/// `berth volume rm`
#[derive(clap::Args)]
struct RmArgs {
    /// Do not fail on volumes that do not exist.
    #[arg(short, long)]
    force: bool,
    /// The volumes.
    #[arg(required = true)]
    names: Vec<String>,
}

/// `berth volume prune`
#[derive(clap::Args)]
struct PruneArgs {
    /// Remove every unused volume, not just anonymous ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Filter: `label=KEY[=VALUE]` or `label!=KEY[=VALUE]`.
    #[arg(long = "filter")]
    filters: Vec<String>,
}

/// Run `berth volume COMMAND`.
pub async fn run(args: VolumeArgs) -> Result<()> {
    let ctx = Context::open().await?;
    match args.command {
        VolumeCommand::Create(a) => create(&ctx, a),
        VolumeCommand::Ls(a) => ls(&ctx, a).await,
        VolumeCommand::Inspect(a) => inspect(&ctx, a),
        VolumeCommand::Rm(a) => rm(&ctx, a).await,
        VolumeCommand::Prune(a) => prune(&ctx, a).await,
    }
}

/// `KEY=VALUE` (or `KEY`, with an empty value) pairs.
fn labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn create(ctx: &Context, args: CreateArgs) -> Result<()> {
    let v = ctx.volume_create(args.name.as_deref(), labels(&args.labels))?;
    println!("{}", v.name);
    Ok(())
}

async fn ls(ctx: &Context, args: LsArgs) -> Result<()> {
    let list = ctx
        .volume_list(&VolumeFilters::parse(&args.filters)?)
        .await?;
    if args.quiet {
        for v in &list {
            println!("{}", v.name);
        }
        return Ok(());
    }
    match args.format.as_deref() {
        Some("json") => {
            for v in &list {
                let labels: Vec<String> = v
                    .labels
                    .iter()
                    .map(|(k, val)| format!("{k}={val}"))
                    .collect();
                let line = json!({
                    "Availability": "N/A", "Driver": "local", "Group": "N/A",
                    "Labels": labels.join(","), "Links": "N/A", "Mountpoint": v.mountpoint,
                    "Name": v.name, "Scope": "local", "Size": "N/A", "Status": "N/A",
                });
                println!("{line}");
            }
            return Ok(());
        }
        None | Some("table") => {}
        Some(f) => bail!("unsupported --format {f:?}: use json or table"),
    }
    let mut rows = vec![vec!["DRIVER".to_string(), "VOLUME NAME".to_string()]];
    rows.extend(
        list.iter()
            .map(|v| vec!["local".to_string(), v.name.clone()]),
    );
    print_table(&rows);
    Ok(())
}

fn inspect(ctx: &Context, args: InspectArgs) -> Result<()> {
    let (mut found, mut missing) = (vec![], None);
    for n in &args.names {
        match ctx.volume_inspect(n) {
            Ok(v) => found.push(v.inspect_json()),
            Err(e) => {
                if let Some(prev) = missing.replace(volume_error(e)) {
                    eprintln!("berth: error: {prev}");
                }
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&found)?);
    missing.map_or(Ok(()), Err)
}

/// An engine error as the volume commands word it (`get NAME: no such volume`, as Docker's).
fn volume_error(e: berth_engine::Error) -> anyhow::Error {
    match e {
        berth_engine::Error::NotFound { name, .. } => anyhow!("get {name}: no such volume"),
        e => e.into(),
    }
}

async fn rm(ctx: &Context, args: RmArgs) -> Result<()> {
    let force = args.force;
    super::container::each(&args.names, |n| async move {
        if ctx.volume_remove(&n, force).await.map_err(volume_error)? {
            println!("{n}");
        }
        Ok(())
    })
    .await
}

async fn prune(ctx: &Context, args: PruneArgs) -> Result<()> {
    let filters = PruneFilters::parse(&args.filters)?;
    if !args.force {
        let which = if args.all {
            "all local volumes"
        } else {
            "anonymous local volumes"
        };
        println!("WARNING! This will remove {which} not used by at least one container.");
        if !confirm("Are you sure you want to continue?") {
            return Ok(());
        }
    }
    let Pruned { deleted, bytes } = ctx.prune_volumes(args.all, &filters).await?;
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for n in &deleted {
            println!("{n}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(bytes));
    Ok(())
}
