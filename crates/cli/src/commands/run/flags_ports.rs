//! `--mount`, `-p` and `--expose` values, parsed as the docker CLI and its engine parse them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use berth_engine::model::{Mount, MountType, PortBinding, TmpfsOptions, VolumeOptions};

use super::parse::{bool_value, key_value, size};

/// The fields of one CSV record (`--mount`), read as Go's `encoding/csv` reads them: a field
/// may be in double quotes (`""` is a quote), a quote elsewhere is an error.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let err = |what: &str| format!("parse error: {what} in {s:?}");
    let (mut fields, mut chars) = (vec![], s.chars().peekable());
    loop {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') if matches!(chars.peek(), None | Some(',')) => break,
                    Some(c) if c != '"' => field.push(c),
                    _ => return Err(err("extraneous or missing \" in quoted-field")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                if c == '"' {
                    return Err(err("bare \" in non-quoted-field"));
                }
                field.push(c);
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]` (type defaults to volume).
pub fn mount(s: &str) -> Result<Mount, String> {
    let mut m = Mount::default();
    let mut kind = "volume".to_string();
    let (mut volume, mut tmpfs, mut bind) = (None::<VolumeOptions>, None::<TmpfsOptions>, false);
    for field in csv_fields(s)? {
        let (key, value) = field.split_once('=').unwrap_or((&field, ""));
        let key = key.to_ascii_lowercase();
        let bad = || format!("invalid value for {key}: {value}");
        if !field.contains('=') {
            match key.as_str() {
                "readonly" | "ro" => m.read_only = true,
                "volume-nocopy" => volume.get_or_insert_default().no_copy = true,
                "bind-nonrecursive" => {
                    return Err("bind-nonrecursive is not supported by berth".into());
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        }
        match key.as_str() {
            "type" => kind = value.to_ascii_lowercase(),
            "source" | "src" => m.source = value.to_string(),
            "target" | "dst" | "destination" => m.target = value.to_string(),
            "readonly" | "ro" => m.read_only = bool_value(value).ok_or_else(bad)?,
            // Docker Desktop's (macOS) consistency hints mean nothing on Linux.
            "consistency" => {}
            "bind-propagation" => {
                let modes = [
                    "shared", "slave", "private", "rshared", "rslave", "rprivate",
                ];
                if !modes.contains(&value) {
                    return Err(bad());
                }
                bind = true;
            }
            "bind-recursive" => match value {
                "enabled" => bind = true,
                "disabled" | "writable" | "readonly" => {
                    return Err(format!("bind-recursive={value} is not supported by berth"));
                }
                _ => return Err(bad()),
            },
            "volume-nocopy" => {
                volume.get_or_insert_default().no_copy = bool_value(value).ok_or_else(bad)?;
            }
            "volume-label" => {
                let (k, v) = key_value(value);
                volume.get_or_insert_default().labels.insert(k, v);
            }
            "volume-driver" if value == "local" => {
                volume.get_or_insert_default();
            }
            "volume-driver" => {
                return Err(format!("volume driver {value} is not supported by berth"));
            }
            "volume-opt" | "volume-subpath" | "image-subpath" | "bind-create-mountpoint" => {
                return Err(format!("--mount {key} is not supported by berth"));
            }
            "tmpfs-size" => {
                tmpfs.get_or_insert_default().size_bytes = size(value, 1024.0).map_err(|_| bad())?
            }
            "tmpfs-mode" => {
                tmpfs.get_or_insert_default().mode =
                    u32::from_str_radix(value, 8).map_err(|_| bad())?;
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if kind.is_empty() {
        return Err("type is required".into());
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    m.kind = match kind.as_str() {
        "volume" => MountType::Volume,
        "bind" => MountType::Bind,
        "tmpfs" => MountType::Tmpfs,
        "image" | "npipe" | "cluster" => {
            return Err(format!("mount type {kind} is not supported by berth"));
        }
        _ => {
            return Err(format!(
                "invalid mount config for type {kind:?}: mount type unknown"
            ));
        }
    };
    let mix = |what: &str| format!("cannot mix '{what}-*' options with mount type '{kind}'");
    if volume.is_some() && m.kind != MountType::Volume {
        return Err(mix("volume"));
    }
    if bind && m.kind != MountType::Bind {
        return Err(mix("bind"));
    }
    if tmpfs.is_some() && m.kind != MountType::Tmpfs {
        return Err(mix("tmpfs"));
    }
    let config = |msg: String| format!("invalid mount config for type {kind:?}: {msg}");
    let absolute = |p: &str| format!("invalid mount path: '{p}' mount path must be absolute");
    if !m.target.starts_with('/') {
        return Err(config(absolute(&m.target)));
    }
    match m.kind {
        MountType::Bind if m.source.is_empty() => {
            return Err(config("field Source must not be empty".into()));
        }
        MountType::Bind if !m.source.starts_with('/') => return Err(config(absolute(&m.source))),
        MountType::Bind if !Path::new(&m.source).exists() => {
            return Err(config(format!(
                "bind source path does not exist: {}",
                m.source
            )));
        }
        MountType::Volume if !m.source.is_empty() && !volume_name_ok(&m.source) => {
            return Err(format!(
                "{:?} includes invalid characters for a local volume name, only \
                 \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host \
                 directory, use type=bind",
                m.source
            ));
        }
        MountType::Tmpfs if !m.source.is_empty() => {
            return Err(config("field Source must not be specified".into()));
        }
        _ => {}
    }
    m.volume_options = volume;
    m.tmpfs_options = tmpfs;
    Ok(m)
}

/// Go's `nat.SplitProtoPort`: `80/udp` → (`udp`, `80`), `80` → (`tcp`, `80`).
fn split_proto_port(s: &str) -> (String, &str) {
    match s.split_once('/') {
        _ if s.is_empty() || s.starts_with('/') => (String::new(), ""),
        Some((port, proto)) if !proto.is_empty() => (
            proto.split('/').next().unwrap_or("").to_ascii_lowercase(),
            port,
        ),
        Some((port, _)) => ("tcp".into(), port),
        None => ("tcp".into(), s),
    }
}

/// Go's `nat.ParsePortRange`: `80` or `8000-8010`.
fn port_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let bad = |v: &str| format!("strconv.ParseUint: parsing {v:?}: invalid syntax");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad(a))?;
    let b: u16 = b.parse().map_err(|_| bad(b))?;
    if b < a {
        return Err(format!("invalid range specified for port: {s}"));
    }
    Ok((a, b))
}

/// The protocols a port may have.
fn check_proto(proto: &str) -> Result<(), String> {
    match proto {
        "tcp" | "udp" | "sctp" => Ok(()),
        _ => Err(format!("invalid proto: {proto}")),
    }
}

/// `-p [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]` (ranges `8000-8001:80-81`, IPv6 `[::1]:80:80`)
/// or docker's long form `published=8080,target=80[,protocol=udp]`: `("80/tcp", binding)`s.
pub fn publish(s: &str) -> Result<Vec<(String, PortBinding)>, String> {
    let long;
    let s = if s.contains('=') {
        let mut params = BTreeMap::from([("protocol", "tcp")]);
        for param in s.split(',') {
            match param.split_once('=') {
                Some((k, v)) if !k.is_empty() => params.insert(k, v),
                _ => {
                    return Err(format!(
                        "invalid publish opts format (should be name=value but got '{param}')"
                    ));
                }
            };
        }
        let get = |k| params.get(k).copied().unwrap_or("");
        long = format!("{}:{}/{}", get("published"), get("target"), get("protocol"));
        long.as_str()
    } else {
        s
    };
    let parts: Vec<&str> = s.split(':').collect();
    let n = parts.len();
    let (ip, host_port, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let ip = match ip.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| format!("invalid IP address {ip}: missing ']' in address"))?
            .to_string(),
        None => ip,
    };
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (proto, container) = split_proto_port(container);
    if container.is_empty() {
        return Err(format!("no port specified: {s}<empty>"));
    }
    let (start, end) =
        port_range(container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (host_start, host_end) = if host_port.is_empty() {
        (0, 0)
    } else {
        port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?
    };
    if !host_port.is_empty() && end - start != host_end - host_start && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host_port}"
        ));
    }
    check_proto(&proto)?;
    let count = u32::from(end - start) + 1;
    let bind = |i: u32| {
        let mut port = String::new();
        if !host_port.is_empty() {
            port = (u32::from(host_start) + i).to_string();
            if count == 1 && host_start != host_end {
                port = format!("{port}-{host_end}");
            }
        }
        let binding = PortBinding {
            host_ip: ip.clone(),
            host_port: port,
        };
        (format!("{}/{proto}", u32::from(start) + i), binding)
    };
    Ok((0..count).map(bind).collect())
}

/// `--expose PORT[/PROTO]` or `START-END[/PROTO]`: `"80/tcp"`s.
pub fn expose(s: &str) -> Result<Vec<String>, String> {
    if s.contains(':') {
        return Err(format!("invalid port format for --expose: {s}"));
    }
    let (proto, port) = split_proto_port(s);
    let (start, end) = port_range(port)
        .map_err(|e| format!("invalid range format for --expose: {s}, error: {e}"))?;
    check_proto(&proto)?;
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Whether `name` is a local volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn volume_name_ok(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}
