//! `berth save [-o FILE] [--format docker|oci] IMAGE...`: write images to a tar archive
//! ([`berth_engine::Engine::save`]).

use std::io::{self, BufWriter, IsTerminal};
use std::path::Path;

use anyhow::{Result, bail};
use berth_engine::images::archive::SaveFormat;

use crate::commands::context::Context;

/// `berth save`
#[derive(clap::Args)]
pub struct SaveArgs {
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<String>,
    /// Archive format: `docker` (OCI layout plus docker's manifest.json) or `oci` (OCI layout).
    #[arg(long, default_value = "docker", value_parser = ["docker", "oci"])]
    pub format: String,
    /// Images to save: name[:tag], name@digest or id.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Run `berth save`.
pub async fn run(args: SaveArgs) -> Result<()> {
    let to_stdout = matches!(args.output.as_deref(), None | Some("-"));
    if to_stdout && io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let ctx = Context::open().await?;
    let format: SaveFormat = args.format.parse()?;
    match args.output.filter(|o| o != "-") {
        None => {
            let out = BufWriter::with_capacity(1 << 20, io::stdout());
            ctx.save(&args.images, format, out).await?;
        }
        Some(path) => {
            ctx.save_to_file(&args.images, format, Path::new(&path))
                .await?
        }
    }
    Ok(())
}
