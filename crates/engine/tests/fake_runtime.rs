//! The engine's container operations through the runtime seam, on berth-runtime's in-memory
//! fake (`Engine::with_runtime`): pause, unpause and kill reach the runtime, its refusals
//! come back typed. No process, no cgroup: the seam alone.

mod common;

use std::process::Command;
use std::sync::Arc;

use berth_engine::ErrorKind;
use berth_engine::model::{ContainerConfig, Record};
use berth_runtime::engine::{ExitStatus, FakeRuntime, Runtime, Status, Stdio};
use berth_runtime::spec::ContainerSpec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_unpause_and_kill_go_through_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::new(ExitStatus::Exited(0), ""));
    let engine = common::engine(&dir).await.with_runtime(fake.clone());

    // A container the fake runs, recorded running under a live (stand-in) supervisor.
    let id = berth_engine::util::random_hex(32);
    let spec = ContainerSpec::new(&id, dir.path(), vec!["sleep".into()]);
    let pid = fake.create(&spec, Stdio::default()).unwrap();
    fake.start(&id).unwrap();
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        config: ContainerConfig {
            cmd: vec!["sleep".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let json = record.to_json();
    engine
        .store
        .create_container(&id, "f", "fake", "sha256:x", &["sleep".into()], &json)
        .await
        .unwrap();
    let mut monitor = Command::new("sleep").arg("60").spawn().unwrap();
    engine
        .store
        .container_monitor(&id, i64::from(monitor.id()))
        .await
        .unwrap();
    engine
        .store
        .container_started(&id, i64::from(pid))
        .await
        .unwrap();

    engine.pause("f").await.unwrap();
    assert_eq!(fake.state(&id).unwrap().status, Status::Paused);
    assert!(engine.store.container(&id).await.unwrap().unwrap().paused);
    let again = engine.pause("f").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict);
    engine.unpause("f").await.unwrap();
    assert_eq!(fake.state(&id).unwrap().status, Status::Running);

    engine.kill("f", libc::SIGTERM).await.unwrap();
    let state = fake.state(&id).unwrap();
    assert_eq!(state.status, Status::Stopped);
    assert_eq!(state.exit.map(|e| e.code()), Some(128 + libc::SIGTERM));
    // The runtime refuses a second kill of a stopped container: a conflict, as Docker's 409.
    let err = engine.kill("f", libc::SIGTERM).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let _ = monitor.kill();
    let _ = monitor.wait();
}
