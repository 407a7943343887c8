//! The flag value parsers, and the flags into the model (more in `flags_apply_tests.rs`).

use berth_engine::model::{ContainerConfig, HostConfig, MountType, PortBinding};

use super::{ContainerFlags, parse, ports};

pub(super) fn apply(flags: &ContainerFlags) -> Result<(ContainerConfig, HostConfig), String> {
    let (mut config, mut host) = (ContainerConfig::default(), HostConfig::default());
    flags.apply(&mut config, &mut host)?;
    Ok((config, host))
}

pub(super) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sizes_as_docker() {
    let ram = |s| parse::size(s, 1024.0);
    assert_eq!(ram("64m"), Ok(64 << 20));
    assert_eq!(ram("64mb"), Ok(64 << 20));
    assert_eq!(ram("64MiB"), Ok(64 << 20));
    assert_eq!(ram("1.5g"), Ok(3 << 29));
    assert_eq!(ram("1kb"), Ok(1024));
    assert_eq!(ram("100"), Ok(100));
    assert_eq!(ram("100b"), Ok(100));
    assert_eq!(ram("0"), Ok(0));
    assert_eq!(parse::size("10m", 1000.0), Ok(10_000_000));
    for bad in ["", "m", "-1", "12x", "1.2.3", "1..", "64 mbx", ".5m"] {
        assert_eq!(ram(bad), Err(format!("invalid size: '{bad}'")), "{bad}");
    }
}

#[test]
fn durations_as_go() {
    let d = parse::duration;
    assert_eq!(d("30s"), Ok(30_000_000_000));
    assert_eq!(d("1m30s"), Ok(90_000_000_000));
    assert_eq!(d("500ms"), Ok(500_000_000));
    assert_eq!(d("1.5h"), Ok(5_400_000_000_000));
    assert_eq!(d("2us"), Ok(2_000));
    assert_eq!(d("0"), Ok(0));
    assert_eq!(d("-2s"), Ok(-2_000_000_000));
    assert_eq!(d("10"), Err("time: missing unit in duration \"10\"".into()));
    assert_eq!(
        d("3x"),
        Err("time: unknown unit \"x\" in duration \"3x\"".into())
    );
    for bad in ["", "s", "1..2s", "-", ".s"] {
        assert!(d(bad).is_err(), "{bad}");
    }
}

#[test]
fn ulimits() {
    let u = parse::ulimit("nofile=1024:2048").unwrap();
    assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
    let u = parse::ulimit("nproc=512").unwrap();
    assert_eq!((u.soft, u.hard), (512, 512));
    assert_eq!(parse::ulimit("core=-1").unwrap().hard, -1);
    assert_eq!(
        parse::ulimit("nofile"),
        Err("invalid ulimit argument: nofile".into())
    );
    assert_eq!(
        parse::ulimit("bogus=1"),
        Err("invalid ulimit type: bogus".into())
    );
    assert!(
        parse::ulimit("nofile=x")
            .unwrap_err()
            .contains("invalid syntax")
    );
    assert!(
        parse::ulimit("nofile=1:2:3")
            .unwrap_err()
            .contains("too many")
    );
    assert_eq!(
        parse::ulimit("nofile=20:10"),
        Err("ulimit soft limit must be less than or equal to hard limit: 20 > 10".into())
    );
    let flags = ContainerFlags {
        ulimit: strings(&["nofile=1", "nofile=2:3", "x"]),
        ..Default::default()
    };
    assert_eq!(
        apply(&flags).unwrap_err(),
        "invalid argument \"x\" for \"--ulimit\" flag: invalid ulimit argument: x"
    );
    let flags = ContainerFlags {
        ulimit: strings(&["nofile=1", "nofile=2:3"]),
        ..Default::default()
    };
    let (_, host) = apply(&flags).unwrap();
    assert_eq!(host.resources.ulimits.len(), 1);
    assert_eq!(host.resources.ulimits[0].hard, 3);
}

