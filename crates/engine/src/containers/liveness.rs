//! Reconciling container records with the processes they name. A record says "running" from
//! its start until its supervisor (the `berth container-monitor` of `run -d`/`start`, or a
//! foreground `berth run`) records the exit; when that supervisor is gone without doing so
//! (killed with SIGKILL, host rebooted), nobody ever will. The commands that look at records
//! (`ps`, `start`, `stop`, `rm`, `wait`, `prune`…) reconcile them first: the orphaned container
//! process (if it still is the one recorded) is killed, its root filesystem unmounted and its
//! cgroups removed, and the record marked exited with code 255, as Docker does after losing its
//! daemon.

use std::time::{Duration, Instant};

use berth_store::containers::process_identity;
use berth_store::{Container, State};

use crate::Engine as Context;
use crate::error::Result;

/// Kill `pid` if it still is the process `identity` names, and wait (briefly) until it is gone.
fn kill_orphan(pid: i64, identity: &str) {
    if process_identity(pid).as_deref() != Some(identity) {
        return;
    }
    tracing::debug!(pid, "killing an orphaned container process");
    // SAFETY: plain kill(2) of a process whose identity was just checked.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(3);
    while process_identity(pid).as_deref() == Some(identity) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Remove the container's cgroup directories (`berth/<id>` under the v2 root or under each v1
/// controller), which its dead supervisor did not; best effort.
fn remove_cgroups(id: &str) {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut dirs = vec![root.join("berth").join(id)];
    if let Ok(hierarchies) = std::fs::read_dir(root) {
        dirs.extend(
            hierarchies
                .flatten()
                .map(|h| h.path().join("berth").join(id)),
        );
    }
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        if let Err(e) = std::fs::remove_dir(dir) {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot remove a cgroup");
        }
    }
}

/// `c` as it really is: a running record whose supervisor is gone is cleaned up and marked
/// exited (255). `None` when the record disappeared meanwhile.
pub async fn reconcile(ctx: &Context, c: Container) -> Result<Option<Container>> {
    if c.state != State::Running || c.is_alive() {
        return Ok(Some(c));
    }
    if c.paused {
        // Frozen tasks would not die.
        let _ = berth_runtime::cgroupfs::ContainerCgroups::find(&c.id).thaw();
    }
    if let (Some(pid), Some(identity)) = (c.pid, c.pid_identity.as_deref()) {
        kill_orphan(pid, identity);
    }
    if ctx
        .store
        .container_lost(&c.id, c.monitor_identity.as_deref())
        .await?
    {
        tracing::debug!(id = %c.id, "container lost its supervisor: marked exited (255)");
        let dir = ctx.layout().container(&c.id);
        if let Err(e) = berth_runtime::rootfs::unmount(&dir) {
            tracing::warn!(id = %c.id, error = %e, "cannot unmount a lost container");
        }
        remove_cgroups(&c.id);
    }
    Ok(ctx.store.container(&c.id).await?)
}

/// The container `query` (name, id or id prefix) names, reconciled.
pub async fn find(ctx: &Context, query: &str) -> Result<Container> {
    let c = ctx.store.find_container(query).await?;
    reconcile(ctx, c)
        .await?
        .ok_or_else(|| berth_store::Error::ContainerUnknown(query.to_string()).into())
}

/// Every container, newest first, reconciled.
pub async fn all(ctx: &Context) -> Result<Vec<Container>> {
    let mut out = Vec::new();
    for c in ctx.store.containers().await? {
        out.extend(reconcile(ctx, c).await?);
    }
    Ok(out)
}

/// Wait until process `identity` (a container's supervisor) has exited, at most `limit`.
pub async fn wait_gone(pid: Option<i64>, identity: Option<&str>, limit: Duration) {
    let (Some(pid), Some(identity)) = (pid, identity) else {
        return;
    };
    let deadline = Instant::now() + limit;
    while process_identity(pid).as_deref() == Some(identity) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
