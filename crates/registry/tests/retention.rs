//! Retention (issue 10): `[[retention]]` rules untag what they do not keep — keep_last,
//! keep_tags, keep_pulled_within, delete_older_than — a dry run changes nothing, immutable
//! tags are always kept; pull times are recorded in batches (by tag and by digest); and the
//! usage report (`berth registry du`) counts unique and shared bytes.
//!
//! Push times are moved into the past straight in the database (the server's clock cannot
//! wait 90 days).

mod support;

use std::collections::BTreeSet;

use berth_registry::config::{ImmutableRule, RetentionRule};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use support::Server;

const DAY: i64 = 86_400;

async fn db(srv: &Server) -> SqlitePool {
    let opts = SqliteConnectOptions::new().filename(srv.root.join("v1").join("metadata.db"));
    SqlitePool::connect_with(opts).await.unwrap()
}

/// Make `repo:tag` look pushed `days` days ago.
async fn pushed_days_ago(srv: &Server, repo: &str, tag: &str, days: i64) {
    let pool = db(srv).await;
    let r = sqlx::query("UPDATE tags SET updated_at = updated_at - ? WHERE repo = ? AND name = ?")
        .bind(days * DAY)
        .bind(repo)
        .bind(tag)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(r.rows_affected(), 1, "{repo}:{tag}");
    pool.close().await;
}

