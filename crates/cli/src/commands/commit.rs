//! `berth commit [-a AUTHOR] [-m MSG] [-c CHANGE]... CONTAINER [REPOSITORY[:TAG]]` and
//! `berth diff CONTAINER`: a container's changes as a new image ([`berth_engine::Engine::commit`])
//! or listed as A/C/D lines ([`berth_engine::Engine::diff`]).

use anyhow::Result;
use berth_engine::containers::commit::CommitOptions;

use super::context::Context;

/// `berth commit`
#[derive(clap::Args)]
pub struct CommitArgs {
    /// Author of the new image.
    #[arg(short, long)]
    pub author: Option<String>,
    /// Commit message (the history entry's comment).
    #[arg(short, long)]
    pub message: Option<String>,
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable.
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// The container.
    pub container: String,
    /// Name for the image: REPOSITORY[:TAG].
    pub reference: Option<String>,
}

/// `berth diff`
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The container.
    pub container: String,
}

/// Run `berth commit`: prints the new image's id.
pub async fn commit(args: CommitArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let options = CommitOptions {
        reference: args.reference,
        changes: args.change,
        author: args.author,
        message: args.message,
        // berth has never paused the container while committing (docker does by default).
        pause: false,
    };
    let id = ctx.commit(&args.container, &options).await?;
    println!("{id}");
    Ok(())
}

/// Run `berth diff`.
pub async fn diff(args: DiffArgs) -> Result<()> {
    let ctx = Context::open().await?;
    for change in ctx.diff(&args.container).await? {
        println!("{} {}", change.kind.letter(), change.path);
    }
    Ok(())
}
