//! Tests of the access-control database over a temporary root: each table group's reads and
//! writes, the change stamp, robot tokens and the audit filters.

use super::*;
use crate::auth::model::{Actions, AuditEvent, AuditFilter, Grant, Role};

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
