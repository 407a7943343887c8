//! The flags into the model: namespaces, resources, logging, health; the caller's helpers.

use berth_engine::model::{
    ContainerConfig, HealthConfig, HostConfig, LogDriver, NamespaceMode, NetworkMode,
};

use super::tests::{apply, strings};
use super::{ContainerFlags, PullPolicy, RunOnlyFlags, check};

#[test]
fn namespaces_and_resources() {
    let flags = ContainerFlags {
        pid: Some("host".into()),
        ipc: Some("shareable".into()),
        uts: Some("host".into()),
        cgroupns: Some("private".into()),
        userns: Some("host".into()),
        cpu_shares: Some(512),
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        cpuset_cpus: Some("0-1".into()),
        memory_reservation: Some("256m".into()),
        memory_swap: Some("-1".into()),
        memory_swappiness: Some(10),
        shm_size: Some("128mb".into()),
        oom_kill_disable: true,
        oom_score_adj: Some(-500),
        cgroup_parent: Some("berth.slice".into()),
        cidfile: Some("/nonexistent/cid".into()),
        volumes_from: strings(&["other:ro"]),
        link: strings(&["db:database"]),
        ..Default::default()
    };
    let (_, host) = apply(&flags).unwrap();
    assert_eq!(host.pid_mode, NamespaceMode::Host);
    assert_eq!(host.ipc_mode, NamespaceMode::Other("shareable".into()));
    assert_eq!(host.uts_mode, NamespaceMode::Host);
    assert_eq!(host.userns_mode, "host");
    let r = &host.resources;
    assert_eq!(
        (r.cpu_shares, r.cpu_period, r.cpu_quota),
        (512, 100_000, 50_000)
    );
    assert_eq!(
        (r.memory_reservation, r.memory_swap, r.memory_swappiness),
        (256 << 20, -1, Some(10))
    );
    assert_eq!(
        (host.shm_size, r.oom_kill_disable, host.oom_score_adj),
        (128 << 20, Some(true), -500)
    );
    assert_eq!(r.cgroup_parent, "berth.slice");
    assert_eq!(host.container_id_file, "/nonexistent/cid");
    assert_eq!((host.volumes_from.len(), host.links.len()), (1, 1));
    let err = |f: ContainerFlags| apply(&f).unwrap_err();
    let d = ContainerFlags::default;
    assert_eq!(
        err(ContainerFlags {
            pid: Some("shareable".into()),
            ..d()
        }),
        "--pid: invalid PID mode"
    );
    assert_eq!(
        err(ContainerFlags {
            uts: Some("container:x".into()),
            ..d()
        }),
        "--uts: invalid UTS mode"
    );
    assert_eq!(
        err(ContainerFlags {
            ipc: Some("container:".into()),
            ..d()
        }),
        "--ipc: invalid IPC mode"
    );
    assert_eq!(
        err(ContainerFlags {
            cgroupns: Some("none".into()),
            ..d()
        }),
        "--cgroupns: invalid CGROUP mode"
    );
    assert_eq!(
        err(ContainerFlags {
            userns: Some("private".into()),
            ..d()
        }),
        "--userns: invalid USER mode"
    );
    assert!(
        apply(&ContainerFlags {
            pid: Some("container:web".into()),
            ..d()
        })
        .is_ok()
    );
    assert!(
        err(ContainerFlags {
            memory_swappiness: Some(101),
            ..d()
        })
        .contains("swappiness")
    );
    assert!(
        err(ContainerFlags {
            oom_score_adj: Some(1001),
            ..d()
        })
        .contains("oom score adj")
    );
    assert!(
        err(ContainerFlags {
            shm_size: Some("big".into()),
            ..d()
        })
        .contains("--shm-size")
    );
    assert!(
        err(ContainerFlags {
            memory_swap: Some("-2".into()),
            ..d()
        })
        .contains("--memory-swap")
    );
    assert!(
        err(ContainerFlags {
            cpuset_mems: Some("x".into()),
            ..d()
        })
        .contains("cpuset mems")
    );
    assert!(
        err(ContainerFlags {
            volumes_from: strings(&["a:rx"]),
            ..d()
        })
        .contains("invalid mode")
    );
    assert!(
        err(ContainerFlags {
            link: strings(&["a:b:c"]),
            ..d()
        })
        .contains("bad format for links")
    );
    assert!(
        err(ContainerFlags {
            volume_driver: Some("nfs".into()),
            ..d()
        })
        .contains("not supported")
    );
    assert!(
        err(ContainerFlags {
            group_add: strings(&[""]),
            ..d()
        })
        .contains("--group-add")
    );
    assert_eq!(
        err(ContainerFlags {
            storage_opt: strings(&["size=10G"]),
            ..d()
        }),
        "--storage-opt size is not supported by berth's overlay storage"
    );
    assert_eq!(
        err(ContainerFlags {
            storage_opt: strings(&["size"]),
            ..d()
        }),
        "invalid storage option"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    let cid = ContainerFlags {
        cidfile: Some(file.path().into()),
        ..d()
    };
    assert!(err(cid).contains("container ID file found"));

    let mut host = HostConfig::default();
    host.resources.memory_swap = 1 << 20;
    assert!(check(&host).unwrap_err().contains("set the Memory limit"));
    host.resources.memory = 2 << 20;
    assert!(check(&host).unwrap_err().contains("larger than memory"));
    host.resources.memory_swap = -1;
    host.resources.memory_reservation = 4 << 20;
    assert!(check(&host).unwrap_err().contains("reservation"));
    host.resources.memory_reservation = 0;
    host.sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    assert!(check(&host).is_ok());
    host.network_mode = NetworkMode::Host;
    assert!(check(&host).unwrap_err().contains("host network namespace"));
    host.sysctls.clear();
    host.network_mode = NetworkMode::Container("web".into());
    assert!(check(&host).is_ok());
    host.extra_hosts.push("db:10.0.0.1".into());
    assert!(check(&host).unwrap_err().contains("host-to-IP"));
    host.publish_all_ports = true;
    assert!(check(&host).unwrap_err().contains("port publishing"));
}

#[test]
fn logging() {
    let log = |driver: Option<&str>, opts: &[&str]| {
        let f = ContainerFlags {
            log_driver: driver.map(str::to_string),
            log_opt: strings(opts),
            ..Default::default()
        };
        apply(&f).map(|(_, h)| h.log_config)
    };
    let l = log(
        Some("local"),
        &["max-size=10m", "max-file=3", "compress=true"],
    )
    .unwrap();
    assert_eq!(
        (l.kind, l.config["max-size"].as_str()),
        (LogDriver::Local, "10m")
    );
    assert_eq!(
        log(None, &["tag={{.Name}}"]).unwrap().kind,
        LogDriver::JsonFile
    );
    assert_eq!(log(Some("none"), &[]).unwrap().kind, LogDriver::None);
    assert_eq!(
        log(Some("none"), &["max-size=1m"]).unwrap_err(),
        "invalid logging opts for driver none"
    );
    assert_eq!(
        log(Some("syslog"), &[]).unwrap_err(),
        "log driver syslog is not supported by berth"
    );
    assert_eq!(
        log(Some("local"), &["tag=x"]).unwrap_err(),
        "unknown log opt 'tag' for log driver local"
    );
    assert_eq!(
        log(None, &["bogus=1"]).unwrap_err(),
        "unknown log opt 'bogus' for json-file log driver"
    );
    assert_eq!(
        log(None, &["max-file=0"]).unwrap_err(),
        "max-file cannot be less than 1"
    );
    assert!(
        log(None, &["max-size=lots"])
            .unwrap_err()
            .contains("invalid size")
    );
    assert!(log(None, &["compress=maybe"]).is_err());
}

#[test]
fn health_checks() {
    let health = |f: ContainerFlags, image: Option<HealthConfig>| {
        let (mut config, mut host) = (ContainerConfig::default(), HostConfig::default());
        config.healthcheck = image;
        f.apply(&mut config, &mut host).map(|()| config.healthcheck)
    };
    let d = ContainerFlags::default;
    let h = health(
        ContainerFlags {
            health_cmd: Some("curl -f localhost".into()),
            health_interval: Some("1m30s".into()),
            health_timeout: Some("500ms".into()),
            health_retries: Some(5),
            health_start_period: Some("10s".into()),
            health_start_interval: Some("2s".into()),
            ..d()
        },
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.test, ["CMD-SHELL", "curl -f localhost"]);
    assert_eq!(
        (h.interval, h.timeout, h.retries),
        (90_000_000_000, 500_000_000, 5)
    );
    assert_eq!(
        (h.start_period, h.start_interval),
        (10_000_000_000, 2_000_000_000)
    );
    let image = HealthConfig {
        test: strings(&["CMD", "true"]),
        interval: 1,
        retries: 7,
        ..Default::default()
    };
    let h = health(
        ContainerFlags {
            health_interval: Some("5s".into()),
            ..d()
        },
        Some(image.clone()),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (h.test, h.interval, h.retries),
        (strings(&["CMD", "true"]), 5_000_000_000, 7)
    );
    assert_eq!(
        health(d(), Some(image.clone())).unwrap(),
        Some(image.clone())
    );
    let h = health(
        ContainerFlags {
            no_healthcheck: true,
            ..d()
        },
        Some(image),
    )
    .unwrap()
    .unwrap();
    assert!(h.disabled());
    let e = |f| health(f, None).unwrap_err();
    assert_eq!(
        e(ContainerFlags {
            no_healthcheck: true,
            health_cmd: Some("x".into()),
            ..d()
        }),
        "--no-healthcheck conflicts with --health-* options"
    );
    assert_eq!(
        e(ContainerFlags {
            health_interval: Some("-1s".into()),
            ..d()
        }),
        "--health-interval cannot be negative"
    );
    assert_eq!(
        e(ContainerFlags {
            health_retries: Some(-1),
            ..d()
        }),
        "--health-retries cannot be negative"
    );
    assert!(
        e(ContainerFlags {
            health_timeout: Some("10".into()),
            ..d()
        })
        .starts_with("invalid argument \"10\" for \"--health-timeout\" flag: time: missing unit")
    );
    assert!(
        e(ContainerFlags {
            health_start_period: Some("10us".into()),
            ..d()
        })
        .contains("less than 1ms")
    );
}

#[test]
fn caller_helpers() {
    let d = ContainerFlags::default;
    assert_eq!(d().pull_policy(), Ok(PullPolicy::Missing));
    assert_eq!(
        ContainerFlags {
            pull: Some("always".into()),
            ..d()
        }
        .pull_policy(),
        Ok(PullPolicy::Always)
    );
    assert_eq!(
        ContainerFlags {
            pull: Some("never".into()),
            ..d()
        }
        .pull_policy(),
        Ok(PullPolicy::Never)
    );
    assert!(
        ContainerFlags {
            pull: Some("sometimes".into()),
            ..d()
        }
        .pull_policy()
        .unwrap_err()
        .contains("must be one of")
    );
    assert_eq!(d().platform(), Ok(None));
    let p = ContainerFlags {
        platform: Some("linux/arm64/v8".into()),
        ..d()
    }
    .platform();
    assert_eq!(
        p,
        Ok(Some(("linux".into(), "arm64".into(), Some("v8".into()))))
    );
    assert!(
        ContainerFlags {
            platform: Some("linux".into()),
            ..d()
        }
        .platform()
        .is_err()
    );

    let a = d().attach(false, false).unwrap();
    assert!(!a.stdin && a.stdout && a.stderr);
    assert!(d().attach(true, false).unwrap().stdin);
    assert_eq!(d().attach(true, true).unwrap(), Default::default());
    let only = ContainerFlags {
        attach: strings(&["STDERR"]),
        ..d()
    };
    let a = only.attach(false, false).unwrap();
    assert!(!a.stdin && !a.stdout && a.stderr);
    assert_eq!(
        only.attach(false, true).unwrap_err(),
        "Conflicting options: -a and -d"
    );
    let bad = ContainerFlags {
        attach: strings(&["stdwhat"]),
        ..d()
    };
    assert!(
        bad.attach(false, false)
            .unwrap_err()
            .contains("valid streams are STDIN, STDOUT and STDERR")
    );

    let keys = |k: Option<&str>| {
        RunOnlyFlags {
            detach_keys: k.map(str::to_string),
            sig_proxy: None,
        }
        .detach_keys()
    };
    assert_eq!(keys(None), Ok(vec![16, 17]));
    assert_eq!(keys(Some("ctrl-a,x")), Ok(vec![1, b'x']));
    assert_eq!(
        keys(Some("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,DEL")),
        Ok(vec![0, 27, 28, 29, 30, 31, 127])
    );
    assert!(
        keys(Some("ctrl-1"))
            .unwrap_err()
            .contains("Invalid detach keys (ctrl-1)")
    );
    assert!(keys(Some("ctrl-A")).is_err());

    let named = NetworkMode::Named("front".into());
    let net = ContainerFlags {
        ip: Some("172.30.100.104".into()),
        ip6: Some("2001:db8::33".into()),
        mac_address: Some("92-D0-C6-0A-29-33".into()),
        link_local_ip: strings(&["169.254.1.1"]),
        network_alias: strings(&["web"]),
        ..d()
    };
    let e = net.endpoint(&named).unwrap();
    assert_eq!(e.mac.as_deref(), Some("92:d0:c6:0a:29:33"));
    assert_eq!(e.ipv4.unwrap().to_string(), "172.30.100.104");
    assert!(net.endpoint(&NetworkMode::Bridge).is_err());
    let mac = ContainerFlags {
        mac_address: Some("92:d0:c6".into()),
        ..d()
    };
    assert!(
        mac.endpoint(&NetworkMode::Bridge)
            .unwrap_err()
            .contains("--mac-address")
    );
    let mac = ContainerFlags {
        mac_address: Some("92:d0:c6:0a:29:33".into()),
        ..d()
    };
    assert!(mac.endpoint(&NetworkMode::Bridge).is_ok());
    assert!(mac.endpoint(&NetworkMode::Host).is_err());
    let ip = ContainerFlags {
        ip: Some("1.2.3".into()),
        ..d()
    };
    assert!(ip.endpoint(&named).unwrap_err().contains("\"--ip\""));
}
