//! The access-control database: users, teams, grants, public scopes, robot tokens and the audit
//! log, in SQLite at `<root>/v1/auth.db` (WAL, one writer connection, a small reader pool). The
//! CLI writes it directly, server running or not; every change also rewrites
//! `<root>/v1/auth.version` (atomically, after the commit), which the server stats on each
//! request to reload its in-memory [`AuthData`] at once.
//!
//! Layout: this file opens the database and keeps the change stamp; the tables' reads and writes
//! are grouped in `users` (users, teams, memberships), `grants` (grants and public scopes),
//! `robots` (robot tokens) and `audit` (the audit table).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::audit::now_ms;
use super::model::{Grant, RobotToken, Team, User};
use crate::error::{Error, Result};

mod audit;
mod grants;
mod robots;
mod users;

const SCHEMA: &str = include_str!("schema.sql");

/// Everything the server needs in memory to authorize requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthData {
    /// Users, sorted by name.
    pub users: Vec<User>,
    /// Teams with their members, sorted by name.
    pub teams: Vec<Team>,
    /// Every grant.
    pub grants: Vec<Grant>,
    /// Scopes anyone (anonymous included) may pull.
    pub public: Vec<String>,
    /// Robot tokens, revoked and expired ones included.
    pub robots: Vec<RobotToken>,
}

/// A stamp of `auth.version`: compare two to know whether the data changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp(pub u64, pub i64, pub i64);

/// The access-control database.
pub struct AuthDb {
    writer: SqlitePool,
    reader: SqlitePool,
    version: PathBuf,
}

fn now() -> i64 {
    now_ms() / 1000
}

fn decode(e: String) -> Error {
    Error::Database(sqlx::Error::Decode(e.into()))
}

impl AuthDb {
    /// Open (creating) `<root>/v1/auth.db` and bring its schema up to date.
    pub async fn open(root: &Path) -> Result<AuthDb> {
        let dir = root.join("v1");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join("auth.db");
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            // No idle reaping: sqlx 0.9.0's reaper can spin (launchbadge/sqlx#3645).
            .idle_timeout(None)
            .max_lifetime(None)
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&writer).await?;
        // The database holds password hashes and token hashes: owner only.
        for f in ["auth.db", "auth.db-wal", "auth.db-shm"] {
            let p = dir.join(f);
            if p.exists() {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
            }
        }
        let reader = SqlitePoolOptions::new()
            // No idle reaping: sqlx 0.9.0's reaper can spin (launchbadge/sqlx#3645).
            .idle_timeout(None)
            .max_lifetime(None)
            .max_connections(4)
            .min_connections(0)
            .connect_with(opts.read_only(true))
            .await?;
        Ok(AuthDb {
            writer,
            reader,
            version: dir.join("auth.version"),
        })
    }

    /// The current stamp of `auth.version` (a cheap `stat`; `Stamp::default()` when absent).
    pub fn stamp(&self) -> Stamp {
        match std::fs::metadata(&self.version) {
            Ok(m) => Stamp(m.ino(), m.mtime(), m.mtime_nsec()),
            Err(_) => Stamp::default(),
        }
    }

    /// Tell servers watching the stamp that the policy changed: a new file, renamed over the
    /// old one (a new inode, so even two changes within one clock tick differ).
    fn bump(&self) -> Result<()> {
        let tmp = self
            .version
            .with_extension(format!("version.{}.tmp", std::process::id()));
        std::fs::write(&tmp, format!("{}\n", now_ms())).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.version).map_err(|e| Error::io(&self.version, e))
    }

    /// Read everything the server holds in memory.
    pub async fn load(&self) -> Result<AuthData> {
        Ok(AuthData {
            users: self.users().await?,
            teams: self.teams().await?,
            grants: self.grants().await?,
            public: self.public_scopes().await?,
            robots: self.robots(None).await?,
        })
    }

    /// Whether the user table has at least one user.
    pub async fn has_users(&self) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM users LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests;
