//! Numbered schema migrations of the store's SQLite database.
//!
//! The database's `user_version` is the number of the last migration applied. Opening a store
//! applies the missing ones in order, each in its own transaction together with the new
//! `user_version`, under the store's exclusive lock, so that several berth processes opening
//! an old data root at once migrate it once, and a crash leaves it at a whole version.
//! Migration 1 is the schema of the first release, written with `IF NOT EXISTS`, so data
//! roots made before migrations existed (`user_version` 0, tables present) go through it
//! unchanged. A database newer than this build is refused rather than misread.
//!
//! Never edit a migration that has shipped: add the next one.

use sqlx::SqlitePool;

use crate::error::{Error, Result};

/// The migrations, in order: migration `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("base schema", include_str!("migrations/0001_base.sql")),
    (
        "container side tables become columns",
        include_str!("migrations/0002_container_columns.sql"),
    ),
    (
        "container health",
        include_str!("migrations/0003_container_health.sql"),
    ),
    (
        "container OOM kill",
        include_str!("migrations/0004_container_oom.sql"),
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database's schema version (`PRAGMA user_version`).
pub async fn version(db: &SqlitePool) -> Result<i64> {
    let (v,): (i64,) = sqlx::query_as("PRAGMA user_version").fetch_one(db).await?;
    Ok(v)
}

/// Bring the database to [`SCHEMA_VERSION`]. The caller holds the store's exclusive lock.
pub(crate) async fn migrate(db: &SqlitePool) -> Result<()> {
    let mut current = version(db).await?;
    if current > SCHEMA_VERSION {
        return Err(Error::Corrupt(format!(
            "the image store's database has schema version {current}, newer than this \
             berth's {SCHEMA_VERSION}: use a newer berth"
        )));
    }
    while current < SCHEMA_VERSION {
        let (name, sql) = MIGRATIONS[current as usize];
        let next = current + 1;
        let mut tx = db.begin().await?;
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::Corrupt(format!("schema migration {next} ({name}): {e}")))?;
        // PRAGMA takes no parameters; `next` is a number of ours.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {next}")))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = next, name, "store schema migrated");
        current = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layout, State, Store};

    /// A data root as the release before migrations left it: schema 1 (`user_version` 0),
    /// side tables with rows for some containers.
    async fn first_release_root(root: &std::path::Path) {
        let layout = Layout::new(root);
        std::fs::create_dir_all(layout.images()).unwrap();
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(layout.database())
            .create_if_missing(true);
        let db = SqlitePool::connect_with(opts).await.unwrap();
        sqlx::raw_sql(MIGRATIONS[0].1).execute(&db).await.unwrap();
        let rows = [
            ("aa", "running", "paused one"),
            ("bb", "exited", "restarted one"),
            ("cc", "created", "plain one"),
        ];
        for (id, state, name) in rows {
            sqlx::query(
                "INSERT INTO containers (id, name, image, image_id, command, created_at, state, \
                 pid, config) VALUES (?, ?, 'busybox', 'sha256:x', '[\"/bin/sh\"]', 1, ?, 7, '{}')",
            )
            .bind(id.repeat(32))
            .bind(name)
            .bind(state)
            .execute(&db)
            .await
            .unwrap();
        }
        let sql = format!(
            "INSERT INTO container_processes VALUES ('{a}', 'boot:1', 99, 'boot:2'); \
             INSERT INTO container_pauses VALUES ('{a}', 1234); \
             INSERT INTO container_restarts VALUES ('{b}', 3, 1, 0);",
            a = "aa".repeat(32),
            b = "bb".repeat(32)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&db)
            .await
            .unwrap();
        db.close().await;
    }

    #[tokio::test]
    async fn a_first_release_data_root_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        first_release_root(dir.path()).await;
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(version(store.db()).await.unwrap(), SCHEMA_VERSION);
        let a = store.container(&"aa".repeat(32)).await.unwrap().unwrap();
        assert_eq!(
            (a.state, a.paused, a.monitor_pid, a.pid_identity.as_deref()),
            (State::Running, true, Some(99), Some("boot:1"))
        );
        assert_eq!(a.monitor_identity.as_deref(), Some("boot:2"));
        assert_eq!(a.health, None, "no health check: Docker's none");
        let b = store.container(&"bb".repeat(32)).await.unwrap().unwrap();
        assert_eq!(
            (b.restart_count, b.stopped_by_user, b.restarting, b.paused),
            (3, true, false, false)
        );
        let c = store.container(&"cc".repeat(32)).await.unwrap().unwrap();
        assert_eq!(
            (c.restart_count, c.stopped_by_user, c.paused),
            (0, false, false)
        );
        let side: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE name LIKE 'container\\_%' ESCAPE '\\'",
        )
        .fetch_all(store.db())
        .await
        .unwrap();
        assert!(side.is_empty(), "side tables left: {side:?}");
        // Opening again changes nothing.
        drop(store);
        let store = Store::open(dir.path()).await.unwrap();
        assert!(
            store
                .container(&"aa".repeat(32))
                .await
                .unwrap()
                .unwrap()
                .paused
        );
    }

    #[tokio::test]
    async fn concurrent_opens_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        first_release_root(dir.path()).await;
        let root = dir.path().to_path_buf();
        let opens = (0..4).map(|_| {
            let root = root.clone();
            async move { Store::open(&root).await }
        });
        for store in futures_join(opens).await {
            let store = store.unwrap();
            assert_eq!(version(store.db()).await.unwrap(), SCHEMA_VERSION);
        }
    }

    async fn futures_join<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = fs.map(tokio::spawn).collect();
        let mut out = vec![];
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA user_version = {}",
            SCHEMA_VERSION + 1
        )))
        .execute(store.db())
        .await
        .unwrap();
        drop(store);
        let err = Store::open(dir.path()).await.err().unwrap().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
