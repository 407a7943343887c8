//! The permission snapshot: an in-memory copy of users, teams, grants, public scopes and robot
//! tokens, indexed for the questions asked on every request — who is this, and which actions may
//! they take on this repository. Deny by default: a caller may do only what a grant (or a public
//! scope, for pull) gives; a robot token may do only what both its own scopes and its user's
//! grants give.

use std::collections::HashMap;

use super::db::AuthData;
use super::model::{Action, Actions, RobotToken, Role, Subject, User};
use super::scope;

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Who {
    /// No credentials.
    Anonymous,
    /// A user (of berth's table, of the htpasswd file, or named by an external issuer).
    User(String),
    /// A robot token acting for `user`.
    Robot {
        /// The user it acts for.
        user: String,
        /// The robot token's ID.
        id: String,
    },
}

impl Who {
    /// The user name, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Who::Anonymous => None,
            Who::User(u) | Who::Robot { user: u, .. } => Some(u),
        }
    }

    /// The name the audit log gives the actor: `alice`, `alice/robot:<id>`, or none.
    pub fn actor(&self) -> Option<String> {
        match self {
            Who::Anonymous => None,
            Who::User(u) => Some(u.clone()),
            Who::Robot { user, id } => Some(format!("{user}/robot:{id}")),
        }
    }
}

/// The snapshot.
#[derive(Debug, Default)]
pub struct Policy {
    users: HashMap<String, User>,
    teams_of: HashMap<String, Vec<String>>,
    grants: HashMap<Subject, Vec<(Role, String)>>,
    public: Vec<String>,
    robots: HashMap<String, RobotToken>,
}

impl Policy {
    /// Index `data`.
    pub fn new(data: AuthData) -> Policy {
        let mut p = Policy::default();
        for u in data.users {
            p.users.insert(u.name.clone(), u);
        }
        for t in data.teams {
            for m in t.members {
                p.teams_of.entry(m).or_default().push(t.name.clone());
            }
        }
        for g in data.grants {
            p.grants
                .entry(g.subject)
                .or_default()
                .push((g.role, g.scope));
        }
        p.public = data.public;
        for r in data.robots {
            p.robots.insert(r.id.clone(), r);
        }
        p
    }

    /// Whether berth's table has any user.
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// A user of berth's table.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// A robot token that may be used now (exists, not revoked, not expired at `now`).
    pub fn live_robot(&self, id: &str, now: i64) -> Option<&RobotToken> {
        self.robots
            .get(id)
            .filter(|r| r.revoked_at.is_none() && r.expires_at.is_none_or(|e| e > now))
    }

    /// Whether anyone may pull `repo`.
    pub fn is_public(&self, repo: &str) -> bool {
        self.public.iter().any(|p| scope::matches(p, repo))
    }

    /// The actions `user`'s grants (direct and through teams) give on `repo`.
    fn user_actions(&self, user: &str, repo: &str) -> Actions {
        let mut acts = Actions::NONE;
        let mut add = |subject: &Subject| {
            if let Some(gs) = self.grants.get(subject) {
                for (role, pattern) in gs {
                    if scope::matches(pattern, repo) {
                        acts = acts.union(role.actions());
                    }
                }
            }
        };
        add(&Subject::User(user.to_string()));
        if let Some(teams) = self.teams_of.get(user) {
            for t in teams {
                add(&Subject::Team(t.clone()));
            }
        }
        acts
    }

    /// The actions `who` may take on repository `repo`, at Unix time `now`.
    pub fn allowed(&self, who: &Who, repo: &str, now: i64) -> Actions {
        let public = if self.is_public(repo) {
            Actions::NONE.with(Action::Pull)
        } else {
            Actions::NONE
        };
        let own = match who {
            Who::Anonymous => Actions::NONE,
            Who::User(u) => self.user_actions(u, repo),
            Who::Robot { user, id } => match self.live_robot(id, now) {
                Some(r) if &r.user == user => {
                    let limit = r
                        .scopes
                        .iter()
                        .filter(|s| scope::matches(&s.scope, repo))
                        .fold(Actions::NONE, |a, s| a.union(s.actions));
                    // The administrative action never passes through a robot token.
                    let limit = limit.intersect(Role::Maintainer.actions());
                    self.user_actions(user, repo).intersect(limit)
                }
                _ => return Actions::NONE,
            },
        };
        own.union(public)
    }

