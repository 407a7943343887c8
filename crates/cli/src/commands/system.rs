//! `berth system df` (disk space used by images, containers, volumes and the build cache, and
//! how much a prune would give back, from [`berth_engine::Engine::disk_usage`]) and
//! `berth system prune [-a] [-f]`.

use anyhow::Result;
use berth_engine::system::UsageLine;

use super::context::{Context, human_size, print_table};
use super::prune::SystemPruneArgs;

/// `berth system`
#[derive(clap::Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    command: SystemCommand,
}

#[derive(clap::Subcommand)]
enum SystemCommand {
    /// Show disk usage.
    Df,
    /// Remove stopped containers, unused images and the build cache.
    Prune(SystemPruneArgs),
}

/// Run `berth system …`.
pub async fn run(args: SystemArgs) -> Result<()> {
    match args.command {
        SystemCommand::Df => df().await,
        SystemCommand::Prune(a) => super::prune::prune_system(a).await,
    }
}

/// `SIZE (PERCENT%)` of `part` in `whole`.
fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return human_size(part);
    }
    format!("{} ({}%)", human_size(part), part * 100 / whole)
}

/// One `system df` row.
fn row(kind: &str, l: &UsageLine, reclaimable: String) -> Vec<String> {
    vec![
        kind.into(),
        l.total.to_string(),
        l.active.to_string(),
        human_size(l.size),
        reclaimable,
    ]
}

async fn df() -> Result<()> {
    let ctx = Context::open().await?;
    let du = ctx.disk_usage().await?;
    let rows = vec![
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .map(String::from)
            .to_vec(),
        row(
            "Images",
            &du.images,
            share(du.images.reclaimable, du.images.size),
        ),
        row(
            "Containers",
            &du.containers,
            share(du.containers.reclaimable, du.containers.size),
        ),
        row(
            "Local Volumes",
            &du.volumes,
            share(du.volumes.reclaimable, du.volumes.size),
        ),
        row(
            "Build Cache",
            &du.build_cache,
            human_size(du.build_cache.reclaimable),
        ),
    ];
    print_table(&rows);
    Ok(())
}
