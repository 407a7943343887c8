//! Flag values, mounts, durations, ports and users.

use super::*;

fn flags(raw: &[&str], allowed: &[(&'static str, Kind)]) -> Result<FlagValues, String> {
    let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
    FlagValues::parse("COPY", &raw, allowed)
}

#[test]
fn values_bools_and_lists() {
    let allowed = [
        ("from", Kind::Value),
        ("link", Kind::Bool),
        ("exclude", Kind::List),
    ];
    let f = flags(
        &["--from=build", "--link", "--exclude=*.md", "--exclude=tmp"],
        &allowed,
    )
    .unwrap();
    assert_eq!(f.value("from").as_deref(), Some("build"));
    assert!(f.bool("link"));
    assert_eq!(f.list("exclude"), ["*.md", "tmp"]);
    let f = flags(&["--link=FALSE", "--from="], &allowed).unwrap();
    assert!(!f.bool("link"));
    assert_eq!(f.value("from"), None);
}

#[test]
fn flag_errors() {
    let allowed = [("from", Kind::Value), ("link", Kind::Bool)];
    assert_eq!(
        flags(&["--from"], &allowed).err().unwrap(),
        "COPY --from needs a value"
    );
    assert_eq!(
        flags(&["--nope=1"], &allowed).err().unwrap(),
        "unknown flag --nope for COPY"
    );
    assert_eq!(
        flags(&["--FROM=a"], &allowed).err().unwrap(),
        "unknown flag --FROM for COPY"
    );
    assert_eq!(
        flags(&["--from=a", "--from=b"], &allowed).err().unwrap(),
        "COPY --from given twice"
    );
    assert_eq!(
        flags(&["--link=yes"], &allowed).err().unwrap(),
        "COPY --link expects true or false, not \"yes\""
    );
}

#[test]
fn cache_mount() {
    let m = Mount::parse(
        "type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1000",
        None,
    )
    .unwrap();
    assert_eq!(m.kind, MountType::Cache);
    assert_eq!(m.target.as_deref(), Some("/root/.cache"));
    assert_eq!(m.id.as_deref(), Some("pip"));
    assert_eq!(m.sharing, Sharing::Locked);
    assert_eq!(
        (m.mode, m.uid, m.gid),
        (Some(0o700), Some(1000), Some(1000))
    );
    assert!(!m.readonly);
}

#[test]
fn bind_mount_defaults_read_only() {
    let m = Mount::parse("target=/src,from=build,source=/out", None).unwrap();
    assert_eq!(m.kind, MountType::Bind);
    assert_eq!(
        (m.from.as_deref(), m.source.as_deref()),
        (Some("build"), Some("/out"))
    );
    assert!(m.readonly);
    assert!(
        !Mount::parse("type=bind,dst=/src,rw", None)
            .unwrap()
            .readonly
    );
    assert!(
        !Mount::parse("type=bind,destination=/src,readwrite=true", None)
            .unwrap()
            .readonly
    );
    assert!(
        Mount::parse("type=cache,target=/c,ro", None)
            .unwrap()
            .readonly
    );
    assert_eq!(
        Mount::parse("type=bind,src=a,target=/x,sharing=private", None).unwrap_err(),
        "invalid cache sharing set for bind mount"
    );
}

#[test]
fn tmpfs_secret_ssh_mounts() {
    let m = Mount::parse("type=tmpfs,target=/tmp,size=64m", None).unwrap();
    assert_eq!((m.kind, m.size), (MountType::Tmpfs, Some(64 << 20)));
    let m = Mount::parse(
        "type=secret,id=aws,target=/root/.aws/credentials,required",
        None,
    )
    .unwrap();
    assert_eq!(
        (m.kind, m.required, m.readonly),
        (MountType::Secret, true, true)
    );
    let m = Mount::parse("type=secret,id=tok,env=TOKEN", None).unwrap();
    assert_eq!(m.env.as_deref(), Some("TOKEN"));
    let m = Mount::parse("type=ssh", None).unwrap();
    assert_eq!((m.kind, m.target), (MountType::Ssh, None));
    let m = Mount::parse("\"type=secret\",\"id=a,b\"", None).unwrap();
    assert_eq!(m.id.as_deref(), Some("a,b"));
}

#[test]
fn mount_errors() {
    assert_eq!(
        Mount::parse("type=cache", None).unwrap_err(),
        "cache mount needs a target"
    );
    assert!(
        Mount::parse("type=volume,target=/x", None)
            .unwrap_err()
            .starts_with("unsupported mount type \"volume\"")
    );
    assert_eq!(
        Mount::parse("type=cache,target=/x,nope=1", None).unwrap_err(),
        "unexpected key 'nope' in 'nope=1'"
    );
    assert_eq!(
        Mount::parse("type=cache,target=/x,bogus", None).unwrap_err(),
        "invalid field 'bogus' must be a key=value pair"
    );
    assert_eq!(
        Mount::parse("type=cache,target=/x,mode=9", None).unwrap_err(),
        "invalid value 9 for mode"
    );
    assert_eq!(
        Mount::parse("type=secret,id=a,from=b", None).unwrap_err(),
        "secret mount should not have a from"
    );
    assert_eq!(
        Mount::parse("type=secret", None).unwrap_err(),
        "secret mount needs one of id, source, target or env"
    );
    assert!(Mount::parse("type=cache,target=/x,required", None).is_err());
    assert!(Mount::parse("type=cache,target=/x,sharing=odd", None).is_err());
}

#[test]
fn mount_variables_are_deferred_then_expanded() {
    let m = Mount::parse("type=cache,target=$DIR,uid=$UID", None).unwrap();
    assert_eq!((m.target.as_deref(), m.uid), (Some("$DIR"), None));
    let expander = |v: &str| Ok(v.replace("$DIR", "/c").replace("$UID", "7"));
    let m = Mount::parse(&m.raw, Some(&expander)).unwrap();
    assert_eq!((m.target.as_deref(), m.uid), (Some("/c"), Some(7)));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
    assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
    assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
    assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    for bad in ["", "30", "s", "-1s", "1d", "1.s.", "abc"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn ports() {
    assert_eq!(
        parse_port("80").unwrap(),
        PortRange {
            start: 80,
            end: 80,
            protocol: Protocol::Tcp
        }
    );
    assert_eq!(parse_port("80/tcp").unwrap().protocol, Protocol::Tcp);
    assert_eq!(
        parse_port("53/udp").unwrap(),
        PortRange {
            start: 53,
            end: 53,
            protocol: Protocol::Udp
        }
    );
    assert_eq!(
        parse_port("8000-8010/SCTP").unwrap(),
        PortRange {
            start: 8000,
            end: 8010,
            protocol: Protocol::Sctp
        }
    );
    for bad in ["", "http", "80/icmp", "70000", "90-80", "80-"] {
        assert!(parse_port(bad).is_err(), "{bad}");
    }
}

#[test]
fn network_security_and_user() {
    assert_eq!(parse_network("none").unwrap(), Network::None);
    assert_eq!(parse_network("host").unwrap(), Network::Host);
    assert_eq!(parse_network("default").unwrap(), Network::Default);
    assert!(parse_network("bridge").is_err());
    assert_eq!(parse_security("insecure").unwrap(), Security::Insecure);
    assert!(parse_security("x").is_err());
    assert_eq!(split_user("app:staff"), ("app", Some("staff")));
    assert_eq!(split_user("1000"), ("1000", None));
}
