//! Tests of the per-request guard over a temporary data root: the mode, the challenges, logins
//! (same answer for unknown users and wrong passwords, the credential cache, backoff), token
//! verification against the live database, and an external issuer.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::*;
use crate::auth::admin::{Actor, Admin};
use crate::auth::issue::{Credentials, TokenRequest};
use crate::auth::model::{Role, ScopedActions, Subject};
use crate::auth::token::{AccessClaim, Claims};
use crate::config::{AuthConfig, ExternalIssuer};

const PW: &str = "alice-password";

fn actor() -> Actor {
    Actor {
        name: Some("local:tester".into()),
        client: None,
    }
}

async fn open(f: impl FnOnce(&mut AuthConfig)) -> (tempfile::TempDir, Auth) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        root: dir.path().to_path_buf(),
        ..Config::default()
    };
    f(&mut config.auth);
    let auth = Auth::open(&config).await.unwrap();
    (dir, auth)
}

fn admin(auth: &Auth) -> Admin {
    Admin::new(auth.audit_log().clone()).with_other_users(auth.other_users())
}

async fn add_user(auth: &Auth, name: &str, password: &str, grant: Option<(Role, &str)>) {
    let a = admin(auth);
    a.user_add(&actor(), name, password, false).await.unwrap();
    if let Some((role, scope)) = grant {
        a.grant(&actor(), Subject::User(name.into()), role, scope)
            .await
            .unwrap();
    }
}

fn client() -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
}

fn info<'a>(authorization: Option<&'a str>) -> RequestInfo<'a> {
    RequestInfo {
        authorization,
        host: Some("reg.example:5000"),
        client: client(),
        also: Vec::new(),
    }
}

fn scopes(repo: &str, actions: &[Action]) -> Need {
    Need::Scopes(vec![ResourceScope::repository(
        repo,
        actions.iter().copied().collect(),
    )])
}

/// The `WWW-Authenticate` value of a 401, or a panic naming what came instead.
fn challenge_of(r: Result<Principal>) -> String {
    match r {
        Err(Error::Unauthorized { challenge, .. }) => challenge,
        other => panic!("expected 401, got {other:?}"),
    }
}

async fn token_for(auth: &Auth, user: &str, password: &str, scope: &[&str]) -> String {
    auth.issue(TokenRequest {
        service: None,
        scopes: scope.iter().map(|s| s.to_string()).collect(),
        offline: false,
        credentials: Credentials::Password {
            user: user.into(),
            password: password.into(),
        },
        client: client(),
    })
    .await
    .unwrap()
    .token
}

