//! Starting a created or exited container without a daemon: a `berth container-monitor ID`
//! process (this same binary) in its own session supervises it — runs it, logs its output,
//! records its start and exit, applies its restart policy. Starting returns once the monitor
//! has started the container, or with the reason it could not (from the container's log).

use std::time::Duration;

use berth_store::{Container, State};

use super::liveness;
use crate::Engine;
use crate::error::{Context as _, Error, Result};

impl Engine {
    /// Start container `id`'s monitor and wait until it has started the container.
    pub async fn spawn_monitor(&self, id: &str) -> Result<()> {
        use std::os::unix::process::CommandExt as _;
        let exe = std::env::current_exe().context(|| "cannot find berth's own binary".into())?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("container-monitor")
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn()
            .context(|| "cannot start the container monitor".into())?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.store.container(id).await? {
                // Exited without ever starting: set-up or exec failed; the monitor logged why.
                Some(c) if c.state == State::Exited && c.started_at.is_none() => {
                    let log = std::fs::read_to_string(self.layout().container_log(id))
                        .unwrap_or_default();
                    let why = log
                        .lines()
                        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                        .filter_map(|l| l["log"].as_str().map(str::to_string))
                        .find_map(|l| {
                            l.strip_prefix("berth: error: ")
                                .map(|e| e.trim().to_string())
                        })
                        .unwrap_or_else(|| "it exited before starting".into());
                    return Err(Error::Internal(format!(
                        "cannot start container {}: {why}",
                        &id[..12]
                    )));
                }
                Some(c) if c.state != State::Created => return Ok(()),
                None => return Ok(()), // --rm and already gone
                _ if std::time::Instant::now() > deadline => {
                    return Err(Error::Internal(format!(
                        "container {} did not start",
                        &id[..12]
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Start `c` (not running) under a new monitor, as the user's `start` does: its restart
    /// policy holds again and its restarts are counted anew; returns once it runs.
    pub async fn start_container(&self, c: &Container) -> Result<()> {
        // The last run's supervisor may still be finishing (unmounting): it must not unmount
        // the root filesystem of this run.
        liveness::wait_gone(
            c.monitor_pid,
            c.monitor_identity.as_deref(),
            Duration::from_secs(10),
        )
        .await;
        if !self.store.container_reset(&c.id).await? {
            // Started by someone else meanwhile (or removed).
            self.store.find_container(&c.id).await?;
            return Ok(());
        }
        self.store.container_restarts_clear(&c.id).await?;
        self.spawn_monitor(&c.id).await
    }

    /// Start container `query` unless it runs (or its monitor is about to restart it).
    pub async fn start(&self, query: &str) -> Result<Container> {
        let c = liveness::find(self, query).await?;
        if c.state != State::Running && !c.restarting {
            self.start_container(&c).await?;
        }
        Ok(c)
    }

    /// Stop (as [`Engine::stop`]) then start container `query`.
    pub async fn restart(&self, query: &str, time: Option<i64>) -> Result<Container> {
        let c = liveness::find(self, query).await?;
        super::lifecycle::stop_one(self, &c, time).await?;
        let c = liveness::find(self, query).await?;
        if c.state != State::Running {
            self.start_container(&c).await?;
        }
        Ok(c)
    }
}
