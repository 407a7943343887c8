//! Freezing and thawing all of a running container's processes with the cgroup freezer
//! (berth-runtime's `cgroupfs`), recorded in the store so that `ps` shows `Up … (Paused)`.
//! The container stays running, as in Docker; stopping, killing and removing thaw it first
//! ([`thaw_for_signal`]) so that it can end.

use berth_runtime::cgroupfs::ContainerCgroups;
use berth_store::{Container, State};

use super::liveness;
use crate::Engine;
use crate::error::{Error, Result};

/// Freeze or thaw container `c`: through its runtime when the engine can act on it from here
/// ([`Engine::runtime_of`]), else with the cgroup freezer.
async fn set_frozen(engine: &Engine, c: &Container, frozen: bool) -> Result<()> {
    if let Some(rt) = engine.runtime_of(c) {
        let id = c.id.clone();
        return Ok(tokio::task::spawn_blocking(move || {
            if frozen {
                rt.pause(&id)
            } else {
                rt.resume(&id)
            }
        })
        .await??);
    }
    let id = &c.id;
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

/// Thaw `c` if it is paused (or left frozen), so that a signal can reach it; a cgroup that
/// has gone meanwhile is nothing to thaw.
pub async fn thaw_for_signal(engine: &Engine, c: &Container) -> Result<()> {
    if c.state != State::Running {
        return Ok(());
    }
    if c.paused || ContainerCgroups::find(&c.id).is_frozen() {
        tracing::debug!(id = %c.id, "thawing a paused container to signal it");
        if let Err(e) = set_frozen(engine, c, false).await {
            if ContainerCgroups::find(&c.id).is_frozen() {
                return Err(e);
            }
            tracing::debug!(id = %c.id, error = %e, "nothing left to thaw");
        }
        engine.store.container_unpause(&c.id).await?;
    }
    Ok(())
}

impl Engine {
    /// Freeze container `query` (name or id): `pause` event.
    pub async fn pause(&self, query: &str) -> Result<Container> {
        let c = liveness::find(self, query).await?;
        let not_running = || Error::Conflict(format!("container {query} is not running"));
        if c.state != State::Running {
            return Err(not_running());
        }
        if c.paused {
            return Err(Error::Conflict(format!(
                "container {query} is already paused"
            )));
        }
        set_frozen(self, &c, true).await?;
        if !self.store.container_pause(&c.id).await? {
            // It exited meanwhile: nothing is left to pause.
            let _ = set_frozen(self, &c, false).await;
            return Err(not_running());
        }
        self.emit_container("pause", &c.id, &[]).await;
        Ok(c)
    }

    /// Thaw container `query`: `unpause` event.
    pub async fn unpause(&self, query: &str) -> Result<Container> {
        let c = liveness::find(self, query).await?;
        if c.state != State::Running || !c.paused {
            return Err(Error::Conflict(format!("container {query} is not paused")));
        }
        set_frozen(self, &c, false).await?;
        self.store.container_unpause(&c.id).await?;
        self.emit_container("unpause", &c.id, &[]).await;
        Ok(c)
    }
}
