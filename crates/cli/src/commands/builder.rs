//! `berth builder prune [-f]`: forget the build cache (step records, cache mounts, scratch
//! files) and delete the layers only the cache kept, as `docker builder prune -a` does.

use anyhow::Result;

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
    super::prune::prune_build_cache(super::prune::PruneArgs { force }).await
}
