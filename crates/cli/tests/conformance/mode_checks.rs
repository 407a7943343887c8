//! That the suite's auth mode is really in force (`crate::mode::TOKEN`). In `token` mode (issue 9:
//! "`/v2/` and every denied request answer 401 with `WWW-Authenticate: Bearer realm="<external
//! url>/token",service="<service>",scope="repository:<name>:<actions>"` naming exactly the scope
//! the request needed"), requests without a token are challenged, the token endpoint wants the
//! right password, and a token is needed for its scope; with no users (mode `none`) anonymous
//! requests are served and there is no token endpoint.

use reqwest::Method;

use crate::util::*;

const REPO: &str = "conf/auth-mode";

/// The Bearer challenge of a 401 (panics with the exchange otherwise).
#[track_caller]
fn challenge_of(r: &Resp) -> Challenge {
    assert_eq!(r.status, 401, "expected a challenge:\n{r}");
    let h = r.must_header("www-authenticate");
    Challenge::parse(&h).unwrap_or_else(|| panic!("not a Bearer challenge with a realm:\n{r}"))
}

#[test]
fn token_mode_is_enforced() {
    let reg = Reg::start();
    let r = reg.req_anonymous(Method::GET, "/v2/", &[], None);
    if !crate::mode::TOKEN {
        r.must(200);
        return;
    }
    let ch = challenge_of(&r);
    assert_eq!(ch.realm, reg.url("/token"), "realm:\n{r}");
    assert_eq!(
        ch.service.as_deref(),
        Some("berth-registry"),
        "service:\n{r}"
    );
    assert!(ch.scopes.is_empty(), "/v2/ needs no scope:\n{r}");
    assert_error(&r, &[401], "UNAUTHORIZED");
    assert_eq!(
        r.header("docker-distribution-api-version").as_deref(),
        Some("registry/2.0"),
        "a 401 carries the API version too:\n{r}"
    );
}

#[test]
fn token_mode_challenges_name_the_needed_scope() {
    let reg = Reg::start();
    reg.push_image(REPO, "v1", &new_image(serde_json::json!({})));
    let digest = reg.push_blob(REPO, b"auth-mode blob");
    let blob = format!("/v2/{REPO}/blobs/{digest}");
    let cases = [
        (
            Method::GET,
            format!("/v2/{REPO}/manifests/v1"),
            format!("repository:{REPO}:pull"),
        ),
        (Method::GET, blob.clone(), format!("repository:{REPO}:pull")),
        (
            Method::HEAD,
            blob.clone(),
            format!("repository:{REPO}:pull"),
        ),
        (
            Method::GET,
            format!("/v2/{REPO}/tags/list"),
            format!("repository:{REPO}:pull"),
        ),
        (
            Method::POST,
            format!("/v2/{REPO}/blobs/uploads/"),
            format!("repository:{REPO}:pull,push"),
        ),
        (
            Method::DELETE,
            blob.clone(),
            format!("repository:{REPO}:delete"),
        ),
        (
            Method::GET,
            "/v2/_catalog".to_string(),
            "registry:catalog:*".to_string(),
        ),
    ];
    for (method, path, scope) in cases {
        let body = (method == Method::POST).then(Vec::new);
        let r = reg.req_anonymous(method.clone(), &path, &[], body);
        if !crate::mode::TOKEN {
            assert!(
                r.status < 400,
                "anonymous {method} {path} in mode none:\n{r}"
            );
            continue;
        }
        let ch = challenge_of(&r);
        assert_eq!(ch.scopes, vec![scope.clone()], "challenged scope:\n{r}");
        // The token for exactly that scope is enough.
        let t = reg.fetch_token(&ch, reg.credentials()).json();
        for k in ["token", "access_token", "issued_at"] {
            assert!(t.get(k).and_then(|v| v.as_str()).is_some(), "{k} in {t}");
        }
        assert!(
            t.get("expires_in").and_then(|v| v.as_u64()).is_some(),
            "expires_in in {t}"
        );
        assert_eq!(t["token"], t["access_token"], "{t}");
        let auth = format!("Bearer {}", t["token"].as_str().unwrap());
        let body = (method == Method::POST).then(Vec::new);
        let again = reg.req_anonymous(method.clone(), &path, &[("Authorization", &auth)], body);
        assert!(
            again.status < 400,
            "{method} {path} with a token for {scope}:\n{again}"
        );
    }
}

#[test]
fn token_mode_refuses_wrong_credentials_and_bad_tokens() {
    let reg = Reg::start();
    let probe = reg.req_anonymous(
        Method::POST,
        &format!("/v2/{REPO}/blobs/uploads/"),
        &[],
        Some(Vec::new()),
    );
    if !crate::mode::TOKEN {
        probe.must(202);
        // No users: no token service either.
        let r = reg.req_anonymous(Method::GET, "/token?service=berth-registry", &[], None);
        assert!(r.status == 404, "a token endpoint in mode none:\n{r}");
        return;
    }
    let ch = challenge_of(&probe);
    // A wrong password gets no token.
    let r = reg.token_request(&ch, Some((ADMIN_USER, "not-the-password")));
    assert_eq!(r.status, 401, "wrong password:\n{r}");
    // A forged token is refused, and the challenge says so.
    let r = reg.req_anonymous(
        Method::POST,
        &format!("/v2/{REPO}/blobs/uploads/"),
        &[("Authorization", "Bearer not.a.token")],
        Some(Vec::new()),
    );
    let c = challenge_of(&r);
    assert_eq!(
        c.error.as_deref(),
        Some("invalid_token"),
        "forged token:\n{r}"
    );
    // An anonymous token carries no push right (nothing is public).
    let t = reg.fetch_token(&ch, None).json();
    let auth = format!("Bearer {}", t["token"].as_str().expect("token"));
    let r = reg.req_anonymous(
        Method::POST,
        &format!("/v2/{REPO}/blobs/uploads/"),
        &[("Authorization", &auth)],
        Some(Vec::new()),
    );
    let c = challenge_of(&r);
    assert_eq!(
        c.error.as_deref(),
        Some("insufficient_scope"),
        "anonymous token:\n{r}"
    );
    // A token for pull only does not allow a push.
    let pull = Challenge {
        scopes: vec![format!("repository:{REPO}:pull")],
        ..ch.clone()
    };
    let t = reg.fetch_token(&pull, reg.credentials()).json();
    let auth = format!("Bearer {}", t["token"].as_str().expect("token"));
    let r = reg.req_anonymous(
        Method::POST,
        &format!("/v2/{REPO}/blobs/uploads/"),
        &[("Authorization", &auth)],
        Some(Vec::new()),
    );
    challenge_of(&r);
}
