//! The `grants` and `public_scopes` tables.

use super::{AuthDb, decode, now};
use crate::auth::model::{Grant, Role, Subject};
use crate::error::{Error, Result};

impl AuthDb {
    /// Grant `role` on `scope` to `subject`; idempotent. A team must exist (`Error::NotFound`);
    /// a user need not be in the user table (users of an htpasswd file or an external issuer
    /// get grants too — [`crate::auth::admin::Admin::grant`] checks names it can know).
    pub async fn grant(&self, grant: &Grant) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        if let Subject::Team(t) = &grant.subject {
            let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM teams WHERE name = ?")
                .bind(t)
                .fetch_optional(&mut *tx)
                .await?;
            if row.is_none() {
                return Err(Error::NotFound(format!("team {t}")));
            }
        }
        sqlx::query(
            "INSERT INTO grants (subject, role, scope, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(grant.subject.to_string())
        .bind(grant.role.as_str())
        .bind(&grant.scope)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.bump()
    }

    /// Remove the grants of `subject` on `scope` (only of `role` when given); how many went.
    pub async fn revoke(&self, subject: &Subject, role: Option<Role>, scope: &str) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM grants WHERE subject = ? AND scope = ? AND (? IS NULL OR role = ?)",
        )
        .bind(subject.to_string())
        .bind(scope)
        .bind(role.map(Role::as_str))
        .bind(role.map(Role::as_str))
        .execute(&self.writer)
        .await?;
        if r.rows_affected() > 0 {
            self.bump()?;
        }
        Ok(r.rows_affected())
    }

    /// Every grant, sorted by subject, scope, role.
    pub async fn grants(&self) -> Result<Vec<Grant>> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT subject, role, scope FROM grants")
                .fetch_all(&self.reader)
                .await?;
        let mut out = rows
            .into_iter()
            .map(|(subject, role, scope)| {
                Ok(Grant {
                    subject: subject.parse().map_err(decode)?,
                    role: role.parse().map_err(decode)?,
                    scope,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| (&a.subject, &a.scope, a.role).cmp(&(&b.subject, &b.scope, b.role)));
        Ok(out)
    }

    /// Make `scope` publicly pullable (`true`) or not; `false` return: nothing changed.
    pub async fn set_public(&self, scope: &str, public: bool) -> Result<bool> {
        let r = if public {
            sqlx::query("INSERT INTO public_scopes (scope, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING")
                .bind(scope)
                .bind(now())
                .execute(&self.writer)
                .await?
        } else {
            sqlx::query("DELETE FROM public_scopes WHERE scope = ?")
                .bind(scope)
                .execute(&self.writer)
                .await?
        };
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        self.bump()?;
        Ok(true)
    }

    /// Public scopes, sorted.
    pub async fn public_scopes(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT scope FROM public_scopes ORDER BY scope")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }
}
