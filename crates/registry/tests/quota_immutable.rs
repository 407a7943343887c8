//! Quotas, immutable tags, tags on push (`?tag=`) and reloading the rules (issue 10): a push
//! past a namespace's quota is refused with DENIED stating the quota and the usage, and the
//! bytes already sent are discarded; an immutable tag cannot be moved or deleted, nor its
//! manifest; `POST /berth/api/v1/config/reload` re-reads the configuration file.

mod support;

use berth_oci::Digest;
use berth_registry::config::{ImmutableRule, QuotaRule};
use support::{Resp, Server, basic};

/// Upload `data` as a chunked session (POST, PATCH, PUT ?digest=); the final response and the
/// session's location.
async fn chunked(srv: &Server, repo: &str, data: &[u8]) -> (Resp, String) {
    let r = srv
        .req("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let loc = r.header("location").unwrap().to_string();
    let h = [("content-type", "application/octet-stream")];
    let r = srv.req("PATCH", &loc, &h, data).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(uploads_in_progress(srv), 1, "the session holds the bytes");
    let sep = if loc.contains('?') { '&' } else { '?' };
    let put = format!("{loc}{sep}digest={}", Digest::sha256(data));
    (srv.req("PUT", &put, &[], b"").await, loc)
}

fn blob(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn blob_path(srv: &Server, data: &[u8]) -> std::path::PathBuf {
    let hex = Digest::sha256(data).hex().to_string();
    srv.root.join("v1/blobs/sha256").join(&hex[..2]).join(&hex)
}

fn uploads_in_progress(srv: &Server) -> usize {
    std::fs::read_dir(srv.root.join("v1/uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[track_caller]
fn denied(r: &Resp, words: &[&str]) -> String {
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.code(), "DENIED", "{}", r.text());
    let msg = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    for w in words {
        assert!(msg.contains(w), "{w:?} not in {msg:?}");
    }
    msg
}

#[tokio::test]
async fn quota_refuses_pushes_past_it_and_discards_their_bytes() {
    let srv = support::start_with(|c| {
        c.quota = vec![QuotaRule {
            namespace: "team-a".into(),
            bytes: "10000".into(),
        }];
    })
    .await;
    let first = blob(1, 6000);
    let (r, _) = chunked(&srv, "team-a/app", &first).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(blob_path(&srv, &first).exists());

    // A chunked upload that would pass the quota: refused at completion, bytes discarded.
    let second = blob(2, 6000);
    let (r, loc) = chunked(&srv, "team-a/other", &second).await;
    denied(&r, &["quota", "team-a", "10000", "6000"]);
    assert!(
        !blob_path(&srv, &second).exists(),
        "refused bytes were stored"
    );
    assert_eq!(uploads_in_progress(&srv), 0, "the session's data stays");
    let status = srv.get(&loc, None).await;
    assert_eq!(
        status.status,
        404,
        "the session lives on: {}",
        status.text()
    );
    // Monolithic too.
    let r = srv.upload(None, "team-a/other", &second).await;
    denied(&r, &["quota"]);
    assert!(!blob_path(&srv, &second).exists());

    // Content the namespace already holds costs nothing: a mount or re-upload is fine.
    let d = Digest::sha256(&first);
    let m = srv
        .req(
            "POST",
            &format!("/v2/team-a/other/blobs/uploads/?mount={d}&from=team-a/app"),
            &[],
            b"",
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.text());
    assert_eq!(srv.upload(None, "team-a/third", &first).await.status, 201);
    // A mount bringing new bytes in from elsewhere is checked too.
    let outside = blob(3, 5000);
    assert_eq!(srv.upload(None, "free/app", &outside).await.status, 201);
    let od = Digest::sha256(&outside);
    let m = srv
        .req(
            "POST",
            &format!("/v2/team-a/app/blobs/uploads/?mount={od}&from=free/app"),
            &[],
            b"",
        )
        .await;
    denied(&m, &["quota", "5000"]);
    // Other namespaces are not bound by it (`team-ab` is not under `team-a/`).
    assert_eq!(srv.upload(None, "team-ab/app", &second).await.status, 201);

    // Up to the limit, then a manifest that would pass it is refused as well.
    let third = blob(4, 3900);
    assert_eq!(srv.upload(None, "team-a/app", &third).await.status, 201);
    assert_eq!(srv.reg.namespace_usage("team-a").await.unwrap(), 9900);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": Digest::sha256(&first).to_string(), "size": first.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": Digest::sha256(&third).to_string(), "size": third.len()}],
    })
    .to_string();
    let r = srv
        .put_manifest(None, "team-a/app", "v1", manifest.as_bytes())
        .await;
    denied(&r, &["quota", "9900"]);
    assert_eq!(
        srv.get("/v2/team-a/app/manifests/v1", None).await.status,
        404,
        "a refused manifest is not stored"
    );

    // After a delete the usage is recomputed before refusing: room again.
    let td = Digest::sha256(&third);
    let del = srv
        .req("DELETE", &format!("/v2/team-a/app/blobs/{td}"), &[], b"")
        .await;
    assert_eq!(del.status, 202, "{}", del.text());
    let fourth = blob(5, 3900);
    let (r, _) = chunked(&srv, "team-a/app", &fourth).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let du = srv.reg.usage(Some("team-a")).await.unwrap();
    assert_eq!(du.namespaces[0].bytes, 9900);
    assert_eq!(du.namespaces[0].quota, Some(10000));
}

