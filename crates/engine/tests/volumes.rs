//! The volume operations in-process: create (named, labelled, idempotent), list with
//! Docker's filters, inspect, removal (refused while a container record mounts the volume),
//! and prune (anonymous ones by default, every unused one with `all`, `label` filters).

mod common;

use common::engine;

use std::collections::BTreeMap;

use berth_engine::model::{MountPoint, MountType, Record};
use berth_engine::prune::PruneFilters;
use berth_engine::volumes::VolumeFilters;
use berth_engine::{Engine, ErrorKind};

/// A container record (never started) named `name` that mounts volume `volume`.
async fn user_of(engine: &Engine, name: &str, volume: &str) -> String {
    let id = berth_engine::util::random_hex(32);
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        mount_points: vec![MountPoint {
            kind: MountType::Volume,
            name: volume.into(),
            destination: "/data".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    engine
        .store
        .create_container(&id, name, "busybox", "sha256:x", &[], &record.to_json())
        .await
        .unwrap();
    id
}

fn filters(list: &[&str]) -> VolumeFilters {
    VolumeFilters::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn names(list: &[berth_engine::volumes::Volume]) -> Vec<&str> {
    list.iter().map(|v| v.name.as_str()).collect()
}

#[tokio::test]
async fn create_list_inspect_and_remove_refused_while_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let v = engine.volume_create(Some("data"), labels.clone()).unwrap();
    assert_eq!(v.labels, labels);
    engine
        .volume_create(Some("other"), BTreeMap::new())
        .unwrap();
    let bad = engine
        .volume_create(Some("a/b"), BTreeMap::new())
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidArgument);

    let all = engine.volume_list(&filters(&[])).await.unwrap();
    assert_eq!(names(&all), ["data", "other"]);
    let prod = engine
        .volume_list(&filters(&["label=env=prod"]))
        .await
        .unwrap();
    assert_eq!(names(&prod), ["data"]);
    let oth = engine.volume_list(&filters(&["name=oth"])).await.unwrap();
    assert_eq!(names(&oth), ["other"]);
    assert!(VolumeFilters::parse(&["bogus=1".into()]).is_err());

    let id = user_of(&engine, "web", "data").await;
    let dangling = engine
        .volume_list(&filters(&["dangling=true"]))
        .await
        .unwrap();
    assert_eq!(names(&dangling), ["other"]);

    assert_eq!(engine.volume_inspect("data").unwrap().name, "data");
    let missing = engine.volume_inspect("nosuch").unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(missing.to_string(), "No such volume: nosuch");

    let in_use = engine.volume_remove("data", false).await.unwrap_err();
    assert_eq!(in_use.kind(), ErrorKind::Conflict);
    assert_eq!(
        in_use.to_string(),
        format!("remove data: volume is in use - [{id}]")
    );
    assert!(engine.volume_remove("other", false).await.unwrap());
    assert!(!engine.volume_remove("other", true).await.unwrap());
    let gone = engine.volume_remove("other", false).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);

    // Once the container is gone the volume can go.
    engine.remove("web", false, false).await.unwrap();
    assert!(engine.volume_remove("data", false).await.unwrap());
    assert!(engine.volume_list(&filters(&[])).await.unwrap().is_empty());
}

#[tokio::test]
async fn prune_takes_unused_anonymous_ones_or_all_by_label() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let root = engine.layout().root().to_path_buf();
    let anon = berth_engine::volumes::create_anonymous(&root).unwrap();
    std::fs::write(anon.mountpoint.join("f"), b"12345").unwrap();
    let used = berth_engine::volumes::create_anonymous(&root).unwrap();
    user_of(&engine, "web", &used.name).await;
    let keep = BTreeMap::from([("keep".to_string(), String::new())]);
    engine.volume_create(Some("kept"), keep).unwrap();
    engine
        .volume_create(Some("named"), BTreeMap::new())
        .unwrap();

    let none = PruneFilters::default();
    let pruned = engine.prune_volumes(false, &none).await.unwrap();
    assert_eq!(pruned.deleted, std::slice::from_ref(&anon.name));
    assert_eq!(pruned.bytes, 5);

    let not_kept = PruneFilters::parse(&["label!=keep".into()]).unwrap();
    let pruned = engine.prune_volumes(true, &not_kept).await.unwrap();
    assert_eq!(pruned.deleted, ["named"]);
    let left = engine.volume_list(&filters(&[])).await.unwrap();
    let mut expected = vec!["kept", used.name.as_str()];
    expected.sort();
    assert_eq!(names(&left), expected);

    let until = PruneFilters::parse(&["until=1h".into()]).unwrap();
    let err = engine.prune_volumes(true, &until).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}
