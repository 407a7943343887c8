//! `berth image COMMAND`: Docker's management-command spellings of the image commands
//! (`image ls`, `image rm`, `image history`…) and `image prune` (see `prune.rs`).

use anyhow::Result;
use clap::Subcommand;

use super::{build, history, images, prune, pull, push};

/// `berth image`
#[derive(clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
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
    Prune(prune::PruneImagesArgs),
}

impl ImageArgs {
    /// Whether the command supervises a build (`image build`).
    pub fn supervises(&self) -> bool {
        matches!(self.command, ImageCommand::Build(_))
    }
}

/// Run `berth image COMMAND`.
pub async fn run(args: ImageArgs) -> Result<()> {
    match args.command {
        ImageCommand::Ls(a) => images::images(a).await,
        ImageCommand::Rm(a) => images::rmi(a).await,
        // `image inspect` looks at images only, as Docker's does.
        ImageCommand::Inspect(mut a) => {
            a.kind = Some("image".into());
            images::inspect(a).await
        }
        ImageCommand::History(a) => history::history(a).await,
        ImageCommand::Tag(a) => images::tag(a).await,
        ImageCommand::Pull(a) => pull::run(a).await,
        ImageCommand::Push(a) => push::run(a).await,
        ImageCommand::Build(a) => build::run(a).await,
        ImageCommand::Prune(a) => prune::prune_images(a).await,
    }
}