#[tokio::test]
async fn immutable_tags_cannot_be_moved_or_deleted() {
    let srv = support::start_with(|c| {
        c.immutable_tags = vec![ImmutableRule {
            repositories: "prod/**".into(),
            tags: "^v".into(),
        }];
    })
    .await;
    let a = srv.push(None, "prod/web", "v1").await;
    let b = srv.push(None, "prod/web", "latest").await;
    // Re-pushing the same content is fine.
    let r = srv.put_manifest(None, "prod/web", "v1", &a.manifest).await;
    assert_eq!(r.status, 201, "{}", r.text());
    // Moving it is not, whichever way.
    let r = srv.put_manifest(None, "prod/web", "v1", &b.manifest).await;
    let msg = denied(&r, &["prod/web:v1", "immutable", "moved", "^v"]);
    assert!(msg.contains(&a.manifest_digest.to_string()), "{msg}");
    let by_digest = format!("/v2/prod/web/manifests/{}?tag=v2&tag=v1", b.manifest_digest);
    let h = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let r = srv.req("PUT", &by_digest, &h, &b.manifest).await;
    denied(&r, &["v1"]);
    assert_eq!(
        srv.get("/v2/prod/web/manifests/v2", None).await.status,
        404,
        "a refused push sets none of its tags"
    );
    let v1 = srv.get("/v2/prod/web/manifests/v1", None).await;
    assert_eq!(
        v1.header("docker-content-digest"),
        Some(a.manifest_digest.to_string().as_str())
    );
    // Deleting the tag, or the manifest it points at, is refused.
    let r = srv
        .req("DELETE", "/v2/prod/web/manifests/v1", &[], b"")
        .await;
    denied(&r, &["deleted"]);
    let by_a = format!("/v2/prod/web/manifests/{}", a.manifest_digest);
    let r = srv.req("DELETE", &by_a, &[], b"").await;
    denied(&r, &["deleted with its manifest"]);
    // Tags the rule does not match stay mutable; so do other repositories.
    let r = srv
        .put_manifest(None, "prod/web", "latest", &a.manifest)
        .await;
    assert_eq!(r.status, 201);
    let by_b = format!("/v2/prod/web/manifests/{}", b.manifest_digest);
    assert_eq!(srv.req("DELETE", &by_b, &[], b"").await.status, 202);
    srv.push(None, "dev/web", "v1").await;
    let d = srv.push(None, "dev/web", "other").await;
    assert_eq!(
        srv.put_manifest(None, "dev/web", "v1", &d.manifest)
            .await
            .status,
        201
    );
    let details = srv.reg.tag_details("prod/web").await.unwrap();
    assert!(details.iter().find(|t| t.name == "v1").unwrap().immutable);
    assert!(
        !details
            .iter()
            .find(|t| t.name == "latest")
            .unwrap()
            .immutable
    );

    // Rules are swapped whole: without them, v1 moves.
    srv.reg
        .set_policies(&berth_registry::Config::default())
        .unwrap();
    srv.push(None, "prod/web", "latest").await;
    let r = srv.put_manifest(None, "prod/web", "v1", &b.manifest).await;
    assert_eq!(r.status, 201, "{}", r.text());
}

