//! `berth import FILE|- [REPOSITORY[:TAG]]`: a root filesystem tarball (plain or gzip) becomes a
//! one-layer image, as `docker import` makes it ([`berth_engine::Engine::import`]).

use anyhow::Result;
use berth_engine::images::archive::ImportOptions;

use super::open_input;
use crate::commands::context::Context;

/// `berth import`
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The tarball (plain or gzip), or `-` for stdin.
    pub file: String,
    /// Name for the image: REPOSITORY[:TAG].
    pub reference: Option<String>,
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
    /// STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable.
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Commit message for the imported image (its history comment).
    #[arg(short, long)]
    pub message: Option<String>,
    /// Platform of the image (os/arch[/variant]); the host's by default.
    #[arg(long)]
    pub platform: Option<String>,
}

/// Run `berth import`: prints the new image's id.
pub async fn run(args: ImportArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let options = ImportOptions {
        reference: args.reference,
        changes: args.change,
        message: args.message,
        platform: args.platform,
    };
    // Bad flags are refused before the input is opened.
    options.check(&ctx)?;
    let input = open_input(Some(&args.file), "rootfs tarball")?;
    let id = ctx.import(input, &options).await?;
    println!("{id}");
    Ok(())
}
