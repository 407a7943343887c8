//! Administrative operations shared by the `berth registry user|team|grant|revoke|grants|token|
//! public|audit` commands and the admin API under `/berth/api/v1/`: each validates its input,
//! changes the database, and records an audit event naming the actor (a failure after
//! validation is recorded too, with `success: false`). Audit records and errors name users,
//! teams, grants and token IDs, never a password, a secret or a hash.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::audit::{AuditLog, now_ms};
use super::db::AuthDb;
use super::model::{
    self, AuditEvent, AuditFilter, Grant, RobotToken, Role, ScopedActions, Subject,
};
use super::{password, scope};
use crate::error::{Error, Result};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password accepted, in bytes (hashing is deliberately slow).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Who performs an administrative operation, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The user name (`local:<unix user>` for the CLI).
    pub name: Option<String>,
    /// The client address, for HTTP requests.
    pub client: Option<String>,
}

impl Actor {
    /// The local CLI user: `local:<$USER>` (or `local:<uid>`).
    pub fn local() -> Actor {
        use std::os::unix::fs::MetadataExt;
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                std::fs::metadata("/proc/self")
                    .ok()
                    .map(|m| m.uid().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Actor {
            name: Some(format!("local:{user}")),
            client: None,
        }
    }
}

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    /// Login name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// Whether the user has the admin role on `*` or `**` (directly or through a team).
    pub admin: bool,
    /// Teams the user belongs to.
    pub teams: Vec<String>,
}

/// A team as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamView {
    /// Team name (without `@`).
    pub name: String,
    /// Member user names, sorted.
    pub members: Vec<String>,
}

/// A grant as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantView {
    /// `user` or `@team`.
    pub subject: String,
    /// The role.
    pub role: Role,
    /// Repository name or glob.
    pub scope: String,
}

/// A robot token as listed (never its secret or hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RobotView {
    /// Public identifier.
    pub id: String,
    /// The user it logs in as.
    pub user: String,
    /// Its label (`name` on the wire, as given when creating it).
    #[serde(rename = "name")]
    pub label: String,
    /// `SCOPE:ACTIONS` each.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339; `None`: never.
    pub expires: Option<String>,
    /// RFC 3339; `None`: not revoked.
    pub revoked: Option<String>,
    /// RFC 3339 of the last successful use; `None`: never used.
    pub last_used: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

impl RobotView {
    fn new(t: &RobotToken, now_secs: i64) -> RobotView {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|e| e <= now_secs) {
            "expired"
        } else {
            "active"
        };
        RobotView {
            id: t.id.clone(),
            user: t.user.clone(),
            label: t.label.clone(),
            scopes: t.scopes.iter().map(ToString::to_string).collect(),
            created: rfc3339(t.created_at),
            expires: t.expires_at.map(rfc3339),
            revoked: t.revoked_at.map(rfc3339),
            last_used: t.last_used_at.map(rfc3339),
            state,
        }
    }
}

/// An audit record as listed: the record with its time also in RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditView {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// The record.
    #[serde(flatten)]
    pub event: AuditEvent,
}

fn rfc3339(secs: i64) -> String {
    berth_oci::time::rfc3339(secs, None)
}

/// Unix milliseconds as RFC 3339 with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", t.trim_end_matches('Z'), ms.rem_euclid(1000))
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Parse an audit `since`: an RFC 3339 time, or a duration (`90s`, `1h`, `7d`) meaning that
/// long before `now_ms`. Unix milliseconds.
pub fn parse_since(s: &str, now_ms: i64) -> Result<i64> {
    if let Ok(d) = crate::config::parse_duration(s) {
        return Ok(now_ms.saturating_sub(d.as_millis() as i64));
    }
    parse_rfc3339_ms(s.trim()).ok_or_else(|| {
        Error::Invalid(format!(
            "invalid time {s:?}: use RFC 3339 (2025-01-02T15:04:05Z) or a duration such as 1h or 7d"
        ))
    })
}

/// Unix milliseconds of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        let digits = format!("{:0<3}", &frac[..n.min(3)]);
        ms = digits.parse::<i64>().ok()?;
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) && &r[3..4] == ":" => {
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (r[1..3].parse::<i64>().ok()? * 3600 + r[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset) * 1000 + ms)
}

fn check_name(name: &str) -> Result<()> {
    model::check_principal_name(name).map_err(Error::Invalid)
}

