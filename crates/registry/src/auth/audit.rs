//! The audit log: every record goes to the `audit` table and, when configured, as one JSON line
//! to a file (appended) or to standard output. Recording never fails the operation it records: a
//! write error is logged instead. Records never hold secrets — callers put names, digests and
//! reasons in them, never passwords, tokens or hashes.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::db::AuthDb;
use super::model::AuditEvent;
use crate::error::{Error, Result};

enum Sink {
    Stdout,
    File(std::fs::File),
}

/// Where audit records go.
pub struct AuditLog {
    db: Arc<AuthDb>,
    sink: Option<Mutex<Sink>>,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl AuditLog {
    /// Records to `db`, and as JSON lines to `path` (`-`: standard output) when given.
    pub fn new(db: Arc<AuthDb>, path: Option<&Path>) -> Result<AuditLog> {
        let sink = match path {
            None => None,
            Some(p) if p == Path::new("-") => Some(Mutex::new(Sink::Stdout)),
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| Error::io(p, e))?;
                Some(Mutex::new(Sink::File(f)))
            }
        };
        Ok(AuditLog { db, sink })
    }

    /// The database it records to.
    pub fn db(&self) -> &Arc<AuthDb> {
        &self.db
    }

    /// Record `event` (its time set to now when zero).
    pub async fn record(&self, mut event: AuditEvent) {
        if event.time_ms == 0 {
            event.time_ms = now_ms();
        }
        if let Err(e) = self.db.audit(&event).await {
            tracing::error!(error = %e, action = %event.action, "cannot write the audit record");
        }
        if let Some(sink) = &self.sink {
            let mut line = serde_json::to_string(&event).unwrap_or_default();
            line.push('\n');
            let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
            let written = match &mut *sink {
                Sink::Stdout => std::io::stdout().write_all(line.as_bytes()),
                Sink::File(f) => f.write_all(line.as_bytes()),
            };
            if let Err(e) = written {
                tracing::error!(error = %e, "cannot write the audit log line");
            }
        }
    }
}