/// The tags of `repo`, as the API lists them.
async fn tags(srv: &Server, repo: &str) -> BTreeSet<String> {
    let r = srv.get(&format!("/v2/{repo}/tags/list"), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn names(d: &[berth_registry::service::TagDecision]) -> BTreeSet<String> {
    d.iter().map(|t| t.tag.clone()).collect()
}

#[tokio::test]
async fn keep_last_keep_tags_and_older_than_with_a_dry_run_first() {
    let srv = support::start_with(|c| {
        c.retention = vec![RetentionRule {
            repositories: "ci/**".into(),
            keep_last: Some(2),
            keep_tags: vec!["^v[0-9]+".into()],
            delete_older_than: Some("30d".into()),
            ..Default::default()
        }];
        c.immutable_tags = vec![ImmutableRule {
            repositories: "ci/**".into(),
            tags: "^release-".into(),
        }];
    })
    .await;
    let repo = "ci/app";
    let ages = [
        ("a", 1),
        ("b", 2),
        ("f", 10),
        ("c", 40),
        ("d", 50),
        ("e", 60),
        ("v1", 100),
        ("release-1", 90),
    ];
    for (tag, days) in ages {
        srv.push(None, repo, tag).await;
        pushed_days_ago(&srv, repo, tag, days).await;
    }
    srv.push(None, "other/app", "old").await;
    pushed_days_ago(&srv, "other/app", "old", 400).await;

    let dry = srv.reg.apply_retention(true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.repositories.len(), 1, "{dry:?}");
    let r = &dry.repositories[0];
    assert_eq!((r.repository.as_str(), r.rule.as_str()), (repo, "ci/**"));
    assert_eq!(names(&r.removed), set(&["c", "d", "e"]), "{dry:?}");
    let reason = |t: &str| r.kept.iter().find(|k| k.tag == t).unwrap().reason;
    assert_eq!(reason("a"), "keep_last");
    assert_eq!(reason("b"), "keep_last");
    assert_eq!(reason("f"), "recent");
    assert_eq!(reason("v1"), "keep_tags");
    assert_eq!(reason("release-1"), "immutable");
    assert_eq!((dry.removed, dry.kept), (3, 5));
    assert_eq!(tags(&srv, repo).await.len(), 8, "a dry run changes nothing");

    let done = srv.reg.apply_retention(false).await.unwrap();
    assert!(!done.dry_run);
    assert_eq!(names(&done.repositories[0].removed), set(&["c", "d", "e"]));
    assert_eq!(
        tags(&srv, repo).await,
        set(&["a", "b", "f", "v1", "release-1"])
    );
    assert_eq!(
        tags(&srv, "other/app").await,
        set(&["old"]),
        "no rule, no change"
    );
    // The manifests stay (garbage collection decides about them): pullable by digest.
    let gone = &done.repositories[0].removed[0];
    let m = srv
        .get(&format!("/v2/{repo}/manifests/{}", gone.digest), None)
        .await;
    assert_eq!(m.status, 200);
    let again = srv.reg.apply_retention(false).await.unwrap();
    assert_eq!(again.removed, 0, "retention is idempotent");
    let audit = srv.admin().audit(&Default::default()).await.unwrap();
    let untagged = audit
        .iter()
        .filter(|v| {
            v.event.action == "tag.delete" && v.event.actor.as_deref() == Some("berth:retention")
        })
        .count();
    assert_eq!(untagged, 3, "each untagging is audited");
}

#[tokio::test]
async fn pulled_tags_are_kept_by_tag_and_by_digest() {
    let srv = support::start_with(|_| {}).await;
    let repo = "pulls/app";
    let mut digests = Vec::new();
    for tag in ["p1", "p2", "p3", "p4"] {
        digests.push(srv.push(None, repo, tag).await.manifest_digest);
        pushed_days_ago(&srv, repo, tag, 60).await;
    }
    // p1 pulled by tag, p2 through its digest; a HEAD is no pull; p4 pulled long ago.
    assert_eq!(
        srv.get(&format!("/v2/{repo}/manifests/p1"), None)
            .await
            .status,
        200
    );
    let by_digest = format!("/v2/{repo}/manifests/{}", digests[1]);
    assert_eq!(srv.get(&by_digest, None).await.status, 200);
    let head = srv
        .req("HEAD", &format!("/v2/{repo}/manifests/p3"), &[], b"")
        .await;
    assert_eq!(head.status, 200);
    srv.reg.flush_pulls().await.unwrap();
    let pool = db(&srv).await;
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT tag, pulled_at FROM tag_pulls WHERE repo = ? ORDER BY tag")
            .bind(repo)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        stored.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["p1", "p2"],
        "one row per pulled tag, written by the flush"
    );
    sqlx::query(
        "INSERT INTO tag_pulls (repo, tag, digest, pulled_at) SELECT repo, name, digest, \
         updated_at + 1 FROM tags WHERE repo = ? AND name = 'p4'",
    )
    .bind(repo)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let details = srv.reg.tag_details(repo).await.unwrap();
    let pulled = |t: &str| details.iter().find(|d| d.name == t).unwrap().pulled_at;
    assert!(pulled("p1").is_some() && pulled("p2").is_some() && pulled("p4").is_some());
    assert_eq!(pulled("p3"), None);

    let mut config = srv.reg.config().clone();
    config.retention = vec![RetentionRule {
        repositories: "pulls/*".into(),
        keep_pulled_within: Some("7d".into()),
        ..Default::default()
    }];
    srv.reg.set_policies(&config).unwrap();
    let report = srv.reg.apply_retention(false).await.unwrap();
    let r = &report.repositories[0];
    assert_eq!(names(&r.removed), set(&["p3", "p4"]), "{report:?}");
    assert!(r.kept.iter().all(|k| k.reason == "pulled"), "{report:?}");
    assert_eq!(tags(&srv, repo).await, set(&["p1", "p2"]));

    // A pull time belongs to the digest the tag had: moved, the tag counts as never pulled.
    let p2 = support::Image::new(repo, "p2");
    let r = srv.put_manifest(None, repo, "p1", &p2.manifest).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let details = srv.reg.tag_details(repo).await.unwrap();
    assert_eq!(
        details.iter().find(|d| d.name == "p1").unwrap().pulled_at,
        None
    );
}

#[tokio::test]
async fn a_rule_without_criteria_untags_nothing_and_the_first_matching_rule_wins() {
    let srv = support::start_with(|c| {
        c.retention = vec![
            RetentionRule {
                repositories: "keep/**".into(),
                ..Default::default()
            },
            RetentionRule {
                repositories: "**".into(),
                keep_last: Some(1),
                ..Default::default()
            },
        ];
    })
    .await;
    for tag in ["x", "y"] {
        srv.push(None, "keep/app", tag).await;
        srv.push(None, "drop/app", tag).await;
    }
    pushed_days_ago(&srv, "drop/app", "x", 1).await;
    let report = srv.reg.apply_retention(false).await.unwrap();
    assert_eq!(report.removed, 1, "{report:?}");
    assert_eq!(tags(&srv, "keep/app").await, set(&["x", "y"]));
    assert_eq!(tags(&srv, "drop/app").await, set(&["y"]));
}

#[tokio::test]
async fn usage_counts_unique_and_shared_bytes_per_repository_and_namespace() {
    let srv = support::start_with(|c| {
        c.quota = vec![berth_registry::config::QuotaRule {
            namespace: "team-a".into(),
            bytes: "1MiB".into(),
        }];
    })
    .await;
    let a = srv.push(None, "team-a/app", "1").await;
    srv.push(None, "team-a/web", "1").await;
    let b = srv.push(None, "team-b/app", "1").await;
    // The config blob is the same in every image: shared by all three repositories.
    let config = a.config.len() as u64;
    let layer_a = a.layer.len() as u64;
    let manifest_a = a.manifest.len() as u64;
    let u = srv.reg.usage(None).await.unwrap();
    let repo = |n: &str| u.repositories.iter().find(|r| r.name == n).unwrap();
    let app = repo("team-a/app");
    assert_eq!((app.blobs, app.manifests, app.tags), (2, 1, 1));
    assert_eq!(app.bytes, config + layer_a + manifest_a);
    assert_eq!(app.shared_bytes, config);
    assert_eq!(app.unique_bytes, layer_a + manifest_a);
    let ns = |n: &str| u.namespaces.iter().find(|r| r.name == n).unwrap();
    let team_a = ns("team-a");
    assert_eq!(team_a.repositories, 2);
    assert_eq!(team_a.quota, Some(1 << 20));
    assert_eq!(team_a.blobs, 3, "config once, two layers");
    assert_eq!(team_a.shared_bytes, config, "team-b holds the config too");
    assert_eq!(
        team_a.bytes,
        srv.reg.namespace_usage("team-a").await.unwrap(),
        "du and the quota check agree"
    );
    assert_eq!(u.total.repositories, 3);
    assert_eq!(u.total.blobs, 4, "config once, three layers");
    let b_bytes = (b.layer.len() + b.manifest.len()) as u64;
    assert_eq!(ns("team-b").unique_bytes, b_bytes);

    let scoped = srv.reg.usage(Some("team-a")).await.unwrap();
    let shown: Vec<_> = scoped
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(shown, ["team-a/app", "team-a/web"]);
    assert_eq!(scoped.namespaces.len(), 1);
    let glob = srv.reg.usage(Some("*/app")).await.unwrap();
    let shown: Vec<_> = glob.repositories.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(shown, ["team-a/app", "team-b/app"]);
}