fn check_scope(s: &str) -> Result<()> {
    scope::check_pattern(s).map_err(Error::Invalid)
}

fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if p.len() > MAX_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "the password is too long: use at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    if p.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "the password contains control characters".into(),
        ));
    }
    Ok(())
}

/// Hash off the async threads: argon2id is slow by design.
async fn hash(password: &str) -> Result<String> {
    let p = password.to_string();
    tokio::task::spawn_blocking(move || password::hash_password(&p))
        .await
        .map_err(|e| Error::io("<password hashing>", std::io::Error::other(e.to_string())))
}

/// What a failure says in the audit log (internal errors stay in the server log).
fn failure(e: &Error) -> String {
    match e {
        Error::Conflict(_) | Error::NotFound(_) | Error::Invalid(_) | Error::Denied(_) => {
            e.to_string()
        }
        _ => "internal error".into(),
    }
}

fn is_global(scope: &str) -> bool {
    scope == "*" || scope == "**"
}

/// Users outside berth's table that grants may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OtherUsers {
    /// None: a grant must name a user of the table.
    #[default]
    None,
    /// The users of an htpasswd file.
    Listed(Vec<String>),
    /// Anyone: an external issuer names the users.
    Any,
}

/// The administrative operations, over one database and its audit log.
pub struct Admin {
    db: Arc<AuthDb>,
    audit: Arc<AuditLog>,
    other_users: OtherUsers,
}

impl Admin {
    /// Operations on `audit`'s database, recorded in `audit`.
    pub fn new(audit: Arc<AuditLog>) -> Admin {
        Admin {
            db: audit.db().clone(),
            audit,
            other_users: OtherUsers::None,
        }
    }

    /// Also accept grants to these users (of an htpasswd file or an external issuer).
    pub fn with_other_users(mut self, other: OtherUsers) -> Admin {
        self.other_users = other;
        self
    }

    /// The database.
    pub fn db(&self) -> &Arc<AuthDb> {
        &self.db
    }

