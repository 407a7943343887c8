//! `berth push NAME[:TAG]`: upload a local image. Blobs the registry already has are skipped
//! (HEAD), blobs another repository of the same registry holds are mounted, the rest are
//! streamed in parallel (chunked for large blobs) with progress bars; then the manifest
//! ([`berth_engine::Engine::push`]).

use anyhow::Result;
use berth_engine::images::progress::Progress;

use super::context::Context;
use super::pull::{Bars, Output};

/// `berth push`
#[derive(clap::Args)]
pub struct PushArgs {
    /// Image to push: name[:tag] of a local image.
    pub image: String,
    /// Print only the pushed digest's reference.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Run `berth push`.
pub async fn run(args: PushArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let r = ctx.reference(&args.image)?;
    let bars = Bars::new(
        if args.quiet {
            Output::Quiet
        } else {
            Output::Stdout
        },
        "{prefix}: {msg:<10} [{bar:30}] {bytes}/{total_bytes}",
    );
    let show = |p: Progress| match &p {
        Progress::PushRefersTo { .. } => bars.say(&p.status()),
        Progress::LayerAlreadyExists { id } | Progress::MountedFrom { id, .. } => {
            bars.note(id, &p.status())
        }
        Progress::Pushing { id, current, total } => bars.position(id, "Pushing", *current, *total),
        Progress::Pushed { id } => bars.finish(id, "Pushed"),
        _ => {}
    };
    let pushed = ctx.push(&r, &show).await?;
    if args.quiet {
        println!("{}@{}", pushed.repository, pushed.digest);
    } else {
        println!(
            "{}: digest: {} size: {}",
            pushed.tag, pushed.digest, pushed.size
        );
    }
    Ok(())
}
