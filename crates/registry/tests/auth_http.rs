//! Access control over HTTP (issue 9): challenges, the token service, roles, robot tokens,
//! refused tokens, the filtered catalog, cross-repository mounts, blobs in use, public scopes,
//! password changes, Basic mode and htpasswd users, brute-force backoff, the audit log and the
//! admin API — each against a registry served on 127.0.0.1:0 inside the test's runtime.

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_oci::Digest;
use berth_registry::auth::Auth;
use berth_registry::auth::model::{AuditFilter, Role, ScopedActions, Subject};
use berth_registry::auth::token::{AccessClaim, Claims, SigningKey};
use berth_registry::config::AuthMode;
use support::*;

const ALICE_PW: &str = "alice-password-1";
const BOSS_PW: &str = "boss-password-1";

fn scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// The random part of a robot secret (`berth_<id>_<random>`; the random part may hold `_`).
fn robot_random(secret: &str) -> &str {
    secret
        .strip_prefix("berth_")
        .unwrap()
        .split_once('_')
        .unwrap()
        .1
}

/// The `access` claim of a token, as `(name, actions)`.
fn access(token: &str) -> Vec<(String, Vec<String>)> {
    claims(token)["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let actions = a["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            (a["name"].as_str().unwrap().to_string(), actions)
        })
        .collect()
}

fn acts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A token server with "boss" (maintainer everywhere) who can push anything.
async fn token_server() -> Server {
    let srv = start(|_| {}).await;
    srv.user("boss", BOSS_PW, Some((Role::Maintainer, "*")))
        .await;
    srv
}

/// Push `repo:tag` as boss.
async fn boss_push(srv: &Server, repo: &str, tag: &str) -> Image {
    let t = srv
        .token(Some(("boss", BOSS_PW)), &[&scope(repo, "pull,push")])
        .await;
    srv.push(Some(&bearer(&t)), repo, tag).await
}

// ---- challenges ----

