//! `Engine::create` in-process: Docker's merge of the image's configuration, mounts resolved
//! (volumes made, binds checked), the record written with a unique name, the `create` event,
//! and typed errors that leave nothing behind.

mod common;

use berth_engine::ErrorKind;
use berth_engine::containers::create::CreateRequest;
use berth_engine::model::{ContainerConfig, HostConfig, MountType, NamespaceMode};
use serde_json::json;

async fn setup(dir: &tempfile::TempDir) -> (berth_engine::Engine, berth_store::Image) {
    let engine = common::engine(dir).await;
    common::load_image(
        &engine,
        "app:1",
        json!({"Env": ["PATH=/bin", "MODE=image"], "Entrypoint": ["/bin/app"], "Cmd": ["serve"],
               "WorkingDir": "/srv", "Volumes": {"/data": {}}, "Labels": {"tier": "image"}}),
        &[("bin/app", b"#!/bin/sh\n")],
    )
    .await;
    let image = engine.find_image("app:1").await.unwrap();
    (engine, image)
}

fn request(name: &str) -> CreateRequest {
    CreateRequest {
        name: Some(name.into()),
        config: ContainerConfig {
            image: "app:1".into(),
            env: vec!["MODE=mine".into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn the_record_merges_the_image_and_resolves_mounts() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, image) = setup(&dir).await;
    let host_dir = tempfile::tempdir().unwrap();
    let mut req = request("web");
    req.host_config = HostConfig {
        binds: vec![
            format!("{}:/host:ro", host_dir.path().display()),
            "named:/named".into(),
        ],
        pid_mode: NamespaceMode::Host,
        ..Default::default()
    };
    req.host_config
        .tmpfs
        .insert("/run".into(), "size=1m".into());
    let created = engine.create(&image, req).await.unwrap();
    let c = engine.store.container(&created.id).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_str(), c.state),
        ("web", berth_store::State::Created)
    );
    assert_eq!(c.command, ["/bin/app", "serve"]);
    let r = &created.record;
    assert_eq!(r.config.env, ["PATH=/bin", "MODE=mine"]);
    assert_eq!(
        (r.config.working_dir.as_str(), r.config.hostname.as_str()),
        ("/srv", &created.id[..12])
    );
    assert_eq!(r.config.labels["tier"], "image");
    assert_eq!(r.layers.len(), 1);
    let kinds: Vec<(MountType, &str)> = r
        .mount_points
        .iter()
        .map(|m| (m.kind, m.destination.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (MountType::Bind, "/host"),
            (MountType::Volume, "/named"),
            (MountType::Tmpfs, "/run"),
            (MountType::Volume, "/data"),
        ]
    );
    assert!(!r.mount_points[0].rw);
    assert_eq!(r.volumes().len(), 2, "named + the image's anonymous one");
    let spec = r.spec(&created.id, "/".into()).unwrap();
    assert!(spec.pid_host);
    let events = berth_engine::events::journal(engine.layout().root())
        .read(&Default::default())
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "create" && e.actor.id == created.id)
    );

    // A second one without a name gets a random one; the same name is a conflict.
    let mut anon = request("x");
    anon.name = None;
    let other = engine.create(&image, anon).await.unwrap();
    assert!(other.name.contains('_'), "{}", other.name);
    let dup = engine.create(&image, request("web")).await.unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::Conflict, "{dup}");
}

#[tokio::test]
async fn bad_requests_are_invalid_and_leave_no_volume() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, image) = setup(&dir).await;
    let volumes = || {
        berth_engine::volumes::list(engine.layout().root())
            .unwrap()
            .len()
    };
    let cases: Vec<(CreateRequest, &str)> = vec![
        (
            {
                let mut r = request("a");
                r.host_config.binds = vec!["/nonexistent-berth-path:/x".into()];
                r
            },
            "does not exist",
        ),
        (
            {
                let mut r = request("b");
                r.host_config.network_mode = "bridge".parse().unwrap();
                r
            },
            "no container networks",
        ),
        (
            {
                let mut r = request("c");
                r.entrypoint = Some(vec![]);
                r
            },
            "no command",
        ),
        (
            {
                let mut r = request("d");
                r.config.stop_signal = Some("SIGNOPE".into());
                r
            },
            "invalid signal",
        ),
        (
            {
                let mut r = request("e");
                r.host_config.security_opt =
                    vec!["seccomp={\"defaultAction\": \"SCMP_ACT_NOTIFY\"}".into()];
                r
            },
            "SCMP_ACT_NOTIFY",
        ),
    ];
    for (req, says) in cases {
        let err = engine.create(&image, req).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert_eq!(
        volumes(),
        0,
        "the image's anonymous volume is not left behind"
    );
    assert!(engine.store.containers().await.unwrap().is_empty());
}
