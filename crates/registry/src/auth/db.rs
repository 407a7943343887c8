//! The access-control database: users, teams, grants, public scopes, robot tokens and the audit
//! log, in SQLite at `<root>/v1/auth.db` (WAL, one writer connection, a small reader pool). The
//! CLI writes it directly, server running or not; every change also rewrites
//! `<root>/v1/auth.version` (atomically, after the commit), which the server stats on each
//! request to reload its in-memory [`AuthData`] at once.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::audit::now_ms;
use super::model::{
    AuditEvent, AuditFilter, Grant, RobotToken, Role, ScopedActions, Subject, Team, User,
};
use crate::error::{Error, Result};

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

    // ---- grants and public scopes ----

    /// Grant `role` on `scope` to `subject`; idempotent. A team must exist (`Error::NotFound`);
    /// a user need not be in the user table (users of an htpasswd file or an external issuer
    /// get grants too — [`super::admin::Admin::grant`] checks names it can know).
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

    // ---- robot tokens ----

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

    // ---- audit ----

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::model::Actions;

    fn robot(id: &str, user: &str, label: &str) -> RobotToken {
        RobotToken {
            id: id.into(),
            user: user.into(),
            label: label.into(),
            scopes: vec!["team-a/*:pull,push".parse().unwrap()],
            secret_hash: "ab".repeat(32),
            created_at: now(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[tokio::test]
    async fn users_teams_grants_and_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let db = AuthDb::open(dir.path()).await.unwrap();
        assert_eq!(db.stamp(), Stamp::default());
        assert!(!db.has_users().await.unwrap());
        db.add_user("alice", "h1").await.unwrap();
        let s1 = db.stamp();
        assert_ne!(s1, Stamp::default());
        assert!(matches!(
            db.add_user("alice", "h2").await,
            Err(Error::Conflict(_))
        ));
        assert!(db.has_users().await.unwrap());
        assert!(db.set_password("alice", "h3").await.unwrap());
        assert_ne!(db.stamp(), s1, "every change bumps the stamp");
        assert!(!db.set_password("nobody", "h").await.unwrap());
        assert_eq!(db.users().await.unwrap()[0].password_hash, "h3");

        db.add_team("ops").await.unwrap();
        assert!(matches!(
            db.add_member("ops", "bob").await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            db.add_member("dev", "alice").await,
            Err(Error::NotFound(_))
        ));
        db.add_member("ops", "alice").await.unwrap();
        db.add_member("ops", "alice").await.unwrap();
        assert_eq!(
            db.teams().await.unwrap()[0].members,
            vec!["alice".to_string()]
        );

        let g = |s: &str, r: Role, sc: &str| Grant {
            subject: s.parse().unwrap(),
            role: r,
            scope: sc.into(),
        };
        db.grant(&g("alice", Role::Writer, "team-a/*"))
            .await
            .unwrap();
        db.grant(&g("alice", Role::Writer, "team-a/*"))
            .await
            .unwrap();
        db.grant(&g("@ops", Role::Reader, "**")).await.unwrap();
        assert!(matches!(
            db.grant(&g("@nope", Role::Reader, "x")).await,
            Err(Error::NotFound(_))
        ));
        assert_eq!(db.grants().await.unwrap().len(), 2);
        assert!(db.set_public("library/*", true).await.unwrap());
        assert!(!db.set_public("library/*", true).await.unwrap());
        assert_eq!(
            db.public_scopes().await.unwrap(),
            vec!["library/*".to_string()]
        );

        db.add_robot(&robot("0123456789ab", "alice", "ci"))
            .await
            .unwrap();
        assert!(matches!(
            db.add_robot(&robot("0123456789ac", "alice", "ci")).await,
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            db.add_robot(&robot("0123456789ad", "zed", "ci")).await,
            Err(Error::NotFound(_))
        ));
        let data = db.load().await.unwrap();
        assert_eq!(data.robots.len(), 1);
        assert_eq!(
            data.robots[0].scopes[0].actions,
            Actions::parse("pull,push").unwrap()
        );
        db.touch_robot("0123456789ab", 42).await.unwrap();
        assert_eq!(
            db.robots(Some("alice")).await.unwrap()[0].last_used_at,
            Some(42)
        );
        assert!(db.revoke_robot(Some("alice"), "ci").await.unwrap());
        assert!(
            !db.revoke_robot(None, "ci").await.unwrap(),
            "already revoked"
        );
        // Once revoked, the label can be used again.
        db.add_robot(&robot("0123456789ae", "alice", "ci"))
            .await
            .unwrap();

        assert_eq!(
            db.revoke(&"alice".parse().unwrap(), Some(Role::Reader), "team-a/*")
                .await
                .unwrap(),
            0
        );
        assert!(db.remove_user("alice").await.unwrap());
        let data = db.load().await.unwrap();
        assert!(data.users.is_empty());
        assert_eq!(
            data.grants.len(),
            1,
            "alice's grant went, the team's stayed"
        );
        assert!(data.teams[0].members.is_empty());
        assert!(data.robots.is_empty());
        assert!(db.remove_team("ops").await.unwrap());
        assert!(db.grants().await.unwrap().is_empty());
        assert!(!db.remove_team("ops").await.unwrap());
    }

    #[tokio::test]
    async fn audit_filters_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let db = AuthDb::open(dir.path()).await.unwrap();
        for (i, who) in ["alice", "bob", "alice"].iter().enumerate() {
            db.audit(&AuditEvent {
                time_ms: 1000 * (i as i64 + 1),
                action: "manifest.push".into(),
                success: true,
                actor: Some(who.to_string()),
                repo: Some(format!("r{i}")),
                ..AuditEvent::default()
            })
            .await
            .unwrap();
        }
        let all = db.audit_log(&AuditFilter::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.time_ms).collect::<Vec<_>>(),
            vec![1000, 2000, 3000]
        );
        let f = AuditFilter {
            actor: Some("alice".into()),
            ..AuditFilter::default()
        };
        assert_eq!(db.audit_log(&f).await.unwrap().len(), 2);
        let f = AuditFilter {
            since_ms: Some(2000),
            limit: Some(1),
            ..AuditFilter::default()
        };
        let got = db.audit_log(&f).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].time_ms, 3000, "the newest within the limit");
        let f = AuditFilter {
            repo: Some("r1".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            db.audit_log(&f).await.unwrap()[0].actor.as_deref(),
            Some("bob")
        );
    }
}
