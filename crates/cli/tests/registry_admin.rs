//! `berth registry user|team|grant|revoke|grants|public|token|audit|auth` on a data root: what
//! they print (tables and `--json`), the one-line errors of bad input, and that a running
//! server sees each change at once.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::Value;

/// Run `berth registry ARGS --root ROOT`, with `stdin` as input.
fn admin(root: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = common::berth()
        .arg("registry")
        .args(args)
        .arg("--root")
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(root: &std::path::Path, args: &[&str], stdin: &str) -> String {
    let out = admin(root, args, stdin);
    assert!(
        out.status.success(),
        "berth registry {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The one line of error a refused command prints.
fn fails(root: &std::path::Path, args: &[&str], stdin: &str) -> String {
    let out = admin(root, args, stdin);
    assert!(!out.status.success(), "berth registry {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    err
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn users_teams_grants_tokens_and_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");

    ok(
        &root,
        &["user", "add", "alice", "--password-stdin", "--admin"],
        "alice-password\n",
    );
    ok(
        &root,
        &["user", "add", "bob", "--password-stdin"],
        "bob-password\n",
    );
    assert!(
        fails(
            &root,
            &["user", "add", "bob", "--password-stdin"],
            "another-password\n"
        )
        .contains("already exists")
    );
    assert!(
        fails(
            &root,
            &["user", "add", "carol", "--password-stdin"],
            "short\n"
        )
        .contains("too short")
    );
    assert!(
        fails(
            &root,
            &["user", "add", "a:b", "--password-stdin"],
            "long-enough-pw\n"
        )
        .contains("invalid name")
    );
    // No terminal and no --password-stdin: refused, not hanging.
    assert!(fails(&root, &["user", "add", "dave"], "").contains("--password-stdin"));

    let users = json(&ok(&root, &["user", "ls", "--json"], ""));
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(users[0]["admin"], true);
    assert_eq!(users[1]["admin"], false);
    let table = ok(&root, &["user", "ls"], "");
    assert!(table.starts_with("NAME"), "{table}");
    assert!(!table.contains("argon2"), "no hash in listings: {table}");

    ok(&root, &["team", "add", "ci"], "");
    ok(&root, &["team", "member", "add", "ci", "bob"], "");
    assert!(fails(&root, &["team", "member", "add", "ci", "nobody"], "").contains("nobody"));
    let teams = json(&ok(&root, &["team", "ls", "--json"], ""));
    assert_eq!(teams[0]["members"], serde_json::json!(["bob"]));

    ok(&root, &["grant", "@ci", "writer", "team-a/*"], "");
    ok(&root, &["grant", "bob", "reader", "**"], "");
    assert!(fails(&root, &["grant", "bob", "owner", "x"], "").contains("unknown role"));
    assert!(fails(&root, &["grant", "nobody", "reader", "x"], "").contains("not found"));
    assert!(fails(&root, &["grant", "@nope", "reader", "x"], "").contains("not found"));
    let grants = json(&ok(&root, &["grants", "--json"], ""));
    let has = |s: &str, r: &str, sc: &str| {
        grants
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["subject"] == s && g["role"] == r && g["scope"] == sc)
    };
    assert!(
        has("@ci", "writer", "team-a/*")
            && has("bob", "reader", "**")
            && has("alice", "admin", "*")
    );
    assert!(ok(&root, &["revoke", "bob", "**"], "").contains("1 grant"));
    assert!(fails(&root, &["revoke", "bob", "reader", "**"], "").contains("not found"));

    assert!(ok(&root, &["public", "library/*", "on"], "").contains("public"));
    assert_eq!(ok(&root, &["public"], ""), "library/*\n");
    assert!(ok(&root, &["public", "library/*", "on"], "").contains("unchanged"));

    // A robot token: the secret once, never again.
    let created = json(&ok(
        &root,
        &[
            "token",
            "create",
            "--user",
            "bob",
            "--name",
            "ci-main",
            "--scope",
            "team-a/app:pull,push",
            "--expires",
            "30d",
            "--json",
        ],
        "",
    ));
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&format!("berth_{id}_")), "{secret}");
    assert_eq!(created["user"], "bob");
    assert_eq!(
        created["scopes"],
        serde_json::json!(["team-a/app:pull,push"])
    );
    assert!(created["expires"].is_string());
    assert!(
        fails(
            &root,
            &[
                "token", "create", "--user", "bob", "--name", "ci-main", "--scope", "x:pull"
            ],
            ""
        )
        .contains("already exists")
    );
    assert!(
        fails(
            &root,
            &[
                "token", "create", "--user", "bob", "--name", "x", "--scope", "x:steal"
            ],
            ""
        )
        .contains("unknown action")
    );
    let plain = ok(
        &root,
        &[
            "token", "create", "--user", "bob", "--name", "other", "--scope", "x:pull",
        ],
        "",
    );
    assert!(plain.lines().any(|l| l == "user: bob"), "{plain}");
    assert!(
        plain.lines().any(|l| l.starts_with("token: berth_")),
        "{plain}"
    );
    let listed = ok(&root, &["token", "ls", "--json"], "");
    assert!(!listed.contains(&secret), "listing shows no secret");
    let listed = json(&listed);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "active")
    );
    ok(&root, &["token", "revoke", &id], "");
    assert!(fails(&root, &["token", "revoke", &id], "").contains("not found"));
    let listed = json(&ok(&root, &["token", "ls", "--user", "bob", "--json"], ""));
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str() && t["state"] == "revoked")
    );

    ok(
        &root,
        &["user", "passwd", "bob", "--password-stdin"],
        "bob-password-2\n",
    );
    ok(&root, &["user", "rm", "bob"], "");
    assert!(fails(&root, &["user", "rm", "bob"], "").contains("not found"));
    let teams = json(&ok(&root, &["team", "ls", "--json"], ""));
    assert_eq!(
        teams[0]["members"],
        serde_json::json!([]),
        "removing a user removes their memberships"
    );

    // The audit trail of all that, refusals included, with no secret in it.
    let audit = ok(&root, &["audit", "--json"], "");
    for secret_text in ["alice-password", "bob-password", secret.as_str(), "argon2"] {
        assert!(
            !audit.contains(secret_text),
            "the audit log holds {secret_text:?}"
        );
    }
    let records: Vec<Value> = audit.lines().map(json).collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in [
        "user.add",
        "team.add",
        "team.member.add",
        "grant",
        "revoke",
        "public.on",
        "robot.create",
        "robot.revoke",
        "user.passwd",
        "user.rm",
    ] {
        assert!(actions.contains(&a), "no {a} in {actions:?}");
    }
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "grant" && r["success"] == false)
    );
    assert!(
        records
            .iter()
            .all(|r| r["actor"].as_str().is_some_and(|a| a.starts_with("local:")))
    );
    let limited = ok(&root, &["audit", "--json", "--limit", "2"], "");
    assert_eq!(limited.lines().count(), 2);
    assert!(ok(&root, &["audit", "--since", "1h"], "").starts_with("TIME"));
    assert!(fails(&root, &["audit", "--since", "yesterday"], "").contains("RFC 3339"));

    // The token-signing certificate, and the same key as a JWKS.
    let pem = ok(&root, &["auth", "cert"], "");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(
        ok(&root, &["auth", "cert"], ""),
        pem,
        "the key is generated once"
    );
    let jwks = json(&ok(&root, &["auth", "cert", "--jwks"], ""));
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
}

