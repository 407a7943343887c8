//! `berth builder prune [-f]`: forget the build cache (step records, cache mounts, scratch
//! files) and delete the layers only the cache kept, as `docker builder prune -a` does.

use anyhow::Result;

use super::context::{Context, human_size};

/// `berth builder`
#[derive(clap::Args)]
pub struct BuilderArgs {
    #[command(subcommand)]
    command: BuilderCommand,
}

#[derive(clap::Subcommand)]
enum BuilderCommand {
    /// Remove the build cache.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

/// Run `berth builder …`.
pub async fn run(args: BuilderArgs) -> Result<()> {
    let BuilderCommand::Prune { force } = args.command;
    if !force
        && !super::prune::confirm(
            "WARNING! This will remove all build cache.\nAre you sure you want to continue?",
        )
    {
        return Ok(());
    }
    let ctx = Context::open().await?;
    let (layers, mut freed) = berth_build::builder::prune_cache(&ctx.config.root);
    let sizes: Vec<u64> = layers
        .iter()
        .map(|d| ctx.store.blobs().size(d).unwrap_or(0))
        .collect();
    let deleted = ctx.store.discard_unreferenced(&layers).await?;
    for (d, size) in layers.iter().zip(sizes) {
        if deleted.contains(d) {
            freed += size;
        }
    }
    // Their unpacked copies in the layer cache too.
    let cache = berth_runtime::rootfs::LayerCache::open(&ctx.config.root)?;
    for d in &deleted {
        cache.remove(d)?;
    }
    if !deleted.is_empty() {
        println!("Deleted build cache objects:");
        for d in &deleted {
            println!("{d}");
        }
    }
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(())
}
