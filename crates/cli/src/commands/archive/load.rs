//! `berth load [-i FILE] [-q]`: images from a tar archive (plain or gzip) into the local store
//! ([`berth_engine::Engine::load`]).

use anyhow::Result;

use super::open_input;
use crate::commands::context::Context;

/// `berth load`
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Read from this tar archive (plain or gzip) instead of stdin.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress progress output (berth prints none; accepted for docker compatibility).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Run `berth load`: prints what docker prints.
pub async fn run(args: LoadArgs) -> Result<()> {
    let _ = args.quiet;
    let ctx = Context::open().await?;
    let input = open_input(args.input.as_deref(), "archive")?;
    for image in ctx.load(input).await? {
        if image.names.is_empty() {
            println!("Loaded image ID: {}", image.id);
        }
        for name in &image.names {
            println!("Loaded image: {name}");
        }
    }
    Ok(())
}