#[test]
fn a_running_server_sees_changes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    ok(
        &root,
        &["user", "add", "erin", "--password-stdin"],
        "erin-password\n",
    );
    let srv = common::Registry::start_at(&root, "127.0.0.1:0", &[]);
    let http = common::client();
    let scope = |user: &str, pw: &str| -> Value {
        let r = http
            .get(srv.u("/token?service=berth-registry&scope=repository:team-a/app:pull,push"))
            .basic_auth(user, Some(pw))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let token: Value = r.json().unwrap();
        let payload = token["token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_string();
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice::<Value>(&claims).unwrap()["access"].clone()
    };
    assert_eq!(
        scope("erin", "erin-password"),
        serde_json::json!([]),
        "nothing granted yet"
    );
    ok(&root, &["grant", "erin", "writer", "team-a/*"], "");
    assert_eq!(
        scope("erin", "erin-password")[0]["actions"],
        serde_json::json!(["pull", "push"])
    );
    ok(&root, &["revoke", "erin", "team-a/*"], "");
    assert_eq!(scope("erin", "erin-password"), serde_json::json!([]));
    // A new password works at once, the old one no longer (even though it was cached).
    ok(
        &root,
        &["user", "passwd", "erin", "--password-stdin"],
        "erin-password-2\n",
    );
    let r = http
        .get(srv.u("/token?service=berth-registry"))
        .basic_auth("erin", Some("erin-password"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(scope("erin", "erin-password-2"), serde_json::json!([]));
}