#[test]
fn hosts_dns_sysctls_labels() {
    assert_eq!(parse::extra_host("db:10.0.0.2"), Ok("db:10.0.0.2".into()));
    assert_eq!(parse::extra_host("db=10.0.0.2"), Ok("db:10.0.0.2".into()));
    assert_eq!(parse::extra_host("v6:[::1]"), Ok("v6:::1".into()));
    assert_eq!(parse::extra_host("v6=::1"), Ok("v6:::1".into()));
    assert_eq!(
        parse::extra_host("gw:host-gateway"),
        Ok("gw:host-gateway".into())
    );
    assert!(parse::extra_host("db").unwrap_err().contains("bad format"));
    assert!(parse::extra_host(":1.2.3.4").is_err());
    assert!(
        parse::extra_host("db:nope")
            .unwrap_err()
            .contains("invalid IP")
    );
    assert_eq!(parse::ip_address("8.8.8.8"), Ok("8.8.8.8".into()));
    assert!(parse::ip_address("8.8.8").is_err());
    assert_eq!(parse::dns_search("example.com."), Ok("example.com".into()));
    assert_eq!(parse::dns_search("."), Ok(".".into()));
    for bad in ["-a.com", "a..com", "123", "a_b.com"] {
        assert!(parse::dns_search(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse::sysctl("net.ipv4.ip_forward=1"),
        Ok(("net.ipv4.ip_forward".into(), "1".into()))
    );
    assert!(parse::sysctl("kernel.shmmax=1").is_ok());
    assert!(parse::sysctl("fs.mqueue.msg_max=10").is_ok());
    assert_eq!(
        parse::sysctl("kernel.pid_max=1"),
        Err("sysctl 'kernel.pid_max=1' is not allowed".into())
    );
    assert!(parse::sysctl("net.core.somaxconn").is_err());
    assert_eq!(parse::label("a=b=c"), Ok(("a".into(), "b=c".into())));
    assert_eq!(parse::label("flag"), Ok(("flag".into(), String::new())));
    assert!(parse::label("=x").unwrap_err().contains("empty name"));
    assert!(parse::label("a b=c").unwrap_err().contains("whitespaces"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels");
    std::fs::write(&file, "# comment\n\n  a=from-file\nb=2\nbare\n").unwrap();
    let flags = ContainerFlags {
        label_file: vec![file.clone()],
        label: strings(&["a=from-flag"]),
        annotation: strings(&["io.x=1"]),
        add_host: strings(&["db=[::1]"]),
        dns: strings(&["1.1.1.1"]),
        dns_option: strings(&["ndots:2"]),
        dns_search: strings(&["corp.example"]),
        sysctl: strings(&["net.ipv4.ping_group_range=0 0"]),
        domainname: Some("example.org".into()),
        group_add: strings(&["audio", "27"]),
        ..Default::default()
    };
    let (config, host) = apply(&flags).unwrap();
    assert_eq!(config.labels["a"], "from-flag");
    assert_eq!(config.labels["b"], "2");
    assert_eq!(config.labels["bare"], "");
    assert_eq!(config.domainname, "example.org");
    assert_eq!(host.annotations["io.x"], "1");
    assert_eq!(host.extra_hosts, ["db:::1"]);
    assert_eq!(
        (
            host.dns.len(),
            host.dns_options.len(),
            host.dns_search.len()
        ),
        (1, 1, 1)
    );
    assert_eq!(host.sysctls["net.ipv4.ping_group_range"], "0 0");
    assert_eq!(host.group_add, ["audio", "27"]);
    std::fs::write(&file, "a b=c\n").unwrap();
    assert!(apply(&flags).unwrap_err().contains("whitespaces"));
    let missing = ContainerFlags {
        label_file: vec![dir.path().join("none")],
        ..Default::default()
    };
    assert!(apply(&missing).unwrap_err().starts_with("open "));
    let bad = ContainerFlags {
        annotation: strings(&["=x"]),
        ..Default::default()
    };
    assert!(apply(&bad).is_err());
}

#[test]
fn mounts() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().display().to_string();
    let m = ports::mount(&format!("type=bind,src={src},dst=/data,readonly")).unwrap();
    assert_eq!(
        (m.kind, m.source.as_str(), m.target.as_str(), m.read_only),
        (MountType::Bind, src.as_str(), "/data", true)
    );
    let m = ports::mount(&format!(
        "type=bind,source={src},target=/d,ro=false,bind-propagation=rshared"
    ))
    .unwrap();
    assert!(!m.read_only);
    let m = ports::mount("target=/v,volume-nocopy,volume-label=a=b,source=vol1").unwrap();
    assert_eq!(m.kind, MountType::Volume);
    let v = m.volume_options.unwrap();
    assert!(v.no_copy);
    assert_eq!(v.labels["a"], "b");
    let m = ports::mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
    let t = m.tmpfs_options.unwrap();
    assert_eq!((t.size_bytes, t.mode), (64 << 20, 0o1770));
    let m = ports::mount("\"type=volume\",\"target=/a,b\"").unwrap();
    assert_eq!(m.target, "/a,b");
    let err = |s: &str| ports::mount(s).unwrap_err();
    assert_eq!(err("type=bind,source=/"), "target is required");
    assert_eq!(
        err("type=volume,target=/x,bogus"),
        "invalid field 'bogus' must be a key=value pair"
    );
    assert_eq!(
        err("type=volume,target=/x,foo=bar"),
        "unexpected key 'foo' in 'foo=bar'"
    );
    assert_eq!(
        err("type=volume,target=/x,ro=maybe"),
        "invalid value for ro: maybe"
    );
    assert_eq!(
        err("type=bind,source=/,target=/x,volume-nocopy"),
        "cannot mix 'volume-*' options with mount type 'bind'"
    );
    assert_eq!(
        err("type=volume,target=/x,tmpfs-size=1m"),
        "cannot mix 'tmpfs-*' options with mount type 'volume'"
    );
    assert_eq!(
        err("type=tmpfs,target=/x,bind-propagation=shared"),
        "cannot mix 'bind-*' options with mount type 'tmpfs'"
    );
    assert!(err("type=bind,target=/x").contains("field Source must not be empty"));
    assert!(err("type=bind,source=/no/such/dir/here,target=/x").contains("does not exist"));
    assert!(err("type=tmpfs,source=x,target=/x").contains("must not be specified"));
    assert!(err("type=volume,target=rel").contains("must be absolute"));
    assert!(err("type=volume,source=./x,target=/x").contains("invalid characters"));
    assert!(err("type=tmpfs,target=/x,tmpfs-mode=9").contains("tmpfs-mode"));
    assert!(err("type=bind,source=/,target=/x,bind-propagation=odd").contains("bind-propagation"));
    assert!(err("type=image,source=busybox,target=/x").contains("not supported by berth"));
    assert!(err("type=weird,target=/x").contains("mount type unknown"));
    assert!(err("type=volume,target=/x,volume-driver=nfs").contains("not supported"));
    assert!(err("type=volume,target=\"/x").contains("bare \" in non-quoted-field"));
    assert!(err("\"type=volume,target=/x").contains("quoted-field"));
    assert!(err("\"type=volume\"x,target=/x").contains("quoted-field"));
    let flags = ContainerFlags {
        mount: strings(&["type=tmpfs,target=/t", "target=/x,foo=1"]),
        ..Default::default()
    };
    assert!(
        apply(&flags).unwrap_err().starts_with(
            "invalid argument \"target=/x,foo=1\" for \"--mount\" flag: unexpected key"
        )
    );
}

#[test]
fn devices_and_block_io() {
    let d = parse::device("/dev/fuse").unwrap();
    assert_eq!(
        (
            d.path_on_host.as_str(),
            d.path_in_container.as_str(),
            d.cgroup_permissions.as_str()
        ),
        ("/dev/fuse", "/dev/fuse", "rwm")
    );
    let d = parse::device("/dev/sda:/dev/xvda:r").unwrap();
    assert_eq!(
        (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
        ("/dev/xvda", "r")
    );
    assert_eq!(
        parse::device("/dev/null:rw").unwrap().cgroup_permissions,
        "rw"
    );
    assert_eq!(
        parse::device("/dev/a:/dev/b:rx"),
        Err("bad mode specified: rx".into())
    );
    assert_eq!(
        parse::device("/dev/a:b"),
        Err("b is not an absolute path".into())
    );
    assert!(parse::device("/a:/b:r:x").is_err());
    assert!(
        parse::device("nvidia.com/gpu=all")
            .unwrap_err()
            .contains("CDI")
    );
    for ok in ["c 1:3 rwm", "b 8:* r", "a *:* m", "c 10:200 rw"] {
        assert!(parse::device_cgroup_rule(ok).is_ok(), "{ok}");
    }
    for bad in [
        "c 1:3",
        "x 1:3 r",
        "c 1-3 r",
        "c 1:3 rwx",
        "c  1:3 r",
        "c a:3 r",
        "c 1:3 rr",
    ] {
        assert_eq!(
            parse::device_cgroup_rule(bad),
            Err(format!("invalid device cgroup format '{bad}'"))
        );
    }
    assert_eq!(parse::weight_device("/dev/sda:200").unwrap().weight, 200);
    assert!(
        parse::weight_device("/dev/sda:5")
            .unwrap_err()
            .contains("invalid weight")
    );
    assert!(
        parse::weight_device("sda:200")
            .unwrap_err()
            .contains("device path")
    );
    assert!(
        parse::weight_device("/dev/sda")
            .unwrap_err()
            .contains("bad format")
    );
    assert_eq!(parse::bps_device("/dev/sda:1mb").unwrap().rate, 1 << 20);
    assert_eq!(parse::bps_device("/dev/sda:1024").unwrap().rate, 1024);
    assert!(
        parse::bps_device("/dev/sda:fast")
            .unwrap_err()
            .contains("invalid rate")
    );
    assert_eq!(parse::iops_device("/dev/sda:1000").unwrap().rate, 1000);
    assert!(
        parse::iops_device("/dev/sda:1k")
            .unwrap_err()
            .contains("invalid rate")
    );
    assert_eq!(parse::cpuset("0-3,5", "cpus"), Ok("0-3,5".into()));
    assert!(parse::cpuset("3-1", "cpus").is_err());
    assert!(parse::cpuset("a", "mems").is_err());
    let flags = ContainerFlags {
        device: strings(&["/dev/fuse"]),
        device_cgroup_rule: strings(&["c 10:229 rwm"]),
        blkio_weight: Some(300),
        blkio_weight_device: strings(&["/dev/sda:200"]),
        device_read_bps: strings(&["/dev/sda:1mb"]),
        device_write_bps: strings(&["/dev/sda:2mb"]),
        device_read_iops: strings(&["/dev/sda:100"]),
        device_write_iops: strings(&["/dev/sda:200"]),
        ..Default::default()
    };
    let (_, host) = apply(&flags).unwrap();
    let r = &host.resources;
    assert_eq!(
        (r.devices.len(), r.device_cgroup_rules.len(), r.blkio_weight),
        (1, 1, 300)
    );
    assert_eq!(r.blkio_device_write_bps[0].rate, 2 << 20);
    assert_eq!(r.blkio_device_write_iops[0].rate, 200);
    let bad = ContainerFlags {
        blkio_weight: Some(5),
        ..Default::default()
    };
    assert!(apply(&bad).is_err());
}

#[test]
fn ports() {
    let p = |s| ports::publish(s).unwrap();
    let b = |ip: &str, port: &str| PortBinding {
        host_ip: ip.into(),
        host_port: port.into(),
    };
    assert_eq!(p("80"), [("80/tcp".to_string(), b("", ""))]);
    assert_eq!(p("8080:80"), [("80/tcp".to_string(), b("", "8080"))]);
    assert_eq!(
        p("127.0.0.1:53:53/udp"),
        [("53/udp".to_string(), b("127.0.0.1", "53"))]
    );
    assert_eq!(
        p("127.0.0.1::80"),
        [("80/tcp".to_string(), b("127.0.0.1", ""))]
    );
    assert_eq!(p("[::1]:80:80"), [("80/tcp".to_string(), b("::1", "80"))]);
    assert_eq!(p("::1:80:80"), [("80/tcp".to_string(), b("::1", "80"))]);
    assert_eq!(
        p("8000-8001:80-81"),
        [
            ("80/tcp".to_string(), b("", "8000")),
            ("81/tcp".to_string(), b("", "8001"))
        ]
    );
    assert_eq!(
        p("8000-8010:80"),
        [("80/tcp".to_string(), b("", "8000-8010"))]
    );
    assert_eq!(
        p("published=8080,target=80,protocol=udp"),
        [("80/udp".to_string(), b("", "8080"))]
    );
    assert_eq!(p("80/SCTP")[0].0, "80/sctp");
    let e = |s| ports::publish(s).unwrap_err();
    assert_eq!(
        e("8000-8001:80-82"),
        "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"
    );
    assert_eq!(e("1.2.3:80:80"), "invalid IP address: 1.2.3");
    assert_eq!(e("80/icmp"), "invalid proto: icmp");
    assert_eq!(e("x:80"), "invalid hostPort: x");
    assert_eq!(e("70000"), "invalid containerPort: 70000");
    assert_eq!(e("8080:"), "no port specified: 8080:<empty>");
    assert!(e("target,published=80").contains("invalid publish opts format"));
    assert_eq!(ports::expose("80").unwrap(), ["80/tcp"]);
    assert_eq!(ports::expose("53/udp").unwrap(), ["53/udp"]);
    assert_eq!(
        ports::expose("8000-8002").unwrap(),
        ["8000/tcp", "8001/tcp", "8002/tcp"]
    );
    assert_eq!(
        ports::expose("80:80"),
        Err("invalid port format for --expose: 80:80".into())
    );
    assert!(
        ports::expose("90-80")
            .unwrap_err()
            .contains("invalid range format")
    );
    let flags = ContainerFlags {
        publish: strings(&["8080:80", "127.0.0.1:8081:80"]),
        expose: strings(&["443"]),
        publish_all: true,
        ..Default::default()
    };
    let (config, host) = apply(&flags).unwrap();
    assert_eq!(
        config.exposed_ports.keys().collect::<Vec<_>>(),
        ["443/tcp", "80/tcp"]
    );
    assert_eq!(host.port_bindings["80/tcp"].len(), 2);
    assert!(host.publish_all_ports);
}
