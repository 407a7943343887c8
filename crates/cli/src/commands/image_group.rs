//! `berth image COMMAND`: Docker's management-command spellings of the image commands
//! (`image ls`, `image rm`, `image history`…) and `image prune`, which removes dangling images
//! (untagged), or with `-a` every image no container uses, and says how much space came back.

use anyhow::Result;
use clap::Subcommand;

use super::context::{Context, human_size};
use super::{build, history, images, pull, push};

/// `berth image`
#[derive(clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

/// `berth image prune`
#[derive(clap::Args)]
pub struct ImagePruneArgs {
    /// Remove every image no container uses, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove images.
    #[command(visible_alias = "remove")]
    Rm(images::RmiArgs),
    /// Show low-level information on images.
    Inspect(images::InspectArgs),
    /// Show the history of an image.
    History(history::HistoryArgs),
    /// Give an image another name.
    Tag(images::TagArgs),
    /// Download an image from a registry.
    Pull(pull::PullArgs),
    /// Upload an image to a registry.
    Push(push::PushArgs),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Remove unused images.
    Prune(ImagePruneArgs),
}

/// Run `berth image COMMAND`.
pub async fn run(args: ImageArgs) -> Result<()> {
    match args.command {
        ImageCommand::Ls(a) => images::images(a).await,
        ImageCommand::Rm(a) => images::rmi(a).await,
        ImageCommand::Inspect(a) => images::inspect(a).await,
        ImageCommand::History(a) => history::history(a).await,
        ImageCommand::Tag(a) => images::tag(a).await,
        ImageCommand::Pull(a) => pull::run(a).await,
        ImageCommand::Push(a) => push::run(a).await,
        ImageCommand::Build(a) => build::run(a).await,
        ImageCommand::Prune(a) => prune(a).await,
    }
}

/// Run `berth image prune`.
pub async fn prune(args: ImagePruneArgs) -> Result<()> {
    let question = if args.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !args.force && !super::prune::confirm(question) {
        return Ok(());
    }
    let ctx = Context::open().await?;
    let mut lines = Vec::new();
    let mut reclaimed = 0;
    for img in ctx.store.images().await? {
        let dangling = img.names.is_empty();
        if !(dangling || args.all) {
            continue;
        }
        if !ctx
            .store
            .image_in_use(&img.record.id.to_string())
            .await?
            .is_empty()
        {
            continue;
        }
        let sizes: Vec<(berth_oci::Digest, u64)> = img
            .record
            .blobs
            .iter()
            .map(|d| (d.clone(), ctx.store.blobs().size(d).unwrap_or(0)))
            .collect();
        for (n, t) in &img.names {
            lines.push(format!("untagged: {}", ctx.familiar(n, t)));
        }
        for (n, d) in &img.repo_digests {
            lines.push(format!("untagged: {}@{d}", ctx.familiar_name(n)));
        }
        let deleted = ctx.store.remove(&img.record.id).await?;
        reclaimed += sizes
            .iter()
            .filter(|(d, _)| deleted.contains(d))
            .map(|(_, s)| s)
            .sum::<u64>();
        lines.push(format!("deleted: {}", img.record.id));
    }
    if !lines.is_empty() {
        println!("Deleted Images:");
        for l in &lines {
            println!("{l}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}
