//! The access-control vocabulary shared by the store, the policy and the token service: actions,
//! roles, users, teams, grants, robot tokens and audit events. Plain data, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Something a caller may do to a repository (or, for `Admin`, to the registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs, push manifests and tags.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
    /// Manage users, teams, grants and tokens (`*` on the wire).
    #[serde(rename = "*")]
    Admin,
}

impl Action {
    /// The action's name in token scopes and claims.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::Admin => "*",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        match s {
            "pull" => Ok(Action::Pull),
            "push" => Ok(Action::Push),
            "delete" => Ok(Action::Delete),
            "*" => Ok(Action::Admin),
            _ => Err(format!("unknown action {s:?} (pull, push, delete or *)")),
        }
    }
}

/// A set of actions, small enough to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Actions(u8);

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions(0);

    fn bit(a: Action) -> u8 {
        match a {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
            Action::Admin => 8,
        }
    }

    /// The set with `a` added.
    pub fn with(self, a: Action) -> Actions {
        Actions(self.0 | Self::bit(a))
    }

    /// Whether `a` is in the set.
    pub fn contains(self, a: Action) -> bool {
        self.0 & Self::bit(a) != 0
    }

    /// Whether every action of `other` is in the set.
    pub fn covers(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union.
    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    /// Intersection.
    pub fn intersect(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The actions in a fixed order (pull, push, delete, *).
    pub fn list(self) -> Vec<Action> {
        [Action::Pull, Action::Push, Action::Delete, Action::Admin]
            .into_iter()
            .filter(|a| self.contains(*a))
            .collect()
    }

    /// Parse `pull,push` (also `*`).
    pub fn parse(s: &str) -> Result<Actions, String> {
        let mut out = Actions::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out = out.with(part.parse()?);
        }
        Ok(out)
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Actions {
        iter.into_iter().fold(Actions::NONE, Actions::with)
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.list().into_iter().map(Action::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// A named bundle of actions, granted on a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// pull
    Reader,
    /// pull, push
    Writer,
    /// pull, push, delete
    Maintainer,
    /// pull, push, delete, and managing users, teams, grants and tokens
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }

    /// The actions the role allows.
    pub fn actions(self) -> Actions {
        let mut a = Actions::NONE.with(Action::Pull);
        if self >= Role::Writer {
            a = a.with(Action::Push);
        }
        if self >= Role::Maintainer {
            a = a.with(Action::Delete);
        }
        if self >= Role::Admin {
            a = a.with(Action::Admin);
        }
        a
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "maintainer" => Ok(Role::Maintainer),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role {s:?} (reader, writer, maintainer or admin)"
            )),
        }
    }
}

/// Who a grant is for: a user, or a team written `@team`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A user, by name.
    User(String),
    /// A team, by name (written `@name`).
    Team(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(u) => f.write_str(u),
            Subject::Team(t) => write!(f, "@{t}"),
        }
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Subject, String> {
        match s.strip_prefix('@') {
            Some(t) => {
                check_principal_name(t)?;
                Ok(Subject::Team(t.to_string()))
            }
            None => {
                check_principal_name(s)?;
                Ok(Subject::User(s.to_string()))
            }
        }
    }
}

/// User and team names: 1–64 characters of `[A-Za-z0-9._-]`, starting with a letter or digit.
/// (No `:` — Basic credentials split on the first one — and no `@`, which marks teams.)
pub fn check_principal_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ))
    }
}

/// A registry user of berth's own table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// PHC-format argon2id hash.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last password change (tokens issued before it are not refreshed).
    pub password_changed_at: i64,
}

/// A named group of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Team name (without `@`).
    pub name: String,
    /// Member user names, sorted.
    pub members: Vec<String>,
}

/// A role on a scope, for a subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    /// Who.
    pub subject: Subject,
    /// What.
    pub role: Role,
    /// Where: a repository name or a glob over names (`team-a/*`, `team-a/**`, `*`).
    pub scope: String,
}

