//! The persistent event queue: one SQLite file (`<root>/v1/events.db`, WAL, `synchronous=FULL`)
//! with one row per event and endpoint, oldest first. A row is removed only once its endpoint
//! acknowledged it, so whatever was queued survives a crash or restart. An endpoint holds at
//! most [`MAX_PENDING`] events; past that the oldest are dropped (and counted), so a receiver
//! that is gone for good cannot fill the disk.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::Result;

/// Events kept per endpoint.
pub const MAX_PENDING: u64 = 100_000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_endpoint ON events(endpoint, id);";

/// A queued event: its row id and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Row id (increasing).
    pub id: i64,
    /// The event, JSON.
    pub body: String,
}

/// The queue.
pub struct Queue {
    pool: SqlitePool,
    /// Rows per endpoint, kept in step with the table.
    pending: Mutex<HashMap<String, u64>>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Queue {
    /// Open (creating) the queue at `path`.
    pub async fn open(path: &Path) -> Result<Queue> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        // One connection: writes are serialized anyway, and reads are a worker's small batches.
        let pool = SqlitePoolOptions::new()
            // No idle reaping: sqlx 0.9.0's reaper can spin (launchbadge/sqlx#3645).
            .idle_timeout(None)
            .max_lifetime(None)
            .max_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT endpoint, COUNT(*) FROM events GROUP BY endpoint")
                .fetch_all(&pool)
                .await?;
        let pending = rows.into_iter().map(|(k, n)| (k, n as u64)).collect();
        Ok(Queue {
            pool,
            pending: Mutex::new(pending),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Events waiting, all endpoints.
    pub fn len(&self) -> u64 {
        self.counts().values().sum()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events waiting for `endpoint`.
    pub fn pending(&self, endpoint: &str) -> u64 {
        self.counts().get(endpoint).copied().unwrap_or(0)
    }

    /// Queue `body` for each of `endpoints`, in one transaction.
    pub async fn push(&self, endpoints: &[String], body: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut dropped = Vec::new();
        for ep in endpoints {
            if self.pending(ep) >= MAX_PENDING {
                let r = sqlx::query(
                    "DELETE FROM events WHERE id = \
                     (SELECT id FROM events WHERE endpoint = ? ORDER BY id LIMIT 1)",
                )
                .bind(ep)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() > 0 {
                    dropped.push(ep.clone());
                }
            }
            sqlx::query("INSERT INTO events (endpoint, body, created_at) VALUES (?, ?, ?)")
                .bind(ep)
                .bind(body)
                .bind(now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        {
            let mut counts = self.counts();
            for ep in endpoints {
                *counts.entry(ep.clone()).or_default() += 1;
            }
            for ep in &dropped {
                if let Some(n) = counts.get_mut(ep) {
                    *n = n.saturating_sub(1);
                }
                tracing::warn!(endpoint = %ep, "event queue full: dropped the oldest event");
            }
        }
        if !dropped.is_empty() {
            crate::metrics::notifications_dropped(dropped.len() as u64);
        }
        crate::metrics::notification_queue(self.len());
        Ok(())
    }

    /// The oldest `limit` events for `endpoint`.
    pub async fn peek(&self, endpoint: &str, limit: u32) -> Result<Vec<Queued>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, body FROM events WHERE endpoint = ? ORDER BY id LIMIT ?")
                .bind(endpoint)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, body)| Queued { id, body })
            .collect())
    }

    /// Remove delivered events of `endpoint`.
    pub async fn remove(&self, endpoint: &str, ids: &[i64]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut removed = 0u64;
        for id in ids {
            removed += sqlx::query("DELETE FROM events WHERE id = ? AND endpoint = ?")
                .bind(id)
                .bind(endpoint)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        if let Some(n) = self.counts().get_mut(endpoint) {
            *n = n.saturating_sub(removed);
        }
        crate::metrics::notification_queue(self.len());
        Ok(())
    }

    /// Drop the events of endpoints not in `keep`; returns how many.
    pub async fn retain_endpoints(&self, keep: &[String]) -> Result<u64> {
        let gone: Vec<String> = self
            .counts()
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        let mut dropped = 0;
        for ep in gone {
            dropped += sqlx::query("DELETE FROM events WHERE endpoint = ?")
                .bind(&ep)
                .execute(&self.pool)
                .await?
                .rows_affected();
            self.counts().remove(&ep);
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_persist_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let (a, b) = ("http://a/".to_string(), "http://b/".to_string());
        {
            let q = Queue::open(&path).await.unwrap();
            q.push(&[a.clone(), b.clone()], "{\"n\":1}").await.unwrap();
            q.push(std::slice::from_ref(&a), "{\"n\":2}").await.unwrap();
            assert_eq!((q.len(), q.pending(&a), q.pending(&b)), (3, 2, 1));
            let got = q.peek(&a, 10).await.unwrap();
            assert_eq!(got.len(), 2);
            assert!(got[0].id < got[1].id && got[0].body == "{\"n\":1}");
            q.remove(&a, &[got[0].id]).await.unwrap();
            assert_eq!(q.pending(&a), 1);
        }
        let q = Queue::open(&path).await.unwrap();
        assert_eq!(
            (q.pending(&a), q.pending(&b)),
            (1, 1),
            "kept across a reopen"
        );
        assert_eq!(q.peek(&a, 10).await.unwrap()[0].body, "{\"n\":2}");
        assert_eq!(
            q.retain_endpoints(std::slice::from_ref(&a)).await.unwrap(),
            1
        );
        assert_eq!((q.len(), q.pending(&b)), (1, 0));
        assert!(q.peek(&b, 10).await.unwrap().is_empty());
    }
}
