//! `berth pause` and `berth unpause`: freezing and thawing all of a running container's
//! processes with the cgroup freezer (berth-runtime's `cgroupfs`), recorded in the store so
//! that `ps` shows `Up … (Paused)`. The container stays running, as in Docker; `stop`, `kill -s
//! KILL` and `rm -f` thaw it ([`thaw_for_signal`]) so that it can end.

use anyhow::{Result, bail};
use berth_runtime::cgroupfs::ContainerCgroups;
use berth_store::{Container, State};

use super::container::each;
use super::context::Context;
use super::liveness;

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
async fn set_frozen(id: &str, frozen: bool) -> Result<()> {
    let cgroups = ContainerCgroups::find(id);
    tokio::task::spawn_blocking(move || {
        if frozen {
            cgroups.freeze()
        } else {
            cgroups.thaw()
        }
    })
    .await??;
    Ok(())
}

/// Thaw `c` if it is paused (or left frozen), so that a signal can end it, and record it
/// unpaused.
pub async fn thaw_for_signal(ctx: &Context, c: &Container) -> Result<()> {
    if c.state != State::Running {
        return Ok(());
    }
    if c.paused || ContainerCgroups::find(&c.id).is_frozen() {
        tracing::debug!(id = %c.id, "thawing a paused container to signal it");
        if let Err(e) = set_frozen(&c.id, false).await {
            // It ended meanwhile and its cgroup went with it: nothing is left frozen.
            if ContainerCgroups::find(&c.id).is_frozen() {
                return Err(e);
            }
            tracing::debug!(id = %c.id, error = %e, "nothing left to thaw");
        }
        ctx.store.container_unpause(&c.id).await?;
    }
    Ok(())
}

/// Run `berth pause`.
pub async fn pause(args: PauseArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    each(&args.containers, |q| async move {
        let c = liveness::find(ctx, &q).await?;
        if c.state != State::Running {
            bail!("container {q} is not running");
        }
        if c.paused {
            bail!("container {q} is already paused");
        }
        set_frozen(&c.id, true).await?;
        if !ctx.store.container_pause(&c.id).await? {
            // It exited meanwhile: nothing is left to pause.
            let _ = set_frozen(&c.id, false).await;
            bail!("container {q} is not running");
        }
        super::events::emit_container(ctx, "pause", &c.id, &[]).await;
        println!("{q}");
        Ok(())
    })
    .await
}

/// Run `berth unpause`.
pub async fn unpause(args: UnpauseArgs) -> Result<()> {
    let ctx = &Context::open().await?;
    each(&args.containers, |q| async move {
        let c = liveness::find(ctx, &q).await?;
        if c.state != State::Running || !c.paused {
            bail!("container {q} is not paused");
        }
        set_frozen(&c.id, false).await?;
        ctx.store.container_unpause(&c.id).await?;
        super::events::emit_container(ctx, "unpause", &c.id, &[]).await;
        println!("{q}");
        Ok(())
    })
    .await
}
