//! The container lifecycle after creation: signals, stop (signal, grace time, SIGKILL), kill,
//! wait and removal, as Docker words and orders them. Records are reconciled with their
//! processes first ([`super::liveness`]); a paused container is thawed so a signal can end it.

use berth_store::{Container, State};

use super::liveness;
use crate::Engine;
use crate::error::{Error, Result};
use crate::model::Record;

/// A signal number from `KILL`, `SIGKILL` or `9`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..65).contains(&n) {
            return Ok(n);
        }
        return Err(Error::InvalidArgument(format!("invalid signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Ok(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "WINCH" => libc::SIGWINCH,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "SEGV" => libc::SIGSEGV,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "CHLD" => libc::SIGCHLD,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::InvalidArgument(format!("invalid signal {s:?}"))),
    })
}

/// Send `sig` to a running container: through its runtime when the engine can act on it
/// from here ([`Engine::runtime_of`]), else to its first process by pid.
pub fn signal(engine: &Engine, c: &Container, sig: i32) -> Result<()> {
    let not_running = || Error::Conflict(format!("container {} is not running", c.name));
    if let Some(rt) = engine.runtime_of(c) {
        if c.state != State::Running {
            return Err(not_running());
        }
        return match rt.kill(&c.id, sig) {
            Ok(()) => Ok(()),
            Err(berth_runtime::error::Error::InvalidState { .. }) => Err(not_running()),
            Err(e) => Err(e.into()),
        };
    }
    match c.pid.filter(|p| *p > 0) {
        // SAFETY: plain kill(2).
        Some(pid) if c.state == State::Running => {
            if unsafe { libc::kill(pid as libc::pid_t, sig) } < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(e.into());
                }
            }
            Ok(())
        }
        _ => Err(Error::Conflict(format!(
            "container {} is not running",
            c.name
        ))),
    }
}