/// A scope and the actions allowed on it: `team-a/*:pull,push`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedActions {
    /// Repository name or glob.
    pub scope: String,
    /// Allowed actions.
    pub actions: Actions,
}

impl FromStr for ScopedActions {
    type Err = String;
    fn from_str(s: &str) -> Result<ScopedActions, String> {
        let (scope, actions) = s.rsplit_once(':').ok_or_else(|| {
            format!("invalid scope {s:?}: expected SCOPE:ACTIONS, e.g. 'team-a/*:pull,push'")
        })?;
        crate::auth::scope::check_pattern(scope)?;
        let actions = Actions::parse(actions)?;
        if actions.is_empty() {
            return Err(format!("invalid scope {s:?}: no actions"));
        }
        Ok(ScopedActions {
            scope: scope.to_string(),
            actions,
        })
    }
}

impl fmt::Display for ScopedActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scope, self.actions)
    }
}

/// A robot token: a secret that logs in as `user`, limited to `scopes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotToken {
    /// Public identifier (also embedded in the secret).
    pub id: String,
    /// The user it acts for.
    pub user: String,
    /// A label for humans (`ci-main`), unique per user.
    pub label: String,
    /// What it may do (never more than the user may).
    pub scopes: Vec<ScopedActions>,
    /// SHA-256 (hex) of the secret; the secret itself is never stored.
    pub secret_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None`: never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds; `None`: not revoked.
    pub revoked_at: Option<i64>,
    /// Unix seconds of the last successful use.
    pub last_used_at: Option<i64>,
}

/// One audit-log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditEvent {
    /// Unix milliseconds.
    pub time_ms: i64,
    /// What happened: `login`, `token.issue`, `manifest.push`, `tag.delete`, `manifest.delete`,
    /// `blob.delete`, `grant`, `revoke`, `user.add`, `user.passwd`, `user.rm`, `team.*`,
    /// `robot.create`, `robot.revoke`, `public.on`, `public.off`.
    pub action: String,
    /// Whether it was allowed and done (`true`) or refused or failed (`false`).
    pub success: bool,
    /// The user (or `robot:<id>`) acting; `None` for anonymous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The client's address, for HTTP requests; `None` for the local CLI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Repository concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Tag, digest, user, grant... whatever the action is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Anything else (reason of a failure, scopes of a token). Never a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Which audit records to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFilter {
    /// Only records at or after this Unix millisecond.
    pub since_ms: Option<i64>,
    /// Only records by this actor.
    pub actor: Option<String>,
    /// Only records about this repository.
    pub repo: Option<String>,
    /// At most this many (the newest), `None`: all.
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert_eq!(Role::Reader.actions().to_string(), "pull");
        assert_eq!(Role::Writer.actions().to_string(), "pull,push");
        assert_eq!(Role::Maintainer.actions().to_string(), "pull,push,delete");
        assert_eq!(Role::Admin.actions().to_string(), "pull,push,delete,*");
        assert!(Role::Maintainer.actions().covers(Role::Writer.actions()));
        assert!(!Role::Writer.actions().contains(Action::Delete));
    }

    #[test]
    fn parsing() {
        assert_eq!(
            Actions::parse("push, pull").unwrap().to_string(),
            "pull,push"
        );
        assert!(Actions::parse("pull,steal").is_err());
        assert_eq!(
            "@ops".parse::<Subject>().unwrap(),
            Subject::Team("ops".into())
        );
        assert!("a:b".parse::<Subject>().is_err());
        assert!("".parse::<Subject>().is_err());
        let s: ScopedActions = "team-a/*:pull,push".parse().unwrap();
        assert_eq!(s.scope, "team-a/*");
        assert_eq!(s.to_string(), "team-a/*:pull,push");
        assert!("team-a".parse::<ScopedActions>().is_err());
        assert!("team-a:".parse::<ScopedActions>().is_err());
    }
}