#[tokio::test]
async fn tag_parameters_set_every_tag_with_one_oci_tag_header_each() {
    let srv = support::start_with(|_| {}).await;
    let img = srv.push(None, "tp/app", "first").await;
    let path = format!(
        "/v2/tp/app/manifests/{}?tag=a&tag=b&tag=first&tag=c",
        img.manifest_digest
    );
    let h = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let r = srv.req("PUT", &path, &h, &img.manifest).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let echoed: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "oci-tag")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(echoed, ["a", "b", "first", "c"]);
    let l = srv.get("/v2/tp/app/tags/list", None).await.json();
    assert_eq!(l["tags"], serde_json::json!(["a", "b", "c", "first"]));
    let plain = format!("/v2/tp/app/manifests/{}", img.manifest_digest);
    let r = srv.req("PUT", &plain, &h, &img.manifest).await;
    assert_eq!(r.status, 201);
    assert!(r.header("oci-tag").is_none());
    let bad = format!("{plain}?tag=ok&tag=..bad");
    let r = srv.req("PUT", &bad, &h, &img.manifest).await;
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
    assert_eq!(srv.get("/v2/tp/app/manifests/ok", None).await.status, 404);
}

#[tokio::test]
async fn the_admin_api_reloads_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.toml");
    std::fs::write(
        &file,
        "[[immutable_tags]]\nrepositories = \"prod/**\"\ntags = \"^v\"\n",
    )
    .unwrap();
    let srv = support::start_with(|_| {}).await;
    let root = basic("root", "root-password");
    srv.admin()
        .user_add(&support::tester(), "root", "root-password", true)
        .await
        .unwrap();
    srv.user("bob", "bob-password", None).await;
    let reload = |auth: Option<String>, method: &'static str| {
        let srv = &srv;
        async move {
            let h: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| ("authorization", a))
                .into_iter()
                .collect();
            srv.req(method, "/berth/api/v1/config/reload", &h, b"")
                .await
        }
    };
    // Started without a file: nothing to re-read, said clearly.
    let r = reload(Some(root.clone()), "POST").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "INVALID"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("--config"), "{}", r.text());

    srv.reg.set_config_file(Some(file.clone()));
    assert_eq!(srv.reg.policies().immutable.len(), 0);
    let r = reload(Some(root.clone()), "POST").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rules"]["immutable_tags"], 1);
    assert_eq!(srv.reg.policies().immutable.len(), 1);

    // Only administrators; only POST; a broken file keeps the rules in force.
    let r = reload(Some(basic("bob", "bob-password")), "POST").await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = reload(None, "POST").await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = reload(Some(root.clone()), "GET").await;
    assert_eq!(r.status, 405, "{}", r.text());
    std::fs::write(&file, "[[quota]]\nnamespace = \"a\"\nbytes = \"many\"\n").unwrap();
    let r = reload(Some(root.clone()), "POST").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "INVALID"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("[[quota]] #1"), "{}", r.text());
    assert_eq!(srv.reg.policies().immutable.len(), 1, "the old rules stay");
    let audit = srv.admin().audit(&Default::default()).await.unwrap();
    let reloads: Vec<bool> = audit
        .iter()
        .filter(|v| v.event.action == "config.reload")
        .map(|v| v.event.success)
        .collect();
    assert_eq!(reloads.len(), 3, "every reload is audited: {reloads:?}");
    assert_eq!(reloads.iter().filter(|s| **s).count(), 1);
}
