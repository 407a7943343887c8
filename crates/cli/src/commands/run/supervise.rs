//! Running a recorded container: the detached monitor's start, the engine choice, the
//! supervision (pid recorded, signals forwarded) and the bookkeeping at the end.

use std::path::Path;

use anyhow::Result;
use berth_runtime::engine::{ExitStatus, Runtime, Stdio};
use berth_runtime::rootfs;
use berth_runtime::spec::ContainerSpec;
use tokio::signal::unix::{SignalKind, signal};

use crate::commands::context::Context;
use crate::commands::volumes;

/// Start `berth container-monitor ID` in its own session and wait until it has started the
/// container (or given up: the error says why).
pub async fn detach(ctx: &Context, id: &str) -> Result<()> {
    Ok(ctx.spawn_monitor(id).await?)
}

/// The engine `--runtime` names (berth's own by default).
pub fn engine(runtime: Option<&Path>, ctx: &Context) -> std::sync::Arc<dyn Runtime> {
    ctx.runtime(runtime)
}

/// Run the container to its end, recording its pid once it has started and, with `proxy`
/// (`--sig-proxy`, the default), forwarding SIGINT and SIGTERM received here to it; without,
/// they are caught and the container left to end by itself.
pub async fn supervise(
    ctx: &Context,
    id: &str,
    runtime: Option<&Path>,
    spec: ContainerSpec,
    stdio: Stdio,
    proxy: bool,
) -> Result<ExitStatus> {
    // External runtimes tell the pid too (from their pid file): the record becomes running
    // once the container exists, so `exec` right after `run -d` finds it.
    let engine = engine(runtime, ctx);
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let mut run = tokio::task::spawn_blocking(move || {
        engine.run_notify(
            &spec,
            stdio,
            Box::new(move |pid| {
                let _ = tx.send(pid);
            }),
        )
    });
    // The health check runs beside the container, from its start to its end.
    let check = ctx
        .store
        .container(id)
        .await?
        .and_then(|c| super::record(&c).ok())
        .and_then(|r| r.config.healthcheck)
        .filter(|h| berth_engine::containers::health::command(h).is_some());
    let mut health_running = check.is_some();
    let health = async {
        if let Some(check) = &check {
            berth_engine::containers::health::watch(ctx, id, check).await;
        }
    };
    tokio::pin!(health);
    let (mut waiting, mut pid) = (true, None);
    let forward = |pid: Option<u32>, sig: i32| {
        if let Some(pid) = pid.filter(|_| proxy) {
            // SAFETY: plain kill(2) of the container's first process.
            unsafe { libc::kill(pid as libc::pid_t, sig) };
        }
    };
    let result = loop {
        tokio::select! {
            r = &mut run => break r?,
            p = rx.recv(), if waiting => {
                waiting = false;
                if let Some(p) = p {
                    pid = Some(p);
                    ctx.store.container_started(id, i64::from(p)).await?;
                    crate::commands::events::emit_container(ctx, "start", id, &[]).await;
                }
            }
            _ = sigint.recv() => forward(pid, libc::SIGINT),
            _ = sigterm.recv() => forward(pid, libc::SIGTERM),
            _ = &mut health, if health_running => health_running = false,
        }
    };
    // A container that ended at once: its start, if the engine told it, is recorded still
    // (the select above may have seen the end first).
    if let (true, Ok(p)) = (waiting, rx.try_recv()) {
        ctx.store.container_started(id, i64::from(p)).await?;
        crate::commands::events::emit_container(ctx, "start", id, &[]).await;
    }
    // Docker's `oom` event (before `die`) and `State.OOMKilled`.
    if berth_runtime::engine::take_oom_kill(id) {
        ctx.store.container_oom_killed(id).await?;
        crate::commands::events::emit_container(ctx, "oom", id, &[]).await;
    }
    Ok(result?)
}

/// Record the exit and unmount the root filesystem (removing the container and its anonymous
/// volumes with `rm`, as Docker's `--rm` does).
pub async fn finish(ctx: &Context, id: &str, dir: &Path, rm: bool, code: i32) -> Result<()> {
    ctx.store.container_exited(id, i64::from(code)).await?;
    let attrs: Vec<(&str, String)> = match ctx.store.container(id).await? {
        Some(c) => vec![("name", c.name), ("image", c.image)],
        None => vec![],
    };
    let mut die = attrs.clone();
    die.push(("exitCode", code.to_string()));
    crate::commands::events::emit(&ctx.config.root, "container", "die", id, &die);
    if rm {
        let names = match ctx.store.container(id).await? {
            Some(c) => volumes::used_by(&c),
            None => vec![],
        };
        rootfs::remove(dir)?;
        ctx.store.remove_container(id).await?;
        crate::commands::events::emit(&ctx.config.root, "container", "destroy", id, &attrs);
        let others = ctx.store.containers().await?;
        volumes::remove_anonymous(&ctx.config.root, &names, &others)?;
    } else {
        rootfs::unmount(dir)?;
    }
    Ok(())
}

/// Docker's restart backoff: 100 ms, doubling up to a minute, back to 100 ms once a run lasted
/// 10 seconds.
pub struct Backoff(std::time::Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Self::FIRST)
    }
}

impl Backoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(100);

    /// The wait before the next restart of a run that lasted `ran`.
    pub fn next(&mut self, ran: std::time::Duration) -> std::time::Duration {
        if ran >= std::time::Duration::from_secs(10) {
            self.0 = Self::FIRST;
        }
        let wait = self.0;
        self.0 = (self.0 * 2).min(std::time::Duration::from_secs(60));
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        assert_eq!(b.next(short), Duration::from_millis(100));
        assert_eq!(b.next(short), Duration::from_millis(200));
        assert_eq!(b.next(short), Duration::from_millis(400));
        assert_eq!(b.next(Duration::from_secs(10)), Duration::from_millis(100));
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), Duration::from_secs(60));
    }
}