fn bearer_of(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic_of(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn mode_follows_the_user_table_unless_configured() {
    let (_d, auth) = open(|_| {}).await;
    assert_eq!(auth.mode(), AuthMode::None);
    let p = auth
        .authorize(&info(None), &scopes("a/b", &[Action::Delete]))
        .await
        .unwrap();
    assert!(
        p.may("anything", Action::Delete),
        "mode none allows everything"
    );
    assert!(auth.is_admin(&Who::Anonymous).await.unwrap());
    add_user(&auth, "alice", PW, None).await;
    assert_eq!(auth.live_mode().await.unwrap(), AuthMode::Token);
    assert!(
        auth.authorize(&info(None), &scopes("a/b", &[Action::Pull]))
            .await
            .is_err()
    );
    assert!(!auth.is_admin(&Who::Anonymous).await.unwrap());

    // Configured explicitly: kept whatever the table holds.
    let (_d, basic) = open(|a| a.mode = Some(AuthMode::Basic)).await;
    assert_eq!(basic.mode(), AuthMode::Basic);
    let (_d, none) = open(|a| a.mode = Some(AuthMode::None)).await;
    add_user(&none, "alice", PW, None).await;
    assert_eq!(none.live_mode().await.unwrap(), AuthMode::None);
}

#[tokio::test]
async fn challenges_name_realm_service_and_exactly_the_scopes_needed() {
    let (_d, auth) = open(|_| {}).await;
    add_user(&auth, "alice", PW, None).await;
    let base = r#"Bearer realm="http://reg.example:5000/token",service="berth-registry""#;
    assert_eq!(
        challenge_of(auth.authorize(&info(None), &Need::Login).await),
        base
    );
    assert_eq!(
        challenge_of(
            auth.authorize(
                &info(None),
                &scopes("team-a/app", &[Action::Push, Action::Pull])
            )
            .await
        ),
        format!(r#"{base},scope="repository:team-a/app:pull,push""#)
    );
    assert_eq!(
        challenge_of(auth.authorize(&info(None), &Need::Catalog).await),
        format!(r#"{base},scope="registry:catalog:*""#)
    );
    let mut mount = info(None);
    mount.also.push(ResourceScope::repository(
        "team-b/lib",
        Actions::NONE.with(Action::Pull),
    ));
    assert_eq!(
        challenge_of(
            auth.authorize(&mount, &scopes("team-a/app", &[Action::Pull, Action::Push]))
                .await
        ),
        format!(r#"{base},scope="repository:team-a/app:pull,push repository:team-b/lib:pull""#)
    );
    // A bad token: the same challenge, with the error.
    assert_eq!(
        challenge_of(
            auth.authorize(&info(Some("Bearer x.y.z")), &Need::Login)
                .await
        ),
        format!(r#"{base},error="invalid_token""#)
    );
    // Nothing needed: anyone, even in token mode.
    assert!(auth.authorize(&info(None), &Need::Nothing).await.is_ok());

    // The configured external URL wins over the Host header; TLS is https.
    let (_d, ext) = open(|a| a.external_url = Some("https://registry.example.com/".into())).await;
    add_user(&ext, "alice", PW, None).await;
    assert_eq!(
        challenge_of(ext.authorize(&info(None), &Need::Login).await),
        r#"Bearer realm="https://registry.example.com/token",service="berth-registry""#
    );
    // Basic mode: a Basic challenge.
    let (_d, basic) = open(|a| a.mode = Some(AuthMode::Basic)).await;
    assert_eq!(
        challenge_of(basic.authorize(&info(None), &Need::Login).await),
        r#"Basic realm="berth-registry""#
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer_in_about_the_same_time() {
    let (_d, auth) = open(|a| a.lockout_threshold = 1000).await;
    add_user(&auth, "alice", PW, None).await;
    assert_eq!(
        auth.login("alice", PW, client()).await.unwrap(),
        Who::User("alice".into())
    );
    let mut wrong_time = Duration::MAX;
    let mut unknown_time = Duration::MAX;
    for i in 0..3 {
        let t = Instant::now();
        let wrong = auth
            .login("alice", &format!("wrong-{i}"), client())
            .await
            .unwrap_err();
        wrong_time = wrong_time.min(t.elapsed());
        let t = Instant::now();
        let unknown = auth
            .login("nobody", &format!("wrong-{i}"), client())
            .await
            .unwrap_err();
        unknown_time = unknown_time.min(t.elapsed());
        assert_eq!(wrong.to_string(), unknown.to_string());
        assert_eq!(wrong.status(), 401);
        match (wrong, unknown) {
            (
                Error::Unauthorized { challenge: a, .. },
                Error::Unauthorized { challenge: b, .. },
            ) => assert_eq!(a, b),
            other => panic!("{other:?}"),
        }
    }
    // An unknown user costs a password hash too (a dummy one): not a fast path.
    assert!(
        unknown_time * 4 >= wrong_time,
        "unknown user {unknown_time:?} vs wrong password {wrong_time:?}"
    );
}

#[tokio::test]
async fn remembered_credentials_go_when_the_password_changes() {
    let (_d, auth) = open(|_| {}).await;
    add_user(&auth, "alice", PW, None).await;
    auth.login("alice", PW, client()).await.unwrap();
    // Remembered: a second check does not reach argon2 (it is far faster).
    let t = Instant::now();
    auth.login("alice", PW, client()).await.unwrap();
    let cached = t.elapsed();
    admin(&auth)
        .user_passwd(&actor(), "alice", "new-password")
        .await
        .unwrap();
    // Straight to login(), no request in between: the old password is refused at once.
    let e = auth.login("alice", PW, client()).await.unwrap_err();
    assert_eq!(e.status(), 401, "{e}");
    let t = Instant::now();
    auth.login("alice", "new-password", client()).await.unwrap();
    let checked = t.elapsed();
    assert!(cached < checked, "cached {cached:?} vs checked {checked:?}");
    // Removed: refused.
    admin(&auth).user_rm(&actor(), "alice").await.unwrap();
    assert!(auth.login("alice", "new-password", client()).await.is_err());
}

#[tokio::test]
async fn a_remembered_robot_secret_stops_working_when_the_robot_expires() {
    let (_d, auth) = open(|_| {}).await;
    add_user(&auth, "ci", PW, Some((Role::Writer, "team-a/*"))).await;
    let s: Vec<ScopedActions> = vec!["team-a/*:pull".parse().unwrap()];
    let (view, secret) = admin(&auth)
        .token_create(&actor(), "ci", "short", s, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    let who = auth.login("ci", &secret, client()).await.unwrap();
    assert_eq!(
        who,
        Who::Robot {
            user: "ci".into(),
            id: view.id.clone()
        }
    );
    assert!(
        auth.login("other", &secret, client()).await.is_err(),
        "another user's name"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let e = auth.login("ci", &secret, client()).await.unwrap_err();
    assert_eq!(e.status(), 401, "{e}");
}

#[tokio::test]
async fn failed_logins_back_off_per_user_and_address() {
    let (_d, auth) = open(|a| {
        a.lockout_threshold = 3;
        a.lockout_base = "300ms".into();
        a.lockout_max = "1s".into();
    })
    .await;
    add_user(&auth, "alice", PW, None).await;
    for _ in 0..3 {
        assert_eq!(
            auth.login("alice", "wrong", client())
                .await
                .unwrap_err()
                .status(),
            401
        );
    }
    // Refused without checking, even the right password, from anywhere for this user.
    for (pw, from) in [("wrong", client()), (PW, client()), (PW, None)] {
        match auth.login("alice", pw, from).await {
            Err(Error::TooManyRequests { retry_after }) => assert_eq!(retry_after, 1),
            other => panic!("{other:?}"),
        }
    }
    // After the backoff, the right password works, and a success starts the count over.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(auth.login("alice", PW, client()).await.is_ok());
    assert_eq!(
        auth.login("alice", "wrong", client())
            .await
            .unwrap_err()
            .status(),
        401
    );
}

#[tokio::test]
async fn tokens_are_checked_against_the_live_database() {
    let (_d, auth) = open(|_| {}).await;
    add_user(
        &auth,
        "reader",
        "reader-password",
        Some((Role::Reader, "team-a/*")),
    )
    .await;
    add_user(
        &auth,
        "writer",
        "writer-password",
        Some((Role::Writer, "team-a/*")),
    )
    .await;
    let push = scopes("team-a/app", &[Action::Pull, Action::Push]);

    // A reader's token holds pull only; a push is denied (403), not challenged.
    let t = token_for(
        &auth,
        "reader",
        "reader-password",
        &["repository:team-a/app:pull,push"],
    )
    .await;
    let bearer = bearer_of(&t);
    let p = auth
        .authorize(&info(Some(&bearer)), &scopes("team-a/app", &[Action::Pull]))
        .await
        .unwrap();
    assert_eq!(p.who, Who::User("reader".into()));
    assert!(p.may("team-a/app", Action::Pull));
    assert!(!p.may("team-a/app", Action::Push));
    assert!(
        !p.may("team-a/other", Action::Pull),
        "only what the token names"
    );
    assert!(matches!(
        auth.authorize(&info(Some(&bearer)), &push).await,
        Err(Error::Denied(_))
    ));

    // A writer whose token merely lacks push is told to get a better token.
    let t = token_for(
        &auth,
        "writer",
        "writer-password",
        &["repository:team-a/app:pull"],
    )
    .await;
    let bearer = bearer_of(&t);
    let c = challenge_of(auth.authorize(&info(Some(&bearer)), &push).await);
    assert!(
        c.ends_with(r#"scope="repository:team-a/app:pull,push",error="insufficient_scope""#),
        "{c}"
    );

    // Verified once, then remembered — and still checked against the database each time.
    let t = token_for(
        &auth,
        "writer",
        "writer-password",
        &["repository:team-a/app:pull,push"],
    )
    .await;
    let bearer = bearer_of(&t);
    auth.authorize(&info(Some(&bearer)), &push).await.unwrap();
    assert!(auth.tokens.read().unwrap().contains_key(&t), "remembered");
    admin(&auth)
        .revoke(&actor(), Subject::User("writer".into()), None, "team-a/*")
        .await
        .unwrap();
    assert!(matches!(
        auth.authorize(&info(Some(&bearer)), &push).await,
        Err(Error::Denied(_))
    ));
    admin(&auth).user_rm(&actor(), "writer").await.unwrap();
    let c = challenge_of(auth.authorize(&info(Some(&bearer)), &push).await);
    assert!(c.contains(r#"error="invalid_token""#), "{c}");
}

#[tokio::test]
async fn a_password_change_refuses_tokens_issued_before_it_even_in_the_same_second() {
    let (_d, auth) = open(|_| {}).await;
    add_user(&auth, "alice", PW, Some((Role::Reader, "team-a/*"))).await;
    let pull = scopes("team-a/app", &[Action::Pull]);
    for round in 0..3 {
        let old_pw = if round == 0 {
            PW.to_string()
        } else {
            format!("password-{round}")
        };
        let new_pw = format!("password-{}", round + 1);
        let t = token_for(&auth, "alice", &old_pw, &["repository:team-a/app:pull"]).await;
        let bearer = bearer_of(&t);
        auth.authorize(&info(Some(&bearer)), &pull).await.unwrap();
        admin(&auth)
            .user_passwd(&actor(), "alice", &new_pw)
            .await
            .unwrap();
        let c = challenge_of(auth.authorize(&info(Some(&bearer)), &pull).await);
        assert!(c.contains(r#"error="invalid_token""#), "round {round}: {c}");
        // A token got right after the change works at once.
        let t = token_for(&auth, "alice", &new_pw, &["repository:team-a/app:pull"]).await;
        let bearer = bearer_of(&t);
        auth.authorize(&info(Some(&bearer)), &pull).await.unwrap();
    }
}

#[tokio::test]
async fn refresh_tokens_are_only_for_the_token_service() {
    let (_d, auth) = open(|_| {}).await;
    add_user(&auth, "alice", PW, Some((Role::Reader, "team-a/*"))).await;
    let resp = auth
        .issue(TokenRequest {
            service: Some("berth-registry".into()),
            scopes: vec!["repository:team-a/app:pull".into()],
            offline: true,
            credentials: Credentials::Password {
                user: "alice".into(),
                password: PW.into(),
            },
            client: client(),
        })
        .await
        .unwrap();
    let refresh = resp.refresh_token.unwrap();
    let c = challenge_of(
        auth.authorize(&info(Some(&bearer_of(&refresh))), &Need::Login)
            .await,
    );
    assert!(c.contains("invalid_token"), "{c}");
    let again = auth
        .issue(TokenRequest {
            service: None,
            scopes: vec!["repository:team-a/app:pull".into()],
            offline: false,
            credentials: Credentials::Refresh(refresh),
            client: client(),
        })
        .await
        .unwrap();
    assert!(again.refresh_token.is_none());
    auth.authorize(
        &info(Some(&bearer_of(&again.token))),
        &scopes("team-a/app", &[Action::Pull]),
    )
    .await
    .unwrap();
    // An access token is refused as a refresh token; anonymous callers get no refresh token.
    let e = auth
        .issue(TokenRequest {
            service: None,
            scopes: vec![],
            offline: false,
            credentials: Credentials::Refresh(again.token),
            client: client(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), 401);
    let anon = auth
        .issue(TokenRequest {
            service: None,
            scopes: vec![],
            offline: true,
            credentials: Credentials::Anonymous,
            client: client(),
        })
        .await
        .unwrap();
    assert!(anon.refresh_token.is_none());
}

#[tokio::test]
async fn the_admin_gate() {
    let (_d, auth) = open(|_| {}).await;
    admin(&auth)
        .user_add(&actor(), "root", PW, true)
        .await
        .unwrap();
    add_user(
        &auth,
        "bob",
        "bob-password",
        Some((Role::Admin, "team-b/*")),
    )
    .await;
    let root = basic_of("root", PW);
    assert_eq!(
        auth.admin(&info(Some(&root))).await.unwrap(),
        Who::User("root".into())
    );
    // Admin of a namespace only: not an administrator of the registry.
    let bob = basic_of("bob", "bob-password");
    assert!(matches!(
        auth.admin(&info(Some(&bob))).await,
        Err(Error::Denied(_))
    ));
    assert!(matches!(
        auth.admin(&info(None)).await,
        Err(Error::Unauthorized { .. })
    ));
    assert!(matches!(
        auth.admin(&info(Some(&basic_of("root", "wrong")))).await,
        Err(Error::Unauthorized { .. })
    ));
    // berth's bearer token of an admin is accepted; a robot of an admin is not an admin.
    let t = token_for(&auth, "root", PW, &[]).await;
    assert_eq!(
        auth.admin(&info(Some(&bearer_of(&t)))).await.unwrap(),
        Who::User("root".into())
    );
    let (_, secret) = admin(&auth)
        .token_create(
            &actor(),
            "root",
            "bot",
            vec!["*:pull".parse().unwrap()],
            None,
        )
        .await
        .unwrap();
    let robot = basic_of("root", &secret);
    assert!(matches!(
        auth.admin(&info(Some(&robot))).await,
        Err(Error::Denied(_))
    ));
}

#[tokio::test]
async fn an_external_issuer_is_trusted_instead() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = SigningKey::generate().unwrap();
    let cert = dir.path().join("issuer.crt");
    std::fs::write(&cert, issuer.certificate_pem()).unwrap();
    let cert2 = cert.clone();
    let (_d, auth) = open(move |a| {
        a.external = Some(ExternalIssuer {
            issuer: "corp-auth".into(),
            realm: "https://auth.example.com/token".into(),
            public_key: Some(cert2),
            jwks: None,
        });
    })
    .await;
    assert_eq!(auth.mode(), AuthMode::Token);
    assert!(!auth.issues_tokens());
    assert_eq!(
        challenge_of(auth.authorize(&info(None), &Need::Login).await),
        r#"Bearer realm="https://auth.example.com/token",service="berth-registry""#
    );
    let now = now_secs();
    let mut claims = Claims {
        iss: "corp-auth".into(),
        sub: "someone".into(),
        aud: "berth-registry".into(),
        exp: now + 300,
        nbf: now,
        iat: now,
        jti: "j1".into(),
        access: vec![AccessClaim {
            kind: "repository".into(),
            name: "team-a/app".into(),
            actions: vec!["pull".into(), "push".into()],
        }],
        robot: None,
        refresh: false,
        pwv: None,
    };
    let t = issuer.sign(&claims).unwrap();
    let bearer = bearer_of(&t);
    let push = scopes("team-a/app", &[Action::Pull, Action::Push]);
    let p = auth.authorize(&info(Some(&bearer)), &push).await.unwrap();
    assert_eq!(p.who, Who::User("someone".into()));
    assert!(p.may_list("team-a/app") && !p.may_list("team-a/other"));
    let delete = scopes("team-a/app", &[Action::Delete]);
    let c = challenge_of(auth.authorize(&info(Some(&bearer)), &delete).await);
    assert!(c.contains("insufficient_scope"), "{c}");
    // berth's own issuer name, or another key, is refused.
    claims.iss = "berth-registry".into();
    let c = challenge_of(
        auth.authorize(
            &info(Some(&bearer_of(&issuer.sign(&claims).unwrap()))),
            &push,
        )
        .await,
    );
    assert!(c.contains("invalid_token"), "{c}");
    claims.iss = "corp-auth".into();
    let stranger = SigningKey::generate().unwrap();
    let c = challenge_of(
        auth.authorize(
            &info(Some(&bearer_of(&stranger.sign(&claims).unwrap()))),
            &push,
        )
        .await,
    );
    assert!(c.contains("invalid_token"), "{c}");
    // No token service here.
    let e = auth
        .issue(TokenRequest {
            service: None,
            scopes: vec![],
            offline: false,
            credentials: Credentials::Anonymous,
            client: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), "UNSUPPORTED");
}

#[test]
fn basic_credentials_parse() {
    assert_eq!(
        basic_credentials(&basic_of("alice", "pa:ss word")),
        Some(("alice".into(), "pa:ss word".into()))
    );
    assert_eq!(
        basic_credentials("basic YWxpY2U6eA=="),
        Some(("alice".into(), "x".into()))
    );
    assert_eq!(basic_credentials("Bearer abc"), None);
    assert_eq!(basic_credentials("Basic !!!"), None);
    assert_eq!(basic_credentials("Basic YWxpY2U="), None, "no colon");
}
