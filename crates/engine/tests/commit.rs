//! commit and diff in-process: an image loaded from an archive built here, a container record
//! on it whose upper directory the test writes (as the container would have), committed.

mod common;

use common::{engine, tar_of};

use std::io::Cursor;

use berth_engine::containers::commit::{ChangeKind, CommitOptions};
use berth_engine::model::{ContainerConfig, Record};
use berth_engine::{Engine, Error, ErrorKind};
use berth_oci::Digest;
use berth_oci::media_type as mt;
use serde_json::{Value, json};

/// Load a one-layer image `tiny:1` (its layer holds `etc/motd`); returns its id.
async fn image(engine: &Engine) -> Digest {
    let layer = tar_of(&[("etc/motd", b"hi\n")]);
    let ld = Digest::sha256(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [ld]},
        "history": [{"created_by": "test"}],
    }))
    .unwrap();
    let cd = Digest::sha256(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": cd, "size": config.len()},
        "layers": [{"mediaType": mt::OCI_LAYER_TAR, "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    let md = Digest::sha256(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt::OCI_INDEX,
        "manifests": [{"mediaType": mt::OCI_MANIFEST, "digest": md, "size": manifest.len(),
            "annotations": {"io.containerd.image.name": "docker.io/library/tiny:1"}}],
    }))
    .unwrap();
    let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let archive = tar_of(&[
        ("index.json", &index),
        (&blob(&cd), &config),
        (&blob(&md), &manifest),
        (&blob(&ld), &layer),
    ]);
    engine.load(Cursor::new(archive)).await.unwrap()[0]
        .id
        .clone()
}

/// A container `name` of image `id` that wrote `/new.txt` (and left its mount stubs).
async fn container(engine: &Engine, name: &str, image: &Digest) -> String {
    let id = berth_engine::util::random_hex(32);
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        config: ContainerConfig {
            cmd: vec!["/bin/sh".into(), "-c".into(), "echo hi > /new.txt".into()],
            env: vec!["PATH=/bin".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let argv = record.config.argv();
    engine
        .store
        .create_container(
            &id,
            name,
            "tiny:1",
            &image.to_string(),
            &argv,
            &record.to_json(),
        )
        .await
        .unwrap();
    let upper = engine.layout().container_upper(&id);
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::create_dir_all(upper.join("proc")).unwrap();
    std::fs::write(upper.join("etc/hostname"), "").unwrap();
    std::fs::write(upper.join("new.txt"), "hi\n").unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_adds_a_layer_and_the_process_as_config() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let base = image(&engine).await;
    container(&engine, "box", &base).await;

    let changes = engine.diff("box").await.unwrap();
    let shown: Vec<(ChangeKind, &str)> = changes.iter().map(|c| (c.kind, &*c.path)).collect();
    assert_eq!(
        shown,
        [(ChangeKind::Added, "/new.txt")],
        "mount stubs are no changes"
    );

    let options = CommitOptions {
        reference: Some("snap:1".into()),
        changes: vec!["ENV X=1".into(), "EXPOSE 80".into()],
        author: Some("me".into()),
        message: Some("my change".into()),
        pause: true,
    };
    let id = engine.commit("box", &options).await.unwrap();
    assert_ne!(id, base);
    assert_eq!(engine.find_image("snap:1").await.unwrap().record.id, id);
    let cfg: Value = serde_json::from_slice(&engine.store.blobs().read(&id).unwrap()).unwrap();
    assert_eq!(cfg["author"], "me");
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    let history = cfg["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["comment"], "my change");
    assert_eq!(
        cfg["config"]["Cmd"],
        json!(["/bin/sh", "-c", "echo hi > /new.txt"])
    );
    let env = cfg["config"]["Env"].as_array().unwrap();
    assert!(env.contains(&json!("X=1")), "{env:?}");
    assert_eq!(cfg["config"]["ExposedPorts"], json!({"80/tcp": {}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_errors_are_typed_and_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let base = image(&engine).await;
    let id = container(&engine, "box", &base).await;
    let images = engine.store.images().await.unwrap().len();

    let e = engine
        .commit("ghost", &CommitOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { what: "container", name } if name == "ghost"),
        "{e:?}"
    );
    for options in [
        CommitOptions {
            reference: Some(format!("snap@{base}")),
            ..Default::default()
        },
        CommitOptions {
            changes: vec!["RUN rm -rf /".into()],
            ..Default::default()
        },
    ] {
        let e = engine.commit("box", &options).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    std::fs::remove_dir_all(engine.layout().container_upper(&id)).unwrap();
    let e = engine
        .commit("box", &CommitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(engine.store.images().await.unwrap().len(), images);
    let e = engine.diff("ghost").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}
