//! Changes to a container record besides its lifecycle: its name (`berth rename`) and whether its
//! processes are frozen (`berth pause`/`unpause`). A paused container keeps its running state,
//! as in Docker (`Running` and `Paused` are both true); the pause is a row of its own
//! (`container_pauses`), dropped whenever the container starts, exits or is removed.

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

    /// Record running container `id` as paused. False (nothing recorded) when it is not running
    /// or is paused already.
    pub async fn container_pause(&self, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO container_pauses (id, paused_at) SELECT id, ? FROM containers \
             WHERE id = ? AND state = 'running' ON CONFLICT (id) DO NOTHING",
        )
        .bind(now())
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Record container `id` as no longer paused. False when it was not paused.
    pub async fn container_unpause(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM container_pauses WHERE id = ?")
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Forget any pause of container `id` (it started, exited or went).
    pub(crate) async fn clear_pause(&self, id: &str) -> Result<()> {
        self.container_unpause(id).await.map(drop)
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
}
