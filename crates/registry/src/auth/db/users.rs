//! The `users`, `teams` and `team_members` tables.

use super::{AuthDb, now};
use crate::auth::model::{Team, User};
use crate::error::{Error, Result};

impl AuthDb {
    // ---- users ----

    /// Add a user with an already-hashed password. Error (`Error::Conflict`) when the name exists.
    pub async fn add_user(&self, name: &str, password_hash: &str) -> Result<()> {
        let now = now();
        let r = sqlx::query(
            "INSERT INTO users (name, password_hash, created_at, password_changed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(password_hash)
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(Error::Conflict(format!("user {name}")));
        }
        self.bump()
    }

    /// Replace a user's password hash (and `password_changed_at`); `false`: no such user.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE name = ?",
        )
        .bind(password_hash)
        .bind(now())
        .bind(name)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        self.bump()?;
        Ok(true)
    }

    /// Remove a user with their grants, team memberships and robot tokens; `false`: no such user.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        // Memberships and robot tokens go by cascade; grants name the user as text.
        sqlx::query("DELETE FROM grants WHERE subject = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.bump()?;
        Ok(true)
    }

    /// Users, sorted by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT name, password_hash, created_at, password_changed_at FROM users ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(name, password_hash, created_at, password_changed_at)| User {
                    name,
                    password_hash,
                    created_at,
                    password_changed_at,
                },
            )
            .collect())
    }

    // ---- teams ----

    /// Create a team. `Error::Conflict` when it exists.
    pub async fn add_team(&self, name: &str) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO teams (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(now())
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(Error::Conflict(format!("team {name}")));
        }
        self.bump()
    }

    /// Remove a team with its memberships and grants; `false`: no such team.
    pub async fn remove_team(&self, name: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query("DELETE FROM teams WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM grants WHERE subject = ?")
            .bind(format!("@{name}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.bump()?;
        Ok(true)
    }

    /// Teams with members, sorted.
    pub async fn teams(&self) -> Result<Vec<Team>> {
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM teams ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        let members: Vec<(String, String)> =
            sqlx::query_as("SELECT team, member FROM team_members ORDER BY team, member")
                .fetch_all(&self.reader)
                .await?;
        Ok(names
            .into_iter()
            .map(|(name,)| Team {
                members: members
                    .iter()
                    .filter(|(t, _)| *t == name)
                    .map(|(_, m)| m.clone())
                    .collect(),
                name,
            })
            .collect())
    }

    /// Add a user to a team (both must exist: `Error::NotFound` otherwise); idempotent.
    pub async fn add_member(&self, team: &str, user: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let t: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM teams WHERE name = ?")
            .bind(team)
            .fetch_optional(&mut *tx)
            .await?;
        if t.is_none() {
            return Err(Error::NotFound(format!("team {team}")));
        }
        let u: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM users WHERE name = ?")
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
        if u.is_none() {
            return Err(Error::NotFound(format!("user {user}")));
        }
        sqlx::query("INSERT INTO team_members (team, member) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(team)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.bump()
    }

    /// Remove a user from a team; `false`: was not a member.
    pub async fn remove_member(&self, team: &str, user: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM team_members WHERE team = ? AND member = ?")
            .bind(team)
            .bind(user)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        self.bump()?;
        Ok(true)
    }
}
