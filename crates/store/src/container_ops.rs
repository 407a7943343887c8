//! Changes to a container record besides its lifecycle: its name (`berth rename`), whether its
//! processes are frozen (`berth pause`/`unpause`) and its restart bookkeeping (`run --restart`).
//! A paused container keeps its running state, as in Docker (`Running` and `Paused` are both
//! true); the pause (`paused_at`) is cleared whenever the container starts or exits. The
//! restart bookkeeping is the restart count, whether the user stopped the container and
//! whether its monitor waits to restart it; `berth start` clears it.

use crate::containers::now;
use crate::error::{Error, Result};
use crate::images::Store;

impl Store {
    /// Give container `id` the name `name`. `Error::NameInUse` when another container has it,
    /// `Error::ContainerUnknown` when there is no such container.
    pub async fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        let r = sqlx::query("UPDATE containers SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(self.db())
            .await;
        match r {
            Ok(r) if r.rows_affected() == 0 => Err(Error::ContainerUnknown(id.to_string())),
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::NameInUse(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replace container `id`'s configuration (its record's JSON), when it is still `old`:
    /// false when it changed meanwhile or the container is gone.
    pub async fn replace_container_config(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE containers SET config = ? WHERE id = ? AND config = ?")
            .bind(new)
            .bind(id)
            .bind(old)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Record container `id`'s health (`None`: no health check any more).
    pub async fn container_health(&self, id: &str, health: Option<&crate::Health>) -> Result<()> {
        sqlx::query(
            "UPDATE containers SET health_status = ?, health_failing_streak = ?, \
             health_log = ? WHERE id = ?",
        )
        .bind(health.map(|h| h.status.as_str()))
        .bind(health.map_or(0, |h| h.failing_streak))
        .bind(health.map_or("[]", |h| h.log.as_str()))
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Record that the kernel's OOM killer hit container `id`'s last run.
    pub async fn container_oom_killed(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE containers SET oom_killed = 1 WHERE id = ?")
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Record running container `id` as paused. False (nothing recorded) when it is not running
    /// or is paused already.
    pub async fn container_pause(&self, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE containers SET paused_at = ? \
             WHERE id = ? AND state = 'running' AND paused_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Record container `id` as no longer paused. False when it was not paused.
    pub async fn container_unpause(&self, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE containers SET paused_at = NULL WHERE id = ? AND paused_at IS NOT NULL",
        )
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() > 0)
    }
}

impl Store {
    /// Record that the user stopped container `id` (or not): a stopped one is not restarted.
    /// Call before signalling it, so that its monitor sees the mark when it exits.
    pub async fn container_stopped_by_user(&self, id: &str, stopped: bool) -> Result<()> {
        sqlx::query("UPDATE containers SET stopped_by_user = ? WHERE id = ?")
            .bind(stopped)
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Record whether container `id`'s monitor waits to restart it (`ps`: `Restarting`).
    pub async fn container_restarting(&self, id: &str, restarting: bool) -> Result<()> {
        sqlx::query("UPDATE containers SET restarting = ? WHERE id = ?")
            .bind(restarting)
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Count a restart of container `id`, unless the user has stopped it: false then (and it
    /// no longer waits to restart). One statement, so a `stop` is either seen or comes after.
    pub async fn container_restart_begin(&self, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE containers SET restart_count = restart_count + 1 \
             WHERE id = ? AND stopped_by_user = 0",
        )
        .bind(id)
        .execute(self.db())
        .await?;
        if r.rows_affected() == 0 {
            self.container_restarting(id, false).await?;
        }
        Ok(r.rows_affected() > 0)
    }

    /// Forget container `id`'s restart bookkeeping (started by the user, or removed): no
    /// restarts, not stopped.
    pub async fn container_restarts_clear(&self, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE containers SET restart_count = 0, stopped_by_user = 0, restarting = 0 \
             WHERE id = ?",
        )
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, State, Store};

    #[tokio::test]
    async fn rename_and_pause() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let (a, b) = ("aa".repeat(32), "bb".repeat(32));
        let cmd = vec!["/x".to_string()];
        store
            .create_container(&a, "one", "i", "sha256:x", &cmd, "{}")
            .await
            .unwrap();
        store
            .create_container(&b, "two", "i", "sha256:x", &cmd, "{}")
            .await
            .unwrap();
        // Names.
        store.rename_container(&a, "uno").await.unwrap();
        assert_eq!(store.find_container("uno").await.unwrap().id, a);
        assert!(matches!(
            store.find_container("one").await,
            Err(Error::ContainerUnknown(_))
        ));
        assert!(matches!(
            store.rename_container(&a, "two").await,
            Err(Error::NameInUse(n)) if n == "two"
        ));
        assert!(matches!(
            store.rename_container(&"cc".repeat(32), "three").await,
            Err(Error::ContainerUnknown(_))
        ));
        // Pauses: only while running, once, and gone when it exits.
        assert!(!store.container_pause(&a).await.unwrap(), "created");
        store.container_started(&a, 0).await.unwrap();
        assert!(store.container_pause(&a).await.unwrap());
        assert!(!store.container_pause(&a).await.unwrap(), "already");
        let c = store.container(&a).await.unwrap().unwrap();
        assert_eq!((c.state, c.paused), (State::Running, true));
        assert!(!store.container(&b).await.unwrap().unwrap().paused);
        assert!(store.container_unpause(&a).await.unwrap());
        assert!(!store.container_unpause(&a).await.unwrap());
        assert!(store.container_pause(&a).await.unwrap());
        store.container_exited(&a, 0).await.unwrap();
        let c = store.container(&a).await.unwrap().unwrap();
        assert_eq!((c.state, c.paused), (State::Exited, false));
        store.container_started(&a, 0).await.unwrap();
        assert!(store.container_pause(&a).await.unwrap());
        assert!(store.remove_container(&a).await.unwrap());
        assert!(
            !store.container_unpause(&a).await.unwrap(),
            "removed with it"
        );
    }

    #[tokio::test]
    async fn health_is_recorded_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let a = "aa".repeat(32);
        store
            .create_container(&a, "one", "i", "sha256:x", &["/x".into()], "{}")
            .await
            .unwrap();
        assert_eq!(store.container(&a).await.unwrap().unwrap().health, None);
        let h = crate::Health {
            status: "unhealthy".into(),
            failing_streak: 3,
            log: r#"[{"ExitCode":1}]"#.into(),
        };
        store.container_health(&a, Some(&h)).await.unwrap();
        assert_eq!(store.container(&a).await.unwrap().unwrap().health, Some(h));
        store.container_health(&a, None).await.unwrap();
        assert_eq!(store.container(&a).await.unwrap().unwrap().health, None);
        // The OOM mark stays with the exit, and goes with the next start.
        store.container_oom_killed(&a).await.unwrap();
        assert!(store.container(&a).await.unwrap().unwrap().oom_killed);
        store.container_started(&a, 0).await.unwrap();
        assert!(!store.container(&a).await.unwrap().unwrap().oom_killed);
    }

    #[tokio::test]
    async fn restarts_and_user_stops() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let a = "aa".repeat(32);
        store
            .create_container(&a, "one", "i", "sha256:x", &["/x".into()], "{}")
            .await
            .unwrap();
        let c = store.container(&a).await.unwrap().unwrap();
        assert_eq!(
            (c.restart_count, c.stopped_by_user, c.restarting),
            (0, false, false)
        );
        store.container_restarting(&a, true).await.unwrap();
        assert!(store.container_restart_begin(&a).await.unwrap());
        assert!(store.container(&a).await.unwrap().unwrap().restarting);
        store.container_started(&a, 0).await.unwrap();
        let c = store.container(&a).await.unwrap().unwrap();
        assert_eq!((c.restart_count, c.restarting), (1, false));
        // Stopped by the user: no restart, and no longer waiting for one.
        store.container_stopped_by_user(&a, true).await.unwrap();
        store.container_restarting(&a, true).await.unwrap();
        assert!(!store.container_restart_begin(&a).await.unwrap());
        let c = store.container(&a).await.unwrap().unwrap();
        assert_eq!(
            (c.restart_count, c.stopped_by_user, c.restarting),
            (1, true, false)
        );
        store.container_restarts_clear(&a).await.unwrap();
        let c = store.container(&a).await.unwrap().unwrap();
        assert_eq!((c.restart_count, c.stopped_by_user), (0, false));
        store.container_stopped_by_user(&a, true).await.unwrap();
        assert!(store.remove_container(&a).await.unwrap());
    }
}