    async fn record<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: String,
        detail: Option<String>,
        result: &Result<T>,
    ) {
        let (success, detail) = match result {
            Ok(_) => (true, detail),
            Err(e) => (false, Some(failure(e))),
        };
        let event = AuditEvent {
            action: action.to_string(),
            success,
            actor: actor.name.clone(),
            client: actor.client.clone(),
            target: Some(target),
            detail,
            ..AuditEvent::default()
        };
        self.audit.record(event).await;
    }

    // ---- users ----

    /// Add a user; with `admin`, also grant them the admin role on `*`.
    pub async fn user_add(
        &self,
        actor: &Actor,
        name: &str,
        password: &str,
        admin: bool,
    ) -> Result<()> {
        check_name(name)?;
        check_password(password)?;
        let hash = hash(password).await?;
        let r = async {
            self.db.add_user(name, &hash).await?;
            if admin {
                let g = Grant {
                    subject: Subject::User(name.to_string()),
                    role: Role::Admin,
                    scope: "*".into(),
                };
                self.db.grant(&g).await?;
            }
            Ok(())
        }
        .await;
        let detail = admin.then(|| "with the admin role on *".to_string());
        self.record(actor, "user.add", name.to_string(), detail, &r)
            .await;
        r
    }

    /// Change a user's password.
    pub async fn user_passwd(&self, actor: &Actor, name: &str, password: &str) -> Result<()> {
        check_name(name)?;
        check_password(password)?;
        let hash = hash(password).await?;
        let r = match self.db.set_password(name, &hash).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NotFound(format!("user {name}"))),
            Err(e) => Err(e),
        };
        self.record(actor, "user.passwd", name.to_string(), None, &r)
            .await;
        r
    }

    /// Remove a user, with their grants, memberships and robot tokens.
    pub async fn user_rm(&self, actor: &Actor, name: &str) -> Result<()> {
        check_name(name)?;
        let r = match self.db.remove_user(name).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NotFound(format!("user {name}"))),
            Err(e) => Err(e),
        };
        self.record(actor, "user.rm", name.to_string(), None, &r)
            .await;
        r
    }

    /// Users, sorted by name.
    pub async fn users(&self) -> Result<Vec<UserView>> {
        let users = self.db.users().await?;
        let teams = self.db.teams().await?;
        let grants = self.db.grants().await?;
        let global_admin = |s: &Subject| {
            grants
                .iter()
                .any(|g| &g.subject == s && g.role == Role::Admin && is_global(&g.scope))
        };
        let admin_teams: BTreeSet<&str> = teams
            .iter()
            .filter(|t| global_admin(&Subject::Team(t.name.clone())))
            .map(|t| t.name.as_str())
            .collect();
        Ok(users
            .into_iter()
            .map(|u| {
                let member_of: Vec<String> = teams
                    .iter()
                    .filter(|t| t.members.contains(&u.name))
                    .map(|t| t.name.clone())
                    .collect();
                let admin = global_admin(&Subject::User(u.name.clone()))
                    || member_of.iter().any(|t| admin_teams.contains(t.as_str()));
                UserView {
                    created_at: rfc3339(u.created_at),
                    name: u.name,
                    admin,
                    teams: member_of,
                }
            })
            .collect())
    }

    // ---- teams ----

    /// Create a team.
    pub async fn team_add(&self, actor: &Actor, name: &str) -> Result<()> {
        check_name(name)?;
        let r = self.db.add_team(name).await;
        self.record(actor, "team.add", format!("@{name}"), None, &r)
            .await;
        r
    }

    /// Remove a team, with its memberships and grants.
    pub async fn team_rm(&self, actor: &Actor, name: &str) -> Result<()> {
        check_name(name)?;
        let r = match self.db.remove_team(name).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NotFound(format!("team {name}"))),
            Err(e) => Err(e),
        };
        self.record(actor, "team.rm", format!("@{name}"), None, &r)
            .await;
        r
    }

    /// Teams with their members, sorted.
    pub async fn teams(&self) -> Result<Vec<TeamView>> {
        Ok(self
            .db
            .teams()
            .await?
            .into_iter()
            .map(|t| TeamView {
                name: t.name,
                members: t.members,
            })
            .collect())
    }

    /// Add `user` to `team` (idempotent).
    pub async fn member_add(&self, actor: &Actor, team: &str, user: &str) -> Result<()> {
        check_name(team)?;
        check_name(user)?;
        let r = self.db.add_member(team, user).await;
        self.record(
            actor,
            "team.member.add",
            format!("@{team} {user}"),
            None,
            &r,
        )
        .await;
        r
    }

    /// Remove `user` from `team`.
    pub async fn member_rm(&self, actor: &Actor, team: &str, user: &str) -> Result<()> {
        check_name(team)?;
        check_name(user)?;
        let r = match self.db.remove_member(team, user).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NotFound(format!("member {user} of team {team}"))),
            Err(e) => Err(e),
        };
        self.record(actor, "team.member.rm", format!("@{team} {user}"), None, &r)
            .await;
        r
    }

    // ---- grants and public scopes ----

    /// Grant `role` on `scope` to `subject` (idempotent).
    pub async fn grant(
        &self,
        actor: &Actor,
        subject: Subject,
        role: Role,
        scope: &str,
    ) -> Result<()> {
        check_scope(scope)?;
        let target = format!("{subject} {role} {scope}");
        let g = Grant {
            subject,
            role,
            scope: scope.to_string(),
        };
        let r = async {
            if let Subject::User(u) = &g.subject {
                let known = match &self.other_users {
                    OtherUsers::Any => true,
                    OtherUsers::Listed(names) => names.iter().any(|n| n == u),
                    OtherUsers::None => false,
                };
                if !known && !self.db.users().await?.iter().any(|x| &x.name == u) {
                    return Err(Error::NotFound(format!("user {u}")));
                }
            }
            self.db.grant(&g).await
        }
        .await;
        self.record(actor, "grant", target, None, &r).await;
        r
    }

    /// Remove the grants of `subject` on `scope` (only `role` when given); how many went.
    pub async fn revoke(
        &self,
        actor: &Actor,
        subject: Subject,
        role: Option<Role>,
        scope: &str,
    ) -> Result<u64> {
        check_scope(scope)?;
        let role_text = role.map_or("any role".to_string(), |r| r.to_string());
        let target = format!("{subject} {role_text} {scope}");
        let r = match self.db.revoke(&subject, role, scope).await {
            Ok(0) => Err(Error::NotFound(format!(
                "grant of {role_text} on {scope} to {subject}"
            ))),
            other => other,
        };
        let detail = r.as_ref().ok().map(|n| format!("{n} removed"));
        self.record(actor, "revoke", target, detail, &r).await;
        r
    }

    /// Every grant, sorted by subject, scope, role.
    pub async fn grants(&self) -> Result<Vec<GrantView>> {
        Ok(self
            .db
            .grants()
            .await?
            .into_iter()
            .map(|g| GrantView {
                subject: g.subject.to_string(),
                role: g.role,
                scope: g.scope,
            })
            .collect())
    }

    /// Let anyone pull from `scope` (`on`), or stop that; whether anything changed.
    pub async fn set_public(&self, actor: &Actor, scope: &str, on: bool) -> Result<bool> {
        check_scope(scope)?;
        let r = self.db.set_public(scope, on).await;
        let action = if on { "public.on" } else { "public.off" };
        let detail = matches!(r, Ok(false)).then(|| "unchanged".to_string());
        self.record(actor, action, scope.to_string(), detail, &r)
            .await;
        r
    }

    /// Public scopes, sorted.
    pub async fn public_scopes(&self) -> Result<Vec<String>> {
        self.db.public_scopes().await
    }

    // ---- robot tokens ----

    /// Create a robot token for `user`, labelled `label`, limited to `scopes`, expiring after
    /// `expires` (never when `None`). Returns it and its secret, which is never shown again.
    pub async fn token_create(
        &self,
        actor: &Actor,
        user: &str,
        label: &str,
        scopes: Vec<ScopedActions>,
        expires: Option<Duration>,
    ) -> Result<(RobotView, String)> {
        check_name(user)?;
        model::check_principal_name(label)
            .map_err(|e| Error::Invalid(format!("token name: {e}")))?;
        if scopes.is_empty() {
            return Err(Error::Invalid(
                "a robot token needs at least one scope, e.g. 'team-a/*:pull,push'".into(),
            ));
        }
        for s in &scopes {
            check_scope(&s.scope)?;
            if s.actions.is_empty() {
                return Err(Error::Invalid(format!("scope {}: no actions", s.scope)));
            }
        }
        if expires.is_some_and(|d| d.as_secs() == 0) {
            return Err(Error::Invalid(
                "the expiry must be at least one second".into(),
            ));
        }
        let now = now_secs();
        let (id, secret) = password::new_robot_secret();
        let token = RobotToken {
            id: id.clone(),
            user: user.to_string(),
            label: label.to_string(),
            secret_hash: password::secret_hash(&secret),
            scopes,
            created_at: now,
            expires_at: expires
                .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
            revoked_at: None,
            last_used_at: None,
        };
        let r = async {
            if !self.db.users().await?.iter().any(|u| u.name == user) {
                return Err(Error::NotFound(format!("user {user}")));
            }
            self.db.add_robot(&token).await
        }
        .await;
        let view = RobotView::new(&token, now);
        let detail = format!(
            "id {id}; scopes {}; expires {}",
            view.scopes.join(" "),
            view.expires.as_deref().unwrap_or("never")
        );
        self.record(
            actor,
            "robot.create",
            format!("{user}/{label}"),
            Some(detail),
            &r,
        )
        .await;
        r.map(|()| (view, secret))
    }

    /// Robot tokens (of `user` when given), newest first.
    pub async fn token_ls(&self, user: Option<&str>) -> Result<Vec<RobotView>> {
        let now = now_secs();
        Ok(self
            .db
            .robots(user)
            .await?
            .iter()
            .map(|t| RobotView::new(t, now))
            .collect())
    }

    /// Revoke a robot token by ID, or by label (of `user` when given).
    pub async fn token_revoke(
        &self,
        actor: &Actor,
        user: Option<&str>,
        id_or_label: &str,
    ) -> Result<()> {
        if let Some(u) = user {
            check_name(u)?;
        }
        if id_or_label.is_empty() {
            return Err(Error::Invalid(
                "name the token to revoke (its ID or name)".into(),
            ));
        }
        let target = match user {
            Some(u) => format!("{u}/{id_or_label}"),
            None => id_or_label.to_string(),
        };
        let r = match self.db.revoke_robot(user, id_or_label).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NotFound(format!("active token {target}"))),
            Err(e) => Err(e),
        };
        self.record(actor, "robot.revoke", target, None, &r).await;
        r
    }

    // ---- audit ----

    /// Audit records matching `filter`, oldest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditView>> {
        Ok(self
            .db
            .audit_log(filter)
            .await?
            .into_iter()
            .map(|e| AuditView {
                time: rfc3339_ms(e.time_ms),
                event: e,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
