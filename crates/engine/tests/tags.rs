//! `tag` and `rmi` in-process, on an image loaded from an OCI layout archive built here, with
//! containers that use it simulated by store records (a "running" one is recorded as started
//! with the test's own pid, which is alive): Docker's rules for what may be untagged and
//! deleted, with or without force, the results and the events.

mod common;

use common::engine;

use std::io::Cursor;

use berth_engine::events::EventFilter;
use berth_engine::images::remove::Removed;
use berth_engine::model::Record;
use berth_engine::{Engine, ErrorKind};
use berth_oci::Digest;
use berth_oci::media_type as mt;
use serde_json::json;

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Load an image named `name` (one layer holding `content`) into `engine`; its id.
async fn add_image(engine: &Engine, name: &str, content: &[u8]) -> Digest {
    let layer = tar_of(&[("etc/motd", content)]);
    let layer_digest = Digest::sha256(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = Digest::sha256(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": mt::OCI_LAYER_TAR, "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = Digest::sha256(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_INDEX,
        "manifests": [{
            "mediaType": mt::OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    }))
    .unwrap();
    let (cp, mp, lp) = (
        blob_path(&config_digest),
        blob_path(&manifest_digest),
        blob_path(&layer_digest),
    );
    let archive = tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", &index),
        (&cp, &config),
        (&mp, &manifest),
        (&lp, &layer),
    ]);
    let loaded = engine.load(Cursor::new(archive)).await.unwrap();
    assert_eq!(loaded[0].id, config_digest);
    config_digest
}

/// A container record using image `id`; "running" (the test process stands for it) or not.
async fn container(engine: &Engine, name: &str, id: &Digest, running: bool) -> String {
    let cid = berth_engine::util::random_hex(32);
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        ..Default::default()
    };
    engine
        .store
        .create_container(&cid, name, "tiny", &id.to_string(), &[], &record.to_json())
        .await
        .unwrap();
    if running {
        engine
            .store
            .container_started(&cid, i64::from(std::process::id()))
            .await
            .unwrap();
    }
    cid
}

fn untagged(names: &[&str]) -> Vec<Removed> {
    names
        .iter()
        .map(|n| Removed::Untagged(n.to_string()))
        .collect()
}

async fn image_events(engine: &Engine) -> Vec<(String, String)> {
    let mut f = EventFilter::default();
    f.add("type=image").unwrap();
    berth_engine::events::journal(&engine.config.root)
        .read(&f)
        .unwrap()
        .into_iter()
        .map(|e| {
            let name = e.actor.attributes.get("name").cloned().unwrap_or_default();
            (e.action, name)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_then_remove_by_name_and_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = add_image(&engine, "docker.io/library/tiny:1", b"one\n").await;

    engine.tag("tiny:1", "tiny:2").await.unwrap();
    engine
        .tag(&id.hex()[..12], "example.com/team/tiny")
        .await
        .unwrap();
    let img = engine
        .find_image("example.com/team/tiny:latest")
        .await
        .unwrap();
    assert_eq!(img.record.id, id);
    assert_eq!(img.names.len(), 3);

    // Refusals: a digest target, an unknown source, a malformed target.
    let e = engine
        .tag("tiny:1", &format!("tiny@{id}"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string()
            .starts_with("refusing to create a tag with a digest reference")
    );
    let e = engine.tag("nothere:1", "tiny:3").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "No such image: nothere:1");
    assert_eq!(
        engine.tag("tiny:1", "UPPER:x").await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    // By id with several names: must be forced.
    let e = engine
        .remove_image(&id.to_string(), false, true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            &id.hex()[..12]
        )
    );

    // By name: only that name goes while others remain.
    let removed = engine.remove_image("tiny:2", false, true).await.unwrap();
    assert_eq!(removed, untagged(&["tiny:2"]));
    assert!(engine.find_image("tiny:2").await.is_err());

    // Forced by id: every name, then the image.
    let removed = engine
        .remove_image(&id.hex()[..12], true, true)
        .await
        .unwrap();
    let mut expected = untagged(&["example.com/team/tiny:latest", "tiny:1"]);
    let mut got = removed.clone();
    got.pop();
    got.sort_by_key(|r| format!("{r:?}"));
    expected.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(got, expected);
    assert_eq!(removed.last(), Some(&Removed::Deleted(id.clone())));
    assert!(engine.store.images().await.unwrap().is_empty());

    let e = engine
        .remove_image("tiny:1", false, true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "No such image: tiny:1");

    let events = image_events(&engine).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|(a, _)| a.as_str())
        .filter(|a| ["tag", "untag", "delete"].contains(a))
        .collect();
    assert_eq!(actions, ["tag", "tag", "untag", "untag", "untag", "delete"]);
    assert!(events.contains(&("tag".into(), "tiny:2".into())));
    assert!(events.contains(&("untag".into(), "tiny:2".into())));
    assert!(events.contains(&("delete".into(), id.to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_in_use_follow_dockers_rules() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = add_image(&engine, "docker.io/library/tiny:1", b"two\n").await;
    let short = id.hex()[..12].to_string();

    // A stopped container: its image's last name needs force; by id too.
    let stopped = container(&engine, "stopped", &id, false).await;
    let e = engine
        .remove_image("tiny:1", false, true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to remove repository reference \"tiny:1\" (must force) - container {} is using its referenced image {short}",
            &stopped[..12]
        )
    );
    let e = engine.remove_image(&short, false, true).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}",
            &stopped[..12]
        )
    );

    // A running container: no force deletes the image by id.
    let running = container(&engine, "running", &id, true).await;
    let e = engine.remove_image(&short, true, true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.to_string().contains(&format!(
            "(cannot be forced) - image is being used by running container {}",
            &running[..12]
        )),
        "{e}"
    );
    // Forced by name: the name goes, the image stays (dangling) for the running container.
    let removed = engine.remove_image("tiny:1", true, true).await.unwrap();
    assert_eq!(removed, untagged(&["tiny:1"]));
    let img = engine.find_image(&short).await.unwrap();
    assert!(img.names.is_empty());

    // Once no container uses it, it goes by id without force.
    engine.store.remove_container(&running).await.unwrap();
    engine.store.remove_container(&stopped).await.unwrap();
    let removed = engine.remove_image(&short, false, true).await.unwrap();
    assert_eq!(removed, vec![Removed::Deleted(id)]);
}
