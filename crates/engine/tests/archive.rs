//! save, load and import in-process: archives built here with the `tar` crate (an OCI image
//! layout with one layer), loaded into a fresh data root, saved again, and damaged ones refused
//! with nothing left behind.

mod common;

use common::engine;

use std::io::Cursor;

use berth_engine::images::archive::{ImportOptions, SaveFormat};
use berth_engine::{Engine, ErrorKind};
use berth_oci::Digest;
use berth_oci::media_type as mt;
use serde_json::{Value, json};

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

/// An OCI layout archive of one image named `name` with one uncompressed layer of `files`;
/// also returns the (config, manifest, layer) digests.
fn oci_archive(name: &str, files: &[(&str, &[u8])]) -> (Vec<u8>, [Digest; 3]) {
    let layer = tar_of(files);
    let layer_digest = Digest::sha256(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "test"}],
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
    (archive, [config_digest, manifest_digest, layer_digest])
}

async fn image_count(engine: &Engine) -> usize {
    engine.store.images().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_then_save_then_load_elsewhere_keeps_id_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let (archive, [config, _, layer]) =
        oci_archive("docker.io/library/tiny:1", &[("etc/motd", b"hi\n")]);
    let loaded = engine.load(Cursor::new(archive)).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, config);
    assert_eq!(loaded[0].names, vec!["tiny:1".to_string()]);
    assert_eq!(engine.find_image("tiny:1").await.unwrap().record.id, config);
    assert!(engine.store.blobs().size(&layer).is_some());

    let saved = engine
        .save(&["tiny:1".into()], SaveFormat::Docker, Vec::new())
        .await
        .unwrap();
    let again = engine
        .save(&["tiny:1".into()], SaveFormat::Docker, Vec::new())
        .await
        .unwrap();
    assert_eq!(saved, again, "the same image gives the same bytes");
    let other_dir = tempfile::tempdir().unwrap();
    let other = self::engine(&other_dir).await;
    let loaded = other.load(Cursor::new(saved)).await.unwrap();
    assert_eq!(loaded[0].id, config);
    assert_eq!(loaded[0].names, vec!["tiny:1".to_string()]);

    // To a file, in the OCI format (no manifest.json).
    let path = dir.path().join("out.tar");
    engine
        .save_to_file(&["tiny:1".into()], SaveFormat::Oci, &path)
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut a = tar::Archive::new(std::fs::File::open(&path).unwrap());
    for e in a.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert!(names.contains(&"index.json".to_string()), "{names:?}");
    assert!(!names.contains(&"manifest.json".to_string()), "{names:?}");

    let e = engine
        .save(&["nope:1".into()], SaveFormat::Docker, Vec::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_archives_are_invalid_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let (good, digests) = oci_archive("docker.io/library/tiny:1", &[("a", b"a\n")]);
    // A layer whose bytes do not match its name.
    let (_, [_, _, layer]) = oci_archive("docker.io/library/tiny:1", &[("a", b"a\n")]);
    let mut corrupt = good.clone();
    let at = corrupt
        .windows(2)
        .rposition(|w| w == b"a\n")
        .expect("the layer's file content");
    corrupt[at] = b'b';
    let truncated = good[..good.len() / 2].to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("corrupt blob", corrupt),
        ("truncated", truncated),
        ("not a tar", b"plain text, no tar header here\n".repeat(40)),
        ("empty", Vec::new()),
        ("bzip2", b"BZh91AY&SY".to_vec()),
        ("no index", tar_of(&[("hello.txt", b"hello")])),
    ];
    for (what, bytes) in cases {
        let e = engine.load(Cursor::new(bytes)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}: {e}");
        assert_eq!(image_count(&engine).await, 0, "{what}");
        for d in digests.iter().chain([&layer]) {
            assert!(engine.store.blobs().size(d).is_none(), "{what}: {d} left");
        }
    }
    // The good one still loads.
    engine.load(Cursor::new(good)).await.unwrap();
    assert_eq!(image_count(&engine).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_makes_a_one_layer_image_with_the_changes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let rootfs = tar_of(&[("bin/tool", b"#!/bin/sh\n"), ("etc/motd", b"hi\n")]);
    let options = ImportOptions {
        reference: Some("imported:1".into()),
        changes: vec![r#"CMD ["/bin/tool"]"#.into(), "ENV A=b".into()],
        message: Some("from a tarball".into()),
        platform: Some("linux/arm64".into()),
    };
    let id = engine
        .import(Cursor::new(rootfs.clone()), &options)
        .await
        .unwrap();
    let img = engine.find_image("imported:1").await.unwrap();
    assert_eq!(img.record.id, id);
    assert_eq!(img.record.architecture, "arm64");
    let cfg: Value = serde_json::from_slice(&engine.store.blobs().read(&id).unwrap()).unwrap();
    assert_eq!(cfg["config"]["Cmd"], json!(["/bin/tool"]));
    assert_eq!(cfg["config"]["Env"], json!(["A=b"]));
    assert_eq!(cfg["history"][0]["comment"], "from a tarball");
    assert_eq!(
        cfg["rootfs"]["diff_ids"],
        json!([Digest::sha256(&rootfs).to_string()])
    );

    // Bad flags and damaged tarballs: invalid, nothing recorded.
    let before = image_count(&engine).await;
    for (what, options, input) in [
        (
            "change",
            ImportOptions {
                changes: vec!["RUN rm -rf /".into()],
                ..Default::default()
            },
            rootfs.clone(),
        ),
        (
            "digest reference",
            ImportOptions {
                reference: Some(format!("x@{id}")),
                ..Default::default()
            },
            rootfs.clone(),
        ),
        (
            "truncated",
            ImportOptions::default(),
            rootfs[..700].to_vec(),
        ),
        ("empty", ImportOptions::default(), Vec::new()),
    ] {
        assert_eq!(
            options.check(&engine).is_err(),
            what == "change" || what == "digest reference"
        );
        let e = engine
            .import(Cursor::new(input), &options)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}: {e}");
        assert_eq!(image_count(&engine).await, before, "{what}");
    }
}
