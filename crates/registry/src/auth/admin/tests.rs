//! Tests of the administrative operations over a temporary database.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::auth::model::{Actions, AuditFilter};

async fn setup(log: Option<&std::path::Path>) -> (tempfile::TempDir, Admin) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(AuthDb::open(dir.path()).await.unwrap());
    let audit = Arc::new(AuditLog::new(db, log).unwrap());
    (dir, Admin::new(audit))
}

fn me() -> Actor {
    Actor {
        name: Some("local:tester".into()),
        client: None,
    }
}

fn scopes(s: &[&str]) -> Vec<ScopedActions> {
    s.iter().map(|s| s.parse().unwrap()).collect()
}

#[tokio::test]
async fn users_lifecycle() {
    let (_dir, a) = setup(None).await;
    a.user_add(&me(), "alice", "correct horse", true)
        .await
        .unwrap();
    a.user_add(&me(), "bob", "battery staple", false)
        .await
        .unwrap();
    assert!(matches!(
        a.user_add(&me(), "bob", "another one", false).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        a.user_add(&me(), "carol", "short", false).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        a.user_add(&me(), "a:b", "long enough", false).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        a.user_add(&me(), "@ops", "long enough", false).await,
        Err(Error::Invalid(_))
    ));

    let users = a.users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(users[0].admin);
    assert!(!users[1].admin);
    assert!(users[0].created_at.ends_with('Z'));
    let grants = a.grants().await.unwrap();
    assert_eq!(
        grants,
        [GrantView {
            subject: "alice".into(),
            role: Role::Admin,
            scope: "*".into()
        }]
    );

    a.user_passwd(&me(), "bob", "new password!").await.unwrap();
    assert!(matches!(
        a.user_passwd(&me(), "nobody", "new password!").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        a.user_passwd(&me(), "bob", "short").await,
        Err(Error::Invalid(_))
    ));
    a.user_rm(&me(), "bob").await.unwrap();
    let e = a.user_rm(&me(), "bob").await.unwrap_err();
    assert_eq!(e.to_string(), "user bob not found");
    assert_eq!(a.users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn teams_grants_and_public_scopes() {
    let (_dir, a) = setup(None).await;
    a.user_add(&me(), "alice", "password-a", false)
        .await
        .unwrap();
    a.user_add(&me(), "bob", "password-b", false).await.unwrap();
    a.team_add(&me(), "ops").await.unwrap();
    assert!(matches!(
        a.team_add(&me(), "ops").await,
        Err(Error::Conflict(_))
    ));
    a.member_add(&me(), "ops", "bob").await.unwrap();
    a.member_add(&me(), "ops", "bob").await.unwrap();
    assert!(matches!(
        a.member_add(&me(), "ops", "nobody").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        a.member_add(&me(), "devs", "bob").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        a.teams().await.unwrap(),
        [TeamView {
            name: "ops".into(),
            members: vec!["bob".into()]
        }]
    );

    // A team's admin grant on ** makes its members admins.
    a.grant(&me(), Subject::Team("ops".into()), Role::Admin, "**")
        .await
        .unwrap();
    a.grant(
        &me(),
        Subject::User("alice".into()),
        Role::Writer,
        "team-a/*",
    )
    .await
    .unwrap();
    a.grant(
        &me(),
        Subject::User("alice".into()),
        Role::Reader,
        "team-a/*",
    )
    .await
    .unwrap();
    assert!(matches!(
        a.grant(&me(), Subject::User("alice".into()), Role::Reader, "Team-A")
            .await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        a.grant(&me(), Subject::User("nobody".into()), Role::Reader, "x")
            .await,
        Err(Error::NotFound(_))
    ));
    let users = a.users().await.unwrap();
    assert!(!users[0].admin && users[1].admin);
    assert_eq!(users[1].teams, ["ops"]);
    assert_eq!(a.grants().await.unwrap().len(), 3);

    let alice = || Subject::User("alice".into());
    assert_eq!(
        a.revoke(&me(), alice(), Some(Role::Reader), "team-a/*")
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        a.revoke(&me(), alice(), Some(Role::Reader), "team-a/*")
            .await,
        Err(Error::NotFound(_))
    ));
    a.grant(&me(), alice(), Role::Reader, "team-a/*")
        .await
        .unwrap();
    assert_eq!(a.revoke(&me(), alice(), None, "team-a/*").await.unwrap(), 2);

    a.member_rm(&me(), "ops", "bob").await.unwrap();
    assert!(matches!(
        a.member_rm(&me(), "ops", "bob").await,
        Err(Error::NotFound(_))
    ));
    assert!(!a.users().await.unwrap()[1].admin);
    a.team_rm(&me(), "ops").await.unwrap();
    assert!(matches!(
        a.team_rm(&me(), "ops").await,
        Err(Error::NotFound(_))
    ));
    assert!(a.grants().await.unwrap().is_empty());

    assert!(a.set_public(&me(), "library/*", true).await.unwrap());
    assert!(!a.set_public(&me(), "library/*", true).await.unwrap());
    assert_eq!(a.public_scopes().await.unwrap(), ["library/*"]);
    assert!(a.set_public(&me(), "library/*", false).await.unwrap());
    assert!(a.public_scopes().await.unwrap().is_empty());
    assert!(matches!(
        a.set_public(&me(), "", true).await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test]
async fn robot_tokens() {
    let (_dir, a) = setup(None).await;
    a.user_add(&me(), "alice", "password-a", false)
        .await
        .unwrap();
    let s = scopes(&["team-a/*:pull,push"]);
    assert!(matches!(
        a.token_create(&me(), "nobody", "ci", s.clone(), None).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        a.token_create(&me(), "alice", "ci", vec![], None).await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        a.token_create(&me(), "alice", "c i", s.clone(), None).await,
        Err(Error::Invalid(_))
    ));
    let day = Some(Duration::from_secs(86_400));
    let (view, secret) = a
        .token_create(&me(), "alice", "ci", s.clone(), day)
        .await
        .unwrap();
    assert!(secret.starts_with("berth_"), "{secret}");
    assert_eq!(password::robot_id(&secret), Some(view.id.as_str()));
    assert_eq!((view.user.as_str(), view.label.as_str()), ("alice", "ci"));
    assert_eq!(view.scopes, ["team-a/*:pull,push"]);
    assert_eq!(view.state, "active");
    assert!(view.expires.is_some() && view.revoked.is_none() && view.last_used.is_none());
    assert!(matches!(
        a.token_create(&me(), "alice", "ci", s.clone(), None).await,
        Err(Error::Conflict(_))
    ));
    let (other, _) = a
        .token_create(&me(), "alice", "deploy", s.clone(), None)
        .await
        .unwrap();
    assert!(other.expires.is_none());

    let all = a.token_ls(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(a.token_ls(Some("alice")).await.unwrap().len(), 2);
    assert!(a.token_ls(Some("bob")).await.unwrap().is_empty());
    let json = serde_json::to_string(&all).unwrap();
    assert!(json.contains("\"name\":\"ci\"") && !json.contains(&secret));

    a.token_revoke(&me(), Some("alice"), "ci").await.unwrap();
    assert!(matches!(
        a.token_revoke(&me(), Some("alice"), "ci").await,
        Err(Error::NotFound(_))
    ));
    a.token_revoke(&me(), None, &other.id).await.unwrap();
    let all = a.token_ls(None).await.unwrap();
    assert!(
        all.iter()
            .all(|t| t.state == "revoked" && t.revoked.is_some())
    );

    // Removing the user removes their tokens.
    a.user_rm(&me(), "alice").await.unwrap();
    assert!(a.token_ls(None).await.unwrap().is_empty());
}

#[test]
fn robot_states() {
    let mut t = RobotToken {
        id: "id1".into(),
        user: "alice".into(),
        label: "ci".into(),
        scopes: vec![ScopedActions {
            scope: "a".into(),
            actions: Actions::NONE.with(model::Action::Pull),
        }],
        secret_hash: "00".into(),
        created_at: 1_700_000_000,
        expires_at: Some(1_700_000_100),
        revoked_at: None,
        last_used_at: Some(1_700_000_050),
    };
    assert_eq!(RobotView::new(&t, 1_700_000_099).state, "active");
    assert_eq!(RobotView::new(&t, 1_700_000_100).state, "expired");
    t.revoked_at = Some(1_700_000_010);
    let v = RobotView::new(&t, 1_700_000_020);
    assert_eq!(v.state, "revoked");
    assert_eq!(v.created, "2023-11-14T22:13:20Z");
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["name"], "ci");
    assert_eq!(json["scopes"][0], "a:pull");
    assert!(!json.to_string().contains("secret") && !json.to_string().contains("hash"));
}

#[tokio::test]
async fn audit_records_every_change_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let (_root, a) = setup(Some(&log)).await;
    let actor = Actor {
        name: Some("root".into()),
        client: Some("192.0.2.7".into()),
    };
    let before = now_ms();
    a.user_add(&actor, "alice", "sup3r-secret-pw", true)
        .await
        .unwrap();
    a.user_passwd(&actor, "alice", "an0ther-secret-pw")
        .await
        .unwrap();
    a.user_add(&actor, "alice", "third-secret-pw", false)
        .await
        .unwrap_err();
    a.team_add(&actor, "ops").await.unwrap();
    a.member_add(&actor, "ops", "alice").await.unwrap();
    a.grant(&actor, Subject::Team("ops".into()), Role::Reader, "x/*")
        .await
        .unwrap();
    a.revoke(&actor, Subject::Team("ops".into()), None, "x/*")
        .await
        .unwrap();
    a.set_public(&actor, "library/*", true).await.unwrap();
    let (t, secret) = a
        .token_create(&actor, "alice", "ci", scopes(&["x/*:pull"]), None)
        .await
        .unwrap();
    a.token_revoke(&actor, None, &t.id).await.unwrap();
    a.member_rm(&actor, "ops", "alice").await.unwrap();
    a.team_rm(&actor, "ops").await.unwrap();
    a.set_public(&actor, "library/*", false).await.unwrap();
    a.user_rm(&actor, "alice").await.unwrap();

    let events = a.audit(&AuditFilter::default()).await.unwrap();
    let actions: Vec<(&str, bool)> = events
        .iter()
        .map(|e| (e.event.action.as_str(), e.event.success))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.add", true),
            ("user.passwd", true),
            ("user.add", false),
            ("team.add", true),
            ("team.member.add", true),
            ("grant", true),
            ("revoke", true),
            ("public.on", true),
            ("robot.create", true),
            ("robot.revoke", true),
            ("team.member.rm", true),
            ("team.rm", true),
            ("public.off", true),
            ("user.rm", true),
        ]
    );
    let first = &events[0];
    assert_eq!(first.event.actor.as_deref(), Some("root"));
    assert_eq!(first.event.client.as_deref(), Some("192.0.2.7"));
    assert_eq!(first.event.target.as_deref(), Some("alice"));
    assert!(first.event.time_ms >= before);
    assert!(first.time.ends_with('Z'));
    assert_eq!(events[5].event.target.as_deref(), Some("@ops reader x/*"));
    assert_eq!(
        events[2].event.detail.as_deref(),
        Some("user alice already exists")
    );

    let limited = a
        .audit(&AuditFilter {
            limit: Some(2),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[1].event.action, "user.rm");

    let text = serde_json::to_string(&events).unwrap() + &std::fs::read_to_string(&log).unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 14);
    for secret in [
        "sup3r-secret-pw",
        "an0ther-secret-pw",
        "third-secret-pw",
        secret.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(!text.contains("$argon2"));
    assert!(!text.contains(&password::secret_hash(&secret)));
}

#[test]
fn since() {
    let now = 1_700_000_000_000;
    assert_eq!(parse_since("1h", now).unwrap(), now - 3_600_000);
    assert_eq!(parse_since("2023-11-14T22:13:20Z", now).unwrap(), now);
    assert_eq!(
        parse_since("2023-11-14T22:13:20.5Z", now).unwrap(),
        now + 500
    );
    assert_eq!(parse_since("2023-11-15T00:13:20+02:00", now).unwrap(), now);
    assert_eq!(
        parse_since("2000-02-29T00:00:00Z", 0).unwrap(),
        951_782_400_000
    );
    assert!(matches!(
        parse_since("yesterday", now),
        Err(Error::Invalid(_))
    ));
    assert!(parse_since("2023-13-01T00:00:00Z", now).is_err());
    assert_eq!(rfc3339_ms(now + 7), "2023-11-14T22:13:20.007Z");
}
