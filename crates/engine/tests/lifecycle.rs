//! The container lifecycle operations in-process, on records whose "container" is a plain
//! child process of the test, and whose supervisor is a `sleep` child standing for the
//! `container-monitor` process: the test records the exit (as a monitor does) and then ends
//! the stand-in. No image, no runtime: what is checked is the engine's part —
//! state checks, signals, stop's grace time, restart bookkeeping, events, removal.

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_client::config::Config;
use berth_engine::events::EventFilter;
use berth_engine::model::{ContainerConfig, Record};
use berth_engine::{Engine, ErrorKind};
use berth_store::State;

async fn engine(dir: &tempfile::TempDir) -> Arc<Engine> {
    let config = Config::from_toml(&format!("root = {:?}", dir.path())).unwrap();
    Arc::new(Engine::with_config(config).await.unwrap())
}

/// A "running container" named `name`: a `sh` child that traps `trap` (or nothing), recorded
/// with this test process as its supervisor, which records its exit when it ends.
async fn running(
    engine: &Arc<Engine>,
    name: &str,
    script: &str,
    stop_signal: Option<&str>,
) -> String {
    let id = berth_engine::util::random_hex(32);
    let record = Record {
        version: berth_engine::model::RECORD_VERSION,
        config: ContainerConfig {
            cmd: vec!["sh".into(), "-c".into(), script.into()],
            stop_signal: stop_signal.map(str::to_string),
            ..Default::default()
        },
        ..Default::default()
    };
    let argv = record.config.argv();
    engine
        .store
        .create_container(&id, name, "busybox", "sha256:x", &argv, &record.to_json())
        .await
        .unwrap();
    let child: Child = Command::new("sh").args(["-c", script]).spawn().unwrap();
    let pid = i64::from(child.id());
    let mut monitor = Command::new("sleep").arg("600").spawn().unwrap();
    engine
        .store
        .container_monitor(&id, i64::from(monitor.id()))
        .await
        .unwrap();
    engine.store.container_started(&id, pid).await.unwrap();
    engine.emit_container("start", &id, &[]).await;
    let (e, cid) = (engine.clone(), id.clone());
    tokio::spawn(async move {
        let status = tokio::task::spawn_blocking(move || {
            let mut child = child;
            child.wait().unwrap()
        })
        .await
        .unwrap();
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        e.store
            .container_exited(&cid, i64::from(code))
            .await
            .unwrap();
        e.emit_container("die", &cid, &[("exitCode", code.to_string())])
            .await;
        let _ = monitor.kill();
        let _ = monitor.wait();
    });
    id
}

fn actions(engine: &Engine, id: &str) -> Vec<String> {
    let mut f = EventFilter::default();
    f.add(&format!("container={id}")).unwrap();
    berth_engine::events::journal(engine.layout().root())
        .read(&f)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_the_stop_signal_then_waits_and_marks_the_user_stop() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    // Ends on SIGINT (its stop signal) with 130 at once.
    let id = running(
        &engine,
        "web",
        "trap 'exit 130' INT; while :; do sleep 0.05; done",
        Some("SIGINT"),
    )
    .await;
    let began = Instant::now();
    engine.stop("web", Some(5)).await.unwrap();
    assert!(began.elapsed() < Duration::from_secs(4), "no SIGKILL wait");
    let c = engine.store.container(&id).await.unwrap().unwrap();
    assert_eq!(
        (c.state, c.exit_code, c.stopped_by_user),
        (State::Exited, Some(130), true)
    );
    let acts = actions(&engine, &id);
    assert!(
        acts.ends_with(&["kill".into(), "die".into(), "stop".into()]),
        "{acts:?}"
    );
    // Stopping what is not running is no error, as in Docker.
    engine.stop("web", None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_after_the_grace_time() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = running(
        &engine,
        "stubborn",
        "trap '' TERM; while :; do sleep 0.05; done",
        None,
    )
    .await;
    let began = Instant::now();
    engine.stop(&id[..8], Some(1)).await.unwrap();
    assert!(began.elapsed() >= Duration::from_secs(1));
    let c = engine.store.container(&id).await.unwrap().unwrap();
    assert_eq!(c.exit_code, Some(128 + libc::SIGKILL as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_wait_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = running(&engine, "k", "while :; do sleep 0.05; done", None).await;
    let err = engine.remove("k", false, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("container is running"), "{err}");
    let bad = berth_engine::containers::lifecycle::parse_signal("SIGNOPE").unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidArgument);
    engine.kill("k", libc::SIGUSR1).await.unwrap();
    assert_eq!(engine.wait("k").await.unwrap(), 128 + libc::SIGUSR1 as i64);
    let c = engine.store.container(&id).await.unwrap().unwrap();
    assert!(
        !c.stopped_by_user,
        "a signal that is not the stop signal is not a user stop"
    );
    let err = engine.kill("k", libc::SIGKILL).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let removed = engine.remove("k", false, false).await.unwrap();
    assert_eq!(removed.id, id);
    assert!(engine.store.container(&id).await.unwrap().is_none());
    assert!(actions(&engine, &id).contains(&"destroy".to_string()));
    let gone = engine.remove("k", false, false).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    assert_eq!(gone.to_string(), "No such container: k");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_remove_kills_first() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = running(&engine, "f", "while :; do sleep 0.05; done", None).await;
    let removed = engine.remove("f", true, false).await.unwrap();
    assert!(!removed.by_supervisor);
    assert!(engine.store.container(&id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_supervisor_is_gone_reads_exited_255() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let id = berth_engine::util::random_hex(32);
    let json = Record::default().to_json();
    engine
        .store
        .create_container(&id, "lost", "i", "sha256:x", &["x".into()], &json)
        .await
        .unwrap();
    // A supervisor that has gone: a killed child's pid.
    let mut gone = Command::new("sleep").arg("600").spawn().unwrap();
    let pid = i64::from(gone.id());
    engine.store.container_monitor(&id, pid).await.unwrap();
    gone.kill().unwrap();
    gone.wait().unwrap();
    engine.store.container_started(&id, 0).await.unwrap();
    let c = berth_engine::containers::liveness::find(&engine, "lost")
        .await
        .unwrap();
    assert_eq!((c.state, c.exit_code), (State::Exited, Some(255)));
}
