//! The `audit` table (what [`crate::auth::audit::AuditLog`] writes and the admin commands read).

use super::AuthDb;
use crate::auth::model::{AuditEvent, AuditFilter};
use crate::error::Result;

impl AuthDb {
    /// Append one audit record.
    pub async fn audit(&self, event: &AuditEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (time_ms, action, success, actor, client, repo, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.time_ms)
        .bind(&event.action)
        .bind(event.success)
        .bind(&event.actor)
        .bind(&event.client)
        .bind(&event.repo)
        .bind(&event.target)
        .bind(&event.detail)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Audit records matching `filter`, oldest first.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        type Row = (
            i64,
            String,
            bool,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT time_ms, action, success, actor, client, repo, target, detail FROM audit
             WHERE (? IS NULL OR time_ms >= ?) AND (? IS NULL OR actor = ?) AND (? IS NULL OR repo = ?)
             ORDER BY id DESC LIMIT ?",
        )
        .bind(filter.since_ms)
        .bind(filter.since_ms)
        .bind(&filter.actor)
        .bind(&filter.actor)
        .bind(&filter.repo)
        .bind(&filter.repo)
        .bind(filter.limit.map_or(-1, i64::from))
        .fetch_all(&self.reader)
        .await?;
        let mut out: Vec<AuditEvent> = rows
            .into_iter()
            .map(|r| AuditEvent {
                time_ms: r.0,
                action: r.1,
                success: r.2,
                actor: r.3,
                client: r.4,
                repo: r.5,
                target: r.6,
                detail: r.7,
            })
            .collect();
        out.reverse();
        Ok(out)
    }
}