#[tokio::test]
async fn v2_base_challenges_anonymous_callers_with_realm_and_service() {
    let srv = start(|_| {}).await;
    srv.user("alice", ALICE_PW, None).await;
    let r = srv.get("/v2/", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.challenge(),
        format!(r#"Bearer realm="{}",service="berth-registry""#, srv.realm())
    );
    assert_eq!(r.code(), "UNAUTHORIZED");
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let head = srv.req("HEAD", "/v2/", &[], b"").await;
    assert_eq!(head.status, 401);
    assert_eq!(head.challenge(), r.challenge());
    // Basic credentials are not what token mode takes on /v2/.
    let b = srv.get("/v2/", Some(&basic("alice", ALICE_PW))).await;
    assert_eq!(b.status, 401);
    // Any valid token (even one granting nothing) logs in.
    let t = srv.token(Some(("alice", ALICE_PW)), &[]).await;
    assert_eq!(srv.get("/v2/", Some(&bearer(&t))).await.status, 200);
}

#[tokio::test]
async fn denied_requests_name_exactly_the_scopes_they_needed() {
    let srv = start(|_| {}).await;
    srv.user("alice", ALICE_PW, None).await;
    let realm = srv.realm();
    let want = |s: &str| format!(r#"Bearer realm="{realm}",service="berth-registry",scope="{s}""#);
    let d = Digest::sha256(b"some blob");

    let r = srv
        .req("POST", "/v2/team-a/app/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge(), want("repository:team-a/app:pull,push"));

    let r = srv.put_manifest(None, "team-a/app", "v1", b"{}").await;
    assert_eq!(
        (r.status, r.challenge()),
        (401, want("repository:team-a/app:pull,push").as_str())
    );
    let r = srv.get("/v2/team-a/app/manifests/v1", None).await;
    assert_eq!(
        (r.status, r.challenge()),
        (401, want("repository:team-a/app:pull").as_str())
    );
    let r = srv.get(&format!("/v2/team-a/app/blobs/{d}"), None).await;
    assert_eq!(
        (r.status, r.challenge()),
        (401, want("repository:team-a/app:pull").as_str())
    );
    let r = srv.get("/v2/team-a/app/tags/list", None).await;
    assert_eq!(
        (r.status, r.challenge()),
        (401, want("repository:team-a/app:pull").as_str())
    );
    let r = srv
        .req("DELETE", "/v2/team-a/app/manifests/v1", &[], b"")
        .await;
    assert_eq!(
        (r.status, r.challenge()),
        (401, want("repository:team-a/app:delete").as_str())
    );
    let r = srv.get("/v2/_catalog", None).await;
    assert_eq!(
        (r.status, r.challenge()),
        (401, want("registry:catalog:*").as_str())
    );

    // A cross-repository mount names the source's pull as well.
    let r = srv
        .req(
            "POST",
            &format!("/v2/team-a/app/blobs/uploads/?mount={d}&from=other/repo"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.challenge(),
        want("repository:team-a/app:pull,push repository:other/repo:pull")
    );
}

// ---- the token service ----

#[tokio::test]
async fn token_endpoint_get_and_post() {
    let srv = start(|_| {}).await;
    srv.user("alice", ALICE_PW, Some((Role::Writer, "team-a/*")))
        .await;

    let asked = [
        scope("team-a/app", "pull,push,delete"),
        scope("team-b/app", "pull"),
    ];
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
    let r = srv
        .token_resp(
            Some(("alice", ALICE_PW)),
            &asked,
            "&account=alice&client_id=test",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // `account` must name the user of the credentials.
    let other = srv
        .token_resp(Some(("alice", ALICE_PW)), &asked, "&account=bob")
        .await;
    assert_eq!(other.status, 401, "{}", other.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    let token = j["token"].as_str().unwrap();
    assert_eq!(j["access_token"], j["token"]);
    assert_eq!(j["expires_in"], 300);
    let issued = j["issued_at"].as_str().unwrap();
    assert!(
        issued.len() == 20 && issued.ends_with('Z') && issued.as_bytes()[10] == b'T',
        "{issued}"
    );
    assert!(
        j.get("refresh_token").is_none(),
        "no refresh token unless asked: {j}"
    );
    let c = claims(token);
    assert_eq!(c["iss"], "berth-registry");
    assert_eq!(c["aud"], "berth-registry");
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert!(c["nbf"].as_i64().unwrap() <= c["iat"].as_i64().unwrap());
    assert!(!c["jti"].as_str().unwrap().is_empty());
    // Only what was asked and may be done: push, not delete; nothing on team-b.
    assert_eq!(
        access(token),
        [("team-a/app".to_string(), acts(&["pull", "push"]))]
    );
    // The token works.
    let up = srv
        .req(
            "POST",
            "/v2/team-a/app/blobs/uploads/",
            &[("authorization", &bearer(token))],
            b"",
        )
        .await;
    assert_eq!(up.status, 202, "{}", up.text());

    // offline_token=true adds a refresh token.
    let r = srv
        .token_resp(Some(("alice", ALICE_PW)), &asked, "&offline_token=true")
        .await;
    assert_eq!(r.status, 200);
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(refresh, r.json()["token"].as_str().unwrap());
    // A refresh token is not a bearer token for the API.
    let r = srv.get("/v2/", Some(&bearer(&refresh))).await;
    assert_eq!(r.status, 401);

    // POST, grant_type=password (form-encoded), with access_type=offline.
    let form = format!(
        "grant_type=password&username=alice&password={}&service=berth-registry&client_id=test&access_type=offline&scope={}",
        encode(ALICE_PW),
        encode(&scope("team-a/app", "pull"))
    );
    let form_ct = [("content-type", "application/x-www-form-urlencoded")];
    let r = srv.req("POST", "/token", &form_ct, form.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        access(j["access_token"].as_str().unwrap()),
        [("team-a/app".to_string(), acts(&["pull"]))]
    );
    let refresh2 = j["refresh_token"].as_str().unwrap().to_string();

    // POST, grant_type=refresh_token: a new access token for what the user may do.
    for rt in [&refresh, &refresh2] {
        let form = format!(
            "grant_type=refresh_token&refresh_token={rt}&service=berth-registry&client_id=test&scope={}",
            encode(&scope("team-a/app", "pull,push"))
        );
        let r = srv.req("POST", "/token", &form_ct, form.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let t = r.json()["access_token"].as_str().unwrap().to_string();
        assert_eq!(claims(&t)["sub"], "alice");
        assert_eq!(
            access(&t),
            [("team-a/app".to_string(), acts(&["pull", "push"]))]
        );
        let up = srv
            .req(
                "POST",
                "/v2/team-a/app/blobs/uploads/",
                &[("authorization", &bearer(&t))],
                b"",
            )
            .await;
        assert_eq!(up.status, 202);
    }

    // An access token is not a refresh token.
    let form = format!(
        "grant_type=refresh_token&refresh_token={token}&service=berth-registry&client_id=test"
    );
    assert_eq!(
        srv.req("POST", "/token", &form_ct, form.as_bytes())
            .await
            .status,
        401
    );
    // A wrong password at POST.
    let form = "grant_type=password&username=alice&password=wrong-password&service=berth-registry&client_id=test";
    assert_eq!(
        srv.req("POST", "/token", &form_ct, form.as_bytes())
            .await
            .status,
        401
    );
    // An unknown grant type.
    let r = srv
        .req("POST", "/token", &form_ct, b"grant_type=client_credentials")
        .await;
    assert!(r.status >= 400 && r.status < 500, "{}", r.status);
    assert_eq!(r.code(), "UNSUPPORTED");
    // Another service's token is not asked from here.
    let r = srv
        .get(
            "/token?service=other-registry",
            Some(&basic("alice", ALICE_PW)),
        )
        .await;
    assert_eq!(r.status, 403);
    // Only Basic credentials at GET /token.
    let r = srv
        .get("/token?service=berth-registry", Some(&bearer(token)))
        .await;
    assert_eq!(r.status, 401);
    // Anonymous: a token, granting nothing private.
    let anon = srv.token(None, &[&scope("team-a/app", "pull")]).await;
    assert!(access(&anon).is_empty());
    assert_eq!(claims(&anon)["sub"], "");
}

#[tokio::test]
async fn token_service_answers_as_soon_as_the_first_user_exists() {
    let srv = start(|_| {}).await;
    // No user: mode none, everyone may do everything, no token service.
    assert_eq!(srv.get("/v2/", None).await.status, 200);
    assert_eq!(
        srv.get("/token?service=berth-registry", None).await.status,
        404
    );
    // The first user is added while the server runs (as `berth registry user add` would):
    // token mode at once, on whatever endpoint is asked first.
    srv.user("alice", ALICE_PW, Some((Role::Reader, "team-a/*")))
        .await;
    let r = srv
        .token_resp(
            Some(("alice", ALICE_PW)),
            &[&scope("team-a/app", "pull")],
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(srv.get("/v2/", None).await.status, 401);
}

// ---- roles ----

#[tokio::test]
async fn reader_cannot_push_writer_cannot_delete_maintainer_can() {
    let srv = start(|_| {}).await;
    srv.user(
        "reader",
        "reader-password",
        Some((Role::Reader, "team-a/*")),
    )
    .await;
    srv.user(
        "writer",
        "writer-password",
        Some((Role::Writer, "team-a/*")),
    )
    .await;
    srv.user(
        "maint",
        "maint-password",
        Some((Role::Maintainer, "team-a/*")),
    )
    .await;
    let all = scope("team-a/app", "pull,push,delete");

    let wt = srv
        .token(Some(("writer", "writer-password")), &[&all])
        .await;
    assert_eq!(
        access(&wt),
        [("team-a/app".to_string(), acts(&["pull", "push"]))]
    );
    let img = srv.push(Some(&bearer(&wt)), "team-a/app", "v1").await;

    // Reader: pulls, but cannot push (DENIED).
    let rt = srv
        .token(Some(("reader", "reader-password")), &[&all])
        .await;
    assert_eq!(access(&rt), [("team-a/app".to_string(), acts(&["pull"]))]);
    let r = srv
        .get("/v2/team-a/app/manifests/v1", Some(&bearer(&rt)))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, img.manifest);
    let r = srv
        .get(
            &format!("/v2/team-a/app/blobs/{}", img.layer_digest),
            Some(&bearer(&rt)),
        )
        .await;
    assert_eq!((r.status, r.body.clone()), (200, img.layer.clone()));
    let r = srv
        .upload(Some(&bearer(&rt)), "team-a/app", b"reader's blob")
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));
    let r = srv
        .put_manifest(Some(&bearer(&rt)), "team-a/app", "v2", &img.manifest)
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));

    // Writer: cannot delete a tag, a manifest or a blob.
    for path in [
        "/v2/team-a/app/manifests/v1".to_string(),
        format!("/v2/team-a/app/manifests/{}", img.manifest_digest),
        format!("/v2/team-a/app/blobs/{}", img.layer_digest),
    ] {
        let r = srv
            .req("DELETE", &path, &[("authorization", &bearer(&wt))], b"")
            .await;
        assert_eq!((r.status, r.code()), (403, "DENIED".to_string()), "{path}");
    }
    let r = srv
        .get("/v2/team-a/app/manifests/v1", Some(&bearer(&wt)))
        .await;
    assert_eq!(r.status, 200, "still there");

    // Maintainer: may.
    let mt = srv.token(Some(("maint", "maint-password")), &[&all]).await;
    assert_eq!(
        access(&mt),
        [("team-a/app".to_string(), acts(&["pull", "push", "delete"]))]
    );
    let r = srv
        .req(
            "DELETE",
            "/v2/team-a/app/manifests/v1",
            &[("authorization", &bearer(&mt))],
            b"",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = srv
        .get("/v2/team-a/app/manifests/v1", Some(&bearer(&mt)))
        .await;
    assert_eq!((r.status, r.code()), (404, "MANIFEST_UNKNOWN".to_string()));

    // Outside their scope, a known user is denied too.
    let other = srv
        .token(
            Some(("writer", "writer-password")),
            &[&scope("team-b/app", "pull,push")],
        )
        .await;
    assert!(access(&other).is_empty());
    let r = srv
        .upload(Some(&bearer(&other)), "team-b/app", b"elsewhere")
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));
}

#[tokio::test]
async fn revoking_a_grant_takes_effect_on_tokens_already_issued() {
    let srv = token_server().await;
    srv.user(
        "writer",
        "writer-password",
        Some((Role::Writer, "team-a/*")),
    )
    .await;
    let wt = srv
        .token(
            Some(("writer", "writer-password")),
            &[&scope("team-a/app", "pull,push")],
        )
        .await;
    assert_eq!(
        srv.upload(Some(&bearer(&wt)), "team-a/app", b"before")
            .await
            .status,
        201
    );
    srv.admin()
        .revoke(&tester(), Subject::User("writer".into()), None, "team-a/*")
        .await
        .unwrap();
    let r = srv.upload(Some(&bearer(&wt)), "team-a/app", b"after").await;
    assert_eq!(
        (r.status, r.code()),
        (403, "DENIED".to_string()),
        "{}",
        r.text()
    );
    let r = srv
        .get("/v2/team-a/app/tags/list", Some(&bearer(&wt)))
        .await;
    assert_eq!(r.status, 403);
}

// ---- robot tokens ----

#[tokio::test]
async fn robot_tokens_are_limited_to_their_scope_and_refused_once_revoked() {
    let srv = start(|_| {}).await;
    srv.user("ci", "ci-password-1", Some((Role::Maintainer, "team-a/*")))
        .await;
    let full = srv
        .token(
            Some(("ci", "ci-password-1")),
            &[&scope("team-a/app", "pull,push")],
        )
        .await;
    srv.push(Some(&bearer(&full)), "team-a/app", "v1").await;

    let scopes: Vec<ScopedActions> = vec!["team-a/app:pull".parse().unwrap()];
    let (view, secret) = srv
        .admin()
        .token_create(&tester(), "ci", "deploy", scopes, None)
        .await
        .unwrap();
    assert!(secret.starts_with("berth_"), "{secret}");

    // The secret is the password at /token; the user's maintainer role does not leak into it.
    let asked = [
        scope("team-a/app", "pull,push,delete"),
        scope("team-a/other", "pull"),
    ];
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
    let rt = srv.token(Some(("ci", &secret)), &asked).await;
    let c = claims(&rt);
    assert_eq!(c["sub"], "ci");
    assert_eq!(c["robot"], view.id.as_str());
    assert_eq!(access(&rt), [("team-a/app".to_string(), acts(&["pull"]))]);
    assert_eq!(
        srv.get("/v2/team-a/app/manifests/v1", Some(&bearer(&rt)))
            .await
            .status,
        200
    );
    let r = srv
        .upload(Some(&bearer(&rt)), "team-a/app", b"robot blob")
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));
    // POST /token takes it too.
    let form = format!(
        "grant_type=password&username=ci&password={}&service=berth-registry&client_id=ci&scope={}",
        encode(&secret),
        encode(&scope("team-a/app", "pull"))
    );
    let r = srv
        .req(
            "POST",
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Only with its own user name.
    srv.user(
        "other",
        "other-password",
        Some((Role::Maintainer, "team-a/*")),
    )
    .await;
    assert_eq!(
        srv.token_resp(Some(("other", &secret)), &asked, "")
            .await
            .status,
        401
    );

    // Listed with its last use, never with its secret.
    let listed = srv.admin().token_ls(Some("ci")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, "active");
    assert!(listed[0].last_used.is_some(), "{:?}", listed[0]);

    // Revoked: refused at once, including the access token already issued to it.
    srv.admin()
        .token_revoke(&tester(), None, &view.id)
        .await
        .unwrap();
    let r = srv
        .get("/v2/team-a/app/manifests/v1", Some(&bearer(&rt)))
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.challenge().contains(r#"error="invalid_token""#),
        "{}",
        r.challenge()
    );
    assert_eq!(
        srv.token_resp(Some(("ci", &secret)), &asked, "")
            .await
            .status,
        401
    );
    // The user's own credentials still work.
    assert_eq!(
        srv.get("/v2/team-a/app/manifests/v1", Some(&bearer(&full)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let srv = start(|_| {}).await;
    srv.user("alice", ALICE_PW, Some((Role::Reader, "team-a/*")))
        .await;
    let scopes: Vec<ScopedActions> = vec!["team-a/*:pull".parse().unwrap()];
    let (_, secret) = srv
        .admin()
        .token_create(
            &tester(),
            "alice",
            "short",
            scopes,
            Some(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let robot_token = srv
        .token(Some(("alice", &secret)), &[&scope("team-a/app", "pull")])
        .await;
    assert_eq!(access(&robot_token).len(), 1);
    // Authorized (the repository does not exist: 404, not 401).
    let r = srv
        .get("/v2/team-a/app/tags/list", Some(&bearer(&robot_token)))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // A token signed with the registry's own key, expired an hour ago.
    let key = SigningKey::load_or_generate(&Auth::key_dir(&srv.root)).unwrap();
    let real = srv.token(Some(("alice", ALICE_PW)), &[]).await;
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(real.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["kid"],
        key.key_id(),
        "the key under the data root signs the tokens"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let now = now_secs();
    let mut c = Claims {
        iss: "berth-registry".into(),
        sub: "alice".into(),
        aud: "berth-registry".into(),
        exp: now - 3600,
        nbf: now - 7200,
        iat: now - 7200,
        jti: "expired-1".into(),
        access: vec![AccessClaim {
            kind: "repository".into(),
            name: "team-a/app".into(),
            actions: vec!["pull".into()],
        }],
        robot: None,
        refresh: false,
        pwv: None,
    };
    let expired = key.sign(&c).unwrap();
    let r = srv
        .get("/v2/team-a/app/tags/list", Some(&bearer(&expired)))
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.challenge().contains(r#"error="invalid_token""#),
        "{}",
        r.challenge()
    );
    assert!(r.text().contains("expired"), "{}", r.text());
    // The same claims, unexpired, pass: the refusal above was the expiry.
    c.exp = now + 300;
    c.iat = now;
    c.nbf = now;
    let fresh = key.sign(&c).unwrap();
    assert_eq!(
        srv.get("/v2/team-a/app/tags/list", Some(&bearer(&fresh)))
            .await
            .status,
        404
    );

    // The robot token has expired (1 s): it and the access token issued to it are refused.
    let r = srv
        .get("/v2/team-a/app/tags/list", Some(&bearer(&robot_token)))
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        srv.token_resp(
            Some(("alice", &secret)),
            &[&scope("team-a/app", "pull")],
            ""
        )
        .await
        .status,
        401
    );
    let listed = srv.admin().token_ls(Some("alice")).await.unwrap();
    assert_eq!(listed[0].state, "expired");
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let srv = token_server().await;
    srv.user("alice", ALICE_PW, Some((Role::Reader, "team-a/*")))
        .await;
    let img = boss_push(&srv, "team-a/app", "v1").await;
    let t = srv
        .token(
            Some(("alice", ALICE_PW)),
            &[&scope("team-a/app", "pull,push,delete")],
        )
        .await;
    assert_eq!(access(&t), [("team-a/app".to_string(), acts(&["pull"]))]);
    let manifest = format!("/v2/team-a/app/manifests/{}", img.manifest_digest);
    assert_eq!(srv.get(&manifest, Some(&bearer(&t))).await.status, 200);

    let parts: Vec<&str> = t.split('.').collect();
    let (header, signature) = (parts[0], parts[2]);
    let mut forged_claims = claims(&t);
    forged_claims["access"][0]["actions"] = serde_json::json!(["pull", "push", "delete"]);
    let forged_payload = b64(&serde_json::to_vec(&forged_claims).unwrap());

    // Another P-256 key, as PEM, to sign with.
    let other_dir = tempfile::tempdir().unwrap();
    let other = SigningKey::load_or_generate(other_dir.path()).unwrap();
    let other_pem = std::fs::read(other_dir.path().join("token.key")).unwrap();
    let registry_key = SigningKey::load_or_generate(&Auth::key_dir(&srv.root)).unwrap();
    let mut es256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    es256.kid = Some(registry_key.key_id().to_string());
    let mut hs256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs256.kid = Some(registry_key.key_id().to_string());

    let forgeries = [
        (
            "payload changed",
            format!("{header}.{forged_payload}.{signature}"),
        ),
        (
            "another key, its own kid",
            other
                .sign(&serde_json::from_value::<Claims>(forged_claims.clone()).unwrap())
                .unwrap(),
        ),
        (
            "another key, the registry's kid",
            jsonwebtoken::encode(
                &es256,
                &forged_claims,
                &jsonwebtoken::EncodingKey::from_ec_pem(&other_pem).unwrap(),
            )
            .unwrap(),
        ),
        (
            "alg none",
            format!(
                "{}.{forged_payload}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#)
            ),
        ),
        (
            "alg none, signature kept",
            format!(
                "{}.{forged_payload}.{signature}",
                b64(br#"{"alg":"none","typ":"JWT"}"#)
            ),
        ),
        (
            "HS256 keyed with the certificate",
            jsonwebtoken::encode(
                &hs256,
                &forged_claims,
                &jsonwebtoken::EncodingKey::from_secret(registry_key.certificate_pem().as_bytes()),
            )
            .unwrap(),
        ),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, forged) in &forgeries {
        let r = srv
            .req(
                "DELETE",
                &manifest,
                &[("authorization", &bearer(forged))],
                b"",
            )
            .await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert!(
            r.challenge().contains(r#"error="invalid_token""#),
            "{what}: {}",
            r.challenge()
        );
        assert!(
            !r.text().contains(forged.as_str()),
            "{what}: the token is not echoed"
        );
        let r = srv.get(&manifest, Some(&bearer(forged))).await;
        assert_eq!(r.status, 401, "{what}");
    }
    assert_eq!(
        srv.get(&manifest, Some(&bearer(&t))).await.status,
        200,
        "nothing was deleted"
    );
}

// ---- listings, mounts, blobs in use, public scopes ----

#[tokio::test]
async fn catalog_lists_only_pullable_repositories() {
    let srv = token_server().await;
    srv.user("alice", ALICE_PW, Some((Role::Reader, "team-a/*")))
        .await;
    srv.user("bob", "bob-password", None).await;
    for repo in ["team-a/app", "team-a/web", "team-b/app", "library/hello"] {
        boss_push(&srv, repo, "v1").await;
    }
    srv.admin()
        .set_public(&tester(), "library/*", true)
        .await
        .unwrap();
    let srv = &srv;
    let catalog = |token: String| async move {
        let r = srv.get("/v2/_catalog", Some(&bearer(&token))).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let mut repos: Vec<String> = r.json()["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        repos.sort();
        repos
    };
    let cat = "registry:catalog:*";
    assert_eq!(
        catalog(srv.token(Some(("alice", ALICE_PW)), &[cat]).await).await,
        ["library/hello", "team-a/app", "team-a/web"]
    );
    assert_eq!(
        catalog(srv.token(Some(("bob", "bob-password")), &[cat]).await).await,
        ["library/hello"]
    );
    assert_eq!(
        catalog(srv.token(None, &[cat]).await).await,
        ["library/hello"]
    );
    assert_eq!(
        catalog(srv.token(Some(("boss", BOSS_PW)), &[cat]).await).await,
        ["library/hello", "team-a/app", "team-a/web", "team-b/app"]
    );
    // Pages hold only what the caller may see, and end where the visible list ends.
    let t = bearer(&srv.token(Some(("alice", ALICE_PW)), &[cat]).await);
    let mut path = "/v2/_catalog?n=1".to_string();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = srv.get(&path, Some(&t)).await;
        assert_eq!(r.status, 200);
        let page: Vec<String> = r.json()["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(page.len(), 1, "{path}: {page:?}");
        seen.extend(page);
        match r.header("link") {
            Some(link) => {
                path = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string()
            }
            None => break,
        }
    }
    assert_eq!(seen, ["library/hello", "team-a/app", "team-a/web"]);
}

#[tokio::test]
async fn cross_mount_without_pull_on_the_source_falls_back_to_an_upload() {
    let srv = token_server().await;
    srv.user("dev", "dev-password", Some((Role::Writer, "team-a/*")))
        .await;
    let secret_img = boss_push(&srv, "team-b/secret", "v1").await;
    let layer = &secret_img.layer_digest;
    let missing = Digest::sha256(b"no such blob anywhere");

    let dev = srv
        .token(
            Some(("dev", "dev-password")),
            &[
                &scope("team-a/app", "pull,push"),
                &scope("team-b/secret", "pull"),
            ],
        )
        .await;
    assert_eq!(
        access(&dev),
        [("team-a/app".to_string(), acts(&["pull", "push"]))]
    );
    let auth = [("authorization", bearer(&dev))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut shapes = Vec::new();
    for d in [layer, &missing] {
        let r = srv
            .req(
                "POST",
                &format!("/v2/team-a/app/blobs/uploads/?mount={d}&from=team-b/secret"),
                &auth,
                b"",
            )
            .await;
        assert_eq!(r.status, 202, "{d}: {}", r.text());
        assert!(
            r.header("docker-content-digest").is_none(),
            "no hint about {d}"
        );
        assert!(
            r.header("location")
                .unwrap()
                .starts_with("/v2/team-a/app/blobs/uploads/"),
            "{:?}",
            r.header("location")
        );
        let mut names: Vec<String> = r
            .headers
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k != "date")
            .collect();
        names.sort();
        shapes.push((r.status, names, r.body.clone()));
    }
    assert_eq!(
        shapes[0], shapes[1],
        "an existing and a missing blob look the same"
    );
    // Without `from` (the automatic mount), only repositories the caller may pull are looked
    // in: the secret layer is not found, and the answer is the same as for a missing blob.
    let mut auto = Vec::new();
    for d in [layer, &missing] {
        let r = srv
            .req(
                "POST",
                &format!("/v2/team-a/app/blobs/uploads/?mount={d}"),
                &auth,
                b"",
            )
            .await;
        assert_eq!(r.status, 202, "{d}: {}", r.text());
        assert!(
            r.header("docker-content-digest").is_none(),
            "no hint about {d}"
        );
        auto.push((r.status, r.body.clone()));
    }
    assert_eq!(auto[0], auto[1]);
    let r = srv
        .req("HEAD", &format!("/v2/team-a/app/blobs/{layer}"), &auth, b"")
        .await;
    assert_eq!(r.status, 404, "not mounted");

    // With pull on the source, the mount is done.
    let boss = srv
        .token(
            Some(("boss", BOSS_PW)),
            &[
                &scope("team-a/app", "pull,push"),
                &scope("team-b/secret", "pull"),
            ],
        )
        .await;
    let r = srv
        .req(
            "POST",
            &format!("/v2/team-a/app/blobs/uploads/?mount={layer}&from=team-b/secret"),
            &[("authorization", &bearer(&boss))],
            b"",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(layer.to_string().as_str())
    );
}

async fn check_blob_in_use(srv: &Server, auth: Option<&str>, repo: &str) {
    let img = srv.push(auth, repo, "v1").await;
    let h: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    let blob = format!("/v2/{repo}/blobs/{}", img.layer_digest);
    let r = srv.req("DELETE", &blob, &h, b"").await;
    assert!(
        r.status == 409 || r.status == 403,
        "{}: {}",
        r.status,
        r.text()
    );
    let e = &r.json()["errors"][0];
    assert_eq!(e["code"], "DENIED");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&img.manifest_digest.to_string()),
        "the error names the manifest: {e}"
    );
    assert_eq!(
        srv.req("GET", &blob, &h, b"").await.status,
        200,
        "the blob is still served"
    );
    // Once no manifest uses it, it may go.
    let r = srv
        .req(
            "DELETE",
            &format!("/v2/{repo}/manifests/{}", img.manifest_digest),
            &h,
            b"",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = srv.req("DELETE", &blob, &h, b"").await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(srv.req("GET", &blob, &h, b"").await.status, 404);
}

#[tokio::test]
async fn blob_delete_is_refused_while_a_manifest_uses_it_in_mode_none() {
    let srv = start(|_| {}).await;
    assert_eq!(srv.reg.auth().mode(), AuthMode::None);
    check_blob_in_use(&srv, None, "team-a/app").await;
}

#[tokio::test]
async fn blob_delete_is_refused_while_a_manifest_uses_it_in_mode_token() {
    let srv = token_server().await;
    let t = srv
        .token(
            Some(("boss", BOSS_PW)),
            &[&scope("team-a/app", "pull,push,delete")],
        )
        .await;
    check_blob_in_use(&srv, Some(&bearer(&t)), "team-a/app").await;
}

#[tokio::test]
async fn public_scopes_let_anonymous_callers_pull() {
    let srv = token_server().await;
    let hello = boss_push(&srv, "library/hello", "latest").await;
    boss_push(&srv, "team-a/app", "v1").await;
    srv.admin()
        .set_public(&tester(), "library/*", true)
        .await
        .unwrap();

    let anon = srv
        .token(None, &[&scope("library/hello", "pull,push")])
        .await;
    assert_eq!(
        access(&anon),
        [("library/hello".to_string(), acts(&["pull"]))]
    );
    let r = srv
        .get("/v2/library/hello/manifests/latest", Some(&bearer(&anon)))
        .await;
    assert_eq!((r.status, r.body.clone()), (200, hello.manifest.clone()));
    // Pull only: a push is told to authenticate.
    let r = srv
        .upload(Some(&bearer(&anon)), "library/hello", b"anonymous blob")
        .await;
    assert_eq!(r.status, 401);
    assert!(
        r.challenge()
            .contains(r#"scope="repository:library/hello:pull,push""#),
        "{}",
        r.challenge()
    );
    assert!(
        r.challenge().contains(r#"error="insufficient_scope""#),
        "{}",
        r.challenge()
    );
    // Not public: nothing.
    let private = srv.token(None, &[&scope("team-a/app", "pull")]).await;
    assert!(access(&private).is_empty());
    let r = srv
        .get("/v2/team-a/app/manifests/v1", Some(&bearer(&private)))
        .await;
    assert_eq!(r.status, 401);
    // Public no more: refused at once, the token issued before included.
    srv.admin()
        .set_public(&tester(), "library/*", false)
        .await
        .unwrap();
    let r = srv
        .get("/v2/library/hello/manifests/latest", Some(&bearer(&anon)))
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let again = srv.token(None, &[&scope("library/hello", "pull")]).await;
    assert!(access(&again).is_empty());
}

// ---- passwords ----

#[tokio::test]
async fn a_password_change_invalidates_cached_credentials_and_issued_tokens() {
    let srv = start(|_| {}).await;
    srv.user("alice", ALICE_PW, Some((Role::Writer, "team-a/*")))
        .await;
    let want = [scope("team-a/app", "pull")];
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    // Twice: the second login is answered from the credential cache.
    let old = srv.token(Some(("alice", ALICE_PW)), &want).await;
    let r = srv
        .token_resp(Some(("alice", ALICE_PW)), &want, "&offline_token=true")
        .await;
    assert_eq!(r.status, 200);
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        srv.get("/v2/team-a/app/tags/list", Some(&bearer(&old)))
            .await
            .status,
        404
    );

    srv.admin()
        .user_passwd(&tester(), "alice", "a-new-password")
        .await
        .unwrap();

    // At once (same second included): the old password, the token and the refresh token.
    assert_eq!(
        srv.token_resp(Some(("alice", ALICE_PW)), &want, "")
            .await
            .status,
        401
    );
    let r = srv
        .get("/v2/team-a/app/tags/list", Some(&bearer(&old)))
        .await;
    assert_eq!(
        r.status,
        401,
        "a token issued before the change: {}",
        r.text()
    );
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh}&service=berth-registry&client_id=t"
    );
    let r = srv
        .req(
            "POST",
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 401, "a refresh token issued before the change");
    // The new password works at once, and so does the token it gets.
    let new = srv.token(Some(("alice", "a-new-password")), &want).await;
    let r = srv
        .get("/v2/team-a/app/tags/list", Some(&bearer(&new)))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
}

#[tokio::test]
async fn basic_mode_password_change_drops_cached_credentials() {
    let srv = start(|a| a.mode = Some(AuthMode::Basic)).await;
    srv.user("alice", ALICE_PW, Some((Role::Reader, "team-a/*")))
        .await;
    for _ in 0..2 {
        assert_eq!(
            srv.get("/v2/", Some(&basic("alice", ALICE_PW)))
                .await
                .status,
            200
        );
    }
    srv.admin()
        .user_passwd(&tester(), "alice", "a-new-password")
        .await
        .unwrap();
    assert_eq!(
        srv.get("/v2/", Some(&basic("alice", ALICE_PW)))
            .await
            .status,
        401
    );
    assert_eq!(
        srv.get("/v2/", Some(&basic("alice", "a-new-password")))
            .await
            .status,
        200
    );
    // A removed user too.
    srv.admin().user_rm(&tester(), "alice").await.unwrap();
    assert_eq!(
        srv.get("/v2/", Some(&basic("alice", "a-new-password")))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    for mode in [AuthMode::Token, AuthMode::Basic] {
        let srv = start(|a| a.mode = Some(mode)).await;
        srv.user("alice", ALICE_PW, Some((Role::Reader, "*"))).await;
        let path = match mode {
            AuthMode::Token => "/token?service=berth-registry&scope=repository:a:pull",
            _ => "/v2/",
        };
        let wrong = srv.get(path, Some(&basic("alice", "wrong-password"))).await;
        let unknown = srv
            .get(path, Some(&basic("nobody", "wrong-password")))
            .await;
        assert_eq!(wrong.status, 401, "{mode:?}");
        assert_eq!(wrong.status, unknown.status, "{mode:?}");
        assert_eq!(wrong.body, unknown.body, "{mode:?}");
        assert_eq!(wrong.challenge(), unknown.challenge(), "{mode:?}");
        assert!(
            !wrong.text().contains("alice") && !unknown.text().contains("nobody"),
            "{}",
            wrong.text()
        );
    }
}

// ---- Basic mode and htpasswd ----

#[tokio::test]
async fn basic_mode_takes_basic_credentials_on_every_request() {
    let srv = start(|a| a.mode = Some(AuthMode::Basic)).await;
    srv.user("alice", ALICE_PW, Some((Role::Writer, "team-a/*")))
        .await;
    srv.user("bob", "bob-password", None).await;
    let challenge = r#"Basic realm="berth-registry""#;
    let r = srv.get("/v2/", None).await;
    assert_eq!((r.status, r.challenge()), (401, challenge));
    let r = srv
        .get("/v2/", Some(&basic("alice", "wrong-password")))
        .await;
    assert_eq!((r.status, r.challenge()), (401, challenge));
    assert_eq!(
        srv.get("/v2/", Some(&basic("alice", ALICE_PW)))
            .await
            .status,
        200
    );
    // A bearer token means nothing here.
    assert_eq!(
        srv.get("/v2/", Some("Bearer abc.def.ghi")).await.status,
        401
    );

    let alice = basic("alice", ALICE_PW);
    let img = srv.push(Some(&alice), "team-a/app", "v1").await;
    let r = srv.get("/v2/team-a/app/manifests/v1", Some(&alice)).await;
    assert_eq!((r.status, r.body.clone()), (200, img.manifest.clone()));
    // Anonymous: asked to log in; bob (no grant): denied.
    let r = srv.get("/v2/team-a/app/manifests/v1", None).await;
    assert_eq!((r.status, r.challenge()), (401, challenge));
    let r = srv
        .get(
            "/v2/team-a/app/manifests/v1",
            Some(&basic("bob", "bob-password")),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));
    // No token service in Basic mode.
    assert_eq!(
        srv.get("/token?service=berth-registry", Some(&alice))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn htpasswd_users_log_in_and_need_grants() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let line = |user: &str, pw: &str| format!("{user}:{}\n", bcrypt::hash(pw, 5).unwrap());
    std::fs::write(&file, line("hilda", "hilda-password")).unwrap();
    let path = file.clone();
    let srv = start(move |a| {
        a.mode = Some(AuthMode::Basic);
        a.htpasswd = Some(path);
    })
    .await;
    let hilda = basic("hilda", "hilda-password");
    assert_eq!(srv.get("/v2/", Some(&hilda)).await.status, 200);
    assert_eq!(
        srv.get("/v2/", Some(&basic("hilda", "wrong-password")))
            .await
            .status,
        401
    );
    // Logged in, but nothing is granted yet.
    let r = srv.get("/v2/team-a/app/tags/list", Some(&hilda)).await;
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));
    srv.admin()
        .grant(
            &tester(),
            Subject::User("hilda".into()),
            Role::Writer,
            "team-a/*",
        )
        .await
        .unwrap();
    let img = srv.push(Some(&hilda), "team-a/app", "v1").await;
    let r = srv.get("/v2/team-a/app/manifests/v1", Some(&hilda)).await;
    assert_eq!((r.status, r.body.clone()), (200, img.manifest.clone()));
    // The file is re-read when it changes.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&line("henry", "henry-password"));
    std::fs::write(&file, text).unwrap();
    assert_eq!(
        srv.get("/v2/", Some(&basic("henry", "henry-password")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn htpasswd_users_get_tokens_in_token_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(
        &file,
        format!("hilda:{}\n", bcrypt::hash("hilda-password", 5).unwrap()),
    )
    .unwrap();
    let path = file.clone();
    let srv = start(move |a| a.htpasswd = Some(path)).await;
    assert_eq!(
        srv.reg.auth().mode(),
        AuthMode::Token,
        "an htpasswd file means token mode"
    );
    srv.admin()
        .grant(
            &tester(),
            Subject::User("hilda".into()),
            Role::Reader,
            "team-a/*",
        )
        .await
        .unwrap();
    let t = srv
        .token(
            Some(("hilda", "hilda-password")),
            &[&scope("team-a/app", "pull,push")],
        )
        .await;
    assert_eq!(access(&t), [("team-a/app".to_string(), acts(&["pull"]))]);
    assert_eq!(
        srv.get("/v2/team-a/app/tags/list", Some(&bearer(&t)))
            .await
            .status,
        404
    );
    // A new password in the file refuses the tokens issued under the old one at once.
    let newer = format!("hilda:{}\n", bcrypt::hash("hilda-password-2", 5).unwrap());
    let tmp = dir.path().join("htpasswd.new");
    std::fs::write(&tmp, newer).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let r = srv.get("/v2/team-a/app/tags/list", Some(&bearer(&t))).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.challenge().contains("invalid_token"), "{}", r.challenge());
}

#[tokio::test]
async fn a_refused_write_is_audited_with_who_tried() {
    let srv = start(|_| {}).await;
    srv.user("rita", "rita-password", Some((Role::Reader, "team-a/*")))
        .await;
    let t = srv
        .token(
            Some(("rita", "rita-password")),
            &[&scope("team-a/app", "pull")],
        )
        .await;
    let r = srv
        .req(
            "DELETE",
            "/v2/team-a/app/manifests/v1",
            &[("authorization", &bearer(&t))],
            b"",
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    let audit = srv.admin().audit(&Default::default()).await.unwrap();
    let refused = audit
        .iter()
        .find(|e| e.event.action == "tag.delete" && !e.event.success)
        .expect("the refused delete is audited");
    assert_eq!(refused.event.actor.as_deref(), Some("rita"));
    assert_eq!(refused.event.repo.as_deref(), Some("team-a/app"));
    assert_eq!(refused.event.client.as_deref(), Some("127.0.0.1"));
}

// ---- brute force ----

#[tokio::test]
async fn brute_force_is_rate_limited_and_the_right_password_works_after_the_backoff() {
    let srv = start(|a| {
        a.lockout_threshold = 5;
        a.lockout_base = "300ms".into();
        a.lockout_max = "1s".into();
    })
    .await;
    srv.user("alice", ALICE_PW, Some((Role::Reader, "team-a/*")))
        .await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for i in 0..30 {
        let r = srv
            .token_resp(Some(("alice", &format!("guess-{i}"))), &[], "")
            .await;
        statuses.push(r.status);
        match r.status {
            401 => assert_eq!(r.code(), "UNAUTHORIZED"),
            429 => {
                assert_eq!(r.code(), "TOOMANYREQUESTS");
                let retry: u64 = r
                    .header("retry-after")
                    .expect("Retry-After")
                    .parse()
                    .unwrap();
                assert!((1..=1).contains(&retry), "Retry-After {retry}");
                limited.get_or_insert(i);
            }
            s => panic!("attempt {i}: {s} {}", r.text()),
        }
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(
        limited,
        Some(5),
        "the sixth attempt is refused: {statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 15,
        "most attempts are refused without checking: {statuses:?}"
    );
    // While refused, even the right password is not checked: wait for a wrong password to be
    // checked again (a 401), which starts a new backoff, then try the right one at once.
    let mut checked = false;
    for _ in 0..40 {
        if srv
            .token_resp(Some(("alice", "guess-again")), &[], "")
            .await
            .status
            == 401
        {
            checked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(checked, "the backoff ends");
    let r = srv.token_resp(Some(("alice", ALICE_PW)), &[], "").await;
    assert_eq!(
        r.status,
        429,
        "the right password while backing off: {}",
        r.text()
    );
    // After the longest backoff, the right password works again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = srv.token_resp(Some(("alice", ALICE_PW)), &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // And the count started over: one wrong password is a plain 401.
    assert_eq!(
        srv.token_resp(Some(("alice", "wrong-again")), &[], "")
            .await
            .status,
        401
    );
    // The refusals are audited.
    let audit = srv.admin().audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.event.action == "login"
        && !a.event.success
        && a.event.detail.as_deref() == Some("rate limited")));
}

// ---- audit ----

#[tokio::test]
async fn the_audit_log_records_actions_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let audit_file = dir.path().join("audit.jsonl");
    let path = audit_file.clone();
    let srv = start(move |a| a.audit_log = Some(path)).await;
    let admin_pw = "Admin-Secret-Pw-93715";
    let writer_pw = "Writer-Secret-Pw-28461";
    srv.admin()
        .user_add(&tester(), "audit-root", admin_pw, true)
        .await
        .unwrap();
    srv.user(
        "audit-writer",
        writer_pw,
        Some((Role::Maintainer, "audit/*")),
    )
    .await;
    let (_, robot_secret) = srv
        .admin()
        .token_create(
            &tester(),
            "audit-writer",
            "ci",
            vec!["audit/app:pull".parse().unwrap()],
            None,
        )
        .await
        .unwrap();

    // A grant over the admin API.
    let body =
        serde_json::json!({"subject": "audit-writer", "role": "reader", "scope": "audit-b/*"})
            .to_string();
    let r = srv
        .req(
            "POST",
            "/berth/api/v1/grants",
            &[
                ("authorization", &basic("audit-root", admin_pw)),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // A token issue, a push, a tag delete.
    let t = srv
        .token(
            Some(("audit-writer", writer_pw)),
            &[&scope("audit/app", "pull,push,delete")],
        )
        .await;
    let img = srv.push(Some(&bearer(&t)), "audit/app", "v1").await;
    let r = srv
        .req(
            "DELETE",
            "/v2/audit/app/manifests/v1",
            &[("authorization", &bearer(&t))],
            b"",
        )
        .await;
    assert_eq!(r.status, 202);
    // A login failure, a robot login.
    assert_eq!(
        srv.token_resp(Some(("audit-writer", "Wrong-Secret-Pw-55555")), &[], "")
            .await
            .status,
        401
    );
    srv.token(
        Some(("audit-writer", &robot_secret)),
        &[&scope("audit/app", "pull")],
    )
    .await;

    let rows = srv.admin().audit(&AuditFilter::default()).await.unwrap();
    let find = |action: &str, pred: &dyn Fn(&berth_registry::auth::model::AuditEvent) -> bool| {
        rows.iter()
            .map(|r| &r.event)
            .find(|e| e.action == action && pred(e))
            .unwrap_or_else(|| panic!("no {action} record in {rows:#?}"))
            .clone()
    };
    let local = Some("127.0.0.1".to_string());
    let g = find("grant", &|e| {
        e.target.as_deref() == Some("audit-writer reader audit-b/*")
    });
    assert_eq!(
        (g.actor.as_deref(), &g.client, g.success),
        (Some("audit-root"), &local, true)
    );
    let ti = find("token.issue", &|e| {
        e.actor.as_deref() == Some("audit-writer")
    });
    assert_eq!(ti.client, local);
    assert_eq!(
        ti.detail.as_deref(),
        Some("repository:audit/app:pull,push,delete")
    );
    let push = find("manifest.push", &|e| e.target.as_deref() == Some("v1"));
    assert_eq!(
        (push.actor.as_deref(), &push.client),
        (Some("audit-writer"), &local)
    );
    assert_eq!(push.repo.as_deref(), Some("audit/app"));
    assert_eq!(
        push.detail.as_deref(),
        Some(img.manifest_digest.to_string().as_str())
    );
    let del = find("tag.delete", &|e| e.target.as_deref() == Some("v1"));
    assert_eq!(
        (del.actor.as_deref(), &del.client, del.repo.as_deref()),
        (Some("audit-writer"), &local, Some("audit/app"))
    );
    let fail = find("login", &|e| !e.success);
    assert_eq!(
        (fail.actor.as_deref(), &fail.client),
        (Some("audit-writer"), &local)
    );
    let ok = find("login", &|e| {
        e.success && e.actor.as_deref().is_some_and(|a| a.contains("/robot:"))
    });
    assert_eq!(ok.client, local);
    find("robot.create", &|e| {
        e.target.as_deref() == Some("audit-writer/ci")
    });
    find("user.add", &|e| e.target.as_deref() == Some("audit-root"));

    // The same over the admin API, filtered.
    let r = srv
        .get(
            "/berth/api/v1/audit?repo=audit/app",
            Some(&basic("audit-root", admin_pw)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = r.json();
    let actions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"manifest.push") && actions.contains(&"tag.delete"),
        "{actions:?}"
    );
    assert!(
        !actions.contains(&"grant"),
        "filtered by repository: {actions:?}"
    );

    // No secret, no hash anywhere: table, JSON lines, server log.
    let mut secrets: Vec<String> = vec![
        admin_pw.into(),
        writer_pw.into(),
        "Wrong-Secret-Pw-55555".into(),
        robot_secret.clone(),
        robot_random(&robot_secret).to_string(),
    ];
    for u in srv.reg.auth().db().users().await.unwrap() {
        secrets.push(u.password_hash.clone());
        // The salted hash's digest part alone.
        secrets.push(u.password_hash.rsplit('$').next().unwrap().to_string());
    }
    for r in srv.reg.auth().db().robots(None).await.unwrap() {
        secrets.push(r.secret_hash.clone());
    }
    let table = serde_json::to_string(&rows).unwrap();
    let lines = std::fs::read_to_string(&audit_file).unwrap();
    assert!(
        lines.lines().count() >= rows.len(),
        "every record is also a JSON line"
    );
    for line in lines.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    assert!(lines.contains("\"manifest.push\""));
    let logs = logs();
    assert!(
        logs.contains("audit/app"),
        "the capture saw this test's requests"
    );
    for s in &secrets {
        assert!(s.len() >= 8, "{s}");
        assert!(!table.contains(s.as_str()), "a secret in the audit table");
        assert!(!lines.contains(s.as_str()), "a secret in the audit file");
        assert!(!logs.contains(s.as_str()), "a secret in the server log");
    }
    // Nor the Basic header (base64 of user:password) or the bearer token.
    assert!(!logs.contains(&basic("audit-root", admin_pw)[6..]));
    assert!(
        !logs.contains(t.as_str()),
        "a bearer token in the server log"
    );
}

// ---- admin API ----

#[tokio::test]
async fn admin_api_is_for_admins_and_never_shows_secrets_twice() {
    let srv = start(|_| {}).await;
    let root_pw = "Root-Password-777";
    srv.admin()
        .user_add(&tester(), "root", root_pw, true)
        .await
        .unwrap();
    srv.user("bob", "bob-password", Some((Role::Maintainer, "*")))
        .await;
    let root = basic("root", root_pw);
    let json_h = |auth: &str| -> Vec<(&'static str, String)> {
        vec![
            ("authorization", auth.to_string()),
            ("content-type", "application/json".into()),
        ]
    };
    let call = |method: &'static str, path: &'static str, auth: String, body: String| {
        let srv = &srv;
        async move {
            let h = json_h(&auth);
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            srv.req(method, &format!("/berth/api/v1{path}"), &h, body.as_bytes())
                .await
        }
    };

    // Not an admin: 403; nobody: 401.
    let r = srv
        .get("/berth/api/v1/users", Some(&basic("bob", "bob-password")))
        .await;
    assert_eq!((r.status, r.code()), (403, "DENIED".to_string()));
    let r = srv.get("/berth/api/v1/users", None).await;
    assert_eq!(r.status, 401);
    let r = srv
        .get(
            "/berth/api/v1/users",
            Some(&basic("root", "wrong-password")),
        )
        .await;
    assert_eq!(r.status, 401);

    // An admin creates a user and grants them a role.
    let r = call(
        "POST",
        "/users",
        root.clone(),
        r#"{"name":"carol","password":"carol-password"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["name"], "carol");
    assert!(
        !r.text().contains("carol-password") && !r.text().contains("argon2"),
        "{}",
        r.text()
    );
    let r = srv.get("/berth/api/v1/users", Some(&root)).await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("argon2"), "no hash listed: {}", r.text());
    let users = r.json();
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob", "carol", "root"]);
    let r = call(
        "POST",
        "/grants",
        root.clone(),
        r#"{"subject":"carol","role":"writer","scope":"team-a/*"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = srv.get("/berth/api/v1/grants", Some(&root)).await;
    assert!(
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["subject"] == "carol" && g["role"] == "writer" && g["scope"] == "team-a/*")
    );

    let r = srv
        .get(
            "/berth/api/v1/grants",
            Some(&basic("carol", "carol-password")),
        )
        .await;
    assert_eq!(r.status, 403, "a writer is no admin");
    // Revoked over the API (and granted again).
    let r = srv
        .req(
            "DELETE",
            "/berth/api/v1/grants",
            &[
                ("authorization", &root),
                ("content-type", "application/json"),
            ],
            br#"{"subject":"carol","scope":"team-a/*"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["revoked"].as_u64()),
        (200, Some(1)),
        "{}",
        r.text()
    );
    let r = call(
        "POST",
        "/grants",
        root.clone(),
        r#"{"subject":"carol","role":"writer","scope":"team-a/*"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        "POST",
        "/grants",
        root.clone(),
        r#"{"subject":"nobody","role":"writer","scope":"team-a/*"}"#.into(),
    )
    .await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND".to_string()));
    let r = call(
        "PUT",
        "/public",
        root.clone(),
        r#"{"scope":"library/*","public":true}"#.into(),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["changed"].as_bool()),
        (200, Some(true)),
        "{}",
        r.text()
    );
    let r = srv.get("/berth/api/v1/public", Some(&root)).await;
    assert_eq!(r.json(), serde_json::json!(["library/*"]));

    // A robot token: the secret once, not cached by anyone.
    let r = call(
        "POST",
        "/tokens",
        root.clone(),
        r#"{"user":"carol","name":"ci","scopes":["team-a/app:pull,push"],"expires":"30d"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let created = r.json();
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("berth_"));
    assert_eq!(created["state"], "active");
    assert!(created["expires"].is_string());
    // It works at /token.
    let t = srv
        .token(
            Some(("carol", &secret)),
            &[&scope("team-a/app", "pull,push")],
        )
        .await;
    assert_eq!(
        access(&t),
        [("team-a/app".to_string(), acts(&["pull", "push"]))]
    );
    // Listed without the secret or its hash.
    let r = srv
        .get("/berth/api/v1/tokens?user=carol", Some(&root))
        .await;
    assert_eq!(r.status, 200);
    let text = r.text();
    let secret_tail = robot_random(&secret);
    assert!(!text.contains(secret_tail), "{text}");
    let hash = &srv.reg.auth().db().robots(None).await.unwrap()[0].secret_hash;
    assert!(!text.contains(hash.as_str()), "{text}");
    let listed = r.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("token").is_none() && listed[0].get("secret_hash").is_none(),
        "{listed}"
    );
    assert_eq!(listed[0]["id"], id.as_str());
    // Revoked.
    let r = srv
        .req(
            "DELETE",
            &format!("/berth/api/v1/tokens/{id}"),
            &[("authorization", &root)],
            b"",
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = srv
        .get("/berth/api/v1/tokens?user=carol", Some(&root))
        .await;
    assert_eq!(r.json()[0]["state"], "revoked");
    assert_eq!(
        srv.token_resp(Some(("carol", &secret)), &[], "")
            .await
            .status,
        401
    );
    assert_eq!(
        srv.get("/v2/team-a/app/tags/list", Some(&bearer(&t)))
            .await
            .status,
        401
    );

    // Bad JSON: 400 INVALID, without echoing the password.
    let pw = "Leaky-Password-4242";
    for body in [
        format!(r#"{{"name":"dave","password":"{pw}","admin":"yes"}}"#),
        format!(r#"{{"name":"dave","password":"{pw}""#),
        format!(r#"{{"name":"dave","pasword":"{pw}"}}"#),
        format!(r#"{{"name":"dave","password":["{pw}"]}}"#),
        format!(r#"["{pw}"]"#),
        pw.to_string(),
    ] {
        let r = call("POST", "/users", root.clone(), body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID".to_string()),
            "{body}: {}",
            r.text()
        );
        assert!(!r.text().contains(pw), "{body}: {}", r.text());
    }
    let r = call(
        "PUT",
        "/users/carol/password",
        root.clone(),
        format!(r#"{{"password":"{pw}","x":1}}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(!r.text().contains(pw), "{}", r.text());
    let r = call(
        "PUT",
        "/users/carol/password",
        root.clone(),
        r#"{"password":"short"}"#.into(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(!r.text().contains("short\""), "{}", r.text());
    assert!(!logs().contains(pw), "the bad bodies are not logged either");

    // A bearer token of an admin works; a robot token of an admin does not make it an admin.
    let rt = srv.token(Some(("root", root_pw)), &[]).await;
    assert_eq!(
        srv.get("/berth/api/v1/users", Some(&bearer(&rt)))
            .await
            .status,
        200
    );
    let (_, robot) = srv
        .admin()
        .token_create(
            &tester(),
            "root",
            "bot",
            vec!["*:pull".parse().unwrap()],
            None,
        )
        .await
        .unwrap();
    let r = srv
        .get("/berth/api/v1/users", Some(&basic("root", &robot)))
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
}

#[tokio::test]
async fn without_access_control_the_admin_api_is_closed() {
    // Mode none (no user yet): nobody may make themselves the first administrator over HTTP.
    let srv = start(|_| {}).await;
    let body = br#"{"name":"mallory","password":"mallory-password","admin":true}"#;
    let r = srv
        .req(
            "POST",
            "/berth/api/v1/users",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.code(), "DENIED");
    assert!(r.text().contains("berth registry user add"), "{}", r.text());
    assert!(
        srv.admin().users().await.unwrap().is_empty(),
        "no user was created"
    );
    // The registry itself stays open in that mode.
    assert_eq!(srv.get("/v2/", None).await.status, 200);
}
