use std::path::PathBuf;

use serde_json::json;

use super::*;

#[test]
fn docker_json_with_nulls_and_closed_sets_reads_typed() {
    let host: HostConfig = serde_json::from_value(json!({
        "Binds": null, "NetworkMode": "host", "PidMode": "host", "IpcMode": "",
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
        "Mounts": [{"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 65536}}],
        "Memory": 33554432, "NanoCpus": 500000000, "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
        "BlkioDeviceReadIOps": null, "Devices": null, "UTSMode": "host"
    }))
    .unwrap();
    assert_eq!(host.network_mode, NetworkMode::Host);
    assert_eq!(host.pid_mode, NamespaceMode::Host);
    assert_eq!(host.ipc_mode, NamespaceMode::Private);
    assert_eq!(host.uts_mode, NamespaceMode::Host);
    assert_eq!(host.restart_policy.name, RestartPolicyName::OnFailure);
    assert_eq!(host.mounts[0].kind, MountType::Tmpfs);
    assert_eq!(host.resources.memory, 32 << 20);
    assert_eq!(host.log_config.kind, LogDriver::JsonFile);
    let back = serde_json::to_value(&host).unwrap();
    assert_eq!(back["NetworkMode"], "host");
    assert_eq!(back["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(back["NanoCpus"], 500000000);
    assert_eq!(back["UTSMode"], "host");
    assert!(serde_json::from_value::<HostConfig>(json!({"PidMode": "sideways"})).is_err());
    let config: ContainerConfig = serde_json::from_value(json!({
        "Cmd": null, "Entrypoint": ["/bin/sh", "-c"], "Env": null, "Labels": null,
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000}
    }))
    .unwrap();
    assert_eq!(config.argv(), ["/bin/sh", "-c"]);
    assert!(!config.healthcheck.unwrap().disabled());
}

#[test]
fn restart_policies_parse_and_decide() {
    let p = |s| RestartPolicy::parse(s).unwrap();
    assert!(!p("no").restarts(1, 0));
    assert!(p("always").restarts(0, 99));
    assert!(p("unless-stopped").restarts(0, 0));
    assert!(!p("on-failure").restarts(0, 0));
    assert!(p("on-failure").restarts(1, 1000));
    assert!(p("on-failure:2").restarts(1, 1));
    assert!(!p("on-failure:2").restarts(1, 2));
    for bad in ["sometimes", "always:3", "on-failure:x", "on-failure:-1"] {
        assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
    }
}

/// A record as the first release's `berth run` wrote it.
fn first_release_record(volume_source: &str) -> serde_json::Value {
    json!({
        "rm": true,
        "restart": {"Name": "no", "MaximumRetryCount": 0},
        "stop_signal": "SIGINT",
        "stop_timeout": 3,
        "layers": ["/d/layers/v1/sha256/aa"],
        "runtime": null,
        "user": "nobody",
        "spec": {
            "args": ["/bin/sh", "-c", "echo hi"],
            "env": ["PATH=/bin", "A=1"],
            "cwd": "/work",
            "hostname": "box",
            "uid": 0, "gid": 0,
            "capabilities": ["CAP_CHOWN", "CAP_NET_ADMIN"],
            "no_new_privileges": true,
            "seccomp": true,
            "seccomp_profile": {"name": "/p.json", "profile": {"defaultAction": "SCMP_ACT_ALLOW"}},
            "memory": 33554432u64, "cpus": 0.5, "pids_limit": 20,
            "readonly_rootfs": true, "host_network": true, "terminal": true,
            "privileged": false, "init": true,
            "mounts": [
                {"target": "/data", "bind": volume_source, "readonly": false},
                {"target": "/host", "bind": "/etc", "readonly": true},
                {"target": "/run", "tmpfs": "size=1m", "readonly": false}
            ]
        }
    })
}

#[test]
fn a_first_release_record_converts_to_the_same_spec() {
    let vol = "/d/volumes/v1/data1/_data";
    let record = Record::parse(&first_release_record(vol).to_string()).unwrap();
    assert_eq!(record.version, RECORD_VERSION);
    assert!(record.host_config.auto_remove);
    assert_eq!(record.config.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(record.layers, [PathBuf::from("/d/layers/v1/sha256/aa")]);
    assert_eq!(record.volumes(), ["data1"]);
    assert_eq!(record.mount_points[1].kind, MountType::Bind);
    assert!(!record.mount_points[1].rw);
    assert_eq!(record.host_config.runtime, "berth");
    let spec = record.spec("abc", PathBuf::from("/rootfs")).unwrap();
    assert_eq!(spec.args, ["/bin/sh", "-c", "echo hi"]);
    assert_eq!(
        (spec.cwd.as_str(), spec.hostname.as_str()),
        ("/work", "box")
    );
    let mut caps = spec.capabilities.clone();
    caps.sort();
    assert_eq!(caps, ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    assert!(spec.no_new_privileges && spec.seccomp && spec.seccomp_profile.is_some());
    assert_eq!(
        (spec.memory, spec.cpus, spec.pids_limit),
        (Some(32 << 20), Some(0.5), Some(20))
    );
    assert!(spec.readonly_rootfs && spec.host_network && spec.terminal && spec.init);
    assert_eq!(spec.mounts.len(), 3);
    assert_eq!(
        spec.mounts[0].kind,
        berth_runtime::spec::MountKind::Bind { source: vol.into() }
    );
    assert!(spec.mounts[1].readonly);
    // Written back in the new format, it reads the same.
    let again = Record::parse(&record.to_json()).unwrap();
    assert_eq!(again, record);
}

#[test]
fn resources_and_namespaces_reach_the_runtime_spec() {
    let mut record = Record::default();
    record.config.cmd = vec!["true".into()];
    let h = &mut record.host_config;
    h.pid_mode = NamespaceMode::Host;
    h.shm_size = 1 << 20;
    h.oom_score_adj = 100;
    h.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    h.cap_drop = vec!["ALL".into()];
    h.cap_add = vec!["net_raw".into()];
    h.security_opt = vec!["seccomp=unconfined".into()];
    let r = &mut h.resources;
    r.ulimits = vec![Ulimit {
        name: "nofile".into(),
        soft: 10,
        hard: -1,
    }];
    r.cpu_shares = 512;
    r.memory_swap = -1;
    r.devices = vec![DeviceMapping {
        path_on_host: "/dev/fuse".into(),
        ..Default::default()
    }];
    let spec = record.spec("abc", PathBuf::from("/r")).unwrap();
    assert!(spec.pid_host && !spec.ipc_host);
    assert_eq!(spec.shm_size, Some(1 << 20));
    assert_eq!(spec.oom_score_adj, Some(100));
    assert_eq!(spec.capabilities, ["CAP_NET_RAW"]);
    assert!(!spec.seccomp);
    assert_eq!((spec.rlimits[0].soft, spec.rlimits[0].hard), (10, u64::MAX));
    assert_eq!((spec.cpu_shares, spec.memory_swap), (Some(512), Some(-1)));
    assert_eq!(spec.devices[0].container, "/dev/fuse");
    assert_eq!(spec.devices[0].permissions, "rwm");
    record.host_config.privileged = true;
    let spec = record.spec("abc", PathBuf::from("/r")).unwrap();
    assert!(spec.capabilities.len() > 38 && !spec.seccomp);
    record.host_config.pid_mode = NamespaceMode::Container("x".into());
    assert!(record.spec("abc", PathBuf::from("/r")).is_err());
}

#[test]
fn a_newer_record_is_refused() {
    let text = json!({"Version": RECORD_VERSION + 1}).to_string();
    assert!(Record::parse(&text).unwrap_err().contains("newer"));
}

#[tokio::test]
async fn first_release_records_are_rewritten_in_place_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = berth_store::Store::open(dir.path()).await.unwrap();
    let old = first_release_record("/d/volumes/v1/v/_data").to_string();
    let (a, b, z) = ("aa".repeat(32), "bb".repeat(32), "cc".repeat(32));
    let cmd = vec!["/bin/sh".to_string()];
    store
        .create_container(&a, "a", "busybox", "sha256:x", &cmd, &old)
        .await
        .unwrap();
    let current = Record::parse(&old).unwrap().to_json();
    store
        .create_container(&b, "b", "busybox", "sha256:x", &cmd, &current)
        .await
        .unwrap();
    store
        .create_container(&z, "z", "busybox", "sha256:x", &cmd, "not json")
        .await
        .unwrap();
    let done = migrate_records(&store).await.unwrap();
    assert_eq!(done.rewritten, 1);
    assert_eq!(done.unreadable.len(), 1);
    assert_eq!(done.unreadable[0].0, z);
    let a_now = store.container(&a).await.unwrap().unwrap().config;
    assert_eq!(a_now, current, "rewritten as the converted record");
    assert_eq!(
        store.container(&z).await.unwrap().unwrap().config,
        "not json"
    );
    assert_eq!(migrate_records(&store).await.unwrap().rewritten, 0, "once");
}
