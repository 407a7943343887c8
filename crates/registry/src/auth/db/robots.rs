//! The `robots` table: robot tokens, their revocation and their last use.

use super::{AuthDb, now};
use crate::auth::model::{RobotToken, ScopedActions};
use crate::error::{Error, Result};

type RobotRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn robot_from_row(r: RobotRow) -> Result<RobotToken> {
    let scopes =
        r.3.split_whitespace()
            .map(|s| s.parse::<ScopedActions>())
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|e| Error::Database(sqlx::Error::Decode(e.into())))?;
    Ok(RobotToken {
        id: r.0,
        user: r.1,
        label: r.2,
        scopes,
        secret_hash: r.4,
        created_at: r.5,
        expires_at: r.6,
        revoked_at: r.7,
        last_used_at: r.8,
    })
}

impl AuthDb {
    /// Store a new robot token (its `user` must exist: `Error::NotFound`; its label must not
    /// name another live token of that user: `Error::Conflict`).
    pub async fn add_robot(&self, token: &RobotToken) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let u: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM users WHERE name = ?")
            .bind(&token.user)
            .fetch_optional(&mut *tx)
            .await?;
        if u.is_none() {
            return Err(Error::NotFound(format!("user {}", token.user)));
        }
        let live: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM robots WHERE owner = ? AND label = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(&token.user)
        .bind(&token.label)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?;
        if live.is_some() {
            return Err(Error::Conflict(format!(
                "token {} of {}",
                token.label, token.user
            )));
        }
        let scopes: Vec<String> = token.scopes.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT INTO robots (id, owner, label, scopes, secret_hash, created_at, expires_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.user)
        .bind(&token.label)
        .bind(scopes.join(" "))
        .bind(&token.secret_hash)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.revoked_at)
        .bind(token.last_used_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.bump()
    }

    /// Revoke a robot token by ID, or by label (of `user` when given); `false`: no such live
    /// token. A label that names live tokens of several users needs `user`.
    pub async fn revoke_robot(&self, user: Option<&str>, id_or_label: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM robots WHERE revoked_at IS NULL AND (id = ? OR label = ?) AND (? IS NULL OR owner = ?)",
        )
        .bind(id_or_label)
        .bind(id_or_label)
        .bind(user)
        .bind(user)
        .fetch_all(&mut *tx)
        .await?;
        let id = match ids.as_slice() {
            [] => return Ok(false),
            [(id,)] => id.clone(),
            _ => match ids.iter().find(|(id,)| id == id_or_label) {
                Some((id,)) => id.clone(),
                None => {
                    return Err(Error::Invalid(format!(
                        "several tokens are named {id_or_label}: give the user (--user) or the token ID"
                    )));
                }
            },
        };
        sqlx::query("UPDATE robots SET revoked_at = ? WHERE id = ?")
            .bind(now())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.bump()?;
        Ok(true)
    }

    /// Robot tokens (of `user` when given), newest first.
    pub async fn robots(&self, user: Option<&str>) -> Result<Vec<RobotToken>> {
        let rows: Vec<RobotRow> = sqlx::query_as(
            "SELECT id, owner, label, scopes, secret_hash, created_at, expires_at, revoked_at, last_used_at FROM robots WHERE (? IS NULL OR owner = ?) ORDER BY created_at DESC, id",
        )
        .bind(user)
        .bind(user)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(robot_from_row).collect()
    }

    /// Record a robot token's last use (does not touch `auth.version`: not a policy change).
    pub async fn touch_robot(&self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE robots SET last_used_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
