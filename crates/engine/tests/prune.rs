//! Pruning in-process: containers not running selected by Docker's `until` and `label`
//! filters (`label!` too), with the bytes of their directories reported as reclaimed and
//! running ones left alone; images, volumes and the build cache of an empty data root; and
//! `system prune` adding it all up.

mod common;

use common::engine;

use std::collections::BTreeMap;
use std::process::Command;

use berth_engine::Engine;
use berth_engine::model::{ContainerConfig, Record};
use berth_engine::prune::PruneFilters;

/// An exited container `name` with `labels`, whose directory holds `bytes` bytes.
async fn exited(engine: &Engine, name: &str, labels: &[(&str, &str)], bytes: usize) -> String {
    let id = berth_engine::util::random_hex(32);
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        config: ContainerConfig {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..Default::default()
        },
        ..Default::default()
    };
    engine
        .store
        .create_container(&id, name, "busybox", "sha256:x", &[], &record.to_json())
        .await
        .unwrap();
    engine.store.container_exited(&id, 0).await.unwrap();
    let dir = engine.layout().container(&id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("log.json"), vec![b'x'; bytes]).unwrap();
    id
}

fn filters(list: &[&str]) -> PruneFilters {
    PruneFilters::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn containers_by_until_and_label_with_reclaimed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let test = exited(&engine, "test", &[("env", "test")], 100).await;
    let prod = exited(&engine, "prod", &[("env", "prod"), ("keep", "")], 30).await;
    let plain = exited(&engine, "plain", &[], 7).await;

    // Created just now: nothing is older than an hour.
    let pruned = engine
        .prune_containers(&filters(&["until=1h"]))
        .await
        .unwrap();
    assert!(pruned.deleted.is_empty() && pruned.bytes == 0, "{pruned:?}");

    let pruned = engine
        .prune_containers(&filters(&["label=env=test"]))
        .await
        .unwrap();
    assert_eq!(pruned.deleted, std::slice::from_ref(&test));
    assert_eq!(pruned.bytes, 100);
    assert!(!engine.layout().container(&test).exists());

    let soon = format!("until={}", now() + 60);
    let pruned = engine
        .prune_containers(&filters(&[&soon, "label!=keep"]))
        .await
        .unwrap();
    assert_eq!(pruned.deleted, std::slice::from_ref(&plain));
    assert_eq!(pruned.bytes, 7);

    let left: Vec<String> = engine
        .store
        .containers()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&prod));

    let pruned = engine
        .prune_containers(&PruneFilters::default())
        .await
        .unwrap();
    assert_eq!((pruned.deleted, pruned.bytes), (vec![prod], 30));
}

#[tokio::test]
async fn running_containers_stay() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = exited(&engine, "web", &[], 1).await;
    // "Running": its process and supervisor are live children of the test.
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let mut monitor = Command::new("sleep").arg("60").spawn().unwrap();
    engine
        .store
        .container_monitor(&id, i64::from(monitor.id()))
        .await
        .unwrap();
    engine
        .store
        .container_started(&id, i64::from(child.id()))
        .await
        .unwrap();
    let pruned = engine
        .prune_containers(&PruneFilters::default())
        .await
        .unwrap();
    assert!(pruned.deleted.is_empty(), "{pruned:?}");
    assert!(engine.store.container(&id).await.unwrap().is_some());
    for p in [&mut child, &mut monitor] {
        p.kill().unwrap();
        p.wait().unwrap();
    }
}

#[tokio::test]
async fn system_prune_adds_up_and_empty_stores_give_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let none = PruneFilters::default();
    let images = engine.prune_images(true, &none).await.unwrap();
    assert!(images.deleted.is_empty() && images.bytes == 0);
    let cache = engine.prune_build_cache().await.unwrap();
    assert!(cache.deleted.is_empty());

    exited(&engine, "a", &[], 11).await;
    let anon = berth_engine::volumes::create_anonymous(engine.layout().root()).unwrap();
    std::fs::write(anon.mountpoint.join("f"), b"123").unwrap();
    let p = engine.prune_system(true, true, &none).await.unwrap();
    assert_eq!(p.containers.bytes, 11);
    assert_eq!(p.volumes.as_ref().unwrap().deleted, [anon.name]);
    assert_eq!(p.bytes(), 11 + 3 + p.build_cache.bytes);
    assert!(PruneFilters::parse(&["until=never".into()]).is_err());
}
