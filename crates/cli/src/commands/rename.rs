//! `berth rename CONTAINER NEW_NAME`: a new name for a container (running or not), with
//! Docker's name rule and errors ([`berth_engine::Engine::rename`]).

use anyhow::Result;

use super::context::Context;

/// `berth rename`
#[derive(clap::Args)]
pub struct RenameArgs {
    /// The container to rename (name or id).
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

/// Run `berth rename`.
pub async fn rename(args: RenameArgs) -> Result<()> {
    let ctx = Context::open().await?;
    ctx.rename(&args.container, &args.new_name).await?;
    Ok(())
}