/// Wait until the container has exited (or `deadline` passes); its exit code, if it did. A
/// container whose supervisor dies meanwhile is reconciled, and so has exited (255).
pub async fn wait_exit(
    ctx: &Engine,
    id: &str,
    deadline: Option<std::time::Instant>,
) -> Result<Option<i64>> {
    loop {
        let c = match ctx.store.container(id).await? {
            Some(c) => liveness::reconcile(ctx, c).await?,
            None => None,
        };
        match c {
            None => return Ok(Some(0)),
            Some(c) if c.state == State::Exited => return Ok(Some(c.exit_code.unwrap_or(0))),
            _ => {}
        }
        if deadline.is_some_and(|d| std::time::Instant::now() > d) {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The signal that stops `c`: its `--stop-signal` or its image's `StopSignal`, else SIGTERM.
pub fn stop_signal(c: &Container) -> Result<i32> {
    match Record::parse(&c.config)
        .map_err(Error::Internal)?
        .config
        .stop_signal
    {
        Some(s) if !s.is_empty() => parse_signal(&s),
        _ => Ok(libc::SIGTERM),
    }
}

/// `c` once its monitor is no longer waiting to restart it (it restarted it, or gave up: it
/// was stopped by the user), or its monitor has gone.
pub async fn settled(ctx: &Engine, c: &Container) -> Result<Container> {
    let mut c = c.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(70);
    while c.restarting && c.state != State::Running && std::time::Instant::now() < deadline {
        let monitor = c
            .monitor_pid
            .and_then(berth_store::containers::process_identity);
        if monitor.is_none() || monitor != c.monitor_identity {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        match ctx.store.container(&c.id).await? {
            Some(now) => c = now,
            None => break,
        }
    }
    Ok(c)
}

/// Stop a running `c` as Docker does: its stop signal, then SIGKILL after `time` seconds
/// (default: its `--stop-timeout`, else 10; negative: never), and wait for the exit. It is
/// marked stopped by the user first, so that its `--restart` policy does not run it again.
pub async fn stop_one(ctx: &Engine, c: &Container, time: Option<i64>) -> Result<()> {
    ctx.store.container_stopped_by_user(&c.id, true).await?;
    let c = &settled(ctx, c).await?;
    if c.state != State::Running {
        return Ok(());
    }
    let time = time
        .or_else(|| Record::parse(&c.config).ok()?.config.stop_timeout)
        .unwrap_or(10);
    // A frozen container could not act on its stop signal: thawed first.
    super::pause::thaw_for_signal(ctx, c).await?;
    let sig = stop_signal(c)?;
    signal(ctx, c, sig)?;
    ctx.emit_container("kill", &c.id, &[("signal", sig.to_string())])
        .await;
    let deadline = u64::try_from(time)
        .ok()
        .map(|t| std::time::Instant::now() + std::time::Duration::from_secs(t));
    if wait_exit(ctx, &c.id, deadline).await?.is_none() {
        signal(ctx, c, libc::SIGKILL)?;
        ctx.emit_container("kill", &c.id, &[("signal", libc::SIGKILL.to_string())])
            .await;
        wait_exit(ctx, &c.id, None).await?;
    }
    ctx.emit_container("stop", &c.id, &[]).await;
    Ok(())
}

/// What [`Engine::remove`] did.
#[derive(Debug)]
pub struct Removed {
    /// The container's id.
    pub id: String,
    /// Whether its supervisor removed it first (`--rm`) while it was being killed.
    pub by_supervisor: bool,
}

impl Engine {
    /// Stop container `query` (see [`stop_one`]).
    pub async fn stop(&self, query: &str, time: Option<i64>) -> Result<Container> {
        let c = liveness::find(self, query).await?;
        stop_one(self, &c, time).await?;
        Ok(c)
    }

    /// Send `sig` to container `query`. SIGKILL or its stop signal count as the user ending
    /// it (its restart policy leaves it be); SIGKILL ends a paused container too (thawed so
    /// that it can die), other signals wait, pending, for `unpause`, as in Docker.
    pub async fn kill(&self, query: &str, sig: i32) -> Result<Container> {
        let c = liveness::find(self, query).await?;
        if sig == libc::SIGKILL || sig == stop_signal(&c)? {
            self.store.container_stopped_by_user(&c.id, true).await?;
        }
        signal(self, &c, sig)?;
        self.emit_container("kill", &c.id, &[("signal", sig.to_string())])
            .await;
        if sig == libc::SIGKILL {
            super::pause::thaw_for_signal(self, &c).await?;
        }
        Ok(c)
    }

    /// Wait for container `query` to exit: its exit code.
    pub async fn wait(&self, query: &str) -> Result<i64> {
        let c = liveness::find(self, query).await?;
        Ok(wait_exit(self, &c.id, None).await?.unwrap_or(0))
    }

    /// Remove container `query`: refused while it runs unless `force` (then killed first and
    /// left to its supervisor to record the exit); with `volumes`, its anonymous volumes no
    /// other container uses go too. `destroy` event.
    pub async fn remove(&self, query: &str, force: bool, volumes: bool) -> Result<Removed> {
        let mut c = liveness::find(self, query).await?;
        if c.state == State::Running || c.restarting {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name
                )));
            }
            // Not to be restarted by its monitor, which is let decide first if it is about to.
            self.store.container_stopped_by_user(&c.id, true).await?;
            c = settled(self, &c).await?;
        }
        if c.state == State::Running {
            // Killed, then left to its supervisor to record the exit and release cgroups and
            // mounts before everything of it goes.
            signal(self, &c, libc::SIGKILL)?;
            super::pause::thaw_for_signal(self, &c).await?;
            wait_exit(self, &c.id, None).await?;
            liveness::wait_gone(
                c.monitor_pid,
                c.monitor_identity.as_deref(),
                std::time::Duration::from_secs(10),
            )
            .await;
            c = match self.store.container(&c.id).await? {
                Some(c) => c,
                None => {
                    // Removed by its supervisor (--rm); only its directory may be left.
                    berth_runtime::rootfs::remove(&self.layout().container(&c.id))?;
                    return Ok(Removed {
                        id: c.id,
                        by_supervisor: true,
                    });
                }
            };
        }
        remove_record(self, &c).await?;
        let attrs = [("name", c.name.clone()), ("image", c.image.clone())];
        crate::events::emit(self.layout().root(), "container", "destroy", &c.id, &attrs);
        if volumes {
            let others = self.store.containers().await?;
            let names = crate::volumes::used_by(&c);
            crate::volumes::remove_anonymous(self.layout().root(), &names, &others)?;
        }
        Ok(Removed {
            id: c.id,
            by_supervisor: false,
        })
    }
}

/// Remove container `c` (not running): its directory (mounts, changes, log) and its record.
pub async fn remove_record(engine: &Engine, c: &Container) -> Result<()> {
    berth_runtime::rootfs::remove(&engine.layout().container(&c.id))?;
    engine.store.remove_container(&c.id).await?;
    Ok(())
}
