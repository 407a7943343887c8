//! `berth volume COMMAND`: Docker's volume commands (`create`, `ls`, `inspect`, `rm`,
//! `prune`) over the local volumes `volumes` keeps; containers are read to tell which volumes
//! are in use.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use serde_json::json;

use super::context::{Context, human_size, print_table};
use super::prune::confirm;
use super::volumes::{self, Volume};

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
    let v = volumes::create(&ctx.config.root, args.name.as_deref(), labels(&args.labels))?;
    println!("{}", v.name);
    Ok(())
}

/// The `volume ls` filters: keys are ANDed, values of one key ORed (as Docker does).
struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    fn parse(list: &[String]) -> Result<Filters> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in list {
            let Some((k, v)) = f.split_once('=') else {
                bail!("bad format of filter (expected name=value)");
            };
            match k {
                "dangling" if !["true", "false", "1", "0"].contains(&v) => {
                    bail!("invalid filter 'dangling={v}'")
                }
                "dangling" | "name" | "label" | "driver" => {}
                _ => bail!("invalid filter '{k}'"),
            }
            map.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(Filters(map))
    }

    fn matches(&self, v: &Volume, in_use: bool) -> bool {
        self.0.iter().all(|(k, values)| {
            values.iter().any(|want| match k.as_str() {
                "dangling" => matches!(want.as_str(), "true" | "1") != in_use,
                "name" => v.name.contains(want.as_str()),
                "driver" => want == "local",
                _ => match want.split_once('=') {
                    Some((lk, lv)) => v.labels.get(lk).is_some_and(|have| have == lv),
                    None => v.labels.contains_key(want.as_str()),
                },
            })
        })
    }
}

async fn ls(ctx: &Context, args: LsArgs) -> Result<()> {
    let filters = Filters::parse(&args.filters)?;
    let containers = ctx.store.containers().await?;
    let list: Vec<Volume> = volumes::list(&ctx.config.root)?
        .into_iter()
        .filter(|v| filters.matches(v, !volumes::users(&containers, &v.name).is_empty()))
        .collect();
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
        match volumes::get(&ctx.config.root, n)? {
            Some(v) => found.push(v.inspect_json()),
            None => {
                if let Some(prev) = missing.replace(anyhow!("get {n}: no such volume")) {
                    eprintln!("berth: error: {prev}");
                }
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&found)?);
    missing.map_or(Ok(()), Err)
}

async fn rm(ctx: &Context, args: RmArgs) -> Result<()> {
    let containers = ctx.store.containers().await?;
    let force = args.force;
    let containers = &containers;
    super::container::each(&args.names, |n| async move {
        if volumes::get(&ctx.config.root, &n)?.is_none() {
            if force {
                return Ok(());
            }
            bail!("get {n}: no such volume");
        }
        let users = volumes::users(containers, &n);
        if !users.is_empty() {
            bail!("remove {n}: volume is in use - [{}]", users.join(", "));
        }
        volumes::remove(&ctx.config.root, &n)?;
        println!("{n}");
        Ok(())
    })
    .await
}

async fn prune(ctx: &Context, args: PruneArgs) -> Result<()> {
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
    let containers = ctx.store.containers().await?;
    let (mut deleted, mut bytes) = (vec![], 0);
    for v in volumes::list(&ctx.config.root)? {
        if (args.all || v.anonymous()) && volumes::users(&containers, &v.name).is_empty() {
            bytes += volumes::remove(&ctx.config.root, &v.name)?;
            deleted.push(v.name);
        }
    }
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
