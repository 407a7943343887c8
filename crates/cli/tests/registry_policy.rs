//! `berth registry serve` re-reading its rules on SIGHUP, and `berth registry retention|du|tags`
//! on a data root (issue 10): what they print, as tables and `--json`, after the server
//! recorded pushes and pulls (written on shutdown at the latest).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Push a small image (its own layer from `seed`) as `repo:tag`; its manifest digest.
fn push(url: &str, repo: &str, tag: &str, seed: &str) -> reqwest::blocking::Response {
    let client = common::client();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = format!("layer {seed}").into_bytes();
    for blob in [&config[..], &layer[..]] {
        let r = client
            .post(format!(
                "{url}/v2/{repo}/blobs/uploads/?digest={}",
                common::sha256(blob)
            ))
            .body(blob.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    }
    client
        .put(format!("{url}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest(config, &layer))
        .send()
        .unwrap()
}

fn manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": common::sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": common::sha256(layer), "size": layer.len()}],
    })
    .to_string()
    .into_bytes()
}

fn berth_registry(root: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    common::berth()
        .arg("registry")
        .args(args)
        .arg("--root")
        .arg(root)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn ok(root: &Path, config: &Path, args: &[&str]) -> String {
    let out = berth_registry(root, config, args);
    assert!(
        out.status.success(),
        "berth registry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn hup(reg: &common::Registry) {
    let status = Command::new("kill")
        .arg("-HUP")
        .arg(reg.pid().unwrap().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_reloads_the_rules_and_a_broken_file_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let cfg = dir.path().join("registry.toml");
    std::fs::write(
        &cfg,
        "[[immutable_tags]]\nrepositories = \"prod/**\"\ntags = \"^v\"\n",
    )
    .unwrap();
    let reg =
        common::Registry::start_at(&root, "127.0.0.1:0", &["--config", cfg.to_str().unwrap()]);
    assert_eq!(push(&reg.url, "prod/web", "v1", "a").status().as_u16(), 201);
    let r = push(&reg.url, "prod/web", "v1", "b");
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("immutable")
    );

    // Without the rule, after SIGHUP, the tag moves.
    std::fs::write(&cfg, "# no rules\n").unwrap();
    hup(&reg);
    eventually("v1 moves once the rule is gone", || {
        push(&reg.url, "prod/web", "v1", "b").status().as_u16() == 201
    });
    assert!(
        reg.logs().contains("configuration reloaded"),
        "{}",
        reg.logs()
    );

    // Back on; then a broken file: the server lives on and the rule stays in force.
    std::fs::write(
        &cfg,
        "[[immutable_tags]]\nrepositories = \"prod/**\"\ntags = \"^v\"\n",
    )
    .unwrap();
    hup(&reg);
    eventually("the rule is back", || {
        push(&reg.url, "prod/web", "v1", "c").status().as_u16() == 403
    });
    std::fs::write(
        &cfg,
        "[[immutable_tags]]\nrepositories = \"prod/**\"\ntags = \"(\"\n",
    )
    .unwrap();
    hup(&reg);
    eventually("the broken file is reported", || {
        reg.logs().contains("configuration not reloaded")
    });
    let base = common::client().get(reg.u("/v2/")).send().unwrap();
    assert_eq!(base.status().as_u16(), 200, "the server survives SIGHUP");
    assert_eq!(push(&reg.url, "prod/web", "v1", "c").status().as_u16(), 403);
}

#[test]
fn retention_du_and_tags_on_a_data_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let cfg = dir.path().join("registry.toml");
    std::fs::write(
        &cfg,
        "[[retention]]\nrepositories = \"ci/**\"\nkeep_last = 1\n\
         [[quota]]\nnamespace = \"team-a\"\nbytes = \"1MiB\"\n",
    )
    .unwrap();
    let mut reg =
        common::Registry::start_at(&root, "127.0.0.1:0", &["--config", cfg.to_str().unwrap()]);
    assert_eq!(
        push(&reg.url, "ci/app", "old", "old").status().as_u16(),
        201
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        push(&reg.url, "ci/app", "new", "new").status().as_u16(),
        201
    );
    assert_eq!(
        push(&reg.url, "team-a/app", "1", "t").status().as_u16(),
        201
    );
    let pulled = common::client()
        .get(reg.u("/v2/ci/app/manifests/new"))
        .send()
        .unwrap();
    assert_eq!(pulled.status().as_u16(), 200);
    // The pull time is written on shutdown at the latest.
    assert!(reg.stop().unwrap().success());

    let tags = json_of(&ok(&root, &cfg, &["tags", "ci/app", "--json"]));
    let tags = tags.as_array().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0]["name"], "new", "most recently pushed first");
    assert!(tags[0]["pulled_at"].is_i64(), "{tags:?}");
    assert!(tags[1]["pulled_at"].is_null(), "{tags:?}");
    let table = ok(&root, &cfg, &["tags", "ci/app"]);
    assert!(table.starts_with("TAG"), "{table}");
    assert!(table.contains("never"), "{table}");

    let dry = json_of(&ok(&root, &cfg, &["retention", "--dry-run", "--json"]));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed"], 1);
    assert_eq!(dry["repositories"][0]["removed"][0]["tag"], "old");
    let text = ok(&root, &cfg, &["retention", "--dry-run"]);
    assert!(
        text.contains("would untag") && text.contains("nothing changed"),
        "{text}"
    );
    assert_eq!(
        json_of(&ok(&root, &cfg, &["tags", "ci/app", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        2,
        "a dry run changes nothing"
    );
    let text = ok(&root, &cfg, &["retention"]);
    assert!(text.contains("Untagged 1 tag(s)"), "{text}");
    let left = json_of(&ok(&root, &cfg, &["tags", "ci/app", "--json"]));
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["name"], "new");

    let du = json_of(&ok(&root, &cfg, &["du", "--json"]));
    let repos: Vec<&str> = du["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(repos, ["ci/app", "team-a/app"]);
    let team_a = du["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "team-a")
        .unwrap();
    assert_eq!(team_a["quota"], 1 << 20);
    assert!(team_a["bytes"].as_u64().unwrap() > 0);
    // The config blob is in both repositories: shared.
    assert!(du["repositories"][0]["shared_bytes"].as_u64().unwrap() > 0);
    let table = ok(&root, &cfg, &["du", "team-a"]);
    assert!(
        table.contains("team-a/app") && !table.contains("ci/app"),
        "{table}"
    );
    assert!(
        table.contains("NAMESPACE") && table.contains("%)"),
        "{table}"
    );

    // No rules, no data: one-line errors.
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let out = berth_registry(&root, &empty, &["retention"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("[[retention]]"), "{err}");
    let out = berth_registry(&dir.path().join("nothing"), &cfg, &["du"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("no registry data")
    );
}
