//! `berth pause` and `berth unpause` (the engine's `containers::pause` does the work).

use anyhow::Result;

use super::container::each;
use super::context::Context;

/// `berth pause`
#[derive(clap::Args)]
pub struct PauseArgs {
    /// Containers to pause (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth unpause`
#[derive(clap::Args)]
pub struct UnpauseArgs {
    /// Containers to unpause (name or id).
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Freeze or thaw container `id`'s cgroups (the freezer polls: off the async threads).
/// Run `berth pause`.
pub async fn pause(args: PauseArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    each(&args.containers, |q| async move {
        ctx.pause(&q).await?;
        println!("{q}");
        Ok(())
    })
    .await
}

/// Run `berth unpause`.
pub async fn unpause(args: UnpauseArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    each(&args.containers, |q| async move {
        ctx.unpause(&q).await?;
        println!("{q}");
        Ok(())
    })
    .await
}