    /// Whether `who` administers the registry: a user (not a robot) with the admin role on every
    /// repository (`*` or `**`).
    pub fn is_admin(&self, who: &Who) -> bool {
        let Who::User(user) = who else {
            return false;
        };
        let admin_on_all = |subject: Subject| {
            self.grants.get(&subject).is_some_and(|gs| {
                gs.iter()
                    .any(|(r, p)| *r == Role::Admin && (p == "*" || p == "**"))
            })
        };
        admin_on_all(Subject::User(user.clone()))
            || self
                .teams_of
                .get(user)
                .is_some_and(|ts| ts.iter().any(|t| admin_on_all(Subject::Team(t.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::model::{Grant, ScopedActions, Team};

    fn user(name: &str) -> User {
        User {
            name: name.into(),
            password_hash: String::new(),
            created_at: 0,
            password_changed_at: 0,
        }
    }

    fn grant(s: &str, r: Role, scope: &str) -> Grant {
        Grant {
            subject: s.parse().unwrap(),
            role: r,
            scope: scope.into(),
        }
    }

    fn robot(
        id: &str,
        user: &str,
        scopes: &[&str],
        revoked: bool,
        expires: Option<i64>,
    ) -> RobotToken {
        RobotToken {
            id: id.into(),
            user: user.into(),
            label: id.into(),
            scopes: scopes
                .iter()
                .map(|s| s.parse::<ScopedActions>().unwrap())
                .collect(),
            secret_hash: String::new(),
            created_at: 0,
            expires_at: expires,
            revoked_at: revoked.then_some(1),
            last_used_at: None,
        }
    }

    fn policy() -> Policy {
        Policy::new(AuthData {
            users: vec![user("root"), user("ann"), user("bob"), user("cid")],
            teams: vec![Team {
                name: "devs".into(),
                members: vec!["bob".into()],
            }],
            grants: vec![
                grant("root", Role::Admin, "*"),
                grant("ann", Role::Reader, "team-a/*"),
                grant("ann", Role::Maintainer, "team-a/ann"),
                grant("@devs", Role::Writer, "team-a/**"),
                grant("cid", Role::Admin, "team-c/*"),
            ],
            public: vec!["library/*".into()],
            robots: vec![
                robot("r1", "bob", &["team-a/app:pull,push,delete"], false, None),
                robot("r2", "bob", &["team-a/app:pull"], true, None),
                robot("r3", "bob", &["team-a/app:pull"], false, Some(100)),
                robot("r4", "root", &["*:*"], false, None),
            ],
        })
    }

    #[test]
    fn deny_by_default_and_grants_add_up() {
        let p = policy();
        let ann = Who::User("ann".into());
        assert_eq!(p.allowed(&ann, "team-a/x", 0).to_string(), "pull");
        assert_eq!(
            p.allowed(&ann, "team-a/ann", 0).to_string(),
            "pull,push,delete"
        );
        assert!(p.allowed(&ann, "team-b/x", 0).is_empty());
        assert!(p.allowed(&ann, "team-a/x/y", 0).is_empty());
        let bob = Who::User("bob".into());
        assert_eq!(p.allowed(&bob, "team-a/x/y", 0).to_string(), "pull,push");
        assert!(
            p.allowed(&Who::User("nobody".into()), "team-a/x", 0)
                .is_empty()
        );
        assert!(p.allowed(&Who::Anonymous, "team-a/x", 0).is_empty());
        assert_eq!(
            p.allowed(&Who::Anonymous, "library/hello-world", 0)
                .to_string(),
            "pull"
        );
        assert!(p.allowed(&Who::Anonymous, "library/a/b", 0).is_empty());
    }

    #[test]
    fn robots_are_limited_by_their_scopes_and_their_user() {
        let p = policy();
        let r = |id: &str, user: &str| Who::Robot {
            user: user.into(),
            id: id.into(),
        };
        // Scope allows delete, but bob (writer through devs) may not delete.
        assert_eq!(
            p.allowed(&r("r1", "bob"), "team-a/app", 0).to_string(),
            "pull,push"
        );
        assert!(p.allowed(&r("r1", "bob"), "team-a/other", 0).is_empty());
        assert!(
            p.allowed(&r("r1", "ann"), "team-a/app", 0).is_empty(),
            "wrong user"
        );
        assert!(
            p.allowed(&r("r2", "bob"), "team-a/app", 0).is_empty(),
            "revoked"
        );
        assert_eq!(
            p.allowed(&r("r3", "bob"), "team-a/app", 99).to_string(),
            "pull"
        );
        assert!(
            p.allowed(&r("r3", "bob"), "team-a/app", 100).is_empty(),
            "expired"
        );
        assert!(p.allowed(&r("nope", "bob"), "team-a/app", 0).is_empty());
        // A robot of an admin never administers.
        assert!(!p.allowed(&r("r4", "root"), "x", 0).contains(Action::Admin));
        assert!(!p.is_admin(&r("r4", "root")));
    }

    #[test]
    fn admins() {
        let p = policy();
        assert!(p.is_admin(&Who::User("root".into())));
        assert!(
            !p.is_admin(&Who::User("cid".into())),
            "admin of a namespace only"
        );
        assert!(!p.is_admin(&Who::Anonymous));
        assert!(
            p.allowed(&Who::User("cid".into()), "team-c/x", 0)
                .contains(Action::Admin)
        );
    }
}
