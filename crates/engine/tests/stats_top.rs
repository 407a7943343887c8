//! Container queries in-process: `top` and `stats` of a "running container" whose process is
//! a `sleep` child of the test placed in cgroups the test makes at `berth/<id>` (skipped where
//! cgroups cannot be made: not root, or read-only), and `rename` with Docker's errors and its
//! event.

mod common;

use common::engine;

use std::path::PathBuf;
use std::process::{Child, Command};

use berth_engine::events::EventFilter;
use berth_engine::model::Record;
use berth_engine::{Engine, ErrorKind};

/// A container record `name`, never started.
async fn created(engine: &Engine, name: &str) -> String {
    let id = berth_engine::util::random_hex(32);
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        ..Default::default()
    };
    engine
        .store
        .create_container(&id, name, "busybox", "sha256:x", &[], &record.to_json())
        .await
        .unwrap();
    id
}

/// A running container: `sleep` children as its process and its supervisor.
struct Running {
    id: String,
    process: Child,
    monitor: Child,
    cgroups: Vec<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for p in [&mut self.process, &mut self.monitor] {
            let _ = p.kill();
            let _ = p.wait();
        }
        for dir in &self.cgroups {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

async fn running(engine: &Engine, name: &str) -> Running {
    let id = created(engine, name).await;
    let process = Command::new("sleep").arg("120").spawn().unwrap();
    let monitor = Command::new("sleep").arg("120").spawn().unwrap();
    engine
        .store
        .container_monitor(&id, i64::from(monitor.id()))
        .await
        .unwrap();
    engine
        .store
        .container_started(&id, i64::from(process.id()))
        .await
        .unwrap();
    Running {
        id,
        process,
        monitor,
        cgroups: vec![],
    }
}

/// Put `r`'s process into new cgroups `berth/<id>` (v2, or the v1 `pids`, `cpu,cpuacct` and
/// `memory` hierarchies that allow it); whether the pids (or v2) one was made.
fn place_in_cgroups(r: &mut Running) -> bool {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let bases: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.to_path_buf()]
    } else {
        ["pids", "cpu,cpuacct", "memory"]
            .iter()
            .map(|c| root.join(c))
            .filter(|b| b.is_dir())
            .collect()
    };
    let mut first = false;
    for (i, base) in bases.iter().enumerate() {
        let dir = base.join("berth").join(&r.id);
        if std::fs::create_dir_all(&dir).is_err() {
            continue;
        }
        r.cgroups.push(dir.clone());
        let moved = std::fs::write(dir.join("cgroup.procs"), r.process.id().to_string()).is_ok();
        first |= i == 0 && moved;
    }
    first
}

#[tokio::test]
async fn top_and_stats_of_a_process_in_its_cgroups() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let mut r = running(&engine, "web").await;
    if !place_in_cgroups(&mut r) {
        eprintln!("skipped: cannot make cgroups here");
        return;
    }
    let pid = r.process.id().to_string();
    let top = engine.top("web", &[]).await.unwrap();
    let pid_col = top.titles.iter().position(|t| t == "PID").unwrap();
    assert_eq!(top.processes.len(), 1, "{top:?}");
    assert_eq!(top.processes[0][pid_col], pid);
    assert!(top.processes[0].last().unwrap().contains("sleep 120"));
    // ps options are passed on.
    let top = engine.top("web", &["-o pid,comm".into()]).await.unwrap();
    assert_eq!(top.titles, ["PID", "COMMAND"]);
    assert_eq!(top.processes, [vec![pid.clone(), "sleep".to_string()]]);

    let c = engine.store.container(&r.id).await.unwrap().unwrap();
    let sample = engine.stats_sample(&c);
    assert!(sample.running);
    assert_eq!(sample.usage.pids, Some(1));
    let stats = engine
        .stats("web", std::time::Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(
        (stats.id.as_str(), stats.name.as_str()),
        (r.id.as_str(), "web")
    );
    assert_eq!(stats.pids, 1);
    assert!(stats.cpu_percent >= 0.0);
    let targets = engine.stats_targets(false, &[]).await.unwrap();
    assert_eq!(targets.len(), 1);
}

#[tokio::test]
async fn top_refuses_stopped_containers_and_stats_of_them_are_zero() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = created(&engine, "idle").await;
    let err = engine.top("idle", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.to_string(), "container idle is not running");
    assert_eq!(
        engine.top("nosuch", &[]).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let c = engine.store.container(&id).await.unwrap().unwrap();
    assert!(!engine.stats_sample(&c).running);
    assert!(engine.stats_targets(false, &[]).await.unwrap().is_empty());
    assert_eq!(engine.stats_targets(true, &[]).await.unwrap().len(), 1);
    let stats = engine
        .stats("idle", std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((stats.memory, stats.memory_limit, stats.pids), (0, 0, 0));
}

#[tokio::test]
async fn rename_with_dockers_errors_and_event() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let first = created(&engine, "first").await;
    let second = created(&engine, "second").await;

    let taken = engine.rename("first", "second").await.unwrap_err();
    assert_eq!(taken.kind(), ErrorKind::Conflict);
    assert!(
        taken.to_string().starts_with(&format!(
            "Conflict. The container name \"/second\" is already in use by container \"{second}\""
        )),
        "{taken}"
    );
    let missing = engine.rename("nosuch", "third").await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    for (old, new) in [
        ("first", "first"),
        ("first", "-x"),
        ("first", "a"),
        ("", "b2"),
    ] {
        let e = engine.rename(old, new).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{old} -> {new}: {e}");
    }

    let before = engine.rename(&first[..12], "/third").await.unwrap();
    assert_eq!(before.name, "first");
    let c = engine.store.container(&first).await.unwrap().unwrap();
    assert_eq!(c.name, "third");
    let mut f = EventFilter::default();
    f.add(&format!("container={first}")).unwrap();
    let events = berth_engine::events::journal(engine.layout().root())
        .read(&f)
        .unwrap();
    let rename = events.iter().find(|e| e.action == "rename").unwrap();
    let attrs = &rename.actor.attributes;
    assert_eq!(attrs.get("oldName").map(String::as_str), Some("/first"));
    assert_eq!(attrs.get("name").map(String::as_str), Some("third"));
}
